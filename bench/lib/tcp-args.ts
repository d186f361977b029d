/** Command-line flags of `npm run bench:tcp -- …`. */
import { parseArgs } from 'node:util';
import { positiveInt } from './args.js';

/** `direct`: the load generator straight to the echo server (the baseline). */
export const TCP_TARGETS = ['direct', 'starling', 'haproxy'] as const;
export type TcpTarget = (typeof TCP_TARGETS)[number];

export interface TcpOptions {
  quick: boolean;
  /** Seconds of each measured connect+echo run. */
  durationS: number;
  /** Seconds of the unmeasured connect+echo run (at the highest concurrency) before a target's tests. */
  warmupS: number;
  rounds: number;
  /** Concurrencies of the connect+echo runs, ascending. */
  concurrency: number[];
  /** MiB each way of the one long connection; the parallel run moves the same in all. */
  mib: number;
  /** Connections of the parallel throughput run. */
  parallel: number;
  /** Load generator processes per run (a concurrency or a parallel count is split among them). */
  clients: number;
  /** Also the PROXY-protocol connect+echo runs (default on). */
  proxyProto: boolean;
  targets: TcpTarget[];
  json: boolean;
}

export const TCP_USAGE = `usage: npm run bench:tcp -- [flags]
       node dist/bench/tcp.js [flags]

TCP services at the edge: a small C echo server (epoll, one thread) as the machine, reached three
ways side by side on 127.0.0.1: direct (the baseline), through Starling's edge (starling proxy serve
--workers 1, routes file tcp_services) and through HAProxy (mode tcp, nbthread 1). A C load
generator (epoll) measures, for each:
  connect+echo  a new connection per round trip (connect, 64 bytes, echo, close): connections/s,
                p50 and p99 latency, at each --concurrency; also with a PROXY v1 header
                (Starling handlers = ["proxy_proto"], HAProxy send-proxy; direct: the client sends it)
  throughput    one connection moving --mib MiB each way at once, and --parallel connections moving
                the same in all: MiB/s each way
Rounds go direct, starling, haproxy, direct, …; the best round counts.

flags:
  --quick            a short run (about 40 s): --duration 1 --mib 32
  --duration N       seconds of each connect+echo run (default 5)
  --warmup N         seconds of unmeasured connect+echo before each target's runs (default 1; 0 = none)
  --rounds N         rounds (default 2)
  --concurrency LIST connect+echo concurrencies, comma-separated (default 1,50)
  --mib N            MiB each way of the long connection (default 256)
  --parallel N       connections of the parallel throughput run (default 8)
  --clients N        load generator processes per run (default 1; see bench/README.md)
  --no-proxy-proto   leave out the PROXY-protocol runs
  --only LIST        a subset of: direct, starling, haproxy; repeatable or comma-separated
  --json             print one JSON object on stdout instead of the tables (progress goes to stderr)
  -h, --help         this text
`;

/** Parsed options, or 'help'. Throws on bad flags (the message is meant for the user). */
export function parseTcpOptions(argv: string[]): TcpOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: 'boolean' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      concurrency: { type: 'string' },
      mib: { type: 'string' },
      parallel: { type: 'string' },
      clients: { type: 'string' },
      'no-proxy-proto': { type: 'boolean' },
      only: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const wanted = new Set<TcpTarget>();
  for (const item of (values.only ?? []).flatMap((v) => v.split(','))) {
    const name = item.trim().toLowerCase();
    if (name === '') continue;
    if (!(TCP_TARGETS as readonly string[]).includes(name)) throw new Error(`--only: unknown target "${item}" (choose from ${TCP_TARGETS.join(', ')})`);
    wanted.add(name as TcpTarget);
  }
  if (values.only !== undefined && wanted.size === 0) throw new Error('--only: no target named');
  const quick = values.quick ?? false;
  const concurrency = values.concurrency === undefined ? [1, 50] : parseList('--concurrency', values.concurrency);
  const clients = values.clients === undefined ? 1 : positiveInt('--clients', values.clients, 1);
  const parallel = values.parallel === undefined ? 8 : positiveInt('--parallel', values.parallel, 1);
  if (parallel > 1024) throw new Error(`--parallel wants at most 1024 connections, got ${parallel}`);
  return {
    quick,
    durationS: values.duration === undefined ? (quick ? 1 : 5) : positiveInt('--duration', values.duration, 1),
    warmupS: values.warmup === undefined ? 1 : positiveInt('--warmup', values.warmup, 0),
    rounds: values.rounds === undefined ? 2 : positiveInt('--rounds', values.rounds, 1),
    concurrency,
    mib: values.mib === undefined ? (quick ? 32 : 256) : positiveInt('--mib', values.mib, 1),
    parallel,
    clients,
    proxyProto: !(values['no-proxy-proto'] ?? false),
    targets: wanted.size === 0 ? [...TCP_TARGETS] : TCP_TARGETS.filter((t) => wanted.has(t)),
    json: values.json ?? false,
  };
}

function parseList(flag: string, text: string): number[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new Error(`${flag} wants a comma-separated list of whole numbers, got "${text}"`);
  const ns = [...new Set(items.map((s) => positiveInt(flag, s, 1)))].sort((a, b) => a - b);
  const big = ns.find((n) => n > 4096);
  if (big !== undefined) throw new Error(`${flag}: at most 4096 connections at once, got ${big}`);
  return ns;
}
