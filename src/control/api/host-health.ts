/**
 * Which hosts are alive. An agent is always talking to the control plane — registering, reporting
 * machine states, or holding a long poll on the feed (`?host=<id>`) — so a host is healthy while it
 * has a watch open or was heard from within `timeoutMs`. A sweep (on the injected clock) writes
 * each change into the host's document (`healthy`, `last_seen`), where the scheduler and deploys
 * skip it and every other agent's proxy stops routing to its machines. After a control-plane
 * start every known host gets a full `timeoutMs` to be heard from before it is marked down.
 */
import { describeError, type Clock, type Logger, type TimerHandle } from '../../shared/index.js';
import type { StateStore } from '../store/index.js';
import type { HostDoc } from '../../contract/index.js';

export const DEFAULT_HOST_TIMEOUT_MS = 75_000;

export class HostHealth {
  private readonly seenAt = new Map<string, number>();
  private readonly open = new Map<string, number>();
  private readonly startedAt: number;
  private timer: TimerHandle | undefined;
  private sweeping = false;

  constructor(
    private readonly o: { store: StateStore; clock: Clock; logger: Logger; timeoutMs: number },
  ) {
    this.startedAt = o.clock.monotonic();
  }

  /** The host spoke to the control plane just now. */
  seen(host: string): void {
    this.seenAt.set(host, this.o.clock.monotonic());
  }

  /** The host holds a long poll; call the returned function when it ends. */
  enter(host: string): () => void {
    this.seen(host);
    this.open.set(host, (this.open.get(host) ?? 0) + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.open.set(host, (this.open.get(host) ?? 1) - 1);
      this.seen(host);
    };
  }

  alive(host: string): boolean {
    if ((this.open.get(host) ?? 0) > 0) return true;
    return this.o.clock.monotonic() - (this.seenAt.get(host) ?? this.startedAt) <= this.o.timeoutMs;
  }

  start(): void {
    const every = Math.max(50, Math.min(5_000, Math.floor(this.o.timeoutMs / 3)));
    this.timer = this.o.clock.setInterval(() => void this.sweep(), every);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Writes every host whose health changed; a document changed meanwhile waits for the next sweep. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const e of await this.o.store.list('hosts')) {
        const doc = e.value as HostDoc;
        const alive = this.alive(doc.id);
        if ((doc.healthy !== false) === alive) continue;
        const at = this.seenAt.get(doc.id);
        const lastSeen = at === undefined ? (doc.last_seen ?? null) : new Date(this.o.clock.now() - (this.o.clock.monotonic() - at)).toISOString();
        await this.o.store.put('hosts', doc.id, { ...doc, healthy: alive, last_seen: lastSeen }, { expectRevision: e.revision }).then(
          () => this.o.logger[alive ? 'info' : 'warn'](alive ? 'host is back' : 'host not heard from: marked down', { host: doc.id, last_seen: lastSeen }),
          () => undefined,
        );
      }
    } catch (e) {
      this.o.logger.error('host health sweep failed', { error: describeError(e) });
    } finally {
      this.sweeping = false;
    }
  }
}
