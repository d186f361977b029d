/**
 * Client connections to a TLS port that stay open between requests, for tests that change what
 * the port serves underneath them: one HTTP/1.1 keep-alive connection written by hand (so no
 * client-side pool can quietly open a second one), and one HTTP/2 session over a TLS socket kept
 * here. Each can say which certificate its handshake saw and whether it is still the same socket.
 */
import http2 from 'node:http2';
import tls from 'node:tls';

export interface HeldConnection {
  /** The leaf fingerprint this connection's handshake saw. */
  fingerprint256: string;
  /** One GET on this same connection; resolves with the status (rejects if the connection is gone). */
  get(path?: string): Promise<number>;
  /** The socket is still open (neither side ended it). */
  open(): boolean;
  close(): void;
}

function connect(port: number, servername: string, alpn: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ALPNProtocols: [alpn] });
    s.once('secureConnect', () => {
      s.off('error', reject);
      if (s.alpnProtocol !== alpn) reject(new Error(`the server chose ALPN ${String(s.alpnProtocol)}, not ${alpn}`));
      else resolve(s);
    });
    s.once('error', reject);
  });
}

/** An HTTP/1.1 connection: requests written on the raw TLS socket, responses read by Content-Length or chunks. */
export async function heldHttp1(port: number, servername: string): Promise<HeldConnection> {
  const s = await connect(port, servername, 'http/1.1');
  let closed = false;
  s.on('close', () => (closed = true));
  s.on('error', () => (closed = true));
  let buf = Buffer.alloc(0);
  let waiting: (() => void) | undefined;
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    waiting?.();
  });
  s.on('end', () => waiting?.());
  /** Resolves with the status once a whole response is in `buf` (and removes it). */
  const response = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const look = (): void => {
        const end = buf.indexOf('\r\n\r\n');
        if (end >= 0) {
          const head = buf.subarray(0, end).toString('latin1');
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
          const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
          const body = buf.subarray(end + 4);
          if (length !== undefined && body.length >= Number(length)) {
            buf = body.subarray(Number(length));
            waiting = undefined;
            return resolve(status);
          }
          const last = body.indexOf('0\r\n\r\n');
          if (length === undefined && /\r\ntransfer-encoding: *chunked/i.test(head) && last >= 0) {
            buf = body.subarray(last + 5);
            waiting = undefined;
            return resolve(status);
          }
        }
        if (closed || s.readableEnded) {
          waiting = undefined;
          reject(new Error(`the connection closed before a whole response (${buf.length} bytes in)`));
        }
      };
      waiting = look;
      look();
    });
  return {
    fingerprint256: s.getPeerCertificate().fingerprint256,
    get: async (path = '/') => {
      if (closed) throw new Error('the connection is closed');
      s.write(`GET ${path} HTTP/1.1\r\nhost: ${servername}\r\n\r\n`);
      return response();
    },
    open: () => !closed && !s.destroyed,
    close: () => s.destroy(),
  };
}

/** An HTTP/2 session over a TLS socket held here (ALPN h2). */
export async function heldHttp2(port: number, servername: string): Promise<HeldConnection> {
  const s = await connect(port, servername, 'h2');
  const session = http2.connect(`https://${servername}:${port}`, { createConnection: () => s });
  let closed = false;
  session.on('close', () => (closed = true));
  session.on('goaway', () => (closed = true));
  session.on('error', () => (closed = true));
  return {
    fingerprint256: s.getPeerCertificate().fingerprint256,
    get: (path = '/') =>
      new Promise((resolve, reject) => {
        if (closed) return reject(new Error('the session is closed'));
        const req = session.request({ ':path': path, ':authority': servername });
        let status = 0;
        req.on('response', (h) => (status = Number(h[':status'])));
        req.on('data', () => undefined);
        req.on('end', () => resolve(status));
        req.on('error', reject);
        req.end();
      }),
    open: () => !closed && !session.destroyed && !s.destroyed,
    close: () => session.destroy(),
  };
}
