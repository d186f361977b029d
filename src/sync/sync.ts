/**
 * The agent's side of the control-plane feed (docs/control-api.md, "The feed"): a local view of
 * apps, releases, machines, machine states and hosts that survives the control plane going away.
 *
 * start() loads the persistent cache first, so the data plane has a view before the control plane
 * answers (or while it is down). Then one loop: register the host (on every (re)connect), take a
 * snapshot when there is nothing to resume from, and long-poll `/v1/watch?since=<revision>`. Each
 * batch is applied in revision order (a change at or below the view's revision is skipped, so none
 * applies twice), persisted, then announced through onChange. A 410 (history compacted, or a store
 * behind us) replaces the view with a snapshot. Connection and HTTP errors keep the view and retry
 * with exponential backoff (200 ms doubling to 10 s, up to 20 % earlier at random, through the
 * injected clock; reset on success).
 * `secrets` is never asked for nor stored.
 */
import { Backoff, StarlingError, describeError, type Clock, type Logger, type TimerHandle } from '../shared/index.js';
import { callJson } from '../http/index.js';
import { KEYED_COLLECTIONS, SYNC_COLLECTIONS, type FeedChange } from '../contract/index.js';
import { emptyView, loadSyncCache, saveSyncCache, type CacheSealer, type SyncView } from './sync-cache.js';

/** Without a sealer, keys are not cached at all: never a key in clear on disk. */
function withoutClearKeys(view: SyncView, sealer: CacheSealer | undefined): SyncView {
  if (sealer) return view;
  const docs = new Map(view.documents);
  for (const c of KEYED_COLLECTIONS) {
    const m = view.documents.get(c);
    if (m && m.size > 0) docs.set(c, new Map([...m].map(([k, v]) => [k, { ...(v as object), key_pem: undefined }])));
  }
  return { ...view, documents: docs };
}

export { SYNC_COLLECTIONS };

export type { SyncView, SyncDocuments } from './sync-cache.js';

export const SYNC_BACKOFF_INITIAL_MS = 200;
export const SYNC_BACKOFF_MAX_MS = 10_000;

export interface SyncHost {
  id: string;
  region: string;
  capacity: { machines: number; volume_gb?: number | undefined };
  agent_url: string;
  /** `IP:PORT` where other hosts' proxies reach this host's proxy. */
  proxy?: string | undefined;
  /** The secret the control plane presents to this agent's admin API (machine logs). */
  agent_secret: string;
  /** This host on the WireGuard mesh: its public key, underlay endpoint and backhaul port ([mesh] in agent.toml). */
  mesh?: { public_key: string; endpoint: string; backhaul_port: number } | undefined;
}

export interface ControlSyncOptions {
  /** The control plane's base URL, e.g. `http://10.0.0.1:9300`. */
  url: string;
  token: string;
  /** The persistent cache (JSON, written atomically, mode 0600). */
  cacheFile: string;
  /** Seals certificate keys in the cache (sync-cache.ts); without it they are not written at all. */
  sealer?: CacheSealer | undefined;
  /** A subset of SYNC_COLLECTIONS; `secrets` is refused. */
  collections?: readonly string[];
  /** Registered with `PUT /v1/hosts/{id}` on connect and again after every reconnect. */
  host?: SyncHost | undefined;
  /** The registration's answer (it carries the platform's peer key). */
  onRegistered?: ((answer: Record<string, unknown>) => void) | undefined;
  /** The fetch to use (one that checks the control plane's certificate); default the global one. */
  fetch?: typeof fetch | undefined;
  /** Seconds a watch waits on the control plane before answering empty (default 25, at most 60). */
  pollTimeoutS?: number | undefined;
  clock: Clock;
  logger: Logger;
  /** After the cache is loaded, after each applied batch and after each snapshot. Errors are logged. */
  onChange?: ((view: SyncView) => void) | undefined;
}

export interface SyncStatus {
  /** The last request to the control plane succeeded. */
  connected: boolean;
  revision: number;
  /** Why the last request failed; null once a request succeeds again. */
  lastError: { code: string; message: string; at: number } | null;
  /** Wall-clock ms of the last successful watch or snapshot; null before the first one. */
  lastSyncAt: number | null;
}

const RESYNC_CODES = ['ERR_STORE_COMPACTED', 'ERR_STORE_FUTURE_REVISION'];

