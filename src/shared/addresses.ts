/**
 * `HOST:PORT` as every config and flag of the platform writes it: an IPv4 address, a hostname or a
 * bracketed IPv6 address, and a port 1-65535.
 */
import { isIP } from 'node:net';

const DNS_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/**
 * `HOST:PORT` → parts, or undefined. `portZero` also takes port 0, a listener's "any free port"
 * (`starling proxy serve --listen 127.0.0.1:0`); a config names a port a peer can be told.
 */
export function parseHostPort(s: string, o: { portZero?: boolean } = {}): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  const host = m[1] ?? m[2]!;
  const ok = m[1] !== undefined ? isIP(host) === 6 : isIP(host) === 4 || DNS_NAME.test(host);
  return ok && port >= (o.portZero ? 0 : 1) && port <= 65535 ? { host, port } : undefined;
}

export const HOST_PORT_RULE = 'must be HOST:PORT (an IPv4 address, a hostname or [IPv6], port 1-65535)';
