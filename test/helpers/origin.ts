import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface Origin {
  name: string;
  port: number;
  server: http.Server;
  /** Every request this machine received, in order. */
  seen: SeenRequest[];
  close(): Promise<void>;
}

export type OriginHandler = (req: SeenRequest, res: http.ServerResponse) => void;

/**
 * A real HTTP server on 127.0.0.1 standing in for one machine of an app. By default it answers
 * 200 with JSON `{ machine, method, url, bytes }` and the header `x-machine: NAME`.
 */
export async function startOrigin(name: string, handler?: OriginHandler): Promise<Origin> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(r);
      res.setHeader('x-machine', name);
      if (handler) return handler(r, res);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ machine: name, method: r.method, url: r.url, bytes: r.body.length }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    port,
    server,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 with nothing listening (connections are refused). */
export async function closedPort(): Promise<number> {
  // Below the kernel's ephemeral range (ip_local_port_range, 32768-60999 here): a port from it
  // could be taken meanwhile as the source port of one of the many connections the tests make, and
  // the daemon given it would fail with EADDRINUSE. Random, never the same twice in a process,
  // and free when asked (another test process may still pick it: 22,000 ports make that rare).
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    const s = http.createServer();
    const free = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!free) continue;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    return port;
  }
}
const handedOut = new Set<number>();

/** A GET/POST through the proxy with the given Host, using a fresh connection each time. */
export async function send(
  port: number,
  host: string,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: { host, ...opts.headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}
