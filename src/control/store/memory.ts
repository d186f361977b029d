/**
 * The state store in memory: the same semantics as SqliteStore (values are kept as JSON text, so a
 * read is a fresh copy and JSON's rules apply the same way), for tests and for embedding.
 */
import { ChangeFeed, type FeedPage } from './feed.js';
import {
  checkCollection,
  checkKey,
  checkLimit,
  checkOps,
  checkPrefix,
  checkSince,
  conflict,
  storeError,
  type Change,
  type Entry,
  type FeedOptions,
  type Op,
  type Snapshot,
  type StateStore,
  type Unsubscribe,
  type WriteOptions,
} from './types.js';

interface Doc {
  text: string;
  revision: number;
}

interface LoggedChange {
  revision: number;
  collection: string;
  key: string;
  /** undefined for a delete. */
  text: string | undefined;
}

export class MemoryStore implements StateStore {
  private readonly docs = new Map<string, Map<string, Doc>>();
  /** Contiguous: log[i].revision === compactedThrough + 1 + i (every revision is one change). */
  private log: LoggedChange[] = [];
  private head = 0;
  private compactedThrough = 0;
  private closed = false;
  private readonly feed = new ChangeFeed((since, limit, collections) => this.readLog(since, limit, collections));

  async get(collection: string, key: string): Promise<Entry | undefined> {
    this.open();
    checkKey(collection, key);
    const doc = this.docs.get(collection)?.get(key);
    return doc && { collection, key, value: JSON.parse(doc.text), revision: doc.revision };
  }

  async list(collection: string, opts: { prefix?: string } = {}): Promise<Entry[]> {
    this.open();
    checkCollection(collection);
    const prefix = opts.prefix ?? '';
    checkPrefix(prefix);
    return this.entries(collection).filter((e) => e.key.startsWith(prefix));
  }

  async put(collection: string, key: string, value: unknown, opts: WriteOptions = {}): Promise<number> {
    const [revision] = this.apply([{ op: 'put', collection, key, value, ...opts }]);
    return revision as number;
  }

  async delete(collection: string, key: string, opts: WriteOptions = {}): Promise<number | undefined> {
    return this.apply([{ op: 'delete', collection, key, ...opts }])[0];
  }

  async transaction(ops: readonly Op[]): Promise<(number | undefined)[]> {
    return this.apply(ops);
  }

  async changes(sinceRevision: number, opts: FeedOptions & { limit?: number } = {}): Promise<Change[]> {
    this.open();
    checkLimit(opts.limit);
    return this.readLog(sinceRevision, opts.limit ?? Infinity, opts.collections).changes;
  }

  watch(
    sinceRevision: number,
    onChange: (change: Change) => void | Promise<void>,
    onError?: (err: Error) => void,
    opts?: FeedOptions,
  ): Unsubscribe {
    return this.feed.watch(sinceRevision, onChange, onError, opts);
  }

  async revision(): Promise<number> {
    this.open();
    return this.head;
  }

  async snapshot(opts: FeedOptions = {}): Promise<Snapshot> {
    this.open();
    const names = opts.collections ? [...opts.collections] : [...this.docs.keys()];
    names.forEach(checkCollection);
    return { revision: this.head, entries: [...new Set(names)].sort().flatMap((c) => this.entries(c)) };
  }

  async compact(keepAfterRevision: number): Promise<void> {
    this.open();
    checkSince(keepAfterRevision, this.head, 0);
    if (keepAfterRevision <= this.compactedThrough) return;
    this.log = this.log.slice(keepAfterRevision - this.compactedThrough);
    this.compactedThrough = keepAfterRevision;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.feed.close();
  }

  private open(): void {
    if (this.closed) throw storeError('ERR_STORE_CLOSED', 'the state store was closed');
  }

  private entries(collection: string): Entry[] {
    const docs = this.docs.get(collection);
    if (!docs) return [];
    return [...docs.keys()]
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((key) => {
        const doc = docs.get(key) as Doc;
        return { collection, key, value: JSON.parse(doc.text) as unknown, revision: doc.revision };
      });
  }

  private readLog(since: number, limit: number, collections: readonly string[] | undefined): FeedPage {
    checkSince(since, this.head, this.compactedThrough);
    const wanted = collections && new Set(collections);
    const changes: Change[] = [];
    for (let i = since - this.compactedThrough; i < this.log.length; i++) {
      const c = this.log[i] as LoggedChange;
      if (wanted && !wanted.has(c.collection)) continue;
      const { revision, collection, key, text } = c;
      changes.push(text === undefined ? { op: 'delete', revision, collection, key } : { op: 'put', revision, collection, key, value: JSON.parse(text) });
      if (changes.length >= limit) return { changes, through: revision };
    }
    return { changes, through: this.head };
  }

  /** All ops or none: stage every op against the staged view first, then commit in one step. */
  private apply(ops: readonly Op[]): (number | undefined)[] {
    this.open();
    const texts = checkOps(ops);
    const staged = new Map<string, LoggedChange>();
    const results: (number | undefined)[] = [];
    const pending: LoggedChange[] = [];
    let revision = this.head;
    ops.forEach((o, i) => {
      const id = `${o.collection}/${o.key}`;
      const prior = staged.get(id);
      const current = prior ? (prior.text === undefined ? undefined : prior.revision) : this.docs.get(o.collection)?.get(o.key)?.revision;
      if (o.expectRevision !== undefined && o.expectRevision !== (current ?? 0)) {
        throw conflict(o.collection, o.key, o.expectRevision, current ?? 0);
      }
      if (o.op === 'delete' && current === undefined) {
        results.push(undefined);
        return;
      }
      revision += 1;
      const change = { revision, collection: o.collection, key: o.key, text: o.op === 'put' ? texts[i] : undefined };
      staged.set(id, change);
      pending.push(change);
      results.push(revision);
    });
    for (const c of pending) {
      let docs = this.docs.get(c.collection);
      if (!docs) this.docs.set(c.collection, (docs = new Map<string, Doc>()));
      if (c.text === undefined) docs.delete(c.key);
      else docs.set(c.key, { text: c.text, revision: c.revision });
      if (docs.size === 0) this.docs.delete(c.collection);
      this.log.push(c);
    }
    this.head = revision;
    if (pending.length > 0) this.feed.notify();
    return results;
  }
}
