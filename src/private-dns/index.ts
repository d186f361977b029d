export { INTERNAL_TTL_S, type DnsApp, type DnsAsker, type DnsInstance, type DnsView } from './view.js';
export { isInternalName, parseInternalName, ZONE, type InternalName } from './names.js';
export { answer, characterStrings, nearestFirst, soaRecord, type DnsAnswer, type DnsQuestion, type DnsRcode, type ResolverOptions } from './resolver.js';
export { handleQuery, headerReply, servfail, RCODE, TCP_MAX, UDP_EDNS_MAX, UDP_PLAIN_MAX, type Decision, type QueryContext, type RcodeName, type Transport } from './message.js';
export { frame, FrameReader } from './tcp-frames.js';
export { Forwarder, FORWARD_TIMEOUT_MS, MAX_FORWARDS, type Upstream } from './forwarder.js';
export { startPrivateDns, MAX_TCP_CONNECTIONS, TCP_IDLE_MS, type PrivateDns, type PrivateDnsOptions } from './server.js';
