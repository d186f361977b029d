/**
 * IP literals and CIDR prefixes as numbers: canonical text (IPv6 lower-case and compressed, as BIRD
 * prints it), containment and host bits. Used by agent.toml's checks and the mesh's addressing.
 */
import { isIP } from 'node:net';

export type Ip = { family: 4 | 6; value: bigint; text: string };

/** An IP literal, canonical (IPv6 lowercase and compressed, as BIRD prints it); no zone ids. */
export function parseIp(s: string): Ip | undefined {
  const family = s.includes('%') ? 0 : isIP(s);
  if (family === 4) return { family, value: s.split('.').reduce((a, o) => (a << 8n) | BigInt(o), 0n), text: s };
  if (family !== 6) return undefined;
  // The WHATWG URL serializer writes IPv6 canonically (RFC 5952), embedded IPv4 included, in hex.
  const text = new URL(`http://[${s}]/`).hostname.slice(1, -1);
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { family, value: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n), text };
}

export type Prefix = Ip & { len: number };
export const bits = (f: 4 | 6): number => (f === 4 ? 32 : 128);

export function parsePrefix(s: string): Prefix | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  const ip = m ? parseIp(m[1]!) : undefined;
  const len = Number(m?.[2]);
  return ip && len <= bits(ip.family) ? { ...ip, len, text: `${ip.text}/${len}` } : undefined;
}

export const hostBits = (p: Prefix): bigint => p.value & ((1n << BigInt(bits(p.family) - p.len)) - 1n);
export const contains = (a: Prefix, b: Prefix): boolean => {
  const shift = BigInt(bits(a.family) - a.len);
  return a.family === b.family && a.len <= b.len && a.value >> shift === b.value >> shift;
};

/** The network address of a prefix, as text. */
export function formatNet(f: 4 | 6, v: bigint): string {
  if (f === 4) return [24n, 16n, 8n, 0n].map((sh) => String((v >> sh) & 255n)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((v >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  return parseIp(groups.join(':'))!.text;
}
