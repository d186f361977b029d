/**
 * npm run bench:announce — how fast a health change, and a silently dead link, reach the upstream
 * router's table.
 *
 * Two network namespaces joined by a veth: the announcer's real BIRD on one side, a plain BIRD
 * upstream on the other (as in test/integration/announcer-bird.test.ts). Each round flips the local
 * health check to failing and times until the prefix leaves the upstream's table, then flips it back
 * and times until the prefix returns. Then `--bfd-rounds` rounds silence the link (tc tbf drops every
 * frame the announcer's side sends; the link stays up) and time until BFD (100 ms × 3) has the
 * upstream drop the route; the hold time is 240 s, so nothing else could. Prints median and max.
 * Needs root (network namespaces). Aims: ≤ 50 ms both ways for a health change (the issue);
 * ≤ 350 ms for the silent link (BFD's 300 ms detection, plus BGP), as the lab's silent failover.
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
import { inNs, twoHosts } from '../test/helpers/netns.js';
import { waitFor } from '../test/helpers/wait.js';

const PREFIX = '198.51.100.0/24';
const AIM_MS = 50;
const BFD = { intervalMs: 100, multiplier: 3 };
const BFD_AIM_MS = 350;
/** Hold time (s) on both sides: far beyond any BFD round, so the session can only go down by BFD. */
const HOLD_S = 240;

function arg(name: string, fallback: number, min = 1): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
  return v;
}

function stats(xs: number[]): { median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] ?? NaN, max: s[s.length - 1] ?? NaN };
}

async function main(): Promise<void> {
  const rounds = arg('rounds', 20);
  const bfdRounds = arg('bfd-rounds', 5, 0);
  const json = process.argv.includes('--json');
  const dir = mkdtempSync(join(tmpdir(), 'starling-bench-announce-'));
  const link = twoHosts('bn');
  let healthy = true;
  const upstream = await startUpstream({ ns: link.b, routerId: link.addrB, asn: 65000, neighbor: link.addrA, neighborAsn: 65001, bfd: BFD, holdTime: HOLD_S, keepaliveTime: HOLD_S / 3 });
  const announcer = new Announcer({
    spec: {
      state_dir: join(dir, 'bird'),
      bgp: {
        asn: 65001,
        router_id: link.addrA,
        prefixes: [PREFIX],
        drain_prepend: 3,
        bird: process.env.BIRD ?? '/usr/sbin/bird',
        peers: [
          {
            name: 'transit',
            address: link.addrB,
            asn: 65000,
            hold_time: HOLD_S,
            keepalive_time: HOLD_S / 3,
            bfd: { enabled: true, interval_ms: BFD.intervalMs, multiplier: BFD.multiplier },
          },
        ],
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
    const silent: number[] = [];
    for (let r = 0; r < bfdRounds; r++) {
      await waitFor(present, 'the route before silencing the link', 60_000);
      const t = performance.now();
      // tbf at 1 kbit with a 1-byte bucket drops every frame: the link is up but carries nothing.
      inNs(link.a, 'tc', 'qdisc', 'add', 'dev', link.ifA, 'root', 'tbf', 'rate', '1kbit', 'burst', '1', 'latency', '1ms');
      try {
        await waitFor(async () => !(await present()), 'BFD to take the route down', 10_000, 1);
        silent.push(performance.now() - t);
      } finally {
        inNs(link.a, 'tc', 'qdisc', 'del', 'dev', link.ifA, 'root');
      }
      if (!json) process.stderr.write(`silent link ${r + 1}/${bfdRounds}: withdrawn in ${silent.at(-1)!.toFixed(1)} ms\n`);
    }
    const w = stats(down);
    const a = stats(up);
    const b = silent.length > 0 ? stats(silent) : undefined;
    const met = w.max <= AIM_MS && a.max <= AIM_MS;
    const bfdMet = b === undefined ? undefined : b.max <= BFD_AIM_MS;
    if (json) {
      console.log(
        JSON.stringify({
          rounds,
          withdraw_ms: w,
          announce_ms: a,
          aim_ms: AIM_MS,
          met,
          bfd_rounds: bfdRounds,
          bfd_withdraw_ms: b ?? null,
          bfd_aim_ms: BFD_AIM_MS,
          bfd_met: bfdMet ?? null,
        }),
      );
    } else {
      const mark = (ok: boolean): string => (ok ? '✓' : '✗');
      console.log(`\nhealth change → upstream table, ${rounds} rounds (health check every 10 ms, rise = fall = 1)`);
      console.log(`withdraw: median ${w.median.toFixed(1)} ms, max ${w.max.toFixed(1)} ms`);
      console.log(`announce: median ${a.median.toFixed(1)} ms, max ${a.max.toFixed(1)} ms`);
      console.log(`aim: ≤ ${AIM_MS} ms both ways ${mark(met)}`);
      if (b) {
        console.log(`\nsilent link → upstream table, ${bfdRounds} rounds (BFD ${BFD.intervalMs} ms × ${BFD.multiplier}, hold time ${HOLD_S} s)`);
        console.log(`withdraw: median ${b.median.toFixed(1)} ms, max ${b.max.toFixed(1)} ms`);
        console.log(`aim: ≤ ${BFD_AIM_MS} ms ${mark(bfdMet!)}`);
      }
    }
  } finally {
    await cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(`bench:announce failed: ${(e as Error).message}`);
  process.exit(1);
});
