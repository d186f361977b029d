import net from 'node:net';
import type { Clock } from '../../shared/index.js';

/**
 * Keep-alive connections to machines, per address:port. Idle sockets are reused last-in first-out
 * (the warmest one), closed after `idleTimeoutMs` — shorter than common servers' own keep-alive
 * (node's http server: 5 s) so the machine is not the one to close a socket we are about to use —
 * and dropped the moment the machine closes them.
 */
export interface PoolOptions {
  clock: Clock;
  idleTimeoutMs?: number;
  maxIdlePerTarget?: number;
  connectTimeoutMs?: number;
}

/** Whoever is using an upstream connection right now receives its events. */
export interface UpstreamOwner {
  onUpstreamData(chunk: Buffer): void;
  onUpstreamEnd(): void;
  onUpstreamClose(err: Error | undefined): void;
  onUpstreamDrain(): void;
}

/**
 * The bytes' way to a machine as an exchange writes, pauses and drops it: a connection's socket,
 * or the statics file source (core/static-source.ts), which answers as a file server would.
 */
export interface UpstreamBytes {
  write(data: string | Buffer, encoding?: BufferEncoding): boolean;
  cork(): void;
  uncork(): void;
  readonly writableNeedDrain: boolean;
  pause(): unknown;
  resume(): unknown;
  isPaused(): boolean;
  destroy(): unknown;
}

/** What an exchange holds while a machine answers it; only an UpstreamConn goes back to the pool. */
export interface Upstream {
  owner: UpstreamOwner | undefined;
  readonly reused: boolean;
  readonly socket: UpstreamBytes;
}

/**
 * One connection to a machine. Its socket listeners are set once, for its whole life, and forward to
 * the current owner: no listener churn per request on the hot path.
 */
export class UpstreamConn implements Upstream {
  owner: UpstreamOwner | undefined;
  /** Set when the connection came from the idle list (it may have been closed by the peer meanwhile). */
  reused = false;
  idleSince = 0;
  private closedErr: Error | undefined;

  constructor(
    readonly socket: net.Socket,
    readonly key: string,
  ) {
    // The socket is read by `onread` into the shared buffer (see acquire): bytes arrive through bytes().
    socket.on('end', () => {
      if (this.owner) this.owner.onUpstreamEnd();
      else socket.destroy();
    });
    socket.on('drain', () => this.owner?.onUpstreamDrain());
    socket.on('error', (err) => {
      this.closedErr = err;
    });
    socket.on('close', () => {
      const o = this.owner;
      this.owner = undefined;
      o?.onUpstreamClose(this.closedErr);
    });
  }

  /** Bytes read from the machine (a copy: the read buffer is shared by every connection). */
  bytes(chunk: Buffer): void {
    // Bytes from an idle machine belong to no request: the connection cannot be trusted any more.
    if (this.owner) this.owner.onUpstreamData(chunk);
    else this.socket.destroy();
  }

  get usable(): boolean {
    return !this.socket.destroyed && this.socket.readyState === 'open';
  }
}

/** Who asked for a connection: told once, with the connection or why there is none. */
export interface UpstreamWaiter {
  onUpstreamConnect(err: Error | undefined, up: Upstream | undefined): void;
}

/** Where every upstream socket reads into (onread); a read is copied out before the next one. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export class UpstreamPool {
  private readonly idle = new Map<string, UpstreamConn[]>();
  private readonly clock: Clock;
  private readonly idleTimeoutMs: number;
  private readonly maxIdle: number;
  private readonly connectTimeoutMs: number;
  private idleCount = 0;

  constructor(opts: PoolOptions) {
    this.clock = opts.clock;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 4000;
    this.maxIdle = opts.maxIdlePerTarget ?? 256;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  }

  /**
   * An idle connection to host:port, or a new one; `who` is told exactly once — at once when an idle
   * connection is taken (no closure per request on the hot path), later for a new one.
   */
  acquire(host: string, port: number, who: UpstreamWaiter): void {
    const key = `${host}:${port}`;
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const up = list.pop()!;
      this.idleCount--;
      if (!up.usable) continue;
      up.reused = true;
      who.onUpstreamConnect(undefined, up);
      return;
    }
    let conn: UpstreamConn | undefined;
    // `onread` into one shared buffer instead of 'data' events: no stream machinery and no 64 KiB
    // allocation per read; each read is copied out at its size (the exchange may keep it).
    const socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array) => {
          conn?.bytes(Buffer.from(buf.subarray(0, n)));
          return true;
        },
      },
    });
    let done = false;
    const finish = (err: Error | undefined): void => {
      if (done) return;
      done = true;
      timer.cancel();
      socket.removeListener('error', finish);
      if (err) {
        socket.destroy();
        who.onUpstreamConnect(err, undefined);
      } else {
        conn = new UpstreamConn(socket, key);
        who.onUpstreamConnect(undefined, conn);
      }
    };
    const timer = this.clock.setTimeout(
      () => finish(Object.assign(new Error(`connect to ${key} timed out`), { code: 'ETIMEDOUT' })),
      this.connectTimeoutMs,
    );
    socket.once('connect', () => finish(undefined));
    socket.on('error', finish);
  }

  /** Takes back a connection whose exchange finished cleanly; closes it if the pool is full. */
  release(up: UpstreamConn): void {
    up.owner = undefined;
    if (!up.usable) {
      up.socket.destroy();
      return;
    }
    let list = this.idle.get(up.key);
    if (!list) {
      list = [];
      this.idle.set(up.key, list);
    }
    if (list.length >= this.maxIdle) {
      up.socket.destroy();
      return;
    }
    up.idleSince = this.clock.monotonic();
    list.push(up);
    this.idleCount++;
  }

  /** Closes connections idle for longer than the idle timeout (called by the proxy's sweep). */
  sweep(): void {
    const limit = this.clock.monotonic() - this.idleTimeoutMs;
    for (const [key, list] of this.idle) {
      const keep = list.filter((up) => {
        const alive = up.usable && up.idleSince > limit;
        if (!alive) up.socket.destroy();
        return alive;
      });
      this.idleCount -= list.length - keep.length;
      if (keep.length === 0) this.idle.delete(key);
      else this.idle.set(key, keep);
    }
  }

  idleConnections(): number {
    return this.idleCount;
  }

  closeAll(): void {
    for (const list of this.idle.values()) for (const up of list) up.socket.destroy();
    this.idle.clear();
    this.idleCount = 0;
  }
}
