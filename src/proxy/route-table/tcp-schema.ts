/**
 * The routes file's `tcp_services`: raw TCP services (docs/routes-file.md). The agent writes the
 * same shape from the control plane's app configs; a person may write it for `proxy serve`.
 */
import { z } from 'zod';
import type { SchemaIssue } from '../../shared/index.js';

const port = z.number().int('must be an integer port number').min(1, 'must be a port number from 1 to 65535').max(65535, 'must be a port number from 1 to 65535');
// ALPN protocol ids are 1-255 bytes; printable ASCII is what anyone uses (h2, http/1.1, redis, postgresql).
const alpnId = z.string().regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 printable ASCII characters');

const tcpPort = z
  .strictObject({
    port: port.optional(),
    start_port: port.optional(),
    end_port: port.optional(),
    handlers: z.array(z.enum(['tls', 'pg_tls', 'proxy_proto'])).default([]),
    proxy_proto_version: z.enum(['v1', 'v2']).optional(),
    alpn: z.array(alpnId).optional(),
  })
  .superRefine((p, ctx) => {
    const one = p.port !== undefined;
    const range = p.start_port !== undefined || p.end_port !== undefined;
    if (one === range) ctx.addIssue({ code: 'custom', message: 'give either port, or start_port and end_port' });
    else if (range && (p.start_port === undefined || p.end_port === undefined)) ctx.addIssue({ code: 'custom', message: 'start_port and end_port go together' });
    else if (range && p.end_port! < p.start_port!) ctx.addIssue({ code: 'custom', path: ['end_port'], message: `must not be below start_port (${p.start_port})` });
    else if (range && p.end_port! - p.start_port! >= 1024) ctx.addIssue({ code: 'custom', path: ['end_port'], message: 'a range holds at most 1024 ports' });
    if (p.handlers.includes('tls') && p.handlers.includes('pg_tls')) ctx.addIssue({ code: 'custom', path: ['handlers'], message: 'take "tls" or "pg_tls", not both' });
    if (p.proxy_proto_version !== undefined && !p.handlers.includes('proxy_proto')) ctx.addIssue({ code: 'custom', path: ['proxy_proto_version'], message: 'needs the "proxy_proto" handler' });
    if (p.alpn !== undefined && !p.handlers.includes('tls')) ctx.addIssue({ code: 'custom', path: ['alpn'], message: 'needs the "tls" handler' });
  })
  .transform(({ port: one, start_port, end_port, ...rest }) => ({ ...rest, start_port: (one ?? start_port)!, end_port: (one ?? end_port)! }));

/** `tcp_services[]`, given the schemas of the parts it shares with `apps[]`. */
export function tcpServiceSchema<S extends z.ZodType, M extends z.ZodType, N extends z.ZodType, R extends z.ZodType>(parts: { service: S; machine: M; appName: N; region: R }) {
  return z.strictObject({
    app: parts.appName,
    protocol: z.enum(['tcp', 'udp']).default('tcp'),
    primary_region: parts.region.optional(),
    ports: z.array(tcpPort).min(1, 'must list at least one port'),
    service: parts.service,
    machines: z.array(parts.machine),
  }).superRefine((s, ctx) => {
    if (s.protocol !== 'udp') return;
    s.ports.forEach((p, i) => {
      if (p.handlers.length > 0) ctx.addIssue({ code: 'custom', path: ['ports', i, 'handlers'], message: 'must be empty on a udp service: handlers are for TCP' });
    });
  });
}

/** A public port claimed by two entries (or twice by one) is an error naming both. */
export function tcpPortClashes(raw: unknown): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const owner = new Map<string, string>();
  const list = Array.isArray(raw) ? raw : [];
  list.forEach((s: unknown, i) => {
    const proto = typeof s === 'object' && s !== null && (s as { protocol?: unknown }).protocol === 'udp' ? 'udp' : 'tcp';
    const ports = typeof s === 'object' && s !== null && Array.isArray((s as { ports?: unknown }).ports) ? (s as { ports: unknown[] }).ports : [];
    ports.forEach((p: unknown, j) => {
      const o = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
      const lo = typeof o.port === 'number' ? o.port : o.start_port;
      const hi = typeof o.port === 'number' ? o.port : o.end_port;
      if (typeof lo !== 'number' || typeof hi !== 'number' || hi < lo || hi - lo >= 1024) return;
      const at = `tcp_services[${i}].ports[${j}]`;
      for (let n = lo; n <= hi; n++) {
        const first = owner.get(`${proto}/${n}`);
        if (first !== undefined) return void issues.push({ path: at, message: `port ${n} (${proto}) is already claimed by ${first}` });
        owner.set(`${proto}/${n}`, at);
      }
    });
  });
  return issues;
}
