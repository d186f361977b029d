/**
 * `npm run bench:proxy`: Starling's proxy against nginx and HAProxy as reverse proxies, all in front
 * of one nginx origin on loopback, each loaded by wrk in turn, two rounds. A benchmark, not a test:
 * it prints numbers and fails only when something could not be run. See bench/README.md.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseOptions, USAGE, type Options, type ProxyName } from './lib/args.js';
import { BENCH_HOST, BODY, haproxyConf, nginxOriginConf, nginxProxyConf, starlingRoutes } from './lib/configs.js';
import { freePort, HOST, waitFor200 } from './lib/net.js';
import { cleanupHandlers, runBench, killAllSync, logTail, run, spawnManaged, stop, type Managed } from './lib/procs.js';
import { parseWrk } from './lib/wrk.js';
import { findExecutable, fmtMs, round2, round3, table, versionOf as toolVersion } from './lib/util.js';

const THREADS = 1;
const CONNECTIONS = 50;
const ROUNDS = 2;
const INSTALL_HINT = 'install them with: apt-get install -y nginx haproxy wrk   (or: npm run setup)';

/** dist/bench/proxy.js → dist/src/cli/main.js */
const STARLING_MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface Tools {
  nginx: string;
  haproxy: string;
  wrk: string;
}

interface Run {
  proxy: ProxyName;
  round: number;
  rps: number;
  p99_ms: number;
  /** Non-2xx responses plus socket errors (connect/read/write/timeout) wrk counted. */
  errors: number;
}

interface Best {
  rps: number;
  p99_ms: number;
}

class BenchError extends Error {}

const log = (msg: string) => console.error(`bench: ${msg}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Tools and versions

function findTools(opts: Options): Tools {
  const needed: (keyof Tools)[] = ['nginx', 'wrk', ...(opts.only.includes('haproxy') ? (['haproxy'] as const) : [])];
  const found: Partial<Tools> = {};
  const missing: string[] = [];
  for (const name of needed) {
    const p = findExecutable(name);
    if (p === undefined) missing.push(name);
    else found[name] = p;
  }
  if (missing.length > 0) throw new BenchError(`not installed: ${missing.join(', ')}; ${INSTALL_HINT}`);
  if (opts.only.includes('starling') && !existsSync(STARLING_MAIN)) {
    throw new BenchError(
      `Starling's CLI is not built (${STARLING_MAIN} is missing): run npm run build, or leave Starling out with --only nginx,haproxy`,
    );
  }
  return { nginx: found.nginx ?? '', haproxy: found.haproxy ?? '', wrk: found.wrk ?? '' };
}

function versionOf(bin: string, flag: string, pattern: RegExp): string {
  return bin === '' ? 'not used' : toolVersion(bin, flag, pattern);
}

// ---------------------------------------------------------------------------------------------
// Processes under test

interface Started {
  proc: Managed;
  port: number;
}

async function ready(what: string, proc: Managed, check: () => Promise<void>): Promise<void> {
  try {
    await check();
  } catch (e) {
    const reason = proc.hasExited() ? `${(e as Error).message} (${await proc.exited})` : (e as Error).message;
    throw new BenchError(`${reason}\n--- ${what} output (${proc.logFile}) ---\n${logTail(proc) || '(empty)'}`);
  }
}

function startNginx(tools: Tools, dir: string, name: string, conf: (name: string) => string): Managed {
  const confFile = join(dir, `${name}.conf`);
  writeFileSync(confFile, conf(name));
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, `${name}-temp`, sub), { recursive: true });
  return spawnManaged(name, tools.nginx, ['-c', confFile, '-p', dir, '-e', join(dir, `${name}-error.log`), '-g', 'daemon off;'], join(dir, `${name}.out`));
}

async function startOrigin(tools: Tools, dir: string, workers: number): Promise<Started> {
  const port = await freePort();
  const proc = startNginx(tools, dir, 'origin', (name) => nginxOriginConf(dir, name, port, workers));
  await ready('origin nginx', proc, () => waitFor200('origin nginx', port, '/', { stillRunning: () => !proc.hasExited() }));
  return { proc, port };
}

