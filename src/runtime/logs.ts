import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { describeError, silentLogger, type Clock, type Logger } from '../shared/index.js';

/**
 * A machine's stdout/stderr as log entries: a bounded in-memory ring (for `logs` and `tail`), live
 * followers, and JSON lines in `<dir>/<machineId>.log`, rotated to `.log.1` … `.log.<keepFiles>`.
 *
 * Secrets: every occurrence of a secret value is replaced by "[redacted]" before an entry exists, so
 * no secret reaches the ring, a follower or the file. Redaction works on whole lines, so a secret
 * split across two chunks is still caught; a multi-line secret (a PEM key) is redacted line by line.
 * A line longer than MAX_LINE is emitted in pieces (all but the last marked `partial`, as Docker
 * does at 16 KiB); text that could still be the start of a secret is held back from the cut.
 */
export type LogStream = 'stdout' | 'stderr';

export interface LogEntry {
  /** ISO 8601, from the injected clock. */
  time: string;
  stream: LogStream;
  message: string;
  /** Set on every piece of an over-long line except its last. */
  partial?: true;
}

export interface MachineLogsOptions {
  dir: string;
  machineId: string;
  /** Entries kept in memory. Default 1000. */
  ringLines?: number;
  /** The file is rotated before it would exceed this. Default 5 MiB. */
  maxFileBytes?: number;
  /** Rotated files kept (`.log.1` is the newest). Default 3; 0 keeps only the current file. */
  keepFiles?: number;
  clock: Clock;
  /** Secret values (not names). */
  redact: string[];
  logger?: Logger;
}

/** Longest message of one entry, in UTF-16 code units (= bytes for ASCII output). */
export const MAX_LINE = 16 * 1024;
const REDACTED = '[redacted]';
/** Lines waiting for the disk beyond this are dropped (and counted) rather than held in memory. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

interface Pending {
  decoder: StringDecoder;
  /** Already redacted, shorter than MAX_LINE: the start of a line still being received. */
  done: string;
  /** Not yet redacted: may end in the first part of a secret. Never holds a newline. */
  raw: string;
}

export class MachineLogs {
  readonly path: string;
  private readonly ringSize: number;
  private readonly maxFileBytes: number;
  private readonly keepFiles: number;
  private readonly log: Logger;
  private readonly secrets: RegExp | undefined;
  /** Text shorter than the longest secret may be the start of one: held back from cuts. */
  private readonly holdback: number;
  private readonly ring: LogEntry[] = [];
  private ringStart = 0;
  private readonly followers = new Set<(e: LogEntry) => void>();
  private readonly pending: Record<LogStream, Pending>;
  private closed = false;
  // File output: one pump drains the queue into a write stream; rotation happens between writes.
  private queue: string[] = [];
  private queuedBytes = 0;
  private dropped = 0;
  private stream: WriteStream | undefined;
  private size = 0;
  private pump: Promise<void> | undefined;
  private fileFailed = false;

  constructor(private readonly opts: MachineLogsOptions) {
    this.path = join(opts.dir, `${opts.machineId}.log`);
    this.ringSize = Math.max(1, opts.ringLines ?? 1000);
    this.maxFileBytes = Math.max(1, opts.maxFileBytes ?? 5 * 1024 * 1024);
    this.keepFiles = Math.max(0, opts.keepFiles ?? 3);
    this.log = (opts.logger ?? silentLogger).child({ component: 'machine-logs', machine: opts.machineId });
    const parts = new Set<string>();
    for (const s of opts.redact) for (const line of s.split(/\r?\n/)) if (line.length > 0) parts.add(line);
    // Longest first, so a secret that contains another is replaced whole.
    const sorted = [...parts].sort((a, b) => b.length - a.length);
    this.secrets = sorted.length > 0 ? new RegExp(sorted.map(escapeRegExp).join('|'), 'g') : undefined;
    this.holdback = Math.max(0, (sorted[0]?.length ?? 0) - 1);
    const fresh = (): Pending => ({ decoder: new StringDecoder('utf8'), done: '', raw: '' });
    this.pending = { stdout: fresh(), stderr: fresh() };
  }

  write(stream: LogStream, chunk: Buffer): void {
    if (this.closed) return;
    const p = this.pending[stream];
    p.raw += p.decoder.write(chunk);
    let nl: number;
    while ((nl = p.raw.indexOf('\n')) >= 0) {
      const line = p.done + this.redact(p.raw.slice(0, nl).replace(/\r$/, ''));
      p.done = '';
      p.raw = p.raw.slice(nl + 1);
      this.emitLine(stream, line);
    }
    // A line with no end in sight: once a full piece is settled, emit it.
    if (p.done.length + p.raw.length >= MAX_LINE + this.holdback) {
      const cut = this.safeCut(p.raw, p.raw.length - this.holdback);
      p.done += this.redact(p.raw.slice(0, cut));
      p.raw = p.raw.slice(cut);
      while (p.done.length >= MAX_LINE) {
        this.push({ time: this.now(), stream, message: p.done.slice(0, MAX_LINE), partial: true });
        p.done = p.done.slice(MAX_LINE);
      }
    }
  }

  /** The last `n` entries, oldest first. */
  tail(n = this.ringSize): LogEntry[] {
    const all = [...this.ring.slice(this.ringStart), ...this.ring.slice(0, this.ringStart)];
    return n <= 0 ? [] : all.slice(-n);
  }

