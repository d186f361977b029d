/**
 * DNS over TCP frames each message with a 2-octet big-endian length (RFC 1035 §4.2.2; RFC 7766
 * §8): the same framing as the proxies' tunnelled UDP, from shared/length-frames.ts.
 */
export { frame, FrameReader } from '../shared/index.js';
