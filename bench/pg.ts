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
 *   switchover  `postgres failover pg --to mad` while London writes: the time writes were refused
 *            (what pgctl reports: demote → promoted), the CLI's whole time, and London's slowest
 *            write meanwhile (writes wait instead of failing) and how many failed;
 *   failover  with a third member (fra), lhr's host crashed (`lab fail lhr1 --mode crash`: its agent
 *            and machines killed): the time until another member answers as the primary; then
 *            `lab heal` and whether lhr's member came back as a replica (fenced, rewound).
 * Needs root.
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

/** The client in a city's namespace: JSON of its measurements (`direct-1`: one direct write). */
async function client(city: string, mode: string): Promise<{ ms: number[]; lag_ms?: number[] }> {
  const [m, n] = mode === 'direct-1' ? ['direct', 1] : [mode, writes];
  const r = await run('ip', ['netns', 'exec', `sl-${lab}-c-${city}`, process.execPath, CLIENT, m, String(n)]);
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
    await cli(['postgres', 'create', 'pg', '--region', 'lhr', '--replicas', 'mad,fra']);
    await healthy('pg', 3);
    await cli(['apps', 'create', 'guestbook', '--primary-region', 'lhr']);
    await cli(['postgres', 'attach', 'pg', '--app', 'guestbook']);
    await cli(['deploy', '--config', join(BOOK, 'fly.toml'), '--image', BOOK]);
    await cli(['scale', 'count', '1', '--region', 'lhr,mad', '--app', 'guestbook']);
    await healthy('guestbook', 2);
    say('pg (lhr primary, mad and fra replicas) and the guestbook (lhr, mad) up; measuring');
    // Warm both paths (connections, JIT), then measure direct and replay in turn.
    await client('lhr', 'direct');
    await client('mad', 'replay');
    const direct = await client('lhr', 'direct');
    const replay = await client('mad', 'replay');
    const lag = (await client('mad', 'replay-lag')).lag_ms ?? [];
    const sw = await switchover();
    const fo = await failover();
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
      switchover_refused_ms: sw.refused_ms,
      switchover_cli_ms: sw.cli_ms,
      switchover_slowest_write_ms: sw.slowest_ms,
      switchover_failed_writes: sw.failed,
      failover_ms: fo.ms,
      failover_old_primary_rejoined: fo.rejoined,
    };
    if (json) console.log(JSON.stringify(out, null, 2));
    else {
      console.log(`\nglobal PostgreSQL in the lab: ${writes} sequential guestbook writes each way (lhr primary, mad and fra replicas)`);
      console.log(`write from London (direct to the primary): p50 ${out.direct_p50_ms} ms, p99 ${out.direct_p99_ms} ms`);
      console.log(`write from Madrid (replica → fly-replay → lhr): p50 ${out.replay_p50_ms} ms, p99 ${out.replay_p99_ms} ms (+${out.replay_added_p50_ms} ms, ${out.ratio_replay_vs_direct_p50}× at p50)`);
      console.log(`replication, a write's answer → readable in Madrid: p50 ${out.lag_p50_ms} ms, p99 ${out.lag_p99_ms} ms`);
      console.log(`planned switchover lhr → mad: writes refused ${out.switchover_refused_ms} ms (the CLI: ${out.switchover_cli_ms} ms); London's slowest write meanwhile ${out.switchover_slowest_write_ms} ms, ${out.switchover_failed_writes} failed`);
      console.log(`unplanned failover, the primary's host crashed: a new primary after ${out.failover_ms} ms; the old one back as a replica: ${out.failover_old_primary_rejoined ? 'yes' : 'no'}`);
    }
  } finally {
    await run(process.execPath, [CLI, 'lab', 'down', '--name', lab]);
    rmSync(home, { recursive: true, force: true });
  }
}

const round = (n: number): number => Math.round(n * 10) / 10;

type Member = { region: string; role: string };
const members = async (): Promise<Member[]> => JSON.parse(await cli(['postgres', 'status', 'pg', '--json'])) as Member[];

/** The planned switchover to mad, with London writing all along. */
async function switchover(): Promise<{ refused_ms: number | null; cli_ms: number; slowest_ms: number; failed: number }> {
  let writing = true;
  const lat: number[] = [];
  let failed = 0;
  const writer = (async () => {
    while (writing) {
      const r = await client('lhr', 'direct-1').catch(() => null);
      if (r === null) failed++;
      else lat.push(...r.ms);
    }
  })();
  const t = performance.now();
  const out = await cli(['postgres', 'failover', 'pg', '--to', 'mad']);
  const cliMs = performance.now() - t;
  writing = false;
  await writer;
  return { refused_ms: Number(/writes refused for (\d+) ms/.exec(out)?.[1] ?? NaN) || null, cli_ms: round(cliMs), slowest_ms: round(Math.max(0, ...lat)), failed };
}

/** mad's host (the primary now) crashed; a member elsewhere promoted; mad healed. */
async function failover(): Promise<{ ms: number | null; rejoined: boolean }> {
  const t = performance.now();
  const labCmd = async (args: string[]): Promise<void> => {
    const r = await run(process.execPath, [CLI, 'lab', ...args, '--name', lab]);
    if (r.code !== 0) throw new Error(`starling lab ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  };
  await labCmd(['fail', 'mad1', '--mode', 'crash']);
  let ms: number | null = null;
  while (performance.now() - t < 60_000) {
    const m = await members().catch(() => []);
    if (m.some((x) => x.region !== 'mad' && x.role === 'primary')) {
      ms = round(performance.now() - t);
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await labCmd(['heal', 'mad1']);
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const m = await members().catch(() => []);
    if (m.find((x) => x.region === 'mad')?.role === 'replica') return { ms, rejoined: true };
    await new Promise((r) => setTimeout(r, 1000));
  }
  return { ms, rejoined: false };
}

main().catch((e: unknown) => {
  console.error(`bench:pg failed: ${(e as Error).message}`);
  process.exit(1);
});
