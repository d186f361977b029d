/**
 * The change feed for agents, over plain HTTP: a snapshot, then long polls from its revision.
 * `GET /v1/watch?since=REV` answers as soon as a change after REV exists (or empty after `timeout`
 * seconds); the answer's `revision` is where the next poll starts. History compacted away (or a
 * revision the store never issued) is 410: take a new snapshot. `secrets` is never on the feed.
 */
import { DEFAULT_WATCH_TIMEOUT_S, FEED_COLLECTIONS, MAX_WATCH_TIMEOUT_S, type FeedChange } from '../../contract/index.js';
import type { Principal } from '../auth/index.js';
import { describeError } from '../../shared/index.js';
import { KEYED_COLLECTIONS, type CertificateDoc, type ChallengeDoc } from '../../contract/index.js';
import { openCertificateKey, openChallengeKey } from '../certs/index.js';
import type { Change, StateStore } from '../store/index.js';
import type { z } from 'zod';
import { HttpError, json, route, type ApiResponse, type Route } from './http.js';
import { SnapshotQuery, WatchQuery, type ApiContext } from './schemas.js';

/** Changes per answer; a client far behind polls again from the answer's revision. */
const PAGE = 1000;

export function feedRoutes(ctx: ApiContext): Route[] {
  const { store } = ctx;
  /**
   * A certificate's key is opened for the hosts, and only for them, and only over TLS (nothing between
   * hosts travels in plaintext); everyone else gets the certificate without it.
   */
  const keysFor = (principal: Principal): boolean => principal.kind === 'host' && ctx.tlsFingerprint !== undefined;
  const present = (collection: string, value: unknown, principal: Principal): unknown => {
    if (!(KEYED_COLLECTIONS as readonly string[]).includes(collection) || value === null || typeof value !== 'object') return value;
    const { key_sealed: sealed, ...doc } = value as { key_sealed?: string; hostname?: string; type?: string };
    if (sealed === undefined || !keysFor(principal)) return doc;
    try {
      const key_pem = collection === 'certificates' ? openCertificateKey(ctx.secretsKey, value as CertificateDoc) : openChallengeKey(ctx.secretsKey, value as Extract<ChallengeDoc, { type: 'tls-alpn-01' }>);
      return { ...doc, key_pem };
    } catch (e) {
      ctx.logger.error('a key does not open with this control plane\'s key; sent without it', { collection, hostname: doc.hostname, error: describeError(e) });
      return doc;
    }
  };

  return [
    route({
      method: 'GET',
      path: '/v1/watch',
      access: 'feed',
      summary: 'Long poll for changes after `since` (apps, releases, machines, hosts)',
      querySchema: WatchQuery,
      responses: {
        '200': '{ revision, changes: [{ revision, collection, key, op, value }] }',
        '400': 'bad query (e.g. the secrets collection)',
        '410': 'ERR_STORE_COMPACTED or ERR_STORE_FUTURE_REVISION: resync from /v1/snapshot',
      },
      async handler({ query, signal, principal }) {
        const collections = parseCollections(query.collections);
        const host = feedHost(principal, query.host);
        const leave = host === undefined ? undefined : ctx.hostHealth?.enter(host);
        // A host polls from where its view is: a receipt for every change up to `since`.
        if (principal.kind === 'host') ctx.feedProgress?.record(principal.host, Number(query.since ?? '0'));
        try {
          return await watch(query, collections, signal, principal);
        } finally {
          leave?.();
        }
      },
    }),
    route({
      method: 'GET',
      path: '/v1/snapshot',
      access: 'feed',
      summary: 'Current documents (apps, releases, machines, hosts) and the revision they reflect',
      querySchema: SnapshotQuery,
      responses: { '200': '{ revision, documents: [{ collection, key, revision, value }] }', '400': 'bad query' },
      async handler({ query, principal }) {
        const host = feedHost(principal, query.host);
        if (host !== undefined) ctx.hostHealth?.seen(host);
        return snapshot(query, principal);
      },
    }),
  ];

  async function watch(query: z.output<typeof WatchQuery>, collections: string[], signal: AbortSignal, principal: Principal): Promise<ApiResponse> {
    const since = Number(query.since ?? '0');
    const timeout = Number(query.timeout ?? DEFAULT_WATCH_TIMEOUT_S);
    if (timeout > MAX_WATCH_TIMEOUT_S) {
      throw new HttpError(400, 'ERR_BAD_REQUEST', `timeout is at most ${MAX_WATCH_TIMEOUT_S} seconds, got ${timeout}`);
    }
    const shown = (p: { revision: number; changes: FeedChange[] }) => ({ ...p, changes: p.changes.map((c) => ({ ...c, value: present(c.collection, c.value, principal) })) });
    const first = await poll(store, since, collections);
    if (first.changes.length > 0 || timeout === 0) return json(200, shown(first));
    await waitForChange(ctx, first.revision, collections, timeout * 1000, signal);
    return json(200, shown(await poll(store, first.revision, collections)));
  }

  async function snapshot(query: z.output<typeof SnapshotQuery>, principal: Principal): Promise<ApiResponse> {
    const snap = await store.snapshot({ collections: parseCollections(query.collections) });
    const documents = snap.entries.map((e) => ({ collection: e.collection, key: e.key, revision: e.revision, value: present(e.collection, e.value, principal) }));
    return json(200, { revision: snap.revision, documents });
  }
}

