/**
 * Datagrams over a byte stream (a UDP flow through a peer proxy's tunnel, tcp/peer-tunnel.ts):
 * each one as a 2-byte big-endian length and its bytes (shared/length-frames.ts). A datagram's
 * boundaries survive; its loss does not happen (the stream is TCP), so a tunnelled flow trades
 * UDP's independence of datagrams for reaching a machine on another host.
 */
export { frame, FrameReader } from '../../shared/index.js';
