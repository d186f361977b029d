/**
 * How far each host's view of the feed has come. An agent polls `/v1/watch?since=R` once its view
 * holds every change up to R, so the `since` of a host's poll is a receipt: it has applied R. The
 * certificate manager uses it to put an ACME challenge answer on every PoP before the CA is asked
 * to validate (docs/certificates.md): the CA may reach any of them.
 */
import type { Clock } from '../../shared/index.js';

interface Waiter {
  revision: number;
  hosts: ReadonlySet<string>;
  done: () => void;
}

export class FeedProgress {
  private readonly reached = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();

  /** A host polls from `since`: its view holds every change up to it. */
  record(host: string, since: number): void {
    if (since <= (this.reached.get(host) ?? -1)) return;
    this.reached.set(host, since);
    for (const w of [...this.waiters]) if (this.lagging(w.revision, w.hosts).length === 0) w.done();
  }

  /** The hosts among `hosts` whose view is behind `revision`. */
  lagging(revision: number, hosts: Iterable<string>): string[] {
    return [...hosts].filter((h) => (this.reached.get(h) ?? -1) < revision);
  }

  /**
   * Resolves once every one of `hosts` has applied `revision`, or after `timeoutMs`; answers the
   * hosts still behind then (empty: all there).
   */
  async waitFor(revision: number, hosts: Iterable<string>, timeoutMs: number, clock: Clock): Promise<string[]> {
    const set = new Set(hosts);
    if (this.lagging(revision, set).length === 0) return [];
    await new Promise<void>((resolve) => {
      const w: Waiter = {
        revision,
        hosts: set,
        done: () => {
          this.waiters.delete(w);
          timer.cancel();
          resolve();
        },
      };
      const timer = clock.setTimeout(() => w.done(), timeoutMs);
      this.waiters.add(w);
    });
    return this.lagging(revision, set);
  }
}
