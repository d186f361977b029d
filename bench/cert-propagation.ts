/**
 * `npm run bench:certs`: how long a certificate takes from the control plane to every agent's TLS
 * port. A real control plane and three agents (lib/platform-procs.ts: child processes, one region
 * each, `[proxy] tls_listen`, no machines) on loopback. Two parts, one certificate at a time:
 *   imports  `PUT /v1/certificates/<name>.starling.test` with a fresh self-signed certificate, timed
 *            from the API's answer (and from the stored doc's `issued_at`) to the first handshake
 *            at each agent that shows its fingerprint;
 *   acme     a custom domain attached to an app (`POST /v1/apps/web/certificates`), ordered by the
 *            control plane from Pebble (HTTP-01, answered by agent 1 from the feed), timed from the
 *            doc's `issued_at` to the first handshake at each agent that shows it. Left out when
 *            Pebble is not installed, or with --acme 0.
 * Each agent's port is polled with TLS handshakes (SNI) every --interval ms. A certificate counts
 * as propagated when the last agent serves it: median and max of that over the certificates.
 * Needs root (the agents' BIRD). Aim (issue): ≤ 500 ms after issuance.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { selfSigned } from '../src/certs/index.js';
import { startPebble, type Pebble } from '../test/helpers/pebble.js';
import { positiveInt } from './lib/args.js';
import { pollUntilServed, stats, wallNow, type Seen, type Stats } from './lib/cert-poll.js';
import { freePort } from './lib/net.js';
import { startAgentProc, startControl, type AgentProc, type ControlProc } from './lib/platform-procs.js';
import { cleanupHandlers, runBench, killAllSync } from './lib/procs.js';
import { BenchError, findExecutable, table } from './lib/util.js';

const AIM_MS = 500;
const REGIONS = ['fra', 'ams', 'lhr'] as const;
const USAGE = `usage: npm run bench:certs -- [--certs N] [--acme N] [--interval MS] [--json]
  --certs N      certificates imported through the API (default 20)
  --acme N       certificates ordered from Pebble (default: as many as --certs; 0 = none)
  --interval MS  pause between two handshakes at one agent (default 5)
  --json         one JSON object on stdout (progress goes to stderr)`;

const log = (msg: string): void => console.error(`bench: ${msg}`);

interface Sample {
  hostname: string;
  /** ms from the reference (the API's answer, or issued_at) to each agent's first handshake showing it, by host. */
  byAgent: Record<string, number>;
  /** The last agent's: when every agent served it. */
  all: number;
  /** Upper minus lower bound of the last agent's moment, ms: how finely the polling saw it. */
  resolution: number;
}

async function servedEverywhere(agents: AgentProc[], hostname: string, fingerprint: string | null, intervalMs: number, deadlineMs: number): Promise<Map<string, Seen & { fingerprint: string }>> {
  const seen = await Promise.all(agents.map((a) => pollUntilServed(a.tlsPort, hostname, fingerprint, intervalMs, deadlineMs)));
  return new Map(agents.map((a, i) => [a.region, seen[i]!]));
}

function sample(hostname: string, seen: Map<string, Seen>, from: number): Sample {
  const byAgent: Record<string, number> = {};
  let last: Seen | undefined;
  for (const [region, s] of seen) {
    byAgent[region] = Math.round((s.at - from) * 10) / 10;
    if (!last || s.at > last.at) last = s;
  }
  return { hostname, byAgent, all: Math.round(((last?.at ?? from) - from) * 10) / 10, resolution: last ? Math.round((last.at - last.notBefore) * 10) / 10 : 0 };
}

async function imports(control: ControlProc, agents: AgentProc[], n: number, intervalMs: number): Promise<{ afterApi: Sample[]; afterIssued: Sample[]; apiMs: number[] }> {
  log(`imports: making ${n} certificates`);
  const pairs = await Promise.all(Array.from({ length: n }, (_, i) => selfSigned({ names: [`imp${i + 1}.starling.test`] })));
  const afterApi: Sample[] = [];
  const afterIssued: Sample[] = [];
  const apiMs: number[] = [];
  for (const [i, pair] of pairs.entries()) {
    const hostname = `imp${i + 1}.starling.test`;
    // The polling starts before the call: a handshake is then under way whenever the certificate lands.
    const polled = servedEverywhere(agents, hostname, new X509Certificate(pair.certPem).fingerprint256, intervalMs, 30_000);
    polled.catch(() => undefined); // awaited below; a failed API call must not leave it unhandled
    const t0 = wallNow();
    const r = await control.api('PUT', `/v1/certificates/${hostname}`, { cert_pem: pair.certPem, key_pem: pair.keyPem });
    const answered = wallNow();
    apiMs.push(answered - t0);
    const seen = await polled;
    afterApi.push(sample(hostname, seen, answered));
    afterIssued.push(sample(hostname, seen, Date.parse(String(r.body.issued_at))));
    log(`imports: ${hostname} served by all ${agents.length} agents ${afterApi.at(-1)!.all} ms after the API answered`);
  }
  return { afterApi, afterIssued, apiMs };
}

