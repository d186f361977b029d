/**
 * `npm run bench:pg`: global PostgreSQL in the lab (issue 20, "Measured"), side by side in one run.
 * A lab of its own (`starling lab up`), `starling postgres create pg --region lhr --replicas mad`
 * and the guestbook (examples/guestbook) attached to it in lhr and mad; then, from the cities'
 * own namespaces, sequential requests to the anycast address:
 *   direct   a write from London: lhr's machine writes to the primary next to it;
 *   replay   a write from Madrid: mad's machine hits its replica, answers fly-replay, and the edge
 *            replays the request to lhr — the added latency is the replay's;
 *   lag      after each write from Madrid (replayed to lhr), Madrid asks its replica (every 2 ms)
 *            until the entry is there: the time from the write's answer to the entry readable in mad.
 * Not measured (not built yet): planned switchover and unplanned failover times. Needs root.
 * `--writes N` (default 50), `--json`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pct } from './lib/coldstart-rig.js';
import { capture } from './lib/procs.js';

const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const CLIENT = new URL('./lib/pg-client.js', import.meta.url).pathname;
const BOOK = new URL('../../examples/guestbook', import.meta.url).pathname;
const writes = (() => {
  const i = process.argv.indexOf('--writes');
  return i >= 0 ? Number(process.argv[i + 1]) : 50;
})();
const json = process.argv.includes('--json');
const lab = `bpg${randomBytes(2).toString('hex')}`;
const home = mkdtempSync(join(tmpdir(), 'starling-bench-pg-'));
const say = (m: string): void => void process.stderr.write(`bench: ${m}\n`);

const run = (file: string, args: string[], timeoutMs = 300_000) => capture(file, args, timeoutMs, { ...process.env, HOME: home });

async function cli(args: string[]): Promise<string> {
  const r = await run(process.execPath, [CLI, ...args, '--lab', lab]);
  if (r.code !== 0) throw new Error(`starling ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** The client in a city's namespace: JSON of its measurements. */
async function client(city: string, mode: string): Promise<{ ms: number[]; lag_ms?: number[] }> {
  const r = await run('ip', ['netns', 'exec', `sl-${lab}-c-${city}`, process.execPath, CLIENT, mode, String(writes)]);
  if (r.code !== 0) throw new Error(`client in ${city}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { ms: number[]; lag_ms?: number[] };
}

async function healthy(app: string, n: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ms = (JSON.parse(await cli(['status', '--app', app, '--json'])) as { machines: { healthy: boolean }[] }).machines;
    if (ms.length === n && ms.every((m) => m.healthy)) return;
    if (Date.now() > deadline) throw new Error(`${app}: ${n} healthy machines did not come`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function main(): Promise<void> {
  const up = await run(process.execPath, [CLI, 'lab', 'up', '--name', lab]);
  if (up.code !== 0) throw new Error(`lab up: ${up.stdout}${up.stderr}`);
  say(`lab ${lab} up`);
  try {
    await cli(['postgres', 'create', 'pg', '--region', 'lhr', '--replicas', 'mad']);
    await healthy('pg', 2);
    await cli(['apps', 'create', 'guestbook', '--primary-region', 'lhr']);
    await cli(['postgres', 'attach', 'pg', '--app', 'guestbook']);
    await cli(['deploy', '--config', join(BOOK, 'fly.toml'), '--image', BOOK]);
    await cli(['scale', 'count', '1', '--region', 'lhr,mad', '--app', 'guestbook']);
    await healthy('guestbook', 2);
    say('pg (lhr primary, mad replica) and the guestbook (lhr, mad) up; measuring');
    // Warm both paths (connections, JIT), then measure direct and replay in turn.
    await client('lhr', 'direct');
    await client('mad', 'replay');
    const direct = await client('lhr', 'direct');
    const replay = await client('mad', 'replay');
    const lag = (await client('mad', 'replay-lag')).lag_ms ?? [];
    const out = {
      writes,
      direct_p50_ms: round(pct(direct.ms, 50)),
      direct_p99_ms: round(pct(direct.ms, 99)),
      replay_p50_ms: round(pct(replay.ms, 50)),
      replay_p99_ms: round(pct(replay.ms, 99)),
      replay_added_p50_ms: round(pct(replay.ms, 50) - pct(direct.ms, 50)),
      ratio_replay_vs_direct_p50: round(pct(replay.ms, 50) / pct(direct.ms, 50)),
      lag_p50_ms: round(pct(lag, 50)),
      lag_p99_ms: round(pct(lag, 99)),
      switchover_ms: null,
      failover_ms: null,
    };
    if (json) console.log(JSON.stringify(out, null, 2));
    else {
      console.log(`\nglobal PostgreSQL in the lab: ${writes} sequential guestbook writes each way (lhr primary, mad replica)`);
      console.log(`write from London (direct to the primary): p50 ${out.direct_p50_ms} ms, p99 ${out.direct_p99_ms} ms`);
      console.log(`write from Madrid (replica → fly-replay → lhr): p50 ${out.replay_p50_ms} ms, p99 ${out.replay_p99_ms} ms (+${out.replay_added_p50_ms} ms, ${out.ratio_replay_vs_direct_p50}× at p50)`);
      console.log(`replication, a write's answer → readable in Madrid: p50 ${out.lag_p50_ms} ms, p99 ${out.lag_p99_ms} ms`);
      console.log('planned switchover, unplanned failover: not built yet');
    }
  } finally {
    await run(process.execPath, [CLI, 'lab', 'down', '--name', lab]);
    rmSync(home, { recursive: true, force: true });
  }
}

const round = (n: number): number => Math.round(n * 10) / 10;

main().catch((e: unknown) => {
  console.error(`bench:pg failed: ${(e as Error).message}`);
  process.exit(1);
});
