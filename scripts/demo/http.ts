import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Everything the demo talks to lives on this address. */
export const LOOPBACK = '127.0.0.1';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  method?: string;
  path?: string;
  /** The Host header; the proxies route on it. */
  host?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

/**
 * One HTTP request to 127.0.0.1:port on a fresh connection (agent: false, so nothing stays open
 * that could delay shutdown), with a deadline for the whole exchange.
 */
export function request(port: number, o: RequestOptions = {}): Promise<Reply> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const method = o.method ?? 'GET';
  const path = o.path ?? '/';
  return new Promise<Reply>((resolve, reject) => {
    const headers: Record<string, string | number> = { host: o.host ?? 'hello.localhost', ...o.headers };
    if (o.body !== undefined) headers['content-length'] = Buffer.byteLength(o.body);
    const req = http.request({ host: LOOPBACK, port, method, path, headers, agent: false });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      reject(new Error(`${method} ${path} to ${LOOPBACK}:${port}: ${err.message}`));
    };
    req.on('error', fail);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.end(o.body);
  });
}

/**
 * Calls `attempt` every `intervalMs` until it returns a value (not undefined); throws after
 * `timeoutMs` with `what` and the last error or result seen. No guessed sleeps: just a deadline.
 */
export async function poll<T>(
  what: string,
  attempt: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<{ value: T; elapsedMs: number }> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let last = 'no attempt finished';
  for (;;) {
    try {
      const v = await attempt();
      if (v !== undefined) return { value: v, elapsedMs: Date.now() - started };
      last = 'condition not met yet';
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what} (last: ${last})`);
    await sleep(intervalMs);
  }
}

/**
 * `count` distinct free TCP ports on 127.0.0.1: each is bound to port 0 (the kernel picks), all are
 * held together so none repeats, then released for the processes that will use them.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, LOOPBACK, () => resolve());
      });
      ports.push((s.address() as net.AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
