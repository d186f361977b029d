/**
 * Watchers for the in-process stores (SQLite, memory). The change log is the only source a watcher
 * reads from: each watcher keeps a cursor (the last revision it has passed) and pages through the
 * log from there. The commit path only calls `notify()`, which wakes the watchers. That is why
 * there are no gaps and no duplicates, even for changes committed while subscribing: there is no
 * second, in-memory copy of the feed that could disagree with the log.
 */
import diagnostics from 'node:diagnostics_channel';
import { describeError } from '../../shared/index.js';
import { storeError, type Change, type FeedOptions, type Unsubscribe } from './types.js';

/** Events: { type: 'watch-error', error: string } for watches that had no onError. */
export const storeChannel = diagnostics.channel('starling:store');

export interface FeedPage {
  changes: Change[];
  /**
   * Every change up to this revision has been looked at (the filter may have skipped some): the
   * last change returned when the page is full, else the head of the log.
   */
  through: number;
}

/** A consistent, synchronous read of the log; throws ERR_STORE_COMPACTED / ERR_STORE_FUTURE_REVISION. */
export type FeedReader = (sinceRevision: number, limit: number, collections: readonly string[] | undefined) => FeedPage;

interface Watcher {
  active: boolean;
  /** Set by notify(): something was committed after this watcher's last read. */
  dirty: boolean;
  wake: (() => void) | undefined;
}

/** Changes read per page, so a watcher far behind does not pull the whole log into memory at once. */
const PAGE = 500;

export class ChangeFeed {
  private readonly watchers = new Set<Watcher>();
  private closed = false;

  constructor(private readonly read: FeedReader) {}

  watch(
    sinceRevision: number,
    onChange: (change: Change) => void | Promise<void>,
    onError: ((err: Error) => void) | undefined,
    opts: FeedOptions = {},
  ): Unsubscribe {
    const w: Watcher = { active: true, dirty: true, wake: undefined };
    this.watchers.add(w);
    const collections = opts.collections ? [...opts.collections] : undefined;
    // Start after the caller has the unsubscribe function; the log catches up on anything meanwhile.
    queueMicrotask(() => void this.pump(w, sinceRevision, onChange, onError, collections));
    return () => {
      w.active = false;
      this.watchers.delete(w);
      w.wake?.();
    };
  }

  /** Called from the commit path, after the commit: wakes every watcher to read the new changes. */
  notify(): void {
    for (const w of this.watchers) {
      w.dirty = true;
      const wake = w.wake;
      w.wake = undefined;
      wake?.();
    }
  }

  /** Ends every watch with ERR_STORE_CLOSED (after the change it is delivering, if any). */
  close(): void {
    this.closed = true;
    this.notify();
  }

  private async pump(
    w: Watcher,
    since: number,
    onChange: (change: Change) => void | Promise<void>,
    onError: ((err: Error) => void) | undefined,
    collections: readonly string[] | undefined,
  ): Promise<void> {
    let cursor = since;
    try {
      for (;;) {
        if (!w.active) return;
        if (this.closed) throw storeError('ERR_STORE_CLOSED', 'the state store was closed');
        if (!w.dirty) {
          await new Promise<void>((resolve) => (w.wake = resolve));
          continue;
        }
        w.dirty = false;
        const page = this.read(cursor, PAGE, collections);
        for (const change of page.changes) {
          if (!w.active) return;
          await onChange(change);
          cursor = change.revision;
        }
        cursor = Math.max(cursor, page.through);
        // A full page means there may be more already committed: read again without waiting.
        if (page.changes.length === PAGE) w.dirty = true;
      }
    } catch (e) {
      this.watchers.delete(w);
      if (!w.active) return;
      w.active = false;
      const err = e instanceof Error ? e : new Error(String(e));
      try {
        if (onError) onError(err);
        else if (storeChannel.hasSubscribers) storeChannel.publish({ type: 'watch-error', error: describeError(err) });
      } catch (thrown) {
        // A throwing onError must not become an unhandled rejection in the store's process.
        if (storeChannel.hasSubscribers) storeChannel.publish({ type: 'watch-error', error: describeError(thrown) });
      }
    }
  }
}
