/**
 * A CertificateStore in a directory, which several proxies (PoPs) may share:
 *
 *   certs/<acme|custom>/<hostname>.json   one certificate and its key (`*` written as `_wildcard_`)
 *   challenges/http-01/<token>            the key authorization, as served on port 80
 *   challenges/tls-alpn-01/<hostname>.json
 *   accounts/<sha256(directoryUrl)>.pem   the ACME account key
 *
 * Every write is atomic (temp file, fsync, rename), every file is 0600 and every directory 0700.
 * Names are validated before they become paths, so nothing can escape `dir`. Challenge answers
 * are read from disk on every request: the CA may validate through any PoP, not the one that
 * placed the order.
 */
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { StarlingError, SystemClock, describeError, silentLogger, type Clock, type Logger } from '../shared/index.js';
import { DirWatcher } from './dir-watch.js';
import { ensurePrivateDir, isTempName, mapLimit, readOptional, removeOptional, writeAtomic } from './fs-util.js';
import type {
  AlpnChallenge,
  CertSource,
  CertificateStore,
  CertificateSummary,
  Challenge,
  HttpChallenge,
  StoredCertificate,
} from './types.js';
import {
  checkDirectoryUrl,
  checkHostname,
  checkSource,
  checkToken,
  fingerprintOf,
  isValidToken,
  normalizeCertificate,
  normalizeChallenge,
  parseKey,
  summarize,
  tryHostname,
} from './validate.js';

export interface FileCertStoreOptions {
  clock?: Clock;
  logger?: Logger;
  /** How often to compare the directory's fingerprint while watched (default 2000 ms). */
  pollMs?: number;
  /** Quiet time after a file event before rescanning (default 50 ms). */
  debounceMs?: number;
}

const SOURCES: readonly CertSource[] = ['acme', 'custom'];
const WILDCARD = '_wildcard_';
const FORMAT = 1;
/** Parents before children, so each is created (and chmod-ed) by us. */
const LAYOUT = [
  ['certs'],
  ...SOURCES.map((s) => ['certs', s]),
  ['challenges'],
  ['challenges', 'http-01'],
  ['challenges', 'tls-alpn-01'],
  ['accounts'],
];

export class FileCertStore implements CertificateStore {
  readonly dir: string;
  private readonly logger: Logger;
  private readonly watcher: DirWatcher;
  private layout: Promise<void> | undefined;

  constructor(dir: string, opts: FileCertStoreOptions = {}) {
    this.dir = resolve(dir);
    this.logger = (opts.logger ?? silentLogger).child({ component: 'cert-store', store: 'file', dir: this.dir });
    this.watcher = new DirWatcher({
      dirs: SOURCES.map((s) => this.path('certs', s)),
      clock: opts.clock ?? new SystemClock(),
      logger: this.logger,
      pollMs: opts.pollMs ?? 2000,
      debounceMs: opts.debounceMs ?? 50,
    });
  }

  async get(hostname: string, source: CertSource): Promise<StoredCertificate | undefined> {
    const file = this.certFile(checkHostname(hostname), checkSource(source));
    const text = await readOptional(file);
    return text === undefined ? undefined : parseRecord(text, file, source);
  }

  /** Every certificate; a damaged file is logged and skipped, so one bad file cannot hide the rest. */
  async all(): Promise<StoredCertificate[]> {
    const out: StoredCertificate[] = [];
    for (const source of SOURCES) {
      const dir = this.path('certs', source);
      const names = (await listDir(dir)).filter((n) => n.endsWith('.json'));
      const certs = await mapLimit(names, 64, async (n) => {
        const file = join(dir, n);
        try {
          const text = await readOptional(file);
          return text === undefined ? undefined : parseRecord(text, file, source);
        } catch (e) {
          this.logger.error('skipping unreadable certificate file', { file, error: describeError(e) });
          return undefined;
        }
      });
      for (const c of certs) if (c) out.push(c);
    }
    return out;
  }

  async list(): Promise<CertificateSummary[]> {
    return (await this.all()).map((c) => summarize(c, fingerprintOf(c.certPem)));
  }

  async put(cert: StoredCertificate): Promise<void> {
    const c = normalizeCertificate(cert);
    await this.ensureLayout();
    const record = { format: FORMAT, ...c };
    await writeAtomic(this.certFile(c.hostname, c.source), `${JSON.stringify(record, null, 2)}\n`);
    this.logger.info('certificate stored', { hostname: c.hostname, source: c.source, notAfter: c.notAfter });
    this.watcher.kick();
  }

  async remove(hostname: string, source: CertSource): Promise<boolean> {
    const h = checkHostname(hostname);
    const s = checkSource(source);
    const had = await removeOptional(this.certFile(h, s));
    if (had) {
      this.logger.info('certificate removed', { hostname: h, source: s });
      this.watcher.kick();
    }
    return had;
  }