async function startProxy(
  proxy: ProxyName,
  round: number,
  ctx: { tools: Tools; dir: string; opts: Options; originPort: number; routesFile: string },
): Promise<Started> {
  const { tools, dir, opts, originPort } = ctx;
  const port = await freePort();
  const tag = `${proxy}-r${round}`;
  const alive = (p: Managed) => () => !p.hasExited();
  switch (proxy) {
    case 'nginx': {
      const proc = startNginx(tools, dir, tag, (name) => nginxProxyConf(dir, name, port, originPort, opts.workers));
      await ready('nginx proxy', proc, () => waitFor200('nginx proxy', port, '/', { host: BENCH_HOST, stillRunning: alive(proc) }));
      return { proc, port };
    }
    case 'haproxy': {
      const confFile = join(dir, `${tag}.cfg`);
      writeFileSync(confFile, haproxyConf(port, originPort, opts.workers));
      const proc = spawnManaged(tag, tools.haproxy, ['-f', confFile, '-db'], join(dir, `${tag}.out`));
      await ready('haproxy', proc, () => waitFor200('haproxy', port, '/', { host: BENCH_HOST, stillRunning: alive(proc) }));
      return { proc, port };
    }
    case 'starling': {
      const admin = await freePort();
      const nodeArgs = opts.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`];
      const args = [
        ...nodeArgs,
        STARLING_MAIN,
        'proxy',
        'serve',
        '--routes',
        ctx.routesFile,
        '--region',
        'fra',
        '--listen',
        `${HOST}:${port}`,
        '--admin',
        `${HOST}:${admin}`,
        '--access-log',
        'off',
        '--workers',
        String(opts.workers),
      ];
      const proc = spawnManaged(tag, process.execPath, args, join(dir, `${tag}.out`));
      await ready('starling proxy', proc, async () => {
        await waitFor200('starling admin', admin, '/healthz', { stillRunning: alive(proc) });
        await waitFor200('starling proxy', port, '/', { host: BENCH_HOST, stillRunning: alive(proc) });
      });
      return { proc, port };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Load

async function wrk(tools: Tools, port: number, seconds: number, latency: boolean): Promise<string> {
  const args = [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, ...(latency ? ['--latency'] : []), '-H', `Host: ${BENCH_HOST}`, `http://${HOST}:${port}/`];
  const { code, output } = await run('wrk', tools.wrk, args);
  if (code !== 0) throw new BenchError(`wrk exited with code ${code ?? '?'}:\n${output}`);
  return output;
}

async function measure(
  proxy: ProxyName,
  round: number,
  ctx: { tools: Tools; dir: string; opts: Options; originPort: number; routesFile: string; origin: Managed },
): Promise<Run> {
  const { opts, tools } = ctx;
  const profilesBefore = listProfiles(opts.cpuProfDir);
  log(`${proxy} round ${round}: starting`);
  const { proc, port } = await startProxy(proxy, round, ctx);
  try {
    if (opts.warmupS > 0) {
      log(`${proxy} round ${round}: warm-up ${opts.warmupS} s`);
      await wrk(tools, port, opts.warmupS, false);
    }
    log(`${proxy} round ${round}: measuring ${opts.durationS} s`);
    const output = await wrk(tools, port, opts.durationS, true);
    if (proc.hasExited()) throw new BenchError(`${proxy} exited during the run (${await proc.exited}):\n${logTail(proc)}`);
    if (ctx.origin.hasExited()) throw new BenchError(`the origin nginx exited during the run:\n${logTail(ctx.origin)}`);
    const r = parseWrk(output);
    const errors = r.non2xx + r.socketErrors;
    log(`${proxy} round ${round}: ${fmtRps(r.rps)} req/s, p99 ${fmtMs(r.p99Ms)} ms${errors > 0 ? `, ${errors} errors` : ''}`);
    if (errors > 0) log(`warning: ${proxy} round ${round}: ${r.non2xx} non-2xx responses and ${r.socketErrors} socket errors out of ${r.requests} requests`);
    return { proxy, round, rps: round2(r.rps), p99_ms: round3(r.p99Ms), errors };
  } finally {
    await stop(proc);
    if (proxy === 'starling' && opts.cpuProfDir !== undefined) {
      const fresh = listProfiles(opts.cpuProfDir).filter((f) => !profilesBefore.includes(f));
      if (fresh.length === 0) log(`warning: no .cpuprofile appeared in ${opts.cpuProfDir} (node writes it only when the process exits cleanly on SIGTERM)`);
      for (const f of fresh) log(`cpu profile (round ${round}): ${join(opts.cpuProfDir, f)}`);
    }
  }
}

function listProfiles(dir: string | undefined): string[] {
  if (dir === undefined || !existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
}

// ---------------------------------------------------------------------------------------------
// Report

const fmtRps = (n: number) => Math.round(n).toLocaleString('en-US');

/** Best of the rounds: the round with the highest req/s, with that round's p99. */
function best(runs: Run[], proxy: ProxyName): Best | null {
  const mine = runs.filter((r) => r.proxy === proxy);
  if (mine.length === 0) return null;
  const top = mine.reduce((a, b) => (b.rps > a.rps ? b : a));
  return { rps: top.rps, p99_ms: top.p99_ms };
}

/** (max − min) / max of a proxy's req/s over its rounds: how much the rounds disagree. */
function spread(runs: Run[], proxy: ProxyName): number {
  const rps = runs.filter((r) => r.proxy === proxy).map((r) => r.rps);
  if (rps.length < 2) return 0;
  const max = Math.max(...rps);
  return max > 0 ? (max - Math.min(...rps)) / max : 0;
}

function printTable(opts: Options, runs: Run[], summary: Record<ProxyName, Best | null>, heading: string): void {
  const anyErrors = runs.some((r) => r.errors > 0);
  console.log(heading);
  console.log('');
  const head = ['proxy', 'round', 'req/s', 'p99 ms', ...(anyErrors ? ['errors'] : [])];
  const rows = runs.map((r) => [r.proxy, String(r.round), fmtRps(r.rps), fmtMs(r.p99_ms), ...(anyErrors ? [String(r.errors)] : [])]);
  console.log(table(head, rows, [false, true, true, true, true]));
  console.log('');
  console.log(`best of ${ROUNDS} rounds (the round with the higher req/s, with that round's p99):`);
  const srows = opts.only.map((p) => {
    const b = summary[p];
    return [p, b ? fmtRps(b.rps) : '-', b ? fmtMs(b.p99_ms) : '-', `${(spread(runs, p) * 100).toFixed(1)}%`];
  });
  console.log(table(['proxy', 'req/s', 'p99 ms', 'rounds differ by'], srows, [false, true, true, true]));
  const s = summary.starling;
  for (const peer of ['nginx', 'haproxy'] as const) {
    const b = summary[peer];
    if (!s || !b) continue;
    console.log(
      `starling / ${peer}: ${(s.rps / b.rps).toFixed(2)}× req/s, ${(s.p99_ms / b.p99_ms).toFixed(2)}× p99 latency` +
        ` (req/s: higher is better; p99: lower is better)`,
    );
  }
  if (!s) console.log('(starling was not run: no ratios)');
}

// ---------------------------------------------------------------------------------------------
// Main

let tempDir: string | undefined;
const { cleanup, onSignal, interrupted } = cleanupHandlers(() => tempDir, log);

async function main(): Promise<void> {
  let opts: Options | 'help';
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (opts === 'help') {
    console.log(USAGE);
    return;
  }
  const tools = findTools(opts);
  if (opts.cpuProfDir !== undefined) mkdirSync(opts.cpuProfDir, { recursive: true });

  const env = {
    cpus: availableParallelism(),
    node: process.version,
    nginx: versionOf(tools.nginx, '-v', /nginx\/(\S+)/),
    haproxy: versionOf(tools.haproxy, '-v', /HAProxy version (\S+)/),
    wrk: versionOf(tools.wrk, '-v', /wrk (\S+)/),
  };

  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  process.on('exit', () => {
    killAllSync();
    if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  });
  tempDir = mkdtempSync(join(tmpdir(), 'starling-bench-'));
  const dir = tempDir;

  const origin = await startOrigin(tools, dir, opts.workers);
  log(`origin: nginx ${env.nginx} on ${HOST}:${origin.port} (worker_processes ${opts.workers}), body ${JSON.stringify(BODY)}`);
  const routesFile = join(dir, 'routes.json');
  writeFileSync(routesFile, starlingRoutes(origin.port));

  const ctx = { tools, dir, opts, originPort: origin.port, routesFile, origin: origin.proc };
  const runs: Run[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const proxy of opts.only) {
      runs.push(await measure(proxy, round, ctx));
      await sleep(500);
    }
  }

  const summary: Record<ProxyName, Best | null> = {
    starling: best(runs, 'starling'),
    nginx: best(runs, 'nginx'),
    haproxy: best(runs, 'haproxy'),
  };
  const ratio = (peer: Best | null) => (summary.starling && peer && peer.rps > 0 ? round3(summary.starling.rps / peer.rps) : null);
  const workersNote =
    opts.workers === 1
      ? '1 worker each (starling --workers 1, nginx worker_processes 1, haproxy nbthread 1)'
      : `${opts.workers} workers each, for a fair multi-core comparison (starling --workers ${opts.workers}, nginx worker_processes ${opts.workers}, haproxy nbthread ${opts.workers})`;

  if (opts.json) {
    const out = {
      origin: { server: `nginx/${env.nginx}`, address: `${HOST}:${origin.port}`, body: BODY, workers: opts.workers },
      duration_s: opts.durationS,
      warmup_s: opts.warmupS,
      workers: opts.workers,
      load: { tool: `wrk ${env.wrk}`, threads: THREADS, connections: CONNECTIONS, host: BENCH_HOST },
      env,
      summary_method: `best of ${ROUNDS}: the round with the highest req/s, with that round's p99`,
      runs,
      summary: { ...summary, ratio_vs_nginx: ratio(summary.nginx), ratio_vs_haproxy: ratio(summary.haproxy) },
    };
    console.log(JSON.stringify(out, null, 2));
  } else {
    const heading = [
      `proxy benchmark: wrk -t${THREADS} -c${CONNECTIONS} -d${opts.durationS}s --latency (after a ${opts.warmupS} s warm-up), ${ROUNDS} rounds`,
      `proxies: ${workersNote}`,
      `origin: nginx ${env.nginx} on ${HOST}:${origin.port}, static 200 ${JSON.stringify(BODY)}`,
      `host: ${env.cpus} CPUs shared by wrk, the proxy under test and the origin; node ${env.node}, haproxy ${env.haproxy}, wrk ${env.wrk}`,
    ].join('\n');
    printTable(opts, runs, summary, heading);
  }
}

runBench(main, { cleanup, interrupted });