async function acme(control: ControlProc, agents: AgentProc[], n: number, intervalMs: number): Promise<{ afterIssued: Sample[]; orderMs: number[] }> {
  await control.api('POST', '/v1/apps', { name: 'web', primary_region: 'fra' });
  // The app's own name is ordered first: wait for it, so that no other order runs beside the timed ones.
  log('acme: waiting for web.starling.test (the app\'s own name, ordered when the app was made)');
  await servedEverywhere(agents, 'web.starling.test', null, 50, 120_000);
  const afterIssued: Sample[] = [];
  const orderMs: number[] = [];
  for (let i = 1; i <= n; i++) {
    const hostname = `acme${i}.example.test`;
    // No certificate covers the name before this one: the first one served is the new one (checked below).
    const polled = servedEverywhere(agents, hostname, null, intervalMs, 120_000);
    polled.catch(() => undefined);
    const t0 = wallNow();
    await control.api('POST', '/v1/apps/web/certificates', { hostname });
    const seen = await polled;
    const docs = (await control.api('GET', '/v1/certificates')).body.certificates as { hostname: string; source: string; fingerprint256: string; issued_at: string }[];
    const doc = docs.find((d) => d.hostname === hostname && d.source === 'acme');
    if (!doc) throw new BenchError(`acme: ${hostname} is served, but the control plane holds no ACME certificate for it`);
    for (const [region, s] of seen) {
      if (s.fingerprint !== doc.fingerprint256) throw new BenchError(`acme: ${region} served ${s.fingerprint} for ${hostname}, not the issued ${doc.fingerprint256}`);
    }
    const issued = Date.parse(doc.issued_at);
    orderMs.push(issued - t0);
    afterIssued.push(sample(hostname, seen, issued));
    log(`acme: ${hostname} issued ${Math.round(issued - t0)} ms after the order, served by all ${agents.length} agents ${afterIssued.at(-1)!.all} ms after issuance`);
  }
  return { afterIssued, orderMs };
}

interface Part {
  all: Stats | null;
  per_agent: Record<string, Stats | null>;
  resolution_ms: Stats | null;
  met: boolean | null;
}

function part(samples: Sample[]): Part {
  const all = stats(samples.map((s) => s.all));
  const regions = [...new Set(samples.flatMap((s) => Object.keys(s.byAgent)))];
  return {
    all,
    per_agent: Object.fromEntries(regions.map((r) => [r, stats(samples.map((s) => s.byAgent[r]).filter((x): x is number => x !== undefined))])),
    resolution_ms: stats(samples.map((s) => s.resolution)),
    met: all === null ? null : all.max <= AIM_MS,
  };
}

