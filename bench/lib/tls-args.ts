/** Command-line flags of `npm run bench:tls -- …`. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { nodeArgsOf, positiveInt } from './args.js';

/** `platform`: a real agent whose certificate came from the control plane over the feed (tls-platform.ts). */
export const TLS_PROXIES = ['starling', 'nginx', 'caddy', 'platform'] as const;
export type TlsProxy = (typeof TLS_PROXIES)[number];
export const TLS_TESTS = ['handshakes', 'keepalive', 'index'] as const;
export type TlsTest = (typeof TLS_TESTS)[number];

export interface TlsOptions {
  durationS: number;
  warmupS: number;
  rounds: number;
  /** Proxies to load with wrk, in canonical order. */
  proxies: TlsProxy[];
  /** True when --only named a proxy (then a missing tool for it is an error, not a skip). */
  proxiesNamed: boolean;
  /** Parts to run, in canonical order. `index` is Starling's alone. */
  tests: TlsTest[];
  json: boolean;
  indexNames: number;
  lookups: number;
  /** Run the Starling process (and the platform's agent) under node --cpu-prof --cpu-prof-dir=DIR. */
  cpuProfDir: string | undefined;
  /** Run them under node --trace-gc: GC per measured run, each round's log kept in DIR. */
  traceGcDir: string | undefined;
  /** --node-arg: more node flags for the Starling process, as given. */
  nodeArgs: string[];
}

export const TLS_USAGE = `usage: npm run bench:tls -- [flags]
       node dist/bench/tls.js [flags]

Compares Starling's proxy with nginx and Caddy as TLS-terminating reverse proxies (one worker or
core each, ECDSA P-256 certificate, TLS 1.3, on 127.0.0.1), in front of one nginx origin. Caddy is
left out (its ratios null) when it is not installed, unless --only names it. Another proxy,
platform, is a real agent (starling agent run, [proxy] tls_listen) with a control plane beside it:
its certificate is imported at the control plane and reaches it over the feed (needs root, for BIRD).
Parts:
  handshakes  wrk -t1 -c50 -H 'Connection: close': every request a new connection, a full handshake
  keepalive   wrk -t1 -c50 over kept-alive TLS connections
  index       Starling's certificate index with 100,000 names: memory, and ns per SNI lookup

flags:
  --duration N     seconds of each measured wrk run (default 10)
  --warmup N       seconds of the unmeasured wrk run before each measured one (default 2; 0 = none)
  --rounds N       rounds of starling, nginx, caddy, platform; the best round counts, the spread of
                   the rounds is printed (default 3)
  --only LIST      a subset of: starling, nginx, caddy, platform, handshakes, keepalive, index;
                   repeatable or comma-separated. Proxies and parts filter separately: --only index
                   runs the index alone, --only nginx the wrk runs against nginx alone
  --index-names N  names in the certificate index (default 100000)
  --lookups N      SNI lookups per timed pass over the index (default 1000000)
  --json           print one JSON object on stdout instead of the table (progress goes to stderr)
  --cpu-prof DIR   run the Starling proxy (and the platform's agent) under node --cpu-prof
                   --cpu-prof-dir=DIR
  --trace-gc DIR   run them under node --trace-gc: GC pauses per measured run in the output, each
                   round's log kept in DIR
  --node-arg FLAG  one more node flag for them (repeatable; e.g. --node-arg=--max-semi-space-size=16)
  -h, --help       this text
`;

/** Parsed options, or 'help'. Throws on bad flags (the message is meant for the user). */
export function parseTlsOptions(argv: string[]): TlsOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      only: { type: 'string', multiple: true },
      'index-names': { type: 'string' },
      lookups: { type: 'string' },
      json: { type: 'boolean' },
      'cpu-prof': { type: 'string' },
      'trace-gc': { type: 'string' },
      'node-arg': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const proxies = new Set<TlsProxy>();
  const tests = new Set<TlsTest>();
  const known = [...TLS_PROXIES, ...TLS_TESTS] as readonly string[];
  for (const item of (values.only ?? []).flatMap((v) => v.split(','))) {
    const name = item.trim().toLowerCase();
    if (name === '') continue;
    if (!known.includes(name)) throw new Error(`--only: unknown name "${item}" (choose from ${known.join(', ')})`);
    if ((TLS_PROXIES as readonly string[]).includes(name)) proxies.add(name as TlsProxy);
    else tests.add(name as TlsTest);
  }
  if (values.only !== undefined && proxies.size === 0 && tests.size === 0) throw new Error('--only: nothing named');
  const chosenProxies = proxies.size === 0 ? [...TLS_PROXIES] : TLS_PROXIES.filter((p) => proxies.has(p));
  // The index is Starling's: naming only nginx leaves it out, unless it is named too.
  const chosenTests =
    tests.size === 0
      ? TLS_TESTS.filter((t) => t !== 'index' || chosenProxies.includes('starling'))
      : TLS_TESTS.filter((t) => tests.has(t));
  const dirFlag = (flag: string, v: string | undefined): string | undefined => {
    if (v !== undefined && v.trim() === '') throw new Error(`${flag} wants a directory`);
    return v === undefined ? undefined : resolve(v);
  };
  return {
    durationS: values.duration === undefined ? 10 : positiveInt('--duration', values.duration, 1),
    warmupS: values.warmup === undefined ? 2 : positiveInt('--warmup', values.warmup, 0),
    rounds: values.rounds === undefined ? 3 : positiveInt('--rounds', values.rounds, 1),
    proxies: chosenProxies,
    proxiesNamed: proxies.size > 0,
    tests: chosenTests,
    json: values.json ?? false,
    indexNames: values['index-names'] === undefined ? 100_000 : positiveInt('--index-names', values['index-names'], 1),
    lookups: values.lookups === undefined ? 1_000_000 : positiveInt('--lookups', values.lookups, 1000),
    cpuProfDir: dirFlag('--cpu-prof', values['cpu-prof']),
    traceGcDir: dirFlag('--trace-gc', values['trace-gc']),
    nodeArgs: nodeArgsOf(values['node-arg']),
  };
}
