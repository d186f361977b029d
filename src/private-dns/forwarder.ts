/**
 * Names outside `internal.` go to one upstream resolver over UDP, as they came: the client's query
 * bytes under a fresh random id, from a fresh socket (a random source port), so that an off-path
 * forger has to guess both (RFC 5452 §9). The upstream's reply goes back byte for byte under the
 * client's id; its records are not looked at, so EDNS, DNSSEC bits and whatever the client asked
 * for pass through. No reply within the timeout (the injected clock's) → SERVFAIL.
 *
 * Limits: UDP only. A reply the upstream truncated reaches the client truncated (over TCP too, where
 * a client then gives up); the upstream is an IP literal, never a name (resolving it would need a
 * resolver: possibly this one).
 */
import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { describeError, parseIp, type Clock, type Logger, type TimerHandle } from '../shared/index.js';
import { servfail } from './message.js';

export interface Upstream {
  /** An IP literal. */
  host: string;
  port: number;
}

/**
 * How long an upstream has to answer. Below the 5 s a stub resolver waits by default (glibc's
 * `timeout:5`, dig's +time=5), so the client gets a SERVFAIL rather than nothing at all.
 */
export const FORWARD_TIMEOUT_MS = 3000;
/** Forwarded queries in flight at once (each holds a socket); more are answered SERVFAIL. */
export const MAX_FORWARDS = 256;

interface Pending {
  socket: dgram.Socket;
  timer: TimerHandle;
}

export class Forwarder {
  private readonly pending = new Set<Pending>();
  private readonly upstreamIp: string;

  constructor(
    private readonly upstream: Upstream,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly timeoutMs = FORWARD_TIMEOUT_MS,
  ) {
    this.upstreamIp = parseIp(upstream.host)?.text ?? upstream.host;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends `query` upstream; `deliver` gets the reply (or a SERVFAIL) exactly once, unless closed first. */
  forward(query: Buffer, deliver: (reply: Buffer) => void): void {
    if (this.pending.size >= MAX_FORWARDS) return deliver(servfail(query));
    const clientId = query.readUInt16BE(0);
    const id = randomInt(0, 0x10000);
    const out = Buffer.from(query);
    out.writeUInt16BE(id, 0);
    const socket = dgram.createSocket(parseIp(this.upstream.host)?.family === 6 ? 'udp6' : 'udp4');
    const done = (reply: Buffer | undefined, why?: string): void => {
      if (!this.pending.delete(p)) return;
      p.timer.cancel();
      socket.close();
      if (reply === undefined) this.logger.warn('upstream did not answer', { upstream: `${this.upstream.host}:${this.upstream.port}`, why });
      deliver(reply ?? servfail(query));
    };
    const p: Pending = { socket, timer: this.clock.setTimeout(() => done(undefined, 'timeout'), this.timeoutMs) };
    this.pending.add(p);
    socket.on('message', (reply, from) => {
      // Only the upstream's own answer to this id: anything else on the port is ignored.
      if (from.port !== this.upstream.port || (parseIp(from.address)?.text ?? from.address) !== this.upstreamIp) return;
      if (reply.length < 12 || reply.readUInt16BE(0) !== id || (reply.readUInt16BE(2) & 0x8000) === 0) return;
      const back = Buffer.from(reply);
      back.writeUInt16BE(clientId, 0);
      done(back);
    });
    socket.on('error', (e) => done(undefined, describeError(e)));
    socket.send(out, this.upstream.port, this.upstream.host, (e) => {
      if (e) done(undefined, describeError(e));
    });
  }

  /** Drops every query in flight: their clients get nothing (the server is going away). */
  close(): void {
    for (const p of this.pending) {
      p.timer.cancel();
      p.socket.close();
    }
    this.pending.clear();
  }
}
