/**
 * `npm run bench:tls`: Starling's proxy against nginx and Caddy as TLS-terminating reverse proxies
 * (one worker or core each, ECDSA P-256 certificate, TLS 1.3, on loopback) in front of one nginx
 * origin: new handshakes per second (a new connection for every request) and requests per second
 * over kept-alive TLS, both with wrk; then Starling's certificate index with 100,000 names: memory
 * and SNI lookup time. The `platform` proxy is a real agent whose certificate came from the control
 * plane over the feed (lib/tls-platform.ts), measured the same way beside the others.
 * A benchmark, not a test: it prints numbers and fails only when something could not be run.
 * See bench/README.md.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { FileCertStore, selfSigned } from '../src/certs/index.js';
import type { IndexResult } from './lib/cert-index-child.js';
import { BENCH_HOST, BODY, starlingRoutes } from './lib/configs.js';
import { HOST } from './lib/net.js';
import { diagNodeArgs, fmtGc, keepLog, listProfiles, logOffset, logSince, reportProfiles, summarizeGc } from './lib/node-diag.js';
import { cleanupHandlers, runBench, killAllSync, logTail, run, stop } from './lib/procs.js';
import { parseTlsOptions, TLS_USAGE, type TlsOptions, type TlsProxy } from './lib/tls-args.js';
import { PLATFORM_HOST, platformCase } from './lib/tls-platform.js';
import { hostOf, startOrigin, startProxy, STARLING_MAIN, type Negotiated, type Setup, type Tools } from './lib/tls-proxies.js';
import { groupCpuMs } from './lib/cpu.js';
import { NODE_OPENSSL_CONF, WRK_SNI_SCRIPT } from './lib/tls-setup.js';
import { BenchError, findExecutable, fmtInt, fmtMs, round1, round2, round3, versionOf } from './lib/util.js';
import { parseWrk } from './lib/wrk.js';
import { PLATFORM_AIMS, WRK_TESTS, printIndex, printWrk, summarize, type Run, type WrkTest } from './lib/tls-report.js';

const THREADS = 1;
const CONNECTIONS = 50;
const INSTALL_HINT = 'install them with: apt-get install -y nginx caddy wrk   (or: npm run setup)';
const INDEX_CHILD = fileURLToPath(new URL('./lib/cert-index-child.js', import.meta.url));

const log = (msg: string) => console.error(`bench: ${msg}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Tools

/**
 * nginx (the origin) and wrk are needed. Caddy, when not installed, is left out of `opts.proxies`
 * and returned in `notInstalled` (its ratios are null), unless --only named it: then it is an error.
 */
function findTools(opts: TlsOptions): { tools: Tools; notInstalled: TlsProxy[] } {
  const missing: string[] = [];
  const nginx = findExecutable('nginx');
  const wrk = findExecutable('wrk');
  const caddy = opts.proxies.includes('caddy') ? findExecutable('caddy') : undefined;
  if (nginx === undefined) missing.push('nginx');
  if (wrk === undefined) missing.push('wrk');
  if (opts.proxiesNamed && opts.proxies.includes('caddy') && caddy === undefined) missing.push('caddy');
  if (missing.length > 0) throw new BenchError(`not installed: ${missing.join(', ')}; ${INSTALL_HINT} (--only index needs none of them)`);
  if ((opts.proxies.includes('starling') || opts.proxies.includes('platform')) && !existsSync(STARLING_MAIN)) {
    throw new BenchError(`Starling's CLI is not built (${STARLING_MAIN} is missing): run npm run build, or leave Starling out with --only nginx`);
  }
  const notInstalled: TlsProxy[] = [];
  if (opts.proxies.includes('caddy') && caddy === undefined) {
    notInstalled.push('caddy');
    opts.proxies = opts.proxies.filter((p) => p !== 'caddy');
    log('not installed, left out (its ratios are null): caddy; apt-get install -y caddy, or npm run setup');
  }
  return { tools: { nginx: nginx ?? '', wrk: wrk ?? '', caddy: caddy ?? '' }, notInstalled };
}

