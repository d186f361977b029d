/**
 * The certificate-index part of `npm run bench:tls`, in a process of its own (started as
 * `node --expose-gc dist/bench/lib/cert-index-child.js --names N --lookups M --rounds R --out FILE`),
 * so that its heap and RSS start clean and it can force garbage collections between measurements.
 * Writes one JSON object (IndexResult) to FILE.
 *
 * What it builds: N StoredCertificate objects as FileCertStore.all() would return them, all made
 * from ONE ECDSA P-256 certificate and key (the index never re-parses a certificate) but each with
 * its own copy of the PEM text and dates, as N files read from disk would have; then
 * CertificateIndex.from(those). Lookups go through `lookup`, the SNICallback path, with fresh flat
 * strings like the ones the proxy reads from a ClientHello.
 */
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import tls from 'node:tls';
import { parseArgs } from 'node:util';

import { CertificateIndex, selfSigned, type StoredCertificate } from '../../src/certs/index.js';

export interface IndexResult {
  names: number;
  lookups: number;
  rounds: number;
  certificate: { key: string; cert_pem_bytes: number; key_pem_bytes: number };
  memory: {
    /** The StoredCertificate objects (PEM text included), as the store hands them over. */
    certificates: { heap_bytes: number; rss_bytes: number };
    /** CertificateIndex.from(certificates) on top of them: the name map and its entries. */
    index: { heap_bytes: number; rss_bytes: number; heap_bytes_per_name: number };
  };
  /** Best of `rounds` builds of the index from the N certificates. */
  build_ms: number;
  /** SecureContexts that exist right after building: none, they are made on first lookup. */
  contexts_after_build: number;
  /** Per lookup, best of `rounds` passes of `lookups` each (contexts already made: the steady state). */
  lookup_ns: { hit: number; miss: number; mixed: number };
  /** Share of known names in the mixed pass. */
  mixed_hit_share: number;
  /** What making one context costs, the first time a certificate is asked for. */
  context: { create_us: number; rss_bytes_each: number; sample: number };
}

const MIXED_HIT_SHARE = 0.9;
const CONTEXT_SAMPLE = 1000;

const gcFn = (globalThis as { gc?: () => void }).gc;
function gc(): void {
  if (!gcFn) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) gcFn();
}

