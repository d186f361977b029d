import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { StarlingError, describeError, type Clock, type Logger, type TimerHandle } from '../../shared/index.js';
import { RoutesInvalidError, parseRoutesText } from './schema.js';
import type { RoutesSpec } from './types.js';

async function readRoutesText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new StarlingError('ERR_ROUTES_READ', `cannot read routes file ${path}: ${describeError(e)}`, {
      fault: 'user',
      cause: e,
      hint: 'check the path given for the routes file and that the proxy may read it',
    });
  }
}

/** Reads and validates a routes file (TOML if it ends in `.toml`, else JSON). */
export async function loadRoutesFile(path: string): Promise<RoutesSpec> {
  return parseRoutesText(await readRoutesText(path), path);
}

export interface RoutesWatcherOptions {
  path: string;
  clock: Clock;
  logger: Logger;
  /** Quiet time after the last change event before the file is re-read. */
  debounceMs?: number;
  /** Called with each new valid spec; not called when the text is the same as last applied. */
  onChange: (spec: RoutesSpec) => void;
  /** Called when a reload fails (unreadable or invalid file); the caller keeps its old routes. */
  onError?: (err: StarlingError) => void;
}

/**
 * Keeps the routes in step with the file. The file's directory is watched, not the file: editors
 * and config tools write a temporary file and rename it into place, which replaces the inode a
 * file watch would be holding (and inotify then reports nothing more for it). Events are debounced
 * because one save is often several events (truncate, write, rename, chmod).
 *
 * A file that fails to read or validate is logged with every issue and reported to `onError`;
 * the previous routes stay in effect until a valid file appears.
 */
export class RoutesWatcher {
  private readonly path: string;
  private readonly base: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly debounceMs: number;
  private readonly onChange: (spec: RoutesSpec) => void;
  private readonly onError: ((err: StarlingError) => void) | undefined;
  private watcher: FSWatcher | undefined;
  private timer: TimerHandle | undefined;
  private lastApplied: string | undefined;
  /** Reloads run one after another, so an older read can never be applied after a newer one. */
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(opts: RoutesWatcherOptions) {
    this.path = opts.path;
    this.base = basename(opts.path);
    this.clock = opts.clock;
    this.logger = opts.logger.child({ component: 'routes-watcher', path: opts.path });
    this.debounceMs = opts.debounceMs ?? 100;
    this.onChange = opts.onChange;
    this.onError = opts.onError;
  }

  /** Starts watching. Throws ERR_ROUTES_WATCH if the file's directory cannot be watched. */
  start(): void {
    if (this.watcher) return;
    this.stopped = false;
    const dir = dirname(this.path);
    try {
      // Not persistent: the proxy's listeners keep the process alive, a watcher alone should not.
      this.watcher = watch(dir, { persistent: false }, (_event, filename) => {
        // Some platforms give no filename; then any event in the directory may be ours.
        if (filename === null || filename === this.base) this.schedule();
      });
    } catch (e) {
      throw new StarlingError('ERR_ROUTES_WATCH', `cannot watch ${dir} for changes to ${this.base}: ${describeError(e)}`, {
        fault: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'user' : 'system',
        cause: e,
      });
    }
    this.watcher.on('error', (e) => {
      const err = new StarlingError('ERR_ROUTES_WATCH', `watching ${dir} failed: ${describeError(e)}`, { cause: e });
      this.logger.error('routes watch failed; reload with SIGHUP until restarted', { error: err.message });
      this.report(err);
    });
    this.logger.debug('watching routes file', { dir });
  }

  /**
   * The first read, at start: throws on an unreadable or invalid file (the caller cannot start
   * without routes), and remembers the text so an unchanged file is not applied a second time.
   * Call it after start(), so a change made during start-up is not missed.
   */
  async loadInitial(): Promise<RoutesSpec> {
    const text = await readRoutesText(this.path);
    const spec = parseRoutesText(text, this.path);
    this.lastApplied = text;
    return spec;
  }

  /**
   * Re-reads the file now (also what SIGHUP does). Resolves true when the file is valid and in
   * effect (newly applied or unchanged), false when it was rejected. Never rejects.
   */
  reload(): Promise<boolean> {
    const run = this.chain.then(() => this.reloadNow());
    this.chain = run;
    return run;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.reload();
    }, this.debounceMs);
  }

  private async reloadNow(): Promise<boolean> {
    let text: string;
    let spec: RoutesSpec;
    try {
      text = await readRoutesText(this.path);
      if (text === this.lastApplied) {
        this.logger.debug('routes file unchanged');
        return true;
      }
      spec = parseRoutesText(text, this.path);
    } catch (e) {
      const err = e instanceof StarlingError ? e : new StarlingError('ERR_ROUTES_READ', describeError(e), { cause: e });
      const issues = err instanceof RoutesInvalidError ? err.issues : undefined;
      this.logger.error('routes file rejected; keeping the previous routes', { code: err.code, error: err.message, issues });
      this.report(err);
      return false;
    }
    if (this.stopped) return false;
    try {
      this.onChange(spec);
    } catch (e) {
      // The caller's bug, but the watcher must survive it; leaving lastApplied alone lets the
      // next event or SIGHUP try again.
      this.logger.error('applying new routes failed', { error: describeError(e) });
      return false;
    }
    this.lastApplied = text;
    const machines = spec.apps.reduce((n, a) => n + a.machines.length, 0);
    this.logger.info('routes applied', { apps: spec.apps.length, machines });
    return true;
  }

  private report(err: StarlingError): void {
    if (this.stopped || !this.onError) return;
    try {
      this.onError(err);
    } catch (e) {
      this.logger.error('routes onError callback threw', { error: describeError(e) });
    }
  }
}