// ---------------------------------------------------------------------------------------------
// Load

function wrkArgs(test: WrkTest, host: string, port: number, seconds: number, script: string, latency: boolean): string[] {
  return [
    `-t${THREADS}`,
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    ...(latency ? ['--latency'] : []),
    '-s',
    script,
    '-H',
    `Host: ${host}`,
    ...(test === 'handshakes' ? ['-H', 'Connection: close'] : []),
    `https://${host}:${port}/`,
  ];
}

async function wrk(s: Setup, test: WrkTest, host: string, port: number, seconds: number, latency: boolean): Promise<string> {
  const { code, output } = await run('wrk', s.tools.wrk, wrkArgs(test, host, port, seconds, s.wrkScript, latency));
  if (code !== 0) throw new BenchError(`wrk exited with code ${code ?? '?'}:\n${output}`);
  return output;
}

function parseWrkOrFail(output: string): ReturnType<typeof parseWrk> {
  try {
    return parseWrk(output);
  } catch (e) {
    throw new BenchError((e as Error).message);
  }
}

const TEST_LABEL: Record<WrkTest, string> = {
  handshakes: 'new connections (Connection: close)',
  keepalive: 'kept-alive connections',
};

async function measureProxy(proxy: TlsProxy, round: number, s: Setup, tests: WrkTest[]): Promise<{ runs: Run[]; negotiated: Negotiated }> {
  log(`${proxy} round ${round}: starting`);
  const profilesBefore = listProfiles(s.opts.cpuProfDir);
  const node = proxy === 'starling' || proxy === 'platform';
  const started = await startProxy(proxy, round, s);
  const { proc, port, negotiated } = started;
  const host = hostOf(proxy);
  log(`${proxy} round ${round}: ${negotiated.protocol}, ${negotiated.cipher}, ${negotiated.group}, no session tickets`);
  const traced = node && s.opts.traceGcDir !== undefined;
  const runs: Run[] = [];
  try {
    for (const test of tests) {
      if (s.opts.warmupS > 0) {
        log(`${proxy} round ${round}: ${test}: warm-up ${s.opts.warmupS} s`);
        await wrk(s, test, host, port, s.opts.warmupS, false);
      }
      log(`${proxy} round ${round}: ${test}: measuring ${s.opts.durationS} s over ${TEST_LABEL[test]}`);
      const logFrom = logOffset(proc.logFile);
      const cpuBefore = groupCpuMs(proc.child.pid);
      const t0 = Date.now();
      const output = await wrk(s, test, host, port, s.opts.durationS, true);
      const wallMs = Date.now() - t0;
      const cpuAfter = groupCpuMs(proc.child.pid);
      const gc = traced ? summarizeGc(logSince(proc.logFile, logFrom)) : null;
      if (proc.hasExited()) throw new BenchError(`${proxy} exited during the run (${await proc.exited}):\n${logTail(proc)}`);
      if (s.origin.hasExited()) throw new BenchError(`the origin nginx exited during the run:\n${logTail(s.origin)}`);
      const r = parseWrkOrFail(output);
      if (r.requests === 0) throw new BenchError(`${proxy}: wrk completed no request at all:\n${output}`);
      const errors = r.non2xx + r.socketErrors;
      const cpuMs = cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined;
      const cpuPct = cpuMs === undefined ? null : round1((cpuMs / wallMs) * 100);
      const cpuPerReq = cpuMs === undefined ? null : round1((cpuMs * 1000) / r.requests);
      const cpuText = cpuPct === null ? '' : `, proxy CPU ${cpuPct.toFixed(0)}% (${fmtInt(cpuPerReq ?? 0)} µs per request)`;
      log(`${proxy} round ${round}: ${test}: ${fmtInt(r.rps)} req/s, p99 ${fmtMs(r.p99Ms)} ms${cpuText}${errors > 0 ? `, ${errors} errors` : ''}`);
      if (gc) log(`${proxy} round ${round}: ${test}: ${fmtGc(gc, s.opts.durationS)}`);
      if (errors > 0) {
        log(`warning: ${proxy} round ${round} ${test}: ${r.non2xx} non-2xx responses and ${r.socketErrors} socket errors out of ${r.requests} requests`);
      }
      runs.push({ test, proxy, round, rps: round2(r.rps), p99_ms: round3(r.p99Ms), errors, proxy_cpu_pct: cpuPct, proxy_cpu_us_per_req: cpuPerReq, gc });
      await sleep(300);
    }
  } finally {
    await started.stop();
    if (node && s.opts.cpuProfDir !== undefined) reportProfiles(s.opts.cpuProfDir, profilesBefore, `${proxy} round ${round}`, log);
    if (traced && s.opts.traceGcDir !== undefined) keepLog(proc.logFile, s.opts.traceGcDir, `${proxy}-r${round}`, log);
  }
  return { runs, negotiated };
}

