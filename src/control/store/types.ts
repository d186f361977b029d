/**
 * The control plane's state store: JSON documents by (collection, key), optimistic concurrency, and
 * a change feed with one global, strictly increasing revision per change.
 *
 * The contract is shaped so that a NATS JetStream implementation (one KV bucket, subject
 * `<collection>.<key>`, revision = stream sequence) can honour it: names use the KV key alphabet,
 * values are capped below the default max payload, and a transaction fits one atomic batch publish.
 */
import type { ErrorCode } from '../../shared/index.js';
import { StarlingError } from '../../shared/index.js';

/** One stored document. `revision` is the revision of the change that last wrote it. */
export interface Entry {
  collection: string;
  key: string;
  /** A fresh copy parsed from JSON: mutating it changes nothing in the store. */
  value: unknown;
  revision: number;
}

export type Change =
  | { op: 'put'; revision: number; collection: string; key: string; value: unknown }
  | { op: 'delete'; revision: number; collection: string; key: string };

export interface WriteOptions {
  /** Only write if the document's current revision is this; 0 = it must not exist. */
  expectRevision?: number;
}

export type Op =
  | { op: 'put'; collection: string; key: string; value: unknown; expectRevision?: number }
  | { op: 'delete'; collection: string; key: string; expectRevision?: number };

export interface FeedOptions {
  /** Only changes in these collections (the revision still advances past the others). */
  collections?: readonly string[];
}

export interface Snapshot {
  /** Every change up to and including this revision is reflected in `entries`. */
  revision: number;
  entries: Entry[];
}

export type Unsubscribe = () => void;

export interface StateStore {
  get(collection: string, key: string): Promise<Entry | undefined>;
  /** Documents of one collection in key order (bytewise), optionally only keys starting with `prefix`. */
  list(collection: string, opts?: { prefix?: string }): Promise<Entry[]>;
  /** Writes one document; resolves to its new revision. ERR_STORE_CONFLICT when expectRevision misses. */
  put(collection: string, key: string, value: unknown, opts?: WriteOptions): Promise<number>;
  /** Resolves to the revision of the delete, or undefined when there was nothing to delete. */
  delete(collection: string, key: string, opts?: WriteOptions): Promise<number | undefined>;
  /**
   * All ops or none. Ops apply in order (a later op sees an earlier one's write, so expectRevision
   * is checked against that); each op that changes something gets its own consecutive revision.
   * Resolves to each op's revision (undefined for a delete of a missing document).
   */
  transaction(ops: readonly Op[]): Promise<(number | undefined)[]>;
  /** Changes with revision > sinceRevision, oldest first. ERR_STORE_COMPACTED / ERR_STORE_FUTURE_REVISION. */
  changes(sinceRevision: number, opts?: FeedOptions & { limit?: number }): Promise<Change[]>;
  /**
   * Delivers every change after sinceRevision, in order, exactly once — including changes committed
   * while subscribing — then keeps following new commits. An async `onChange` is awaited before the
   * next delivery. The watch ends (and `onError` is called once) when sinceRevision was compacted
   * away (ERR_STORE_COMPACTED: resync from `snapshot()`), is ahead of the store
   * (ERR_STORE_FUTURE_REVISION: the store was restored; resync too), `onChange` throws, or the store
   * closes (ERR_STORE_CLOSED). No callback runs after the returned function is called.
   */
  watch(
    sinceRevision: number,
    onChange: (change: Change) => void | Promise<void>,
    onError?: (err: Error) => void,
    opts?: FeedOptions,
  ): Unsubscribe;
  /** The latest committed revision (0 for an empty store). */
  revision(): Promise<number>;
  /** Current documents (of some collections) and the revision they reflect, read atomically. */
  snapshot(opts?: FeedOptions): Promise<Snapshot>;
  /** Drops changes with revision <= keepAfterRevision from the feed; documents are untouched. */
  compact(keepAfterRevision: number): Promise<void>;
  close(): Promise<void>;
}

/** Lowercase collection names (`apps`, `releases`, `machines`, …): one NATS subject token. */
export const COLLECTION_RE = /^[a-z][a-z0-9_-]{0,63}$/;
/** NATS KV key alphabet; dots separate subject tokens, so no empty token (`a..b`, `.a`, `a.`). */
export const KEY_RE = /^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$/;
export const MAX_KEY_LENGTH = 512;
/** Below NATS' default 1 MiB max payload, leaving room for headers. */
export const MAX_VALUE_BYTES = 1_000_000;
/** NATS atomic batch publish accepts at most 1000 messages per batch. */
export const MAX_TRANSACTION_OPS = 1000;

export function storeError(code: ErrorCode, message: string, opts: { cause?: unknown; hint?: string } = {}): StarlingError {
  const userCodes = ['ERR_STORE_CONFLICT', 'ERR_STORE_INVALID', 'ERR_STORE_TOO_LARGE', 'ERR_STORE_COMPACTED', 'ERR_STORE_FUTURE_REVISION', 'ERR_STORE_LOCKED'];
  return new StarlingError(code, message, { ...opts, fault: userCodes.includes(code) ? 'user' : 'system' });
}

