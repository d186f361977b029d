/**
 * `npm run demo`: the stand-alone edge proxy in front of a small sample app (examples/hello) with
 * machines in two regions, all on 127.0.0.1. Two proxies started with the real CLI play two PoPs
 * (fra and iad); the demo shows region-aware routing, failover when a region's machines turn
 * unhealthy (a live routes-file reload), and replay of a write to the primary region.
 *
 * Unattended: no input, every wait is a poll with a deadline, the whole run has a deadline too.
 * Every child process and the temporary directory are removed on success, failure and Ctrl-C.
 * Exit status: 0 when everything shown behaved as expected, 1 on failure, 128+n on signal n.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts, LOOPBACK, poll, request, type Reply } from './demo/http.js';
import { heading, indent, line, paragraph, table, tally } from './demo/print.js';
import { Supervisor, type Child } from './demo/procs.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const APP_SCRIPT = path.join(ROOT, 'examples', 'hello', 'server.mjs');

const APP = 'hello';
const HOSTNAME = 'hello.localhost';
const PRIMARY = 'iad';
const REGIONS = ['fra', 'iad'] as const;
type Region = (typeof REGIONS)[number];

const REQUESTS_PER_POP = 6;
/** How long the app holds each of those requests (its `?wait=` parameter). */
const HOLD_MS = 250;
const OVERALL_TIMEOUT_MS = 45_000;
const READY_TIMEOUT_MS = 15_000;
const RELOAD_TIMEOUT_MS = 10_000;

interface Machine {
  id: string;
  region: Region;
  port: number;
}

interface Pop {
  region: Region;
  port: number;
  adminPort: number;
  args: string[];
  child: Child | undefined;
}

/** What examples/hello answers to GET /. */
interface Hello {
  machine: string;
  region: string;
  edge: string | null;
  client: string | null;
}

/** What examples/hello answers to a stored write. */
interface Stored {
  stored_by: string;
  region: string;
  replayed_from: string | null;
}

class DemoError extends Error {}

// ---- helpers -------------------------------------------------------------------------------------

const rel = (p: string): string => path.relative(ROOT, p) || '.';
const addr = (port: number): string => `${LOOPBACK}:${port}`;

function parseJson(r: Reply, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(r.body);
  } catch {
    throw new DemoError(`${what}: expected JSON, got status ${r.status} with ${JSON.stringify(r.body.slice(0, 200))}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new DemoError(`${what}: expected a JSON object, got ${r.body.slice(0, 200)}`);
  }
  return v as Record<string, unknown>;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strOrNull = (v: unknown): string | null | undefined => (v === null ? null : str(v));

function parseHello(r: Reply, what: string): Hello {
  if (r.status !== 200) throw new DemoError(`${what}: expected 200, got ${r.status}: ${r.body.trim().slice(0, 200)}`);
  const o = parseJson(r, what);
  const machine = str(o.machine);
  const region = str(o.region);
  const edge = strOrNull(o.edge);
  const client = strOrNull(o.client);
  if (machine === undefined || region === undefined || edge === undefined || client === undefined) {
    throw new DemoError(`${what}: unexpected answer ${r.body.trim()}`);
  }
  return { machine, region, edge, client };
}

function parseStored(r: Reply, what: string): Stored {
  const o = parseJson(r, what);
  const storedBy = str(o.stored_by);
  const region = str(o.region);
  const replayedFrom = strOrNull(o.replayed_from);
  if (storedBy === undefined || region === undefined || replayedFrom === undefined) {
    throw new DemoError(`${what}: unexpected answer ${r.body.trim()}`);
  }
  return { stored_by: storedBy, region, replayed_from: replayedFrom };
}

/** `instance=x;region=y;t=…` → {instance: x, region: y, t: …}. */
function fields(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of v.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

function routesJson(machines: readonly Machine[], unhealthy?: Region): string {
  const spec = {
    apps: [
      {
        name: APP,
        hostnames: [HOSTNAME],
        primary_region: PRIMARY,
        machines: machines.map((m) => ({
          id: m.id,
          region: m.region,
          address: LOOPBACK,
          port: m.port,
          ...(m.region === unhealthy ? { healthy: false } : {}),
        })),
      },
    ],
  };
  return JSON.stringify(spec, null, 2) + '\n';
}

/** Replaces the file atomically, as config tools do: write a temporary file, rename it into place. */
async function writeRoutes(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/**
 * `count` GET / through a proxy at the same time, each on its own connection. The app holds each
 * for HOLD_MS, so all are in flight together and the proxy's least-loaded choice shows: with two
 * machines it alternates between them instead of picking at random.
 */
async function getMany(pop: Pop, count: number): Promise<Hello[]> {
  const one = async (): Promise<Hello> =>
    parseHello(await request(pop.port, { path: `/?wait=${HOLD_MS}` }), `GET / through the ${pop.region} proxy`);
  return Promise.all(Array.from({ length: count }, one));
}

function expectAll(answers: readonly Hello[], pop: Pop, region: Region, why: string): void {
  for (const a of answers) {
    if (a.region !== region) {
      throw new DemoError(`through the ${pop.region} proxy ${a.machine} (${a.region}) answered, expected a machine in ${region} (${why})`);
    }
    if (a.edge !== pop.region) {
      throw new DemoError(`${a.machine} saw starling-region: ${String(a.edge)}, expected ${pop.region} (the proxy's region)`);
    }
  }
}