// ---------------------------------------------------------------------------------------------
// Certificate index (in a child process with --expose-gc)

async function measureIndex(opts: TlsOptions, dir: string): Promise<IndexResult> {
  if (!existsSync(INDEX_CHILD)) throw new BenchError(`${INDEX_CHILD} is missing: run npm run build`);
  const out = join(dir, 'index-result.json');
  log(`index: ${fmtInt(opts.indexNames)} names, ${opts.rounds} × ${fmtInt(opts.lookups)} lookups per kind (takes ~10 s)`);
  const args = ['--expose-gc', INDEX_CHILD, '--names', String(opts.indexNames), '--lookups', String(opts.lookups), '--rounds', String(opts.rounds), '--out', out];
  const { code, output } = await run('index', process.execPath, args);
  if (code !== 0 || !existsSync(out)) throw new BenchError(`the index measurement failed (exit code ${code ?? '?'}):\n${output}`);
  return JSON.parse(readFileSync(out, 'utf8')) as IndexResult;
}

// ---------------------------------------------------------------------------------------------
// Main

let tempDir: string | undefined;
const { cleanup, onSignal, interrupted } = cleanupHandlers(() => tempDir, log);

/**
 * Certificate (files for nginx, the store for Starling, the control plane for the platform), routes,
 * OpenSSL config, wrk script. One certificate for every proxy; it names the platform's hostname too.
 */
async function prepare(tools: Tools, dir: string, opts: TlsOptions): Promise<Setup> {
  const pair = await selfSigned({ names: [BENCH_HOST, PLATFORM_HOST] });
  const certFile = join(dir, 'bench.crt');
  const keyFile = join(dir, 'bench.key');
  writeFileSync(certFile, pair.certPem, { mode: 0o600 });
  writeFileSync(keyFile, pair.keyPem, { mode: 0o600 });
  const certsDir = join(dir, 'certs');
  // The store fills in names and dates from the certificate itself.
  await new FileCertStore(certsDir).put({
    hostname: BENCH_HOST,
    source: 'custom',
    certPem: pair.certPem,
    keyPem: pair.keyPem,
    names: [],
    notBefore: '',
    notAfter: '',
  });
  const opensslConf = join(dir, 'node-openssl.cnf');
  writeFileSync(opensslConf, NODE_OPENSSL_CONF);
  const wrkScript = join(dir, 'sni.lua');
  writeFileSync(wrkScript, WRK_SNI_SCRIPT);

  const origin = await startOrigin(tools, dir);
  const routesFile = join(dir, 'routes.json');
  writeFileSync(routesFile, starlingRoutes(origin.port));
  return {
    tools,
    dir,
    opts,
    originPort: origin.port,
    origin: origin.proc,
    routesFile,
    certsDir,
    certFile,
    keyFile,
    certPem: pair.certPem,
    keyPem: pair.keyPem,
    opensslConf,
    wrkScript,
    platform: opts.proxies.includes('platform')
      ? platformCase({ dir, originPort: origin.port, certPem: pair.certPem, keyPem: pair.keyPem, opensslConf, nodeArgs: diagNodeArgs(opts) })
      : undefined,
  };
}

