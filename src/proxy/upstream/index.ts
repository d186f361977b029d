export { UpstreamPool, UpstreamConn, type PoolOptions, type Upstream, type UpstreamBytes, type UpstreamOwner, type UpstreamWaiter } from './pool.js';
