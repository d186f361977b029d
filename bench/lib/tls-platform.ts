/**
 * The `platform` case of `npm run bench:tls`: a real agent (`starling agent run`, [proxy]
 * tls_listen) whose certificate came from the control plane over the feed, not from a file. For
 * each round: the control plane starts (on the same state dir every round; the first start imports
 * the benchmark's certificate with `PUT /v1/certificates/bench.starling.test`), a new host joins,
 * and its agent starts with an empty state dir, so it can only have the certificate from the feed.
 * Its routes file sends bench.starling.test to the benchmark's nginx origin, as `proxy serve`'s
 * does for bench.local. After the round the agent and the control plane stop.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { startAgentProc, startControl, type AgentProc, type ControlProc } from './platform-procs.js';
import type { Managed } from './procs.js';

/** The platform's name for the benchmark's app: `<app>.<apps_domain>` with the default apps_domain. */
export const PLATFORM_HOST = 'bench.starling.test';

/** The agent's routes file: one app on bench.starling.test, one machine (the origin). */
export function platformRoutes(originPort: number): string {
  const routes = {
    apps: [
      {
        name: 'bench',
        hostnames: [PLATFORM_HOST],
        service: { internal_port: originPort, concurrency: { type: 'requests', soft_limit: 1000 } },
        machines: [{ id: 'origin1', region: 'fra', address: '127.0.0.1', port: originPort }],
      },
    ],
  };
  return `${JSON.stringify(routes, null, 2)}\n`;
}

export interface PlatformRound {
  /** The agent: the process group whose CPU counts as the proxy's. */
  proc: Managed;
  /** Stops the agent, then the control plane. */
  stop(): Promise<void>;
}

export interface PlatformCase {
  /** Starts the control plane and a fresh agent serving TLS on `tlsPort`. */
  startRound(round: number, tlsPort: number): Promise<PlatformRound>;
}

/** `nodeArgs`: more node flags for the agent (--cpu-prof, --trace-gc), after the OpenSSL config. */
export function platformCase(o: { dir: string; originPort: number; certPem: string; keyPem: string; opensslConf: string; nodeArgs?: string[] }): PlatformCase {
  const dir = join(o.dir, 'platform');
  mkdirSync(dir, { recursive: true });
  let imported = false;
  return {
    async startRound(round, tlsPort) {
      const control: ControlProc = await startControl(dir);
      let agent: AgentProc | undefined;
      try {
        if (!imported) {
          await control.api('PUT', `/v1/certificates/${PLATFORM_HOST}`, { cert_pem: o.certPem, key_pem: o.keyPem });
          imported = true;
        }
        agent = await startAgentProc(
          control,
          dir,
          { name: `tls${round}`, region: 'fra', tlsPort, routes: platformRoutes(o.originPort), nodeArgs: [`--openssl-config=${o.opensslConf}`, ...(o.nodeArgs ?? [])] },
          round,
        );
      } catch (e) {
        await control.stop();
        throw e;
      }
      const a = agent;
      return {
        proc: a.proc,
        stop: async () => {
          await a.stop();
          await control.stop();
        },
      };
    },
  };
}
