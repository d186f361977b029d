/**
 * The hosts' half of the public-port check (public-ports.ts is the platform's): a release whose
 * TCP or UDP services one host cannot listen on — another program holds the port there, or the
 * agent may not bind it — is refused (409) before the deploy starts, so nothing is replaced and the
 * running release keeps serving. Every host that is up is asked (`POST /v1/ports/check` on its
 * agent, with the secret that host chose); a host that does not answer within HOST_TIMEOUT_MS is
 * left out, logged (it binds the ports when the release is routed, and reports a failure there).
 */
import { describeError } from '../../shared/index.js';
import { callJson } from '../../http/index.js';
import type { AppConfig, HostDoc } from '../../contract/index.js';
import { agentSecret } from './hosts.js';
import { HttpError } from './http.js';
import { publicPortClaims } from './public-ports.js';
import type { ApiContext } from './schemas.js';

const HOST_TIMEOUT_MS = 3000;

interface Problem {
  protocol: 'tcp' | 'udp';
  port: number;
  error: string;
}

export async function checkHostPorts(ctx: ApiContext, config: AppConfig): Promise<void> {
  const tcp: number[] = [];
  const udp: number[] = [];
  for (const c of publicPortClaims(config)) for (let p = c.lo; p <= c.hi; p++) (c.proto === 'tcp' ? tcp : udp).push(p);
  if (tcp.length === 0 && udp.length === 0) return;
  const hosts = (await ctx.store.list('hosts')).map((e) => e.value as HostDoc).filter((h) => h.healthy !== false);
  const found: string[] = [];
  await Promise.all(
    hosts.map(async (h) => {
      try {
        const token = await agentSecret(ctx, h.id);
        const url = `${h.agent_url.replace(/\/+$/, '')}/v1/ports/check`;
        const r = await callJson<{ problems: Problem[] }>({ method: 'POST', url, token, body: { tcp, udp }, clock: ctx.clock, timeoutMs: HOST_TIMEOUT_MS, maxBytes: 1 << 20 });
        for (const p of r.body.problems ?? []) found.push(`host ${h.id} cannot listen on ${p.protocol.toUpperCase()} port ${p.port}: ${p.error}`);
      } catch (e) {
        ctx.logger.warn('a host did not answer the public port check; it reports a port it cannot bind when it serves the release', { host: h.id, error: describeError(e) });
      }
    }),
  );
  if (found.length === 0) return;
  throw new HttpError(409, 'ERR_PORT_UNAVAILABLE', `release cannot be deployed, nothing was replaced: ${found.sort().join('; ')}; free the port on that host or choose another`);
}
