/**
 * What a TCP port's handlers do with a new client connection before any machine is chosen:
 * - none, or only `proxy_proto`: nothing (the PROXY header is written when the machine connects);
 * - `tls`: TLS ends here, with the platform's certificate for the SNI name (the proxy's fallback
 *   certificate without SNI) and the port's ALPN list; the session starts once the handshake is done;
 * - `pg_tls`: PostgreSQL's SSLRequest answered (pg-ssl.ts), then TLS as above.
 * The handshake must finish within the header timeout, as an HTTP request head must.
 */
import type net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { ProxyConfig } from '../core/index.js';
import type { TcpPortSpec } from '../route-table/index.js';
import type { TlsContexts } from '../tls/front-door.js';
import { pgFatal, readPgOpening } from './pg-ssl.js';

export type Opened = { stream: Duplex } | { refused: string };

export function openClient(socket: net.Socket, port: TcpPortSpec, contexts: TlsContexts | undefined, config: ProxyConfig, done: (o: Opened) => void): void {
  const wantsTls = port.handlers.includes('tls');
  const pg = port.handlers.includes('pg_tls');
  if (!wantsTls && !pg) return done({ stream: socket });
  if (!contexts) {
    socket.destroy();
    return done({ refused: 'tls_unavailable' });
  }
  const timer = config.clock.setTimeout(() => {
    socket.destroy();
    finish({ refused: 'handshake_timeout' });
  }, config.limits.headerTimeoutMs);
  let settled = false;
  const finish = (o: Opened): void => {
    if (settled) return;
    settled = true;
    timer.cancel();
    done(o);
  };
  socket.once('close', () => finish({ refused: 'client_closed' }));
  const startTls = (already?: Buffer): void => {
    if (already && already.length > 0) socket.unshift(already);
    const t = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: contexts.fallback(),
      SNICallback: (name, cb) => cb(null, contexts.lookup(name) ?? contexts.fallback()),
      ...(port.alpn && port.alpn.length > 0 ? { ALPNProtocols: port.alpn } : {}),
    });
    // The client may close its side (close_notify) and still read the machine's answer.
    t.allowHalfOpen = true;
    t.once('secure', () => finish({ stream: t }));
    t.once('error', () => {
      t.destroy();
      finish({ refused: 'tls_failed' });
    });
  };
  if (!pg) return startTls();
  let buf: Buffer = Buffer.alloc(0);
  const onData = (b: Buffer): void => {
    buf = Buffer.concat([buf, b]);
    const o = readPgOpening(buf);
    if (o.kind === 'more') return;
    if (o.kind === 'gssenc') {
      buf = o.rest;
      return void socket.write('N');
    }
    socket.off('data', onData);
    socket.pause();
    if (o.kind === 'ssl') {
      socket.write('S');
      return startTls(o.rest);
    }
    if (o.kind === 'direct-tls') return startTls(buf);
    socket.end(pgFatal('this service requires SSL: connect with sslmode=require (or stronger)'));
    finish({ refused: 'pg_plaintext' });
  };
  socket.on('data', onData);
}
