/**
 * `npm run bench:proxy`: Starling's proxy against nginx, HAProxy and Caddy as reverse proxies, all
 * in front of one nginx origin on loopback, each loaded by wrk in turn, three rounds. A benchmark,
 * not a test: it prints numbers and fails only when something could not be run. See bench/README.md.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseOptions, USAGE, type Options, type ProxyName } from './lib/args.js';
import { caddyProxyConf, startCaddy } from './lib/caddy.js';
import { BENCH_HOST, BODY, haproxyConf, nginxOriginConf, nginxProxyConf, starlingRoutes } from './lib/configs.js';
import { freePort, HOST, waitFor200 } from './lib/net.js';
import { diagNodeArgs, fmtGc, keepLog, listProfiles, logOffset, logSince, reportProfiles, summarizeGc } from './lib/node-diag.js';
import { cleanupHandlers, runBench, killAllSync, logTail, run, spawnManaged, stop, type Managed } from './lib/procs.js';
import { fmtRps, PEERS, printTable, summarize, type Run } from './lib/proxy-report.js';
import { parseWrk } from './lib/wrk.js';
import { BenchError, findExecutable, fmtMs, round2, round3, versionOf as toolVersion } from './lib/util.js';

const THREADS = 1;
const CONNECTIONS = 50;
const INSTALL_HINT = 'install them with: apt-get install -y nginx haproxy caddy wrk   (or: npm run setup)';

/** dist/bench/proxy.js → dist/src/cli/main.js */
const STARLING_MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface Tools {
  nginx: string;
  haproxy: string;
  caddy: string;
  wrk: string;
}

