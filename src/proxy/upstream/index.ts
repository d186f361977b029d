export { UpstreamPool, UpstreamConn, type PoolOptions, type UpstreamOwner, type UpstreamWaiter } from './pool.js';