  /** Calls `cb` with every new entry until the returned function is called. */
  follow(cb: (e: LogEntry) => void): () => void {
    this.followers.add(cb);
    return () => void this.followers.delete(cb);
  }

  /** Resolves once every entry so far is in the file (or the file has failed). */
  async flush(): Promise<void> {
    while (this.pump) await this.pump;
  }

  /** Emits the partial last lines, writes everything out and closes the file. Idempotent. */
  async close(): Promise<void> {
    if (!this.closed) {
      for (const stream of ['stdout', 'stderr'] as const) {
        const p = this.pending[stream];
        const rest = p.done + this.redact(p.raw + p.decoder.end());
        p.done = p.raw = '';
        if (rest.length > 0) this.emitLine(stream, rest);
      }
      this.closed = true;
      this.followers.clear();
    }
    await this.flush();
    const s = this.stream;
    this.stream = undefined;
    if (s) await endStream(s);
  }

  private redact(text: string): string {
    return this.secrets ? text.replace(this.secrets, REDACTED) : text;
  }

  /** The largest index ≤ `at` that does not fall inside an occurrence of a secret in `text`. */
  private safeCut(text: string, at: number): number {
    if (!this.secrets || at <= 0) return Math.max(0, at);
    for (const m of text.matchAll(this.secrets)) {
      const end = m.index + m[0].length;
      if (m.index >= at) break;
      if (end > at) return m.index > 0 ? m.index : end;
    }
    return at;
  }

  private emitLine(stream: LogStream, line: string): void {
    const time = this.now();
    for (let i = MAX_LINE; i < line.length; i += MAX_LINE) {
      this.push({ time, stream, message: line.slice(i - MAX_LINE, i), partial: true });
    }
    this.push({ time, stream, message: line.slice(Math.floor(Math.max(0, line.length - 1) / MAX_LINE) * MAX_LINE) });
  }

  private now(): string {
    return new Date(this.opts.clock.now()).toISOString();
  }

  private push(e: LogEntry): void {
    if (this.ring.length < this.ringSize) this.ring.push(e);
    else {
      this.ring[this.ringStart] = e;
      this.ringStart = (this.ringStart + 1) % this.ringSize;
    }
    for (const cb of this.followers) {
      try {
        cb(e);
      } catch (err) {
        this.log.warn('log follower failed', { error: describeError(err) });
      }
    }
    this.enqueue(JSON.stringify(e) + '\n');
  }

  private enqueue(line: string): void {
    if (this.fileFailed) return;
    if (this.queuedBytes + line.length > MAX_QUEUED_BYTES) {
      this.dropped++;
      return;
    }
    this.queue.push(line);
    this.queuedBytes += line.length;
    this.pump ??= this.drain().finally(() => (this.pump = undefined));
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 || this.dropped > 0) {
        if (this.queue.length === 0) {
          const note = { time: this.now(), stream: 'stderr', message: `[${this.dropped} log lines dropped: disk too slow]` };
          this.dropped = 0;
          this.queue.push(JSON.stringify(note) + '\n');
        }
        const lines = this.queue;
        this.queue = [];
        for (let i = 0; i < lines.length; ) {
          const s = this.stream ?? (await this.open());
          // Batch as many lines as fit before the next rotation.
          let batch = '';
          let bytes = 0;
          for (; i < lines.length; i++) {
            const line = lines[i] as string;
            const n = Buffer.byteLength(line);
            if (this.size + bytes + n > this.maxFileBytes && this.size + bytes > 0) break;
            batch += line;
            bytes += n;
            this.queuedBytes -= line.length;
          }
          if (bytes === 0) {
            await this.rotate(s);
            continue;
          }
          if (s.errored || s.destroyed) throw s.errored ?? new Error('log file closed');
          this.size += bytes;
          // One write in flight at a time; lines arriving meanwhile go out in the next batch.
          await new Promise<void>((resolve, reject) => s.write(batch, (err) => (err ? reject(err) : resolve())));
        }
      }
    } catch (err) {
      this.fileFailed = true;
      this.queue = [];
      this.queuedBytes = 0;
      this.log.error('machine log file failed; keeping logs in memory only', { path: this.path, error: describeError(err) });
    }
  }

  private async open(): Promise<WriteStream> {
    await mkdir(this.opts.dir, { recursive: true });
    this.size = await stat(this.path).then((st) => st.size, () => 0);
    const s = createWriteStream(this.path, { flags: 'a' });
    s.on('error', (err) => this.log.warn('machine log write failed', { error: describeError(err) }));
    this.stream = s;
    return s;
  }

  /** Closes the current file and shifts `.log` → `.log.1` → … → `.log.<keepFiles>` (the oldest is overwritten). */
  private async rotate(s: WriteStream): Promise<void> {
    this.stream = undefined;
    await endStream(s);
    const p = this.path;
    for (let i = this.keepFiles - 1; i >= 1; i--) await rename(`${p}.${i}`, `${p}.${i + 1}`).catch(ignoreMissing);
    if (this.keepFiles > 0) await rename(p, `${p}.1`).catch(ignoreMissing);
    else await rm(p, { force: true });
    this.size = 0;
  }
}

function endStream(s: WriteStream): Promise<void> {
  return new Promise((resolve) => s.end(() => resolve()));
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
