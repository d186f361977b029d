/**
 * The private DNS server: UDP and TCP on one address (fly's is fdaa::3 port 53), a thin adapter
 * around handleQuery (message.ts). A datagram that does not parse is dropped; a TCP connection
 * that sends one is closed; neither ever reaches the process's uncaught-exception handler.
 *
 * TCP (RFC 7766): several queries per connection, answered as each is ready (a forwarded one may
 * overtake none or be overtaken: §7 allows replies out of order); a connection with nothing to say
 * for TCP_IDLE_MS is closed, as is the newest over MAX_TCP_CONNECTIONS.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { describeError, listenOn, parseIp, StarlingError, type Clock, type Logger, type RttTable, type TimerHandle } from '../shared/index.js';
import { Forwarder, type Upstream } from './forwarder.js';
import { handleQuery, type Decision, type Transport } from './message.js';
import { frame, FrameReader } from './tcp-frames.js';
import type { DnsAsker, DnsView } from './view.js';

/** RFC 7766 §6.2.3 asks for an idle timeout of "at least a few seconds"; named's default is 30 s. */
export const TCP_IDLE_MS = 10_000;
export const MAX_TCP_CONNECTIONS = 256;
/** Attempts at a port free for both UDP and TCP when asked for port 0. */
const PORT_ATTEMPTS = 20;

export interface PrivateDnsOptions {
  listen: { host: string; port: number };
  /** The platform as it is now; called once per `.internal` question. */
  view: () => DnsView;
  /** The machine behind a source address, or undefined for one that is no machine of this host. */
  askerOf: (remoteAddress: string) => DnsAsker | undefined;
  /** Where names outside `internal.` go; without one they are REFUSED. */
  upstream?: Upstream | undefined;
  clock: Clock;
  logger: Logger;
  rtt?: RttTable | undefined;
  forwardTimeoutMs?: number | undefined;
  tcpIdleMs?: number | undefined;
}

export interface PrivateDns {
  /** Where it listens (the port bound, when 0 was asked for). */
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** A v4 client of a dual-stack socket shows as ::ffff:a.b.c.d: askerOf gets the plain a.b.c.d. */
function plainAddress(a: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(a) ? a.slice(7) : a;
}

function checkUpstream(u: Upstream | undefined): void {
  if (u === undefined) return;
  if (parseIp(u.host) === undefined || !Number.isInteger(u.port) || u.port < 1 || u.port > 65_535) {
    throw new StarlingError('ERR_PRIVATE_DNS_UPSTREAM', `private DNS upstream ${u.host}:${u.port} is not an IP address and a port 1..65535`, {
      fault: 'user',
      hint: 'give the upstream resolver as an IP literal (a name would need a resolver to find it)',
    });
  }
}

async function bindBoth(host: string, port: number): Promise<{ udp: dgram.Socket; tcp: net.Server; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const udp = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
    const tcp = net.createServer({ allowHalfOpen: true });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(port, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      const bound = udp.address().port;
      await listenOn(tcp, host, bound);
      return { udp, tcp, port: bound };
    } catch (e) {
      try {
        udp.close();
      } catch {
        // already closed by the failed bind
      }
      tcp.close();
      const inUse = (e as NodeJS.ErrnoException).code === 'EADDRINUSE';
      // Port 0 gave a UDP port whose TCP twin is taken: try another.
      if (port === 0 && inUse && attempt < PORT_ATTEMPTS) continue;
      throw new StarlingError('ERR_LISTEN', `private DNS cannot listen on ${host}:${port}: ${describeError(e)}`, { cause: e });
    }
  }
}

export async function startPrivateDns(opts: PrivateDnsOptions): Promise<PrivateDns> {
  checkUpstream(opts.upstream);
  const log = opts.logger.child({ component: 'private-dns' });
  const forwarder = opts.upstream && new Forwarder(opts.upstream, opts.clock, log, opts.forwardTimeoutMs);
  const idleMs = opts.tcpIdleMs ?? TCP_IDLE_MS;
  const { udp, tcp, port } = await bindBoth(opts.listen.host, opts.listen.port);
  const connections = new Set<net.Socket>();

  const decide = (msg: Buffer, from: string, transport: Transport): Decision => {
    let asker: DnsAsker | undefined;
    try {
      asker = opts.askerOf(plainAddress(from));
    } catch (e) {
      log.warn('askerOf failed', { from, error: describeError(e) });
    }
    const d = handleQuery(msg, { view: opts.view, asker, transport, forwarding: forwarder !== undefined, rtt: opts.rtt });
    if (d.kind === 'drop') log.debug('query dropped', { from, transport, reason: d.reason });
    else if (d.kind === 'reply' && d.error !== undefined) log.warn('answered SERVFAIL', { from, error: describeError(d.error) });
    return d;
  };

  udp.on('message', (msg, rinfo) => {
    const send = (bytes: Buffer): void => udp.send(bytes, rinfo.port, rinfo.address, (e) => e && log.debug('UDP reply not sent', { error: describeError(e) }));
    const d = decide(msg, rinfo.address, 'udp');
    if (d.kind === 'reply') send(d.bytes);
    else if (d.kind === 'forward') forwarder?.forward(msg, send);
  });
  udp.on('error', (e) => log.error('UDP socket failed', { error: describeError(e) }));

  tcp.on('connection', (socket) => {
    if (connections.size >= MAX_TCP_CONNECTIONS) return void socket.destroy();
    connections.add(socket);
    const from = socket.remoteAddress ?? '';
    const reader = new FrameReader();
    let idle: TimerHandle | undefined;
    const touch = (): void => {
      idle?.cancel();
      idle = opts.clock.setTimeout(() => socket.destroy(), idleMs);
    };
    // A client may half-close after its last query (RFC 7766 §6.2.4): the answers still being
    // forwarded are sent before our side closes too.
    let forwarding = 0;
    let ended = false;
    const write = (bytes: Buffer): void => {
      if (socket.destroyed || !socket.writable) return;
      socket.write(frame(bytes));
      touch();
    };
    touch();
    socket.on('data', (chunk: Buffer) => {
      touch();
      for (const msg of reader.push(chunk)) {
        const d = decide(msg, from, 'tcp');
        if (d.kind === 'drop') return void socket.destroy();
        if (d.kind === 'reply') write(d.bytes);
        else if (forwarder !== undefined) {
          forwarding++;
          forwarder.forward(msg, (bytes) => {
            forwarding--;
            write(bytes);
            if (ended && forwarding === 0) socket.end();
          });
        }
      }
    });
    socket.on('end', () => {
      ended = true;
      if (forwarding === 0) socket.end();
    });
    socket.on('error', (e) => log.debug('TCP connection failed', { from, error: describeError(e) }));
    socket.on('close', () => {
      idle?.cancel();
      connections.delete(socket);
    });
  });
  tcp.on('error', (e) => log.error('TCP listener failed', { error: describeError(e) }));

  log.info('private DNS listening', { host: opts.listen.host, port, upstream: opts.upstream ? `${opts.upstream.host}:${opts.upstream.port}` : undefined });
  return {
    address: { host: opts.listen.host, port },
    close: async () => {
      forwarder?.close();
      for (const s of connections) s.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}