/** The host a feed read keeps alive: a host's own (it may not speak for another); the operator may name one. */
function feedHost(principal: Principal, named: string | undefined): string | undefined {
  if (principal.kind !== 'host') return named;
  if (named !== undefined && named !== principal.host) throw new HttpError(403, 'ERR_FORBIDDEN', `host ${principal.host} cannot hold the feed for host ${named}`);
  return principal.host;
}

/** `apps,hosts` → the list; every bad name reported at once. */
function parseCollections(text: string | undefined): string[] {
  if (text === undefined || text === '') return [...FEED_COLLECTIONS];
  const names = text.split(',').map((s) => s.trim());
  const bad = names.filter((n) => !(FEED_COLLECTIONS as readonly string[]).includes(n));
  if (bad.length > 0) {
    const details = bad.map((n) => ({
      path: 'collections',
      message: n === 'secrets' ? 'the secrets collection is never on the feed' : `unknown collection ${JSON.stringify(n)}`,
    }));
    throw new HttpError(400, 'ERR_BAD_REQUEST', `invalid query: ${details.map((d) => d.message).join('; ')}; use ${FEED_COLLECTIONS.join(', ')}`, details);
  }
  return [...new Set(names)];
}

/** Changes after `since`, and the revision the next poll starts from (past filtered-out changes too). */
async function poll(store: StateStore, since: number, collections: string[]): Promise<{ revision: number; changes: FeedChange[] }> {
  // The head is read first: every matching change up to it is in `changes` unless the page is full.
  const head = await store.revision();
  const changes = await store.changes(since, { collections, limit: PAGE });
  const last = changes.at(-1)?.revision ?? since;
  return { revision: changes.length === PAGE ? last : Math.max(head, last, since), changes: changes.map(toFeed) };
}

function toFeed(c: Change): FeedChange {
  return { revision: c.revision, collection: c.collection, key: c.key, op: c.op, value: c.op === 'put' ? c.value : null };
}

/** Resolves on the first change after `since`, on timeout, on a watch error or when the client goes. */
function waitForChange(ctx: ApiContext, since: number, collections: string[], ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      unsubscribe();
      timer.cancel();
      signal.removeEventListener('abort', finish);
      resolve();
    };
    // A watch error (compaction meanwhile, store closed) ends the wait; the next poll reports it.
    const unsubscribe = ctx.store.watch(since, () => queueMicrotask(finish), () => queueMicrotask(finish), { collections });
    const timer = ctx.clock.setTimeout(finish, ms);
    if (signal.aborted) queueMicrotask(finish);
    else signal.addEventListener('abort', finish);
  });
}