// ---- the demo ------------------------------------------------------------------------------------

async function demo(sup: Supervisor, pops: Pop[]): Promise<void> {
  const started = Date.now();
  if (!existsSync(CLI)) throw new DemoError(`${rel(CLI)} is missing: build first (npm run build; npm run demo builds too)`);
  if (!existsSync(APP_SCRIPT)) throw new DemoError(`${rel(APP_SCRIPT)} is missing`);

  line('Starling demo: the edge proxy in front of an app with machines in two regions');
  line('');
  line('Everything runs on 127.0.0.1: four machines of the sample app (examples/hello/server.mjs) and');
  line('two edge proxies started with the real CLI, each told it is a PoP in a different region. Both');
  line(`read the same routes file; every request carries "Host: ${HOSTNAME}".`);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'starling-demo-'));
  sup.addTempDir(dir);
  const routesFile = path.join(dir, 'routes.json');

  const ports = await freePorts(4 + 2 * REGIONS.length);
  const machines: Machine[] = [];
  for (const region of REGIONS) {
    for (const n of [1, 2]) machines.push({ id: `${APP}-${region}-${n}`, region, port: ports[machines.length]! });
  }
  REGIONS.forEach((region, i) => {
    const port = ports[4 + 2 * i]!;
    const adminPort = ports[5 + 2 * i]!;
    const args = ['proxy', 'serve', '--routes', routesFile, '--region', region, '--listen', addr(port), '--admin', addr(adminPort), '--access-log', 'off'];
    pops.push({ region, port, adminPort, args, child: undefined });
  });
  const [fra, iad] = pops as [Pop, Pop];

  // Machines: the sample app with the environment fly (and Starling) gives every machine.
  for (const m of machines) {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOST: LOOPBACK,
      PORT: String(m.port),
      PRIMARY_REGION: PRIMARY,
    };
    for (const prefix of ['FLY', 'STARLING']) {
      env[`${prefix}_APP_NAME`] = APP;
      env[`${prefix}_MACHINE_ID`] = m.id;
      env[`${prefix}_ALLOC_ID`] = m.id;
      env[`${prefix}_REGION`] = m.region;
    }
    sup.start(`machine ${m.id}`, [APP_SCRIPT], { cwd: ROOT, env, ipc: true });
  }
  await writeRoutes(routesFile, routesJson(machines));
  for (const p of pops) p.child = sup.start(`${p.region} proxy`, [CLI, ...p.args], { cwd: ROOT });

  await Promise.all([
    ...machines.map((m) =>
      poll(
        `machine ${m.id} to answer on ${addr(m.port)}`,
        async () => parseHello(await request(m.port, { timeoutMs: 1000 }), `GET / on ${m.id}`),
        READY_TIMEOUT_MS,
      ),
    ),
    ...pops.map((p) =>
      poll(
        `the ${p.region} proxy's admin ${addr(p.adminPort)}/healthz`,
        async () => {
          const r = await request(p.adminPort, { path: '/healthz', host: addr(p.adminPort), timeoutMs: 1000 });
          if (r.status !== 200) throw new Error(`status ${r.status}`);
          return true;
        },
        READY_TIMEOUT_MS,
      ),
    ),
  ]);
  await Promise.all(
    pops.map((p) =>
      poll(
        `hello to answer through the ${p.region} proxy on ${addr(p.port)}`,
        async () => parseHello(await request(p.port, { timeoutMs: 1000 }), `GET / through the ${p.region} proxy`),
        READY_TIMEOUT_MS,
      ),
    ),
  );
  const readyMs = Date.now() - started;


  heading(`Setup (ready after ${readyMs} ms)`);
  table(
    ['machine', 'region', 'address', 'role'],
    machines.map((m) => [
      m.id,
      m.region,
      addr(m.port),
      m.region === PRIMARY ? 'in the primary region: stores writes' : `answers writes with fly-replay: region=${PRIMARY}`,
    ]),
  );
  line('');
  table(
    ['PoP', 'proxy listens on', 'admin (/healthz, /metrics)'],
    pops.map((p) => [p.region, addr(p.port), addr(p.adminPort)]),
  );
  line('');
  line(`Routes file: ${routesFile} (app "${APP}", primary_region ${PRIMARY}, a port per machine)`);
  line('The fra proxy was started as (the iad one the same, with --region iad and its own ports):');
  indent(`node ${rel(CLI)} ${fra.args.join(' ')}`);

  // 1. Region-aware routing ----------------------------------------------------------------------
  heading('1. Region-aware routing');
  line(`${REQUESTS_PER_POP} GET / sent at once through each PoP; the app holds each for ${HOLD_MS} ms (GET /?wait=${HOLD_MS}), so`);
  line('they are in flight together. A proxy sends a request to a machine in its own region, and');
  line('within the region to the least-loaded machine (ties broken at random).');
  line('');
  const [viaFra, viaIad] = await Promise.all([getMany(fra, REQUESTS_PER_POP), getMany(iad, REQUESTS_PER_POP)]);
  expectAll(viaFra, fra, 'fra', 'the fra PoP has healthy fra machines');
  expectAll(viaIad, iad, 'iad', 'the iad PoP has healthy iad machines');
  table(
    ['#', 'via the fra PoP', 'via the iad PoP'],
    viaFra.map((a, i) => [String(i + 1), `${a.machine} (${a.region})`, `${viaIad[i]!.machine} (${viaIad[i]!.region})`]),
  );
  line('');
  let spread = true;
  for (const [pop, answers] of [
    [fra, viaFra],
    [iad, viaIad],
  ] as const) {
    const used = new Set(answers.map((a) => a.machine)).size;
    if (used < 2) spread = false;
    const note = used > 1 ? '' : ' (only one machine this time: the requests did not overlap)';
    line(`${pop.region} PoP: ${tally(answers.map((a) => a.machine))}: all in ${pop.region}${note}`);
  }
  const clients = [...new Set([...viaFra, ...viaIad].map((a) => String(a.client)))].join(', ');
  line('Each machine also saw where its request entered: starling-region was the PoP\'s region, and');
  line(`starling-client-ip the client's address (${clients}).`);

  // 2. Failover ----------------------------------------------------------------------------------
  heading('2. Failover: the fra machines turn unhealthy');
  const fraIds = machines.filter((m) => m.region === 'fra').map((m) => m.id);
  line(`Rewriting routes.json with healthy: false on ${fraIds.join(' and ')}`);
  line('(a temporary file renamed into place; the proxies watch the file and reload it).');
  await writeRoutes(routesFile, routesJson(machines, 'fra'));
  const away = await poll(
    'the fra proxy to send requests to iad after the routes change',
    async () => {
      const a = parseHello(await request(fra.port), 'GET / through the fra proxy');
      return a.region === 'iad' ? a : undefined;
    },
    RELOAD_TIMEOUT_MS,
  );
  line(`The fra PoP sent traffic to iad ${away.elapsedMs} ms after the file changed.`);
  line('');
  const failover = await getMany(fra, REQUESTS_PER_POP);
  expectAll(failover, fra, 'iad', 'every fra machine is unhealthy, iad is the nearest region with a healthy one');
  table(
    ['#', 'via the fra PoP', 'starling-region seen by the machine'],
    failover.map((a, i) => [String(i + 1), `${a.machine} (${a.region})`, String(a.edge)]),
  );
  line('');
  line(`fra PoP: ${tally(failover.map((a) => a.machine))}: no usable machine in fra, so the nearest`);
  line('region with one answers; the request still enters at fra.');
  line('');
  await writeRoutes(routesFile, routesJson(machines));
  const back = await poll(
    'the fra proxy to send requests to fra again after the routes were restored',
    async () => {
      const a = parseHello(await request(fra.port), 'GET / through the fra proxy');
      return a.region === 'fra' ? a : undefined;
    },
    RELOAD_TIMEOUT_MS,
  );
  line(`Restored routes.json: the fra PoP answered from ${back.value.machine} (fra) again after ${back.elapsedMs} ms.`);

  // 3. Replay ------------------------------------------------------------------------------------
  heading('3. Replay: a write through the fra PoP is stored in the primary region');
  const fraMachine = machines.find((m) => m.region === 'fra')!;
  const direct = await request(fraMachine.port, {
    method: 'POST',
    path: '/notes',
    host: addr(fraMachine.port),
    headers: { 'content-type': 'application/json' },
    body: '{"text":"direct"}',
  });
  const directReplay = direct.headers['fly-replay'];
  if (typeof directReplay !== 'string' || !directReplay.includes(`region=${PRIMARY}`)) {
    throw new DemoError(`${fraMachine.id} answered a direct POST /notes with ${direct.status} and no fly-replay: region=${PRIMARY} header`);
  }
  line(`Asked directly (no proxy), ${fraMachine.id} refuses a write: ${direct.status}, fly-replay: ${directReplay}`);
  line('');
  const note = '{"text":"hello from a user near Frankfurt"}';
  line(`POST /notes ${note} through the fra PoP:`);
  line('');
  const posted = await request(fra.port, {
    method: 'POST',
    path: '/notes',
    headers: { 'content-type': 'application/json' },
    body: note,
  });
  if (posted.status !== 201) {
    throw new DemoError(`POST /notes through the fra proxy: expected 201, got ${posted.status}: ${posted.body.trim().slice(0, 300)}`);
  }
  const stored = parseStored(posted, 'POST /notes through the fra proxy');
  const src = stored.replayed_from === null ? undefined : fields(stored.replayed_from);
  if (stored.region !== PRIMARY) throw new DemoError(`the note was stored in ${stored.region}, expected ${PRIMARY}`);
  if (!src || src.region !== 'fra' || src.instance === undefined) {
    throw new DemoError(`expected the stored note to have been replayed from a fra machine, replayed_from is ${String(stored.replayed_from)}`);
  }
  const leaked = ['fly-replay', 'starling-replay'].filter((h) => posted.headers[h] !== undefined);
  if (leaked.length > 0) throw new DemoError(`the client received the replay header(s) ${leaked.join(', ')}; the proxy must consume them`);
  table(
    ['step', 'machine', 'what happened'],
    [
      ['1', `${src.instance} (${src.region})`, `not the primary: answered fly-replay: region=${PRIMARY}; the proxy held on to the request`],
      ['2', `${stored.stored_by} (${stored.region})`, `got the same request again with starling-replay-src, stored the note: ${posted.status}`],
    ],
  );
  line('');
  line(`The client got ${posted.status} ${posted.body.trim()}`);
  line('(one response: the fra machine\'s answer and its fly-replay header never reach the client).');
  line('');
  const metrics = await request(fra.adminPort, { path: '/metrics', host: addr(fra.adminPort) });
  if (metrics.status !== 200) throw new DemoError(`GET /metrics on the fra admin port: status ${metrics.status}`);
  const replayLines = metrics.body.split('\n').filter((l) => /^starling_proxy_replays_total[{ ]/.test(l));
  const failureLines = metrics.body.split('\n').filter((l) => /^starling_proxy_replay_failures_total[{ ]/.test(l));
  line(`GET http://${addr(fra.adminPort)}/metrics (the fra PoP's admin port):`);
  indent(replayLines.length > 0 ? replayLines.join('\n') : '(no starling_proxy_replays_total sample)');
  const replays = replayLines.find((l) => l.includes(`app="${APP}"`));
  if (!replays || !(Number(replays.split(' ').pop()) >= 1)) {
    throw new DemoError(`expected starling_proxy_replays_total{app="${APP}"} of at least 1 on the fra proxy`);
  }
  if (failureLines.length > 0) throw new DemoError(`the fra proxy counted failed replays: ${failureLines.join('; ')}`);

  // Summary --------------------------------------------------------------------------------------
  heading('Summary');
  paragraph(
    'Two edge proxies in front of the same four machines each sent every request to a machine in their own ' +
      `region${spread ? ', shared between that region\'s two machines by load' : ''}. When the fra machines were ` +
      'marked unhealthy in the routes file, the fra proxy picked up the change without a restart and sent traffic ' +
      'to the nearest region that still had healthy machines (iad), and went back to fra when the file was ' +
      `restored. A write sent to fra was answered by a fra machine with fly-replay: region=${PRIMARY}; the proxy ` +
      'replayed it to the primary region, where it was stored, and the client saw a single 201. This is fly.io\'s ' +
      'proxy behaviour, self-hosted; a real PoP adds anycast in front.',
  );
  line('');
  line('More:  node dist/src/cli/main.js proxy serve --help   (installed: starling proxy serve --help)');
  line('       docs/routes-file.md                              (the routes file: keys, reloading, errors)');
}

// ---- running it ----------------------------------------------------------------------------------

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

async function main(): Promise<number> {
  const sup = new Supervisor();
  const pops: Pop[] = [];
  let interrupted: keyof typeof SIGNALS | undefined;
  const signalled = new Promise<never>((_resolve, reject) => {
    for (const sig of Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]) {
      process.on(sig, () => {
        // A second signal while stopping: give up on graceful, the exit hook kills what is left.
        if (interrupted || sup.shuttingDown) process.exit(128 + SIGNALS[sig]);
        interrupted = sig;
        reject(new Error(sig));
      });
    }
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DemoError(`the demo did not finish within ${OVERALL_TIMEOUT_MS / 1000} s`)), OVERALL_TIMEOUT_MS);
  });

  let code = 0;
  try {
    await Promise.race([demo(sup, pops), sup.watchdog(), signalled, deadline]);
  } catch (e) {
    if (interrupted) {
      console.error(`\ndemo interrupted (${interrupted}): stopping everything`);
      code = 128 + SIGNALS[interrupted];
    } else {
      console.error(`\ndemo failed: ${e instanceof DemoError || e instanceof Error ? e.message : String(e)}`);
      // A plain Error is an expected failure (a timeout, a child that died): its message says it
      // all. Anything else (TypeError, …) is a bug in the demo: show where.
      if (e instanceof Error && !(e instanceof DemoError) && e.name !== 'Error' && e.stack) console.error(e.stack);
      for (const c of sup.children) {
        const out = c.output().filter((l) => l.trim() !== '');
        if (out.length === 0) continue;
        console.error(`\nlast output of ${c.name} (${c.describeExit()}):`);
        for (const l of out.slice(-10)) console.error(`  ${l}`);
      }
      code = 1;
    }
  } finally {
    clearTimeout(timer);
  }

  const proxies = pops.map((p) => p.child).filter((c): c is Child => c !== undefined);
  const { forced } = await sup.shutdown(proxies);
  const stopped = `${proxies.length} proxies and ${sup.children.length - proxies.length} machines stopped, temporary files removed`;
  if (forced.length > 0) console.error(`\nwarning: ${forced.join(', ')} did not stop on SIGTERM and were killed`);
  if (code === 0) line(`\nCleaned up: ${stopped}.`);
  else console.error(`cleaned up: ${stopped}`);
  return code;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Everything was closed; should anything still hold the event loop, do not hang on it.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (e: unknown) => {
    console.error('demo crashed:', e);
    process.exit(1);
  },
);
