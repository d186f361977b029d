import http from 'node:http';
import type { Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { machine, startProxy, type TestProxy } from './proxy.js';
import { send, startOrigin, type Origin, type OriginHandler } from './origin.js';

/**
 * Helpers for the routing, failover and replay integration tests: app entries for a routes spec,
 * origins that hold their responses open or drop the connection, and reading one metric series.
 */

export interface AppOpts {
  name?: string;
  hostnames?: string[];
  hardLimit?: number;
  softLimit?: number;
}

/** A routes spec with one app (`web`, host `web.test` unless told) over the given machines. */
export function oneApp(machines: Record<string, unknown>[], opts: AppOpts = {}) {
  const concurrency: Record<string, unknown> = { type: 'requests' };
  // The schema wants hard_limit >= soft_limit (default 20): a small hard limit brings the soft one down.
  const soft = opts.softLimit ?? (opts.hardLimit !== undefined ? Math.min(20, opts.hardLimit) : undefined);
  if (soft !== undefined) concurrency.soft_limit = soft;
  if (opts.hardLimit !== undefined) concurrency.hard_limit = opts.hardLimit;
  return {
    apps: [
      {
        name: opts.name ?? 'web',
        hostnames: opts.hostnames ?? ['web.test'],
        service: { concurrency },
        machines,
      },
    ],
  };
}

/** A proxy for one test, closed when the test ends. */
export async function proxyFor(t: TestContext, routes: unknown, opts: Parameters<typeof startProxy>[1] = {}): Promise<TestProxy> {
  const p = await startProxy(routes, opts);
  t.after(() => p.close());
  return p;
}

/**
 * A request through the proxy that the test will await later (a held request): a rejection is
 * still reported by the later `await`, but never as an unhandled rejection if the test fails first.
 */
export function inFlight(...args: Parameters<typeof send>): ReturnType<typeof send> {
  const p = send(...args);
  p.catch(() => undefined);
  return p;
}

/** A started origin registered for closing at the end of the test. */
export async function origin(t: TestContext, name: string, handler?: OriginHandler): Promise<Origin> {
  const o = await startOrigin(name, handler);
  t.after(() => o.close());
  return o;
}

export interface HeldOrigin extends Origin {
  /** Responses not yet sent, oldest first. */
  held: http.ServerResponse[];
  /** Answers the oldest held request (200, body = machine name). */
  releaseOne(): void;
  releaseAll(): void;
}

/** An origin that keeps every request waiting until the test releases it: a slow machine. */
export async function holdingOrigin(t: TestContext, name: string): Promise<HeldOrigin> {
  const held: http.ServerResponse[] = [];
  const o = await origin(t, name, (_req, res) => held.push(res));
  const answer = (res: http.ServerResponse | undefined): void => {
    res?.end(name);
  };
  const h: HeldOrigin = Object.assign(o, {
    held,
    releaseOne: () => answer(held.shift()),
    releaseAll: () => {
      while (held.length > 0) answer(held.shift());
    },
  });
  // Never leave a client hanging when a test fails half-way.
  t.after(() => h.releaseAll());
  return h;
}

/** An origin that reads the whole request, then drops the connection without answering. */
export function droppingOrigin(t: TestContext, name: string): Promise<Origin> {
  return origin(t, name, (_req, res) => {
    res.socket?.destroy();
  });
}

/** The value of one metric series (`name{labels}`) in a Prometheus text, 0 when absent. */
export function metric(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return 0;
}

/** A GET through an agent (keep-alive tests): also says which client socket carried it. */
export function agentGet(
  agent: http.Agent,
  port: number,
  host: string,
): Promise<{ status: number; body: string; socket: Socket; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), socket: res.socket, reused: req.reusedSocket }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export { machine };
