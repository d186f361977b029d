/**
 * `[control]` in agent.toml: the control plane this host follows (docs/agent-toml.md). Optional:
 * without it the agent serves its routes file only. config.ts checks and resolves it with the rest.
 */
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { HOST_ID_RE } from '../contract/index.js';
import type { ControlSection } from '../sync/index.js';

export type { ControlSection };
import { isLoopbackHost, normalizeFingerprint, type SchemaIssue } from '../shared/index.js';
import { isReachableIpPort, parseHostPort } from './addresses.js';

function parseUrl(v: unknown): URL | undefined {
  try {
    return typeof v === 'string' ? new URL(v) : undefined;
  } catch {
    return undefined;
  }
}

const APPS_DOMAIN = /^(?=.{1,190}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const absPath = z.string().refine((p) => isAbsolute(p), 'must be an absolute path');

export const controlSchema = z.strictObject({
  // A missing url keeps zod's own message, which parseAgentConfig turns into "is required".
  url: z.url({ protocol: /^https?$/, error: (i) => (i.input === undefined ? undefined : "must be the control plane's http:// or https:// URL") }),
  /** Removed (controlIssues says so); accepted here only so that the message is the helpful one. */
  token_file: z.unknown().optional(),
  credential_file: absPath.optional(),
  join_token_file: absPath.optional(),
  fingerprint: z
    .string()
    .refine((f) => normalizeFingerprint(f) !== undefined, 'must be a SHA-256 fingerprint: 64 hex digits, colons allowed (openssl x509 -noout -fingerprint -sha256)')
    .transform((f) => normalizeFingerprint(f)!)
    .optional(),
  insecure: z.boolean().default(false),
  host_id: z.string().regex(HOST_ID_RE, 'must be 1-63 lower-case letters, digits and -, starting with a letter or digit').optional(),
  capacity: z.number().int('must be an integer').min(0, 'must be from 0 to 100000 machines').max(100000, 'must be from 0 to 100000 machines').default(8),
  /** GB that volumes may take together on this host; default: 90 % of the state directory's free disk at start. */
  volume_capacity_gb: z.number().int('must be a whole number of GB').min(0, 'must be 0 or more').max(1_000_000, 'must be at most 1000000').optional(),
  proxy_address: z
    .string()
    .refine(isReachableIpPort, 'must be IP:PORT other hosts can connect to (no wildcard; IPv6 in brackets: [2001:db8::1]:80)')
    .optional(),
  apps_domain: z.string().regex(APPS_DOMAIN, 'must be a lower-case DNS name such as "starling.test"').default('starling.test'),
  cache_file: absPath.optional(),
});

/**
 * What depends on other keys: a removed key, plain HTTP to a non-loopback control plane (tokens in
 * clear) without `insecure`, and proxy_address defaulting to proxy.listen only when others can reach that.
 */
export function controlIssues(doc: unknown): SchemaIssue[] {
  const o = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  const ctl = o(doc).control;
  if (ctl === undefined) return [];
  const issues: SchemaIssue[] = [];
  if (o(ctl).token_file !== undefined) {
    issues.push({
      path: 'control.token_file',
      message: 'is no longer used: a host joins with a one-time join token (starling hosts add NAME --region R) and keeps its own credential; use join_token_file',
    });
  }
  const url = parseUrl(o(ctl).url);
  if (url?.protocol === 'http:' && !isLoopbackHost(url.hostname) && o(ctl).insecure !== true) {
    issues.push({ path: 'control.url', message: 'is plain HTTP to a non-loopback address: the credential would cross the network in clear; use https:// (or set insecure = true on a trusted network)' });
  }
  return [...issues, ...proxyAddressIssues(doc)];
}

function proxyAddressIssues(doc: unknown): SchemaIssue[] {
  const o = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  const ctl = o(doc).control;
  if (ctl === undefined || o(ctl).proxy_address !== undefined) return [];
  const listen = o(o(doc).proxy).listen ?? '0.0.0.0:80';
  if (typeof listen !== 'string' || !parseHostPort(listen) || isReachableIpPort(listen)) return [];
  return [
    {
      path: 'control.proxy_address',
      message: `is required: proxy.listen (${listen}) is not an address other hosts can connect to; set the IP:PORT they reach this proxy at`,
    },
  ];
}

export function resolveControl(ctl: z.infer<typeof controlSchema>, agent: { region: string; state_dir: string }, proxyListen: string): ControlSection {
  return {
    url: ctl.url,
    credential_file: ctl.credential_file ?? join(agent.state_dir, 'control.credential'),
    join_token_file: ctl.join_token_file ?? join(agent.state_dir, 'join.token'),
    fingerprint: ctl.fingerprint,
    insecure: ctl.insecure,
    host_id: ctl.host_id,
    capacity: { machines: ctl.capacity, volume_gb: ctl.volume_capacity_gb },
    // controlIssues made sure proxy.listen is usable when proxy_address is left out.
    proxy_address: ctl.proxy_address ?? proxyListen,
    apps_domain: ctl.apps_domain,
    cache_file: ctl.cache_file ?? join(agent.state_dir, 'control-cache.json'),
  };
}
