import http from 'node:http';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { waitFor } from './wait.js';

/**
 * Raw-socket helpers for the HTTP/1 proxy tests: a client connection that keeps what it received
 * (for keep-alive, pipelining, upgrades and timeouts) and a scripted fake upstream that answers with
 * exactly the bytes a test gives it (for broken machines).
 */

export function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A client connection to the proxy that records every byte it receives (as latin1 text). */
export class RawConn {
  text = '';
  closed = false;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => (this.text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closed = true));
  }

  static open(port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('error', reject);
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new RawConn(s));
      });
    });
  }

  write(bytes: string | Buffer): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** Waits until `n` complete responses (Content-Length or chunked framed) have arrived; returns them. */
  async responses(n: number, what = `${n} response(s)`, timeoutMs = 5000): Promise<ParsedResponse[]> {
    await waitFor(() => parseResponses(this.text).length >= n, `${what}; got ${JSON.stringify(this.text.slice(0, 300))}`, timeoutMs);
    return parseResponses(this.text).slice(0, n);
  }

  async until(pred: (text: string) => boolean, what: string, timeoutMs = 5000): Promise<void> {
    await waitFor(() => pred(this.text), `${what}; got ${JSON.stringify(this.text.slice(0, 300))}`, timeoutMs);
  }

  async waitClosed(what = 'the proxy to close the connection', timeoutMs = 5000): Promise<void> {
    await waitFor(() => this.closed, what, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface ParsedResponse {
  status: number;
  /** Lower-case names; the last value wins. */
  headers: Record<string, string>;
  body: string;
  /** The raw text of this response, head and body. */
  raw: string;
}

/**
 * Splits a byte stream into complete responses. Bodies are framed by Content-Length or chunked coding;
 * a response to HEAD, 1xx, 204 and 304 has none (pass `noBody` for the indexes that answer HEAD).
 */
export function parseResponses(text: string, noBody: ReadonlySet<number> = new Set()): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let pos = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', pos);
    if (end < 0) return out;
    const lines = text.slice(pos, end).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? -1);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
    }
    let bodyStart = end + 4;
    let body = '';
    const none = noBody.has(out.length) || status === 204 || status === 304 || (status >= 100 && status < 200);
    if (none) {
      /* no body */
    } else if (headers['transfer-encoding'] === 'chunked') {
      let p = bodyStart;
      for (;;) {
        const eol = text.indexOf('\r\n', p);
        if (eol < 0) return out;
        const size = parseInt(text.slice(p, eol), 16);
        if (size === 0) {
          if (text.length < eol + 4) return out;
          bodyStart = eol + 4;
          break;
        }
        if (text.length < eol + 2 + size + 2) return out;
        body += text.slice(eol + 2, eol + 2 + size);
        p = eol + 2 + size + 2;
      }
    } else {
      const len = Number(headers['content-length'] ?? 0);
      if (text.length < bodyStart + len) return out;
      body = text.slice(bodyStart, bodyStart + len);
      bodyStart += len;
    }
    out.push({ status, headers, body, raw: text.slice(pos, bodyStart) });
    pos = bodyStart;
  }
}

/** One connection the fake upstream accepted, with the request head it read. */
export type RawScript = (socket: net.Socket, head: string) => void;

export interface RawUpstream {
  port: number;
  /** Request heads received, in order (a broken upstream still records what it was asked). */
  heads: string[];
  connections: number;
  /** Connections open now (the proxy has not closed them). */
  open(): number;
  close(): Promise<void>;
}

/**
 * A fake machine on 127.0.0.1 port 0 built on node:net: for every request head it reads, `script` runs
 * with the socket and may write any bytes (a broken status line, a huge head, nothing, a close).
 */
export async function startRawUpstream(script: RawScript): Promise<RawUpstream> {
  const sockets = new Set<net.Socket>();
  const up: RawUpstream = { port: 0, heads: [], connections: 0, open: () => sockets.size, close: () => Promise.resolve() };
  const server = net.createServer((socket) => {
    up.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end + 4);
      buf = buf.slice(end + 4);
      up.heads.push(head);
      script(socket, head);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  up.port = (server.address() as net.AddressInfo).port;
  up.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return up;
}

/** Resolves once a TCP connection to 127.0.0.1:port is refused (or rejects if it is accepted). */
export function expectRefused(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      reject(new Error(`connection to ${port} was accepted`));
    });
    s.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'ECONNREFUSED' ? resolve() : reject(err),
    );
  });
}

/** A promise the test opens when it wants a held origin to go on. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

export interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The request went on a kept-alive socket of `agent`. */
  reused: boolean;
}

/**
 * One request through the proxy with node's http client (a fresh connection unless `agent` is given).
 * `chunks` are written one by one, with backpressure, before end(); `onData` sees the body so far.
 */
export function call(
  port: number,
  opts: { host?: string; method?: string; path?: string; headers?: Record<string, string | number>; chunks?: Buffer[]; agent?: http.Agent } = {},
  onData?: (soFar: Buffer) => void,
): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: { host: opts.host ?? 'app.test', ...opts.headers },
        agent: opts.agent ?? false,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          parts.push(c);
          onData?.(Buffer.concat(parts));
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), reused: req.reusedSocket }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    void (async () => {
      for (const c of opts.chunks ?? []) {
        if (!req.write(c)) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })();
  });
}