export class ControlSync {
  private readonly collections: readonly string[];
  private readonly base: string;
  private current: SyncView;
  private state: SyncStatus = { connected: false, revision: 0, lastError: null, lastSyncAt: null };
  private running: Promise<void> | undefined;
  private stopped = false;
  private abort: AbortController | undefined;
  private sleeping: { timer: TimerHandle; wake: () => void } | undefined;
  private readonly backoff = new Backoff({ initialMs: SYNC_BACKOFF_INITIAL_MS, maxMs: SYNC_BACKOFF_MAX_MS });
  private loaded = false;

  private readonly o: ControlSyncOptions;

  constructor(o: ControlSyncOptions) {
    this.o = { ...o };
    this.collections = [...new Set(o.collections ?? SYNC_COLLECTIONS)];
    const bad = this.collections.filter((c) => !(SYNC_COLLECTIONS as readonly string[]).includes(c));
    if (bad.length > 0 || this.collections.length === 0) {
      throw new StarlingError('ERR_SYNC_INVALID', `cannot sync collections ${JSON.stringify(bad)}: use some of ${SYNC_COLLECTIONS.join(', ')}`, { fault: 'user' });
    }
    this.base = o.url.replace(/\/+$/, '');
    this.current = emptyView(this.collections);
  }

  /**
   * Loads the cache (resolves once the view is available), then syncs in the background. `host`
   * (when given) replaces the registration of the options: an agent knows its admin API's address
   * only once it listens, after its proxy already serves from the cached view (see load()).
   */
  async start(host?: SyncHost): Promise<void> {
    if (this.running) return;
    if (host) this.o.host = host;
    this.stopped = false;
    await this.load();
    this.running = this.loop();
  }

