/**
 * `[control]` in agent.toml: the control plane this host follows (docs/agent-toml.md). Optional:
 * without it the agent serves its routes file only. config.ts checks and resolves it with the rest.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import type { SchemaIssue } from '../shared/index.js';
import { isReachableIpPort, parseHostPort } from './addresses.js';

export interface ControlSection {
  url: string;
  /** The control plane's agent token (its `agent_token_file`), copied to this host. */
  token_file: string;
  host_id: string;
  capacity: { machines: number };
  /** `IP:PORT` where other hosts' proxies reach this host's proxy. */
  proxy_address: string;
  /** Each control-plane app is served at `<app>.<apps_domain>`. */
  apps_domain: string;
  cache_file: string;
}

/** The default host id: the region and 8 hex digits of sha256(hostname), stable across restarts. */
export function defaultHostId(region: string, host = hostname()): string {
  return `${region}-${createHash('sha256').update(host).digest('hex').slice(0, 8)}`;
}

const HOST_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const APPS_DOMAIN = /^(?=.{1,190}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const absPath = z.string().refine((p) => isAbsolute(p), 'must be an absolute path');

export const controlSchema = z.strictObject({
  // A missing url keeps zod's own message, which parseAgentConfig turns into "is required".
  url: z.url({ protocol: /^https?$/, error: (i) => (i.input === undefined ? undefined : "must be the control plane's http:// or https:// URL") }),
  token_file: absPath.optional(),
  host_id: z.string().regex(HOST_ID, 'must be 1-63 lower-case letters, digits and -, starting with a letter or digit').optional(),
  capacity: z.number().int('must be an integer').min(0, 'must be from 0 to 100000 machines').max(100000, 'must be from 0 to 100000 machines').default(8),
  proxy_address: z
    .string()
    .refine(isReachableIpPort, 'must be IP:PORT other hosts can connect to (no wildcard; IPv6 in brackets: [2001:db8::1]:80)')
    .optional(),
  apps_domain: z.string().regex(APPS_DOMAIN, 'must be a lower-case DNS name such as "starling.test"').default('starling.test'),
  cache_file: absPath.optional(),
});

/** What depends on other sections: proxy_address defaults to proxy.listen only when others can reach that. */
export function controlIssues(doc: unknown): SchemaIssue[] {
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
    token_file: ctl.token_file ?? join(agent.state_dir, 'control.token'),
    host_id: ctl.host_id ?? defaultHostId(agent.region),
    capacity: { machines: ctl.capacity },
    // controlIssues made sure proxy.listen is usable when proxy_address is left out.
    proxy_address: ctl.proxy_address ?? proxyListen,
    apps_domain: ctl.apps_domain,
    cache_file: ctl.cache_file ?? join(agent.state_dir, 'control-cache.json'),
  };
}
