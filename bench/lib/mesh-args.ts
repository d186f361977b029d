/** Command-line flags of `npm run bench:mesh -- …`. */
import { parseArgs } from 'node:util';
import { positiveInt } from './args.js';

export const MESH_PARTS = ['throughput', 'rtt', 'dns', 'convergence', 'names'] as const;
export type MeshPart = (typeof MESH_PARTS)[number];

/** The three ways from namespace A to namespace B that throughput and RTT compare. */
export const PATHS = ['underlay', 'mesh', 'bare'] as const;
export type PathName = (typeof PATHS)[number];

export interface MeshOptions {
  /** Seconds of each throughput run and each DNS run. */
  durationS: number;
  /** Convergence rounds. */
  rounds: number;
  /** Round trips of each RTT run. */
  pings: number;
  /** DNS queries in flight at once. */
  inflight: number;
  parts: MeshPart[];
  json: boolean;
}

export const MESH_USAGE = `usage: npm run bench:mesh -- [flags]
       node dist/bench/mesh.js [flags]

The private network (issue 19), between two network namespaces A and B joined by a veth, side by
side in one run:
  throughput   a Node TCP sender blasting for --duration seconds to a sink in B, over three paths:
               underlay (the veth addresses), mesh (Starling's Mesh + WireguardGoDevice) and bare
               (wireguard-go set up by hand with wg and ip): MB/s, ratios mesh/bare, mesh/underlay.
               Each path twice, in the order underlay, mesh, bare, bare, mesh, underlay; best counts
  rtt          a TCP ping-pong of 1-byte messages (--pings round trips) over the same paths:
               p50/p99 µs
  dns          Starling's .internal server (startPrivateDns, 20 instances of one app) and BIND's
               named (the same 20 AAAA records) on 127.0.0.1: AAAA queries with --inflight in
               flight for --duration seconds: queries/s, p50/p99 ms, ratio starling/named
  convergence  Mesh.update() adding the peer on both sides → the first TCP connect between the
               mesh addresses, --rounds times (the peer removed and unreachable in between)
  names        a machine reported started (PUT …/state to a real control plane) → its
               fra.web.internal answered by each of three hosts' DNS (each following the feed with
               the agent's ControlSync), --rounds times: per-host and slowest ms (aim ≤ 200 ms)

Needs root (namespaces, TUN devices) for all but dns and names; wireguard-go, wg and ip; named
optional.

flags:
  --duration S   seconds of each throughput and DNS run (default 5)
  --rounds N     convergence and names rounds (default 5)
  --pings N      round trips of each RTT run (default 2000)
  --inflight N   DNS queries in flight (default 8)
  --only LIST    a subset of: throughput, rtt, dns, convergence, names; repeatable or comma-separated
  --json         print one JSON object on stdout instead of the tables (progress goes to stderr)
  -h, --help     this text
`;

/** Parsed options, or 'help'. Throws on bad flags (the message is meant for the user). */
export function parseMeshOptions(argv: string[]): MeshOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      duration: { type: 'string' },
      rounds: { type: 'string' },
      pings: { type: 'string' },
      inflight: { type: 'string' },
      only: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const wanted = new Set<MeshPart>();
  for (const item of (values.only ?? []).flatMap((v) => v.split(','))) {
    const name = item.trim().toLowerCase();
    if (name === '') continue;
    if (!(MESH_PARTS as readonly string[]).includes(name)) throw new Error(`--only: unknown part "${item}" (choose from ${MESH_PARTS.join(', ')})`);
    wanted.add(name as MeshPart);
  }
  if (values.only !== undefined && wanted.size === 0) throw new Error('--only: no part named');
  const inflight = values.inflight === undefined ? 8 : positiveInt('--inflight', values.inflight, 1);
  if (inflight > 1000) throw new Error(`--inflight wants at most 1000, got ${inflight}`);
  return {
    durationS: values.duration === undefined ? 5 : positiveInt('--duration', values.duration, 1),
    rounds: values.rounds === undefined ? 5 : positiveInt('--rounds', values.rounds, 1),
    pings: values.pings === undefined ? 2000 : positiveInt('--pings', values.pings, 10),
    inflight,
    parts: wanted.size === 0 ? [...MESH_PARTS] : MESH_PARTS.filter((p) => wanted.has(p)),
    json: values.json ?? false,
  };
}

/** Whether the chosen parts need network namespaces (root). */
export function needsNamespaces(parts: readonly MeshPart[]): boolean {
  return parts.some((p) => p !== 'dns' && p !== 'names');
}
