import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BirdSupervisor } from '../../src/announcer/index.js';
import { BirdClient } from '../../src/announcer/bird/client.js';
import type { BirdRoute } from '../../src/announcer/bird/show.js';
import { SystemClock, silentLogger } from '../../src/shared/index.js';

/**
 * A plain BIRD acting as the upstream (transit) router in a test: it peers with the announcer's
 * BIRD, imports everything it is sent, exports nothing, and is asked through its control socket
 * what it has learnt.
 */
export interface Upstream {
  client: BirdClient;
  supervisor: BirdSupervisor;
  /** Routes for `prefix` learnt over BGP (empty when withdrawn). */
  routes(prefix: string): Promise<BirdRoute[]>;
  stop(): Promise<void>;
}

export async function startUpstream(o: {
  ns: string;
  routerId: string;
  asn: number;
  neighbor: string;
  neighborAsn: number;
  bfd?: { intervalMs: number; multiplier: number };
  /** BGP hold and keepalive times, s (default 6 and 2). */
  holdTime?: number;
  keepaliveTime?: number;
}): Promise<Upstream> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-upstream-'));
  const bfd = o.bfd;
  const conf = [
    `router id ${o.routerId};`,
    'protocol device {}',
    bfd ? `protocol bfd { interface "*" { min rx interval ${bfd.intervalMs} ms; min tx interval ${bfd.intervalMs} ms; multiplier ${bfd.multiplier}; }; }` : '',
    `protocol bgp pop {`,
    `  local as ${o.asn};`,
    `  neighbor ${o.neighbor} as ${o.neighborAsn};`,
    '  connect retry time 1; error wait time 1,5; connect delay time 1;',
    `  hold time ${o.holdTime ?? 6}; keepalive time ${o.keepaliveTime ?? 2};`,
    bfd ? '  bfd on;' : '',
    '  ipv4 { import all; export none; };',
    '}',
  ].join('\n');
  const supervisor = new BirdSupervisor({
    bird: process.env.BIRD ?? '/usr/sbin/bird',
    stateDir: dir,
    clock: new SystemClock(),
    logger: silentLogger,
    config: () => conf,
    wrap: ['ip', 'netns', 'exec', o.ns],
  });
  await supervisor.start();
  const client = await BirdClient.connect(supervisor.paths.socket, { timeoutMs: 2000 });
  return {
    client,
    supervisor,
    routes: async (prefix) => (await client.showRoute(`for ${prefix} all`)).filter((r) => r.prefix === prefix && r.protocol === 'pop'),
    async stop() {
      await client.close();
      await supervisor.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
