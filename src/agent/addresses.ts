/**
 * Addresses in agent.toml: IP literals (canonical, as BIRD prints them), CIDR prefixes, and the
 * platform's one `HOST:PORT` rule (contract/) for listen addresses.
 */
import { isIP } from 'node:net';
import { bits, contains, parseIp, parsePrefix, type Prefix } from '../shared/index.js';

export { contains, formatNet, hostBits, parseIp, parsePrefix, type Ip, type Prefix } from '../shared/index.js';
export { parseHostPort } from '../contract/index.js';
import { parseHostPort } from '../contract/index.js';

/** `IP:PORT` with a literal, non-wildcard address: what another host can connect to. */
export function isReachableIpPort(s: string): boolean {
  const hp = parseHostPort(s);
  return hp !== undefined && isIP(hp.host) !== 0 && hp.host !== '0.0.0.0' && parseIp(hp.host)?.text !== '::';
}

/** Where a client reaches a listener: a wildcard listen address is reached on loopback. */
export const reachable = (hostPort: string): string => hostPort.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');

/**
 * The addresses UDP services listen on: a specific listen address, else every address of this
 * host inside an announced prefix (the anycast addresses on its loopback), so a machine's answers
 * leave from the address the client wrote to. None found: the listen address (a wildcard then
 * answers from whatever address the route picks: say so in the logs).
 */
export function anycastAddresses(listenHost: string, prefixes: readonly string[], local: readonly string[]): string[] {
  if (listenHost !== '0.0.0.0' && listenHost !== '::') return [listenHost];
  const nets = prefixes.map(parsePrefix).filter((p): p is Prefix => p !== undefined);
  const found = local.filter((a) => {
    const ip = parseIp(a);
    return ip !== undefined && nets.some((n) => contains(n, { ...ip, len: bits(ip.family) }));
  });
  return found.length > 0 ? [...new Set(found)] : [listenHost];
}