  /** Loads the persistent cache into the view (once; start() calls it), without any request. */
  async load(): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    try {
      const cached = await loadSyncCache(this.o.cacheFile, this.collections, this.o.sealer);
      if (cached) {
        this.current = cached;
        this.state.revision = cached.revision;
        this.o.logger.info('sync cache loaded', { revision: cached.revision, file: this.o.cacheFile });
        this.notify();
      }
    } catch (e) {
      this.o.logger.warn('sync cache unusable; starting from a snapshot', { error: describeError(e) });
    }
  }

  /** Ends the long poll and any backoff wait; resolves when the loop (and its last write) is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake();
    await this.running;
    this.running = undefined;
  }

  view(): SyncView {
    return this.current;
  }

  status(): SyncStatus {
    return { ...this.state, lastError: this.state.lastError && { ...this.state.lastError } };
  }

  private async loop(): Promise<void> {
    let register = this.o.host !== undefined;
    let resync = this.current.revision === 0;
    while (!this.stopped) {
      try {
        if (register && this.o.host) {
          const { id, ...body } = this.o.host;
          const answer = await this.request('PUT', `/v1/hosts/${encodeURIComponent(id)}`, body);
          this.o.onRegistered?.(answer as Record<string, unknown>);
          register = false;
          this.o.logger.debug('host registered with the control plane', { host: this.o.host.id });
        }
        if (resync) {
          await this.snapshot();
          resync = false;
        } else {
          await this.watch();
        }
        this.backoff.reset();
      } catch (e) {
        if (this.stopped) break;
        this.failed(e);
        if (e instanceof StarlingError && RESYNC_CODES.includes(e.code)) {
          this.o.logger.info('feed history unavailable; resyncing from a snapshot', { revision: this.current.revision, error: describeError(e) });
          resync = true;
          continue;
        }
        if (this.o.host) register = true;
        const retryMs = this.backoff.next();
        if (e instanceof StarlingError && e.code === 'ERR_UNAUTHORIZED') {
          // Not a network blip: the credential itself was refused. Keep serving, say what to do.
          this.o.logger.error('the control plane refused this host\'s credential; serving from the cached view', {
            revision: this.current.revision,
            retry_ms: retryMs,
            error: describeError(e),
            hint: 'the host may have been removed (starling hosts remove); add it again (starling hosts add) and give the agent the new join token',
          });
        } else this.o.logger.warn('control plane sync failed; serving from the cached view', { revision: this.current.revision, retry_ms: retryMs, error: describeError(e) });
        await this.sleep(retryMs);
      }
    }
  }

  private async watch(): Promise<void> {
    const since = this.current.revision;
    const q = new URLSearchParams({ since: String(since), collections: this.collections.join(','), timeout: String(this.o.pollTimeoutS ?? 25) });
    // Naming the host makes the held poll count as a sign of life (control plane: api/host-health.ts).
    if (this.o.host) q.set('host', this.o.host.id);
    const body = (await this.request('GET', `/v1/watch?${q.toString()}`)) as { revision?: unknown; changes?: unknown };
    if (typeof body.revision !== 'number' || !Array.isArray(body.changes)) throw new StarlingError('ERR_SYNC_PROTOCOL', 'watch answer without revision and changes');
    const changes = (body.changes as FeedChange[]).filter((c) => c.revision > since).sort((a, b) => a.revision - b.revision);
    const revision = Math.max(since, body.revision, changes.at(-1)?.revision ?? 0);
    if (revision === since) return;
    const docs = new Map(this.current.documents);
    const touched = new Map<string, Map<string, unknown>>();
    for (const c of changes) {
      if (!this.collections.includes(c.collection)) continue;
      let m = touched.get(c.collection);
      if (!m) touched.set(c.collection, (m = new Map(docs.get(c.collection))));
      if (c.op === 'delete') m.delete(c.key);
      else m.set(c.key, c.value);
    }
    for (const [c, m] of touched) docs.set(c, m);
    await this.publish({ revision, documents: docs }, changes.length > 0);
  }

  private async snapshot(): Promise<void> {
    const q = new URLSearchParams({ collections: this.collections.join(',') });
    if (this.o.host) q.set('host', this.o.host.id);
    const body = (await this.request('GET', `/v1/snapshot?${q.toString()}`)) as { revision?: unknown; documents?: unknown };
    if (typeof body.revision !== 'number' || !Array.isArray(body.documents)) throw new StarlingError('ERR_SYNC_PROTOCOL', 'snapshot answer without revision and documents');
    const docs = new Map(this.collections.map((c) => [c, new Map<string, unknown>()]));
    for (const d of body.documents as FeedChange[]) docs.get(d.collection)?.set(d.key, d.value);
    this.o.logger.info('sync snapshot taken', { revision: body.revision, documents: body.documents.length });
    await this.publish({ revision: body.revision, documents: docs }, true);
  }

  /**
   * Persists `view`, then makes it current, then tells onChange (when documents changed): whatever
   * view() shows is already in the cache file.
   */
  private async publish(view: SyncView, changed: boolean): Promise<void> {
    try {
      await saveSyncCache(this.o.cacheFile, withoutClearKeys(view, this.o.sealer), this.o.clock.now(), this.o.sealer);
    } catch (e) {
      // The view is still right; serve it and let the next batch try the disk again.
      this.o.logger.error('sync cache not written', { error: describeError(e) });
    }
    this.current = view;
    this.state.revision = view.revision;
    if (changed) this.notify();
  }

  private notify(): void {
    try {
      this.o.onChange?.(this.current);
    } catch (e) {
      this.o.logger.error('sync onChange failed', { error: describeError(e) });
    }
  }

  /** One JSON request with the bearer token; an error answer throws the HttpError of its envelope. */
  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const abort = (this.abort = new AbortController());
    const answer = await callJson({
      method,
      url: this.base + path,
      token: this.o.token,
      body,
      clock: this.o.clock,
      // Past the long poll's own timeout, a silent control plane counts as gone.
      timeoutMs: ((this.o.pollTimeoutS ?? 25) + 10) * 1000,
      // A snapshot holds every app, host and machine: far more room than an API answer.
      maxBytes: 256 << 20,
      fetch: this.o.fetch,
      signal: abort.signal,
      codes: { unreachable: 'ERR_CONTROL_UNREACHABLE', protocol: 'ERR_SYNC_PROTOCOL' },
      what: `${method} ${this.base}${path.split('?')[0]}`,
    });
    this.state.connected = true;
    this.state.lastError = null;
    if (!path.startsWith('/v1/hosts')) this.state.lastSyncAt = this.o.clock.now();
    return answer.body;
  }

  private failed(e: unknown): void {
    const code = e instanceof StarlingError ? e.code : 'ERR_SYNC_FAILED';
    this.state.lastError = { code, message: e instanceof Error ? e.message : String(e), at: this.o.clock.now() };
    if (!RESYNC_CODES.includes(code)) this.state.connected = false;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.sleeping = undefined;
        resolve();
      };
      this.sleeping = { timer: this.o.clock.setTimeout(wake, ms), wake };
    });
  }

  private wake(): void {
    if (!this.sleeping) return;
    this.sleeping.timer.cancel();
    this.sleeping.wake();
  }
}
