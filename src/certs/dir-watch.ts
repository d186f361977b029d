/**
 * Notices changes to a few directories made by this process or by any other (several PoPs may
 * share one certificate directory, possibly over a network file system).
 *
 * Two paths, because neither is enough alone: fs.watch reports local changes within milliseconds
 * but says nothing about writes made on another host of a network file system, and can fail or
 * drop events; a poll every `pollMs` compares a fingerprint of the entries (name, inode, size,
 * mtime) and catches whatever the kernel did not report. Both only *schedule* a check; a check
 * notifies only when the fingerprint changed, so a burst of events is one notification.
 */
import { createHash } from 'node:crypto';
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError, type Clock, type Logger, type TimerHandle } from '../shared/index.js';
import { isTempName, mapLimit } from './fs-util.js';

export interface DirWatcherOptions {
  dirs: string[];
  clock: Clock;
  logger: Logger;
  pollMs: number;
  /** Quiet time after a file event before the directories are scanned. */
  debounceMs: number;
}

export class DirWatcher {
  private readonly listeners = new Set<() => void>();
  private watchers: FSWatcher[] = [];
  private poll: TimerHandle | undefined;
  private debounce: TimerHandle | undefined;
  private last: string | undefined;
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly opts: DirWatcherOptions) {}

  /** Calls `fn` after each change seen from now on; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void {
    const listener = (): void => fn();
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.start();
    return () => {
      if (this.listeners.delete(listener) && this.listeners.size === 0) this.stop();
    };
  }

  /** This process just changed something: check soon rather than wait for the kernel or the poll. */
  kick(): void {
    if (this.listeners.size > 0) this.schedule();
  }

  private start(): void {
    // The baseline is taken synchronously, so any change that lands after watch() returns
    // differs from it (an async baseline could already include a change and then hide it).
    this.last = this.fingerprintSync();
    for (const dir of this.opts.dirs) {
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (name === null || !isTempName(name)) this.schedule();
        });
        w.on('error', (e) => {
          this.opts.logger.warn('certificate directory watch failed; relying on polling', { dir, error: describeError(e) });
          w.close();
          this.watchers = this.watchers.filter((x) => x !== w);
        });
        this.watchers.push(w);
      } catch (e) {
        this.opts.logger.warn('cannot watch certificate directory; relying on polling', { dir, error: describeError(e) });
      }
    }
    this.poll = this.opts.clock.setInterval(() => this.check(), this.opts.pollMs);
  }

  private stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    this.poll?.cancel();
    this.poll = undefined;
    this.debounce?.cancel();
    this.debounce = undefined;
    this.last = undefined;
  }

  private schedule(): void {
    this.debounce?.cancel();
    this.debounce = this.opts.clock.setTimeout(() => {
      this.debounce = undefined;
      this.check();
    }, this.opts.debounceMs);
  }

  /** One scan at a time; a check asked for during a scan runs once more after it. */
  private check(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.scanAndNotify().finally(() => {
      this.running = undefined;
      if (this.again && this.listeners.size > 0) {
        this.again = false;
        this.check();
      }
    });
  }

  private async scanAndNotify(): Promise<void> {
    let fp: string;
    try {
      fp = await this.fingerprint();
    } catch (e) {
      this.opts.logger.warn('scanning certificate directories failed', { error: describeError(e) });
      return;
    }
    if (this.listeners.size === 0 || fp === this.last) return;
    this.last = fp;
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (e) {
        this.opts.logger.error('certificate change listener threw', { error: describeError(e) });
      }
    }
  }

  private async fingerprint(): Promise<string> {
    const lines: string[] = [];
    for (const dir of this.opts.dirs) {
      const names = (await readdir(dir).catch(ignoreMissing)).filter((n) => !isTempName(n));
      const stats = await mapLimit(names, 64, (n) => stat(join(dir, n), { bigint: true }).catch(ignoreMissingStat));
      names.forEach((n, i) => {
        const s = stats[i];
        if (s) lines.push(`${dir}/${n}\0${s.ino}\0${s.size}\0${s.mtimeNs}`);
      });
    }
    return digest(lines);
  }

  private fingerprintSync(): string {
    const lines: string[] = [];
    for (const dir of this.opts.dirs) {
      let names: string[] = [];
      try {
        names = readdirSync(dir).filter((n) => !isTempName(n));
      } catch (e) {
        ignoreMissing(e);
      }
      for (const n of names) {
        const s = statSync(join(dir, n), { bigint: true, throwIfNoEntry: false });
        if (s) lines.push(`${dir}/${n}\0${s.ino}\0${s.size}\0${s.mtimeNs}`);
      }
    }
    return digest(lines);
  }
}

function digest(lines: string[]): string {
  return createHash('sha256').update(lines.sort().join('\n')).digest('hex');
}

function ignoreMissing(e: unknown): string[] {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
  throw e;
}

function ignoreMissingStat(e: unknown): undefined {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw e;
}
