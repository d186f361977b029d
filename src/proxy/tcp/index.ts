/** Raw TCP services at the edge (fly's `[[services]]` without `http`), and their backhaul tunnels. */
export { TcpEdge, type ListenProblem } from './tcp-edge.js';
export { isTunnelRequest, readTunnelAnswer, tunnelRequest, tunnelRefusal, tunnelTarget, TUNNEL_OPEN } from './peer-tunnel.js';
export { proxyHeader, proxyHeaderV1, proxyHeaderV2, startsWithProxyHeader, type Endpoints } from './proxy-protocol.js';
export { readPgOpening, pgFatal } from './pg-ssl.js';