let tempDir: string | undefined;
const { cleanup, onSignal, interrupted } = cleanupHandlers(() => tempDir, log);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { certs: { type: 'string' }, acme: { type: 'string' }, interval: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return void console.log(USAGE);
  const n = values.certs === undefined ? 20 : positiveInt('--certs', values.certs, 1);
  let nAcme = values.acme === undefined ? n : positiveInt('--acme', values.acme, 0);
  const intervalMs = values.interval === undefined ? 5 : positiveInt('--interval', values.interval, 0);
  if (process.getuid?.() !== 0) throw new BenchError('the agents run BIRD: run as root');
  if (nAcme > 0 && (!findExecutable('pebble') || !findExecutable('pebble-challtestsrv'))) {
    log('pebble is not installed (apt-get install -y pebble): leaving out the ACME part');
    nAcme = 0;
  }
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  process.on('exit', () => killAllSync());
  tempDir = mkdtempSync(join(tmpdir(), 'starling-bench-certs-'));
  const dir = tempDir;
  const loadStart = loadavg();

  const plain = await Promise.all(REGIONS.map(() => freePort()));
  const tlsPorts = await Promise.all(REGIONS.map(() => freePort()));
  let pebble: Pebble | undefined;
  let extra = '';
  if (nAcme > 0) {
    // Pebble validates HTTP-01 at agent 1's plain port; its TLS port is the one TLS-ALPN-01 would use.
    pebble = await startPebble({ httpPort: plain[0]!, tlsPort: tlsPorts[0]! });
    extra = pebble.acmeToml({ challenges: ['http-01'] });
  }
  try {
    const control = await startControl(dir, extra);
    const agents: AgentProc[] = [];
    for (const [i, region] of REGIONS.entries()) {
      agents.push(await startAgentProc(control, dir, { name: `a${i + 1}`, region, plainPort: plain[i]!, tlsPort: tlsPorts[i]! }, i + 1));
    }
    log(`control plane and ${agents.length} agents up (${REGIONS.join(', ')}); polling every ${intervalMs} ms`);
    const imp = await imports(control, agents, n, intervalMs);
    const ac = nAcme > 0 ? await acme(control, agents, nAcme, intervalMs) : undefined;
    const loadEnd = loadavg();
    const out = {
      agents: agents.map((a) => ({ host: a.hostId, region: a.region })),
      certificates: n,
      acme_certificates: nAcme,
      poll_interval_ms: intervalMs,
      aim_ms: AIM_MS,
      import: { after_api: part(imp.afterApi), after_issued: part(imp.afterIssued), api_call_ms: stats(imp.apiMs) },
      acme: ac ? { challenge: 'http-01', ca: 'pebble', after_issued: part(ac.afterIssued), order_to_issued_ms: stats(ac.orderMs) } : null,
      env: { cpus: availableParallelism(), node: process.version, load_avg_start: loadStart.map((x) => Math.round(x * 100) / 100), load_avg_end: loadEnd.map((x) => Math.round(x * 100) / 100) },
    };
    if (values.json) console.log(JSON.stringify(out, null, 2));
    else print(out);
  } finally {
    await pebble?.stop();
  }
}

function print(o: {
  agents: { host: string; region: string }[];
  certificates: number;
  acme_certificates: number;
  poll_interval_ms: number;
  import: { after_api: Part; after_issued: Part; api_call_ms: Stats | null };
  acme: { after_issued: Part; order_to_issued_ms: Stats | null } | null;
  env: { cpus: number; node: string; load_avg_start: number[]; load_avg_end: number[] };
}): void {
  const ms = (s: Stats | null | undefined, k: keyof Stats): string => (s ? s[k].toFixed(1) : '-');
  const regions = o.agents.map((a) => a.region);
  console.log(`certificate propagation: control plane → ${o.agents.length} agents (${regions.join(', ')}), one certificate at a time,`);
  console.log(`each agent's TLS port polled with handshakes (SNI) every ${o.poll_interval_ms} ms; ms until the agent's first handshake showing the new fingerprint`);
  console.log('');
  const rows: string[][] = [];
  const row = (what: string, p: Part): void => {
    rows.push([what, String(p.all?.samples ?? 0), ms(p.all, 'median'), ms(p.all, 'p90'), ms(p.all, 'max'), ...regions.map((r) => `${ms(p.per_agent[r], 'median')} / ${ms(p.per_agent[r], 'max')}`), p.met === null ? '-' : p.met ? '✓' : '✗']);
  };
  row('import: API answered → every agent', o.import.after_api);
  row('import: issued_at → every agent', o.import.after_issued);
  if (o.acme) row('acme: issued_at → every agent', o.acme.after_issued);
  console.log(table(['', 'certs', 'median', 'p90', 'max', ...regions.map((r) => `${r} med / max`), `max ≤ ${AIM_MS} ms`], rows, [false, true, true, true, true, ...regions.map(() => true), false]));
  console.log('');
  console.log(`the API call that stores an imported certificate: median ${ms(o.import.api_call_ms, 'median')} ms, max ${ms(o.import.api_call_ms, 'max')} ms`);
  if (o.acme) console.log(`ACME (Pebble, HTTP-01): order → issued_at median ${ms(o.acme.order_to_issued_ms, 'median')} ms, max ${ms(o.acme.order_to_issued_ms, 'max')} ms`);
  else console.log('ACME: not measured (--acme 0, or Pebble not installed)');
  const res = o.import.after_api.resolution_ms;
  console.log(`polling resolution (last failed handshake's start → first showing one's end, at the last agent): median ${ms(res, 'median')} ms, max ${ms(res, 'max')} ms`);
  console.log(`host: ${o.env.cpus} CPUs, shared with whatever else runs; load average ${o.env.load_avg_start.join(' ')} at the start, ${o.env.load_avg_end.join(' ')} at the end; node ${o.env.node}`);
}

runBench(main, { cleanup, interrupted });
