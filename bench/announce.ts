/**
 * npm run bench:announce — how fast a health change reaches the upstream router's table.
 *
 * Two network namespaces joined by a veth: the announcer's real BIRD on one side, a plain BIRD
 * upstream on the other (as in test/integration/announcer-bird.test.ts). Each round flips the local
 * health check to failing and times until the prefix leaves the upstream's table, then flips it back
 * and times until the prefix returns. Prints median and max over the rounds (default 20).
 * Needs root (network namespaces). Aim from the issue: ≤ 50 ms both ways.
 *
 * The health check runs every 10 ms with rise = fall = 1 and no damping here, so the figures are
 * BIRD + BGP + the check's own period; production settings (200 ms, 2/2) add their detection time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Announcer } from '../src/announcer/index.js';
import { birdConfig } from '../src/announcer/bird-config.js';
import { connectBirdControl } from '../src/announcer/bird-control.js';
import { SystemClock, silentLogger } from '../src/shared/index.js';
import { startUpstream } from '../test/helpers/bird-upstream.js';
import { twoHosts } from '../test/helpers/netns.js';
import { waitFor } from '../test/helpers/wait.js';

const PREFIX = '198.51.100.0/24';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

function stats(xs: number[]): { median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] ?? NaN, max: s[s.length - 1] ?? NaN };
}

async function main(): Promise<void> {
  const rounds = arg('rounds', 20);
  const json = process.argv.includes('--json');
  const dir = mkdtempSync(join(tmpdir(), 'starling-bench-announce-'));
  const link = twoHosts('bn');
  let healthy = true;
  const upstream = await startUpstream({ ns: link.b, routerId: link.addrB, asn: 65000, neighbor: link.addrA, neighborAsn: 65001 });
  const announcer = new Announcer({
    spec: {
      state_dir: join(dir, 'bird'),
      bgp: {
        asn: 65001,
        router_id: link.addrA,
        prefixes: [PREFIX],
        drain_prepend: 3,
        bird: process.env.BIRD ?? '/usr/sbin/bird',
        peers: [{ name: 'transit', address: link.addrB, asn: 65000, hold_time: 6, keepalive_time: 2, bfd: { enabled: false, interval_ms: 100, multiplier: 3 } }],
      },
      health: { url: 'http://unused.invalid/', interval_ms: 10, timeout_ms: 8, rise: 1, fall: 1, damping_ms: 0 },
      drain: { delay_ms: 1000 },
    },
    clock: new SystemClock(),
    logger: silentLogger,
    render: birdConfig,
    connect: connectBirdControl,
    probe: async () => healthy,
    wrap: ['ip', 'netns', 'exec', link.a],
  });
  const cleanup = async (): Promise<void> => {
    await announcer.stop().catch(() => undefined);
    await upstream.stop().catch(() => undefined);
    link.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    await announcer.start();
    const present = async (): Promise<boolean> => (await upstream.routes(PREFIX)).length > 0;
    await waitFor(present, 'the first announcement', 30_000);
    const down: number[] = [];
    const up: number[] = [];
    for (let r = 0; r < rounds; r++) {
      let t = performance.now();
      healthy = false;
      await waitFor(async () => !(await present()), 'withdrawal', 10_000, 1);
      down.push(performance.now() - t);
      t = performance.now();
      healthy = true;
      await waitFor(present, 'announcement', 10_000, 1);
      up.push(performance.now() - t);
      if (!json) process.stderr.write(`round ${r + 1}/${rounds}: withdraw ${down.at(-1)!.toFixed(1)} ms, announce ${up.at(-1)!.toFixed(1)} ms\n`);
    }
    const w = stats(down);
    const a = stats(up);
    if (json) {
      console.log(JSON.stringify({ rounds, withdraw_ms: w, announce_ms: a, aim_ms: 50 }));
    } else {
      console.log(`\nhealth change → upstream table, ${rounds} rounds (health check every 10 ms, rise = fall = 1)`);
      console.log(`withdraw: median ${w.median.toFixed(1)} ms, max ${w.max.toFixed(1)} ms`);
      console.log(`announce: median ${a.median.toFixed(1)} ms, max ${a.max.toFixed(1)} ms`);
      console.log('aim: ≤ 50 ms both ways');
    }
  } finally {
    await cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(`bench:announce failed: ${(e as Error).message}`);
  process.exit(1);
});
