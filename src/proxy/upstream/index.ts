export { UpstreamPool, UpstreamConn, type PoolOptions, type UpstreamOwner, type ConnectCallback } from './pool.js';