export function checkCollection(collection: string): void {
  if (typeof collection !== 'string' || !COLLECTION_RE.test(collection)) {
    throw storeError('ERR_STORE_INVALID', `invalid collection name ${JSON.stringify(collection)}: use [a-z][a-z0-9_-]*, at most 64 characters`);
  }
}

export function checkKey(collection: string, key: string): void {
  checkCollection(collection);
  if (typeof key !== 'string' || key.length > MAX_KEY_LENGTH || !KEY_RE.test(key)) {
    throw storeError(
      'ERR_STORE_INVALID',
      `invalid key ${JSON.stringify(key)} in ${collection}: use letters, digits and - / _ = . (no empty dot-separated part), at most ${MAX_KEY_LENGTH} characters`,
    );
  }
}

/** A key prefix for `list`: the key alphabet, possibly ending mid-token (`web.`, `app/`). */
export function checkPrefix(prefix: string): void {
  if (typeof prefix !== 'string' || prefix.length > MAX_KEY_LENGTH || !/^[-/_=.a-zA-Z0-9]*$/.test(prefix)) {
    throw storeError('ERR_STORE_INVALID', `invalid key prefix ${JSON.stringify(prefix)}: use letters, digits and - / _ = .`);
  }
}

export function checkRevision(what: string, revision: number | undefined): void {
  if (revision !== undefined && !(Number.isSafeInteger(revision) && revision >= 0)) {
    throw storeError('ERR_STORE_INVALID', `${what} must be a non-negative integer, got ${String(revision)}`);
  }
}

export function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit > 0)) {
    throw storeError('ERR_STORE_INVALID', `limit must be a positive integer, got ${String(limit)}`);
  }
}

/** The JSON text a value is stored as; rejects what JSON cannot carry and oversized documents. */
export function encodeValue(collection: string, key: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw storeError('ERR_STORE_INVALID', `${collection}/${key}: value is not JSON-serialisable`, { cause: e });
  }
  if (text === undefined) throw storeError('ERR_STORE_INVALID', `${collection}/${key}: value is not JSON-serialisable (${typeof value})`);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_VALUE_BYTES) {
    throw storeError('ERR_STORE_TOO_LARGE', `${collection}/${key}: value is ${bytes} bytes of JSON, the limit is ${MAX_VALUE_BYTES}`);
  }
  return text;
}

/** Validates a batch before anything is written, so a bad op leaves nothing behind. */
export function checkOps(ops: readonly Op[]): string[] {
  // Callers from JSON may pass anything. The check is on a copy typed unknown, so that `ops` keeps
  // its type (Array.isArray would narrow it to any[]).
  const given: unknown = ops;
  if (!Array.isArray(given)) throw storeError('ERR_STORE_INVALID', 'transaction ops must be an array');
  if (ops.length > MAX_TRANSACTION_OPS) {
    throw storeError('ERR_STORE_TOO_LARGE', `transaction has ${ops.length} ops, the limit is ${MAX_TRANSACTION_OPS}`);
  }
  return ops.map((o, i) => {
    if (o.op !== 'put' && o.op !== 'delete') throw storeError('ERR_STORE_INVALID', `transaction op ${i}: unknown op ${JSON.stringify((o as { op: unknown }).op)}`);
    checkKey(o.collection, o.key);
    checkRevision(`transaction op ${i} expectRevision`, o.expectRevision);
    return o.op === 'put' ? encodeValue(o.collection, o.key, o.value) : '';
  });
}

export function conflict(collection: string, key: string, expected: number, actual: number): StarlingError {
  const found = actual === 0 ? 'it does not exist' : `it is at revision ${actual}`;
  const wanted = expected === 0 ? 'to not exist' : `revision ${expected}`;
  return storeError('ERR_STORE_CONFLICT', `${collection}/${key} changed: expected ${wanted}, but ${found}`, {
    hint: 'read it again and retry the change',
  });
}

/** The checks every feed read makes: compacted history and revisions the store never issued. */
export function checkSince(sinceRevision: number, head: number, compactedThrough: number): void {
  checkRevision('sinceRevision', sinceRevision);
  if (sinceRevision > head) {
    throw storeError('ERR_STORE_FUTURE_REVISION', `revision ${sinceRevision} is ahead of the store (at ${head})`, {
      hint: 'the store was restored or replaced: resync from a snapshot',
    });
  }
  if (sinceRevision < compactedThrough) {
    throw storeError('ERR_STORE_COMPACTED', `changes up to revision ${compactedThrough} were compacted; asked for those after ${sinceRevision}`, {
      hint: 'resync from a snapshot, then watch from its revision',
    });
  }
}
