export { INTERNAL_TTL_S, type DnsApp, type DnsAsker, type DnsInstance, type DnsView } from './view.js';
export { isInternalName, parseInternalName, ZONE, type InternalName } from './names.js';
export { answer, characterStrings, nearestFirst, soaRecord, type DnsAnswer, type DnsQuestion, type DnsRcode, type ResolverOptions } from './resolver.js';