async function main(): Promise<void> {
  let opts: TlsOptions | 'help';
  try {
    opts = parseTlsOptions(process.argv.slice(2));
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n\n${TLS_USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (opts === 'help') {
    console.log(TLS_USAGE);
    return;
  }
  const wrkTests = WRK_TESTS.filter((t) => opts.tests.includes(t));
  // The platform's agent runs BIRD, which needs root: left out of a default run without it.
  if (opts.proxies.includes('platform') && process.getuid?.() !== 0) {
    if (opts.proxiesNamed) throw new BenchError('the platform case runs a real agent with BIRD: run as root, or leave it out with --only starling,nginx');
    log('not root: leaving out the platform case (a real agent with BIRD needs root)');
    opts.proxies = opts.proxies.filter((p) => p !== 'platform');
  }
  const found = wrkTests.length > 0 ? findTools(opts) : undefined;
  const tools = found?.tools;
  const notInstalled = found?.notInstalled ?? [];
  if (opts.cpuProfDir !== undefined) mkdirSync(opts.cpuProfDir, { recursive: true });
  if (opts.traceGcDir !== undefined) mkdirSync(opts.traceGcDir, { recursive: true });
  const env = {
    cpus: availableParallelism(),
    node: process.version,
    node_openssl: process.versions.openssl,
    nginx: tools ? versionOf(tools.nginx, '-v', /nginx\/(\S+)/) : null,
    nginx_openssl: tools ? versionOf(tools.nginx, '-V', /running with OpenSSL (\S+)/) : null,
    wrk: tools ? versionOf(tools.wrk, '-v', /wrk (\S+)/) : null,
    caddy: tools && tools.caddy !== '' ? versionOf(tools.caddy, 'version', /^v?(\d+\.\d+\S*)/m) : null,
    /** The 1, 5 and 15 min load averages before and after the runs: other work on the CPUs shows here. */
    load_avg_start: loadavg().map(round2),
    load_avg_end: [] as number[],
  };
  if (env.nginx_openssl === 'unknown' && tools) env.nginx_openssl = versionOf(tools.nginx, '-V', /built with OpenSSL (\S+)/);

  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  process.on('exit', () => {
    killAllSync();
    if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  });
  tempDir = mkdtempSync(join(tmpdir(), 'starling-bench-tls-'));
  const dir = tempDir;

  const runs: Run[] = [];
  const negotiated: Partial<Record<TlsProxy, Negotiated>> = {};
  let setup: Setup | undefined;
  if (tools) {
    setup = await prepare(tools, dir, opts);
    log(`origin: nginx ${env.nginx ?? '?'} on ${HOST}:${setup.originPort}, body ${JSON.stringify(BODY)}`);
    for (let round = 1; round <= opts.rounds; round++) {
      for (const proxy of opts.proxies) {
        const r = await measureProxy(proxy, round, setup, wrkTests);
        runs.push(...r.runs);
        negotiated[proxy] = r.negotiated;
        await sleep(500);
      }
    }
    await stop(setup.origin);
  }
  const index = opts.tests.includes('index') ? await measureIndex(opts, dir) : null;
  env.load_avg_end = loadavg().map(round2);

  const summary = { handshakes: summarize(runs, 'handshakes'), keepalive: summarize(runs, 'keepalive') };
  const method = `best of ${opts.rounds}: the round with the highest req/s, with that round's p99`;
  const url = setup ? `https://${BENCH_HOST}:PORT/` : null;

  if (opts.json) {
    const out = {
      duration_s: opts.durationS,
      warmup_s: opts.warmupS,
      rounds: opts.rounds,
      workers: 1,
      origin: setup ? { server: `nginx/${env.nginx ?? '?'}`, address: `${HOST}:${setup.originPort}`, body: BODY } : null,
      load: setup
        ? {
            tool: `wrk ${env.wrk ?? '?'}`,
            threads: THREADS,
            connections: CONNECTIONS,
            url,
            sni: BENCH_HOST,
            host: BENCH_HOST,
            connect_to: HOST,
            handshakes_header: 'Connection: close',
            platform_host: opts.proxies.includes('platform') ? PLATFORM_HOST : null,
          }
        : null,
      tls: setup
        ? {
            certificate: `ECDSA P-256, self-signed, the same for ${opts.proxies.length > 2 ? 'every proxy' : 'both proxies'}`,
            session_tickets: false,
            negotiated: {
              starling: negotiated.starling ?? null,
              nginx: negotiated.nginx ?? null,
              caddy: negotiated.caddy ?? null,
              platform: negotiated.platform ?? null,
            },
          }
        : null,
      env,
      not_installed: notInstalled,
      summary_method: method,
      runs,
      summary,
      index: index ? { ...index, contexts_lazy: true } : null,
      platform:
        setup?.platform !== undefined
          ? {
              agent: 'starling agent run, [proxy] tls_listen, runtime.driver = "none", a new host and an empty state dir each round',
              hostname: PLATFORM_HOST,
              certificate_source: `PUT /v1/certificates/${PLATFORM_HOST} at the control plane, then the feed`,
              origin: 'the routes file: bench.starling.test → the origin nginx',
              aims_vs_nginx: PLATFORM_AIMS,
            }
          : null,
    };
    console.log(JSON.stringify(out, null, 2));
    return;
  }

  if (setup) {
    const n = (p: TlsProxy) => negotiated[p];
    const tlsLine = opts.proxies
      .map((p) => {
        const x = n(p);
        return x ? `${p} ${x.protocol} ${x.cipher} ${x.group}` : `${p} -`;
      })
      .join('; ');
    const caddyNote = opts.proxies.includes('caddy') ? '; caddy GOMAXPROCS=1, TLS 1.3 only' : '';
    printWrk(opts, runs, summary, [
      `TLS benchmark: wrk -t${THREADS} -c${CONNECTIONS} -d${opts.durationS}s --latency (after a ${opts.warmupS} s warm-up), ${opts.rounds} round${opts.rounds === 1 ? '' : 's'}`,
      `  handshakes: -H 'Connection: close' (a new connection, a full handshake, for every request); keepalive: kept-alive connections`,
      `  ${url} with SNI and Host ${BENCH_HOST}, connected to ${HOST} (a wrk script replaces DNS)`,
      `proxies: 1 worker each (starling proxy serve --tls-listen, certificate from its store by SNI; nginx worker_processes 1, ssl_protocols TLSv1.3${caddyNote})`,
      ...(opts.proxies.includes('platform')
        ? [
            `  platform: starling agent run ([proxy] tls_listen, no machines), a new host each round with an empty state dir; SNI and Host ${PLATFORM_HOST};`,
            `  its certificate imported at the control plane (PUT /v1/certificates/${PLATFORM_HOST}) and served from the feed; its routes file → the origin`,
          ]
        : []),
      `TLS: ECDSA P-256 certificate (the same for ${opts.proxies.length > 2 ? 'all' : 'both'}), session tickets off on ${opts.proxies.length > 2 ? 'all' : 'both'} (no resumption); negotiated: ${tlsLine}`,
      `origin: nginx ${env.nginx ?? '?'} on ${HOST}:${setup.originPort}, static 200 ${JSON.stringify(BODY)}`,
      `host: ${env.cpus} CPUs shared by wrk, the proxy under test and the origin${opts.proxies.includes('platform') ? ' (and, in the platform rounds, the idle control plane)' : ''}; node ${env.node} (OpenSSL ${env.node_openssl}), nginx OpenSSL ${env.nginx_openssl ?? '?'}${env.caddy ? `, caddy ${env.caddy}` : ''}, wrk ${env.wrk ?? '?'}`,
    ], notInstalled);
  }
  if (index) {
    if (setup) console.log('');
    printIndex(index);
  }
  console.log(`load average (1, 5, 15 min): ${env.load_avg_start.join(' ')} at the start, ${env.load_avg_end.join(' ')} at the end`);
}

runBench(main, { cleanup, interrupted });