const log = (msg: string) => console.error(`bench: ${msg}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Tools and versions

/**
 * nginx (the origin) and wrk are needed. A peer proxy that is not installed is left out of `opts.only`
 * and returned in `notInstalled` (its ratio is null), unless --only named it: then it is an error.
 */
function findTools(opts: Options): { tools: Tools; notInstalled: ProxyName[] } {
  const peers = PEERS.filter((p) => p !== 'nginx' && opts.only.includes(p));
  const needed: (keyof Tools)[] = ['nginx', 'wrk', ...(opts.onlyNamed ? peers : [])];
  const found: Partial<Tools> = {};
  const missing: string[] = [];
  for (const name of needed) {
    const p = findExecutable(name);
    if (p === undefined) missing.push(name);
    else found[name] = p;
  }
  if (missing.length > 0) throw new BenchError(`not installed: ${missing.join(', ')}; ${INSTALL_HINT}`);
  const notInstalled: ProxyName[] = [];
  for (const peer of opts.onlyNamed ? [] : peers) {
    const p = findExecutable(peer);
    if (p === undefined) notInstalled.push(peer);
    else found[peer] = p;
  }
  if (notInstalled.length > 0) {
    log(`not installed, left out (their ratios are null): ${notInstalled.join(', ')}; apt-get install -y ${notInstalled.join(' ')}, or npm run setup`);
    opts.only = opts.only.filter((p) => !notInstalled.includes(p));
  }
  if (opts.only.includes('starling') && !existsSync(STARLING_MAIN)) {
    throw new BenchError(
      `Starling's CLI is not built (${STARLING_MAIN} is missing): run npm run build, or leave Starling out with --only nginx,haproxy`,
    );
  }
  return { tools: { nginx: found.nginx ?? '', haproxy: found.haproxy ?? '', caddy: found.caddy ?? '', wrk: found.wrk ?? '' }, notInstalled };
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
    case 'caddy': {
      const proc = startCaddy(tools.caddy, dir, tag, caddyProxyConf(dir, port, originPort), opts.workers);
      await ready('caddy', proc, () => waitFor200('caddy', port, '/', { host: BENCH_HOST, stillRunning: alive(proc) }));
      return { proc, port };
    }
    case 'starling': {
      const admin = await freePort();
      const args = [
        ...diagNodeArgs(opts),
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
    const traced = proxy === 'starling' && opts.traceGcDir !== undefined;
    const logFrom = logOffset(proc.logFile);
    const output = await wrk(tools, port, opts.durationS, true);
    const gc = traced ? summarizeGc(logSince(proc.logFile, logFrom)) : null;
    if (proc.hasExited()) throw new BenchError(`${proxy} exited during the run (${await proc.exited}):\n${logTail(proc)}`);
    if (ctx.origin.hasExited()) throw new BenchError(`the origin nginx exited during the run:\n${logTail(ctx.origin)}`);
    const r = parseWrk(output);
    const errors = r.non2xx + r.socketErrors;
    log(`${proxy} round ${round}: ${fmtRps(r.rps)} req/s, p99 ${fmtMs(r.p99Ms)} ms${errors > 0 ? `, ${errors} errors` : ''}`);
    if (gc) log(`${proxy} round ${round}: ${fmtGc(gc, opts.durationS)}`);
    if (errors > 0) log(`warning: ${proxy} round ${round}: ${r.non2xx} non-2xx responses and ${r.socketErrors} socket errors out of ${r.requests} requests`);
    return { proxy, round, rps: round2(r.rps), p99_ms: round3(r.p99Ms), errors, gc };
  } finally {
    await stop(proc);
    if (proxy === 'starling' && opts.cpuProfDir !== undefined) reportProfiles(opts.cpuProfDir, profilesBefore, `round ${round}`, log);
    if (proxy === 'starling' && opts.traceGcDir !== undefined) keepLog(proc.logFile, opts.traceGcDir, `starling-r${round}`, log);
  }
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
  const { tools, notInstalled } = findTools(opts);
  if (opts.cpuProfDir !== undefined) mkdirSync(opts.cpuProfDir, { recursive: true });
  if (opts.traceGcDir !== undefined) mkdirSync(opts.traceGcDir, { recursive: true });

  const env = {
    cpus: availableParallelism(),
    node: process.version,
    nginx: versionOf(tools.nginx, '-v', /nginx\/(\S+)/),
    haproxy: versionOf(tools.haproxy, '-v', /HAProxy version (\S+)/),
    caddy: versionOf(tools.caddy, 'version', /^v?(\d+\.\d+\S*)/m),
    wrk: versionOf(tools.wrk, '-v', /wrk (\S+)/),
    /** The 1, 5 and 15 min load averages before and after the runs: other work on the CPUs shows here. */
    load_avg_start: loadavg().map(round2),
    load_avg_end: [] as number[],
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
  for (let round = 1; round <= opts.rounds; round++) {
    for (const proxy of opts.only) {
      runs.push(await measure(proxy, round, ctx));
      await sleep(500);
    }
  }
  env.load_avg_end = loadavg().map(round2);

  const summary = summarize(runs);
  const n = opts.workers;
  const workersNote =
    n === 1
      ? '1 worker each (starling --workers 1, nginx worker_processes 1, haproxy nbthread 1, caddy GOMAXPROCS=1)'
      : `${n} workers each, for a fair multi-core comparison (starling --workers ${n}, nginx worker_processes ${n}, haproxy nbthread ${n}, caddy GOMAXPROCS=${n})`;
  const method = `best of ${opts.rounds}: the round with the highest req/s, with that round's p99`;

  if (opts.json) {
    const out = {
      origin: { server: `nginx/${env.nginx}`, address: `${HOST}:${origin.port}`, body: BODY, workers: opts.workers },
      duration_s: opts.durationS,
      warmup_s: opts.warmupS,
      workers: opts.workers,
      rounds: opts.rounds,
      load: { tool: `wrk ${env.wrk}`, threads: THREADS, connections: CONNECTIONS, host: BENCH_HOST },
      env,
      not_installed: notInstalled,
      summary_method: method,
      runs,
      summary,
    };
    console.log(JSON.stringify(out, null, 2));
  } else {
    const heading = [
      `proxy benchmark: wrk -t${THREADS} -c${CONNECTIONS} -d${opts.durationS}s --latency (after a ${opts.warmupS} s warm-up), ${opts.rounds} round${opts.rounds === 1 ? '' : 's'}`,
      `proxies: ${workersNote}`,
      `origin: nginx ${env.nginx} on ${HOST}:${origin.port}, static 200 ${JSON.stringify(BODY)}`,
      `host: ${env.cpus} CPUs shared by wrk, the proxy under test and the origin; node ${env.node}, haproxy ${env.haproxy}, caddy ${env.caddy}, wrk ${env.wrk}`,
      `load average (1, 5, 15 min): ${env.load_avg_start.join(' ')} at the start, ${env.load_avg_end.join(' ')} at the end`,
    ].join('\n');
    printTable(opts, runs, summary, heading, notInstalled);
  }
}

runBench(main, { cleanup, interrupted });