function mem(): { heap: number; rss: number } {
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

/** A new flat string with the same text (no shared storage, no cached hash), like a name read off the wire. */
function fresh(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/** xorshift32: the same "random" names every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/** Names packed into one buffer, so that a query is one native slice: a fresh string each time. */
class NamePool {
  private readonly buf: Buffer;
  private readonly starts: Uint32Array;
  constructor(names: string[]) {
    const texts = names.map((n) => Buffer.from(n, 'latin1'));
    this.buf = Buffer.concat(texts);
    this.starts = new Uint32Array(names.length + 1);
    let at = 0;
    texts.forEach((t, i) => {
      this.starts[i] = at;
      at += t.length;
    });
    this.starts[names.length] = at;
  }
  get length(): number {
    return this.starts.length - 1;
  }
  query(i: number): string {
    return this.buf.toString('latin1', this.starts[i], this.starts[i + 1]);
  }
}

const hostname = (i: number) => `site${i}.example.com`;

function makeQueries(count: number, hitShare: number, hits: NamePool, misses: NamePool, next: () => number): { queries: string[]; expectedHits: number } {
  const queries = new Array<string>(count);
  let expectedHits = 0;
  for (let i = 0; i < count; i++) {
    if (next() < hitShare) {
      queries[i] = hits.query(Math.floor(next() * hits.length));
      expectedHits++;
    } else {
      queries[i] = misses.query(Math.floor(next() * misses.length));
    }
  }
  return { queries, expectedHits };
}

function timeLookups(index: CertificateIndex, queries: string[], expectedHits: number): number {
  let found = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < queries.length; i++) {
    if (index.lookup(queries[i] as string) !== undefined) found++;
  }
  const ns = Number(process.hrtime.bigint() - t0) / queries.length;
  if (found !== expectedHits) throw new Error(`index lookups found ${found} names, expected ${expectedHits}`);
  return ns;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { names: { type: 'string' }, lookups: { type: 'string' }, rounds: { type: 'string' }, out: { type: 'string' } },
    strict: true,
  });
  const n = Number(values.names ?? 100_000);
  const lookups = Number(values.lookups ?? 1_000_000);
  const rounds = Number(values.rounds ?? 2);
  const out = values.out;
  if (out === undefined) throw new Error('--out FILE is required');

  const pair = await selfSigned({ names: ['bench.local'] });
  const x509 = new X509Certificate(pair.certPem);
  const notBefore = new Date(x509.validFrom).getTime();
  const notAfter = new Date(x509.validTo).getTime();
  const sharedContext = tls.createSecureContext({ cert: pair.certPem, key: pair.keyPem });

  // The certificates, as the store would return them: own PEM text, own date strings.
  const before = mem();
  const certs: StoredCertificate[] = new Array<StoredCertificate>(n);
  for (let i = 0; i < n; i++) {
    const h = hostname(i);
    certs[i] = {
      hostname: h,
      source: 'custom',
      certPem: fresh(pair.certPem),
      keyPem: fresh(pair.keyPem),
      names: [fresh(h)],
      notBefore: new Date(notBefore).toISOString(),
      notAfter: new Date(notAfter).toISOString(),
    };
  }
  const withCerts = mem();

  // One shared, already-made context: lookups then measure the index, not OpenSSL (whose cost is
  // measured on its own below). The context is still attached lazily, on first lookup.
  const opts = { createContext: () => sharedContext };
  let index = CertificateIndex.from(certs, opts);
  const withIndex = mem();
  const contextsAfterBuild = index.contextsCreated;
  if (index.size !== n) throw new Error(`the index holds ${index.size} names, expected ${n}`);

  let buildMs = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    const again = CertificateIndex.from(certs, opts);
    buildMs = Math.min(buildMs, Number(process.hrtime.bigint() - t0) / 1e6);
    if (again.size !== n) throw new Error('rebuilt index differs');
  }
  index = CertificateIndex.from(certs, opts);

  const hits = new NamePool(certs.map((c) => c.hostname));
  const missNames: string[] = [];
  for (let i = 0; i < Math.max(1000, Math.min(n, 100_000)); i++) {
    // Half look like ours (the same domain, a number we don't have), half are other domains.
    missNames.push(i % 2 === 0 ? hostname(n + i) : `www.unknown${i}.example.org`);
  }
  const misses = new NamePool(missNames);

  // Warm-up: every certificate's context gets attached (the steady state), and the JIT settles.
  for (let i = 0; i < hits.length; i++) index.lookup(hits.query(i));
  const next = rng(0x5eed);
  const best = { hit: Infinity, miss: Infinity, mixed: Infinity };
  for (let r = 0; r < rounds; r++) {
    for (const kind of ['hit', 'miss', 'mixed'] as const) {
      const share = kind === 'hit' ? 1 : kind === 'miss' ? 0 : MIXED_HIT_SHARE;
      const { queries, expectedHits } = makeQueries(lookups, share, hits, misses, next);
      best[kind] = Math.min(best[kind], timeLookups(index, queries, expectedHits));
    }
  }

  // What the lazily made contexts cost: time, and native memory (RSS, not V8's heap).
  const ctxBefore = mem();
  const contexts: tls.SecureContext[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CONTEXT_SAMPLE; i++) contexts.push(tls.createSecureContext({ cert: certs[i % n]?.certPem, key: certs[i % n]?.keyPem }));
  const createUs = Number(process.hrtime.bigint() - t0) / 1e3 / CONTEXT_SAMPLE;
  const ctxAfter = mem();

  const round1 = (x: number) => Math.round(x * 10) / 10;
  const result: IndexResult = {
    names: n,
    lookups,
    rounds,
    certificate: { key: 'ECDSA P-256', cert_pem_bytes: pair.certPem.length, key_pem_bytes: pair.keyPem.length },
    memory: {
      certificates: { heap_bytes: withCerts.heap - before.heap, rss_bytes: withCerts.rss - before.rss },
      index: {
        heap_bytes: withIndex.heap - withCerts.heap,
        rss_bytes: withIndex.rss - withCerts.rss,
        heap_bytes_per_name: round1((withIndex.heap - withCerts.heap) / n),
      },
    },
    build_ms: round1(buildMs),
    contexts_after_build: contextsAfterBuild,
    lookup_ns: { hit: round1(best.hit), miss: round1(best.miss), mixed: round1(best.mixed) },
    mixed_hit_share: MIXED_HIT_SHARE,
    context: {
      create_us: round1(createUs),
      rss_bytes_each: Math.round((ctxAfter.rss - ctxBefore.rss) / CONTEXT_SAMPLE),
      sample: contexts.length,
    },
  };
  writeFileSync(out, `${JSON.stringify(result)}\n`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
});
