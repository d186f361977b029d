/**
 * The agent's persistent copy of its control-plane view: the revision it reflects and the documents
 * of the synced collections. The data plane serves from it while the control plane is unreachable,
 * and the agent resumes the feed from its revision after a restart.
 *
 * On disk: `{ format: 1, revision, saved_at, documents: { <collection>: { <key>: value } } }`,
 * written atomically (a 0600 temp file in the same directory, fsynced, then renamed over the old one)
 * so a crash leaves either the old cache or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { StarlingError } from '../shared/index.js';
import { KEYED_COLLECTIONS } from '../contract/index.js';

/** Documents by collection, then key. Never mutated once published: a new batch makes a new view. */
export type SyncDocuments = ReadonlyMap<string, ReadonlyMap<string, unknown>>;

export interface SyncView {
  /** Every change up to and including this revision is reflected in `documents` (0: nothing yet). */
  revision: number;
  documents: SyncDocuments;
}

const FORMAT = 1;

const keyed = (collection: string): boolean => (KEYED_COLLECTIONS as readonly string[]).includes(collection);

/**
 * Seals what must not lie in the cache in clear: each private key (certificates, TLS-ALPN-01 answers), with the host's own
 * cache key (next to the cache, 0600). A cache copied without its key file holds no usable key.
 */
export interface CacheSealer {
  seal(aad: string, text: string): string;
  /** undefined when it does not open (another key, or altered). */
  open(aad: string, sealed: string): string | undefined;
}

const keyAad = (collection: string, key: string): string => `${collection}/${key}`;

function sealValues(collection: string, docs: ReadonlyMap<string, unknown>, sealer: CacheSealer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of docs) {
    const d = v as { key_pem?: unknown };
    if (typeof d?.key_pem !== 'string') {
      out[k] = v;
      continue;
    }
    const { key_pem, ...rest } = d as Record<string, unknown> & { key_pem: string };
    out[k] = { ...rest, key_cache_sealed: sealer.seal(keyAad(collection, k), key_pem) };
  }
  return out;
}

function openValues(collection: string, docs: Record<string, unknown>, sealer: CacheSealer | undefined, invalid: (why: string) => StarlingError): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(docs)) {
    const d = v as { key_cache_sealed?: unknown };
    if (typeof d?.key_cache_sealed !== 'string') {
      out.set(k, v);
      continue;
    }
    const { key_cache_sealed, ...rest } = d as Record<string, unknown> & { key_cache_sealed: string };
    const pem = sealer?.open(keyAad(collection, k), key_cache_sealed);
    if (pem === undefined) throw invalid(`the key of ${collection}/${k} does not open with this host's cache key`);
    out.set(k, { ...rest, key_pem: pem });
  }
  return out;
}

export function emptyView(collections: readonly string[]): SyncView {
  return { revision: 0, documents: new Map(collections.map((c) => [c, new Map<string, unknown>()])) };
}

/**
 * Reads the cache file; undefined when there is none. Collections outside `collections` are
 * dropped (a cache never hands the data plane a collection it did not ask for). A file that is not
 * a cache is ERR_SYNC_CACHE_INVALID: the caller decides whether to start empty.
 */
export async function loadSyncCache(file: string, collections: readonly string[], sealer?: CacheSealer): Promise<SyncView | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StarlingError('ERR_SYNC_CACHE_IO', `cannot read the sync cache ${file}: ${(e as Error).message}`, { cause: e });
  }
  const invalid = (why: string): StarlingError =>
    new StarlingError('ERR_SYNC_CACHE_INVALID', `${file} is not a sync cache: ${why}`, {
      hint: 'delete it; the agent takes a fresh snapshot from the control plane',
    });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw invalid('not JSON');
  }
  if (typeof raw !== 'object' || raw === null) throw invalid('not an object');
  const { format, revision, documents } = raw as Record<string, unknown>;
  if (format !== FORMAT) throw invalid(`format ${JSON.stringify(format)}, expected ${FORMAT}`);
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) throw invalid('bad revision');
  if (typeof documents !== 'object' || documents === null || Array.isArray(documents)) throw invalid('bad documents');
  const out = new Map<string, ReadonlyMap<string, unknown>>();
  for (const c of collections) {
    const docs = (documents as Record<string, unknown>)[c];
    if (docs === undefined) {
      out.set(c, new Map());
      continue;
    }
    if (typeof docs !== 'object' || docs === null || Array.isArray(docs)) throw invalid(`bad collection ${c}`);
    out.set(c, keyed(c) ? openValues(c, docs as Record<string, unknown>, sealer, invalid) : new Map(Object.entries(docs)));
  }
  return { revision, documents: out };
}

/** Writes the view atomically (temp file + fsync + rename), mode 0600. */
export async function saveSyncCache(file: string, view: SyncView, now: number, sealer?: CacheSealer): Promise<void> {
  const documents: Record<string, Record<string, unknown>> = {};
  for (const [c, docs] of view.documents) documents[c] = keyed(c) && sealer ? sealValues(c, docs, sealer) : Object.fromEntries(docs);
  const text = JSON.stringify({ format: FORMAT, revision: view.revision, saved_at: new Date(now).toISOString(), documents }) + '\n';
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new StarlingError('ERR_SYNC_CACHE_IO', `cannot write the sync cache ${file}: ${(e as Error).message}`, { cause: e });
  }
}
