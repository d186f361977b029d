/** Command-line flags of `npm run bench:proxy -- …`. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

export const PROXIES = ['starling', 'nginx', 'haproxy', 'caddy'] as const;
export type ProxyName = (typeof PROXIES)[number];

export interface Options {
  durationS: number;
  warmupS: number;
  workers: number;
  rounds: number;
  only: ProxyName[];
  /** True when --only named proxies: then a peer that is not installed is an error, not a skip. */
  onlyNamed: boolean;
  json: boolean;
  cpuProfDir: string | undefined;
  traceGcDir: string | undefined;
  /** --node-arg: more node flags for the Starling process, as given. */
  nodeArgs: string[];
}

export const USAGE = `usage: npm run bench:proxy -- [flags]
       node dist/bench/proxy.js [flags]

Benchmarks Starling's proxy against nginx, HAProxy and Caddy (each as a reverse proxy in front of
the same nginx origin, on 127.0.0.1), loading each with wrk -t1 -c50, three rounds in the order
starling, nginx, haproxy, caddy, starling, nginx, …. A peer that is not installed is left out (and
its ratio is null) unless --only names it.

flags:
  --duration N     seconds of each measured wrk run (default 10)
  --warmup N       seconds of the unmeasured wrk run before each measured one (default 2; 0 = none)
  --workers N      Starling --workers N, nginx worker_processes N, haproxy nbthread N,
                   caddy GOMAXPROCS=N (default 1)
  --rounds N       rounds of every proxy; the best round counts, the spread is printed (default 3)
  --only LIST      run a subset: starling, nginx, haproxy, caddy; repeatable or comma-separated
  --json           print one JSON object on stdout instead of the table (progress goes to stderr)
  --cpu-prof DIR   run the Starling proxy under node --cpu-prof --cpu-prof-dir=DIR
  --trace-gc DIR   run the Starling proxy under node --trace-gc: GC pauses per measured run in the
                   output, each round's log kept in DIR
  --node-arg FLAG  one more node flag for the Starling proxy (repeatable; e.g. --node-arg=--max-semi-space-size=16)
  -h, --help       this text
`;

/** A whole-number flag value of at least `min`; the error names the flag (shared by the benchmarks). */
export function positiveInt(flag: string, text: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new Error(`${flag} wants a whole number ≥ ${min}, got "${text}"`);
  }
  return n;
}

/** --node-arg values: each must be one node flag (starting with -), passed on as given. */
export function nodeArgsOf(values: string[] | undefined): string[] {
  for (const v of values ?? []) if (!v.startsWith('-')) throw new Error(`--node-arg wants a node flag such as --max-semi-space-size=16, got "${v}"`);
  return values ?? [];
}

/** Parsed options, or 'help'. Throws on bad flags (the message is meant for the user). */
export function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      workers: { type: 'string' },
      rounds: { type: 'string' },
      only: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      'cpu-prof': { type: 'string' },
      'trace-gc': { type: 'string' },
      'node-arg': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const wanted = new Set<ProxyName>();
  for (const item of (values.only ?? []).flatMap((v) => v.split(','))) {
    const name = item.trim().toLowerCase();
    if (name === '') continue;
    if (!(PROXIES as readonly string[]).includes(name)) {
      throw new Error(`--only: unknown proxy "${item}" (choose from ${PROXIES.join(', ')})`);
    }
    wanted.add(name as ProxyName);
  }
  if (values.only !== undefined && wanted.size === 0) throw new Error('--only: no proxy named');
  const cpuProf = values['cpu-prof'];
  if (cpuProf !== undefined && cpuProf.trim() === '') throw new Error('--cpu-prof wants a directory');
  const traceGc = values['trace-gc'];
  if (traceGc !== undefined && traceGc.trim() === '') throw new Error('--trace-gc wants a directory');
  return {
    durationS: values.duration === undefined ? 10 : positiveInt('--duration', values.duration, 1),
    warmupS: values.warmup === undefined ? 2 : positiveInt('--warmup', values.warmup, 0),
    workers: values.workers === undefined ? 1 : positiveInt('--workers', values.workers, 1),
    rounds: values.rounds === undefined ? 3 : positiveInt('--rounds', values.rounds, 1),
    // Always in the canonical order, whatever order --only named them in.
    only: wanted.size === 0 ? [...PROXIES] : PROXIES.filter((p) => wanted.has(p)),
    onlyNamed: wanted.size > 0,
    json: values.json ?? false,
    cpuProfDir: cpuProf === undefined ? undefined : resolve(cpuProf),
    traceGcDir: traceGc === undefined ? undefined : resolve(traceGc),
    nodeArgs: nodeArgsOf(values['node-arg']),
  };
}
