/** UDP services at the edge (fly's `[[services]] protocol = "udp"`), and their peer tunnels. */
export { UdpEdge, FLOW_IDLE_MS } from './udp-edge.js';
export { acceptUdpTunnel } from './udp-tunnel.js';
export { frame, FrameReader } from './frames.js';
export { FlowLimits, MAX_FLOWS, MAX_FLOWS_PER_ADDRESS, RATE, BURST } from './flow-limits.js';
