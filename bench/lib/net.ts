/** Loopback helpers: free ports and readiness polling. Everything is on 127.0.0.1. */
import { request } from 'node:http';
import { createServer } from 'node:net';

export const HOST = '127.0.0.1';

/** A port that was free a moment ago: bind port 0 on loopback, read the port, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('could not pick a free port'))));
    });
  });
}

/** Status code of one GET (fresh connection, 1 s timeout), or the error's description. */
export function getStatus(port: number, path: string, host?: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(
      { host: HOST, port, path, method: 'GET', agent: false, timeout: 1000, headers: host ? { host } : {} },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', (e) => resolve(e.message));
      },
    );
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end();
  });
}

/**
 * Polls until GET returns 200. Throws after `deadlineMs`, or as soon as `stillRunning()` says the
 * process that should answer has died.
 */
export async function waitFor200(
  what: string,
  port: number,
  path: string,
  opts: { host?: string; deadlineMs?: number; stillRunning?: () => boolean } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.deadlineMs ?? 10_000);
  let last: number | string = 'no answer';
  for (;;) {
    if (opts.stillRunning && !opts.stillRunning()) throw new Error(`${what}: the process exited before it was ready`);
    last = await getStatus(port, path, opts.host);
    if (last === 200) return;
    if (Date.now() > deadline) throw new Error(`${what}: GET ${path} on ${HOST}:${port} did not return 200 within ${opts.deadlineMs ?? 10_000} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