  async putChallenge(c: Challenge): Promise<void> {
    const n = normalizeChallenge(c);
    await this.ensureLayout();
    if (n.type === 'http-01') {
      await writeAtomic(this.path('challenges', 'http-01', n.token), n.keyAuthorization);
    } else {
      const body = JSON.stringify({ format: FORMAT, hostname: n.hostname, certPem: n.certPem, keyPem: n.keyPem });
      await writeAtomic(this.alpnFile(n.hostname), `${body}\n`);
    }
  }

  async removeChallenge(c: Pick<HttpChallenge, 'type' | 'token'> | Pick<AlpnChallenge, 'type' | 'hostname'>): Promise<void> {
    if (c.type === 'http-01') await removeOptional(this.path('challenges', 'http-01', checkToken(c.token)));
    else await removeOptional(this.alpnFile(checkHostname(c.hostname, { wildcard: false })));
  }

  // The two lookups below answer anonymous clients (a URL path, an SNI name): anything that
  // cannot be a valid token or hostname is simply not there, and never reaches the file system.
  async httpChallenge(token: string): Promise<string | undefined> {
    if (!isValidToken(token)) return undefined;
    return readOptional(this.path('challenges', 'http-01', token));
  }

  async alpnChallenge(hostname: string): Promise<{ certPem: string; keyPem: string } | undefined> {
    const h = tryHostname(hostname, { wildcard: false });
    if (h === undefined) return undefined;
    const file = this.alpnFile(h);
    const text = await readOptional(file);
    if (text === undefined) return undefined;
    const r = parseJson(text, file) as { certPem?: unknown; keyPem?: unknown };
    if (typeof r.certPem !== 'string' || typeof r.keyPem !== 'string') throw corrupt(file);
    return { certPem: r.certPem, keyPem: r.keyPem };
  }

  async accountKey(directoryUrl: string): Promise<string | undefined> {
    return readOptional(this.accountFile(directoryUrl));
  }

  async putAccountKey(directoryUrl: string, pem: string): Promise<void> {
    const file = this.accountFile(directoryUrl);
    parseKey(pem, 'account key');
    await this.ensureLayout();
    await writeAtomic(file, pem.endsWith('\n') ? pem : `${pem}\n`);
    this.logger.info('ACME account key stored', { directoryUrl });
  }

  watch(onChange: () => void): () => void {
    // fs.watch needs the directories to exist; without them only the poll would notice changes.
    for (const s of SOURCES) {
      try {
        mkdirSync(this.path('certs', s), { recursive: true, mode: 0o700 });
      } catch (e) {
        this.logger.warn('cannot create certificate directory to watch it', { error: describeError(e) });
      }
    }
    return this.watcher.subscribe(onChange);
  }

  private path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  private certFile(hostname: string, source: CertSource): string {
    return this.path('certs', source, `${escapeHostname(hostname)}.json`);
  }

  private alpnFile(hostname: string): string {
    return this.path('challenges', 'tls-alpn-01', `${hostname}.json`);
  }

  private accountFile(directoryUrl: string): string {
    const hash = createHash('sha256').update(checkDirectoryUrl(directoryUrl)).digest('hex');
    return this.path('accounts', `${hash}.pem`);
  }

  /** Creates the directory tree (0700) once per store; retried after a failure. */
  private ensureLayout(): Promise<void> {
    this.layout ??= (async () => {
      await ensurePrivateDir(this.dir);
      for (const d of LAYOUT) await ensurePrivateDir(this.path(...d));
    })().catch((e: unknown) => {
      this.layout = undefined;
      throw e;
    });
    return this.layout;
  }
}

export function escapeHostname(hostname: string): string {
  return hostname.startsWith('*.') ? `${WILDCARD}${hostname.slice(1)}` : hostname;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !isTempName(n));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new StarlingError('ERR_CERT_READ', `cannot list ${dir}: ${describeError(e)}`, { cause: e });
  }
}

function corrupt(file: string, why = 'is not a valid record'): StarlingError {
  // Never quote the content: the file holds a private key.
  return new StarlingError('ERR_CERT_STORE_CORRUPT', `${file} ${why}`, {
    hint: 'remove the file and add the certificate again',
  });
}

function parseJson(text: string, file: string): object {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null) return v;
  } catch {
    // reported below without the text
  }
  throw corrupt(file, 'is not valid JSON');
}

/** Checks the shape of a stored record and that it is filed where it says it belongs. */
function parseRecord(text: string, file: string, source: CertSource): StoredCertificate {
  const r = parseJson(text, file) as Partial<Record<keyof StoredCertificate, unknown>>;
  const strings = [r.hostname, r.certPem, r.keyPem, r.notBefore, r.notAfter].every((v) => typeof v === 'string');
  const names = Array.isArray(r.names) && r.names.every((n) => typeof n === 'string');
  if (!strings || !names || r.source !== source) throw corrupt(file);
  const c = r as StoredCertificate;
  if (tryHostname(c.hostname) !== c.hostname || basename(file) !== `${escapeHostname(c.hostname)}.json`) {
    throw corrupt(file, 'names a different hostname than its file name');
  }
  return { hostname: c.hostname, source, certPem: c.certPem, keyPem: c.keyPem, names: [...c.names], notBefore: c.notBefore, notAfter: c.notAfter };
}
