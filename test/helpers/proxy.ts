import net from 'node:net';
import { ProxyServer, parseRoutesSpec, type ProxyLimits, type RoutesSpec, type StaticRoots } from '../../src/proxy/index.js';
import { Logger, ManualClock, SystemClock, type Clock } from '../../src/shared/index.js';

export interface TestProxy {
  proxy: ProxyServer;
  port: number;
  clock: Clock;
  /** Lines the access log wrote, parsed. */
  access: Record<string, unknown>[];
  /** Lines the proxy logged (debug and up), parsed. */
  logs: Record<string, unknown>[];
  close(): void;
}

/**
 * A proxy on 127.0.0.1 port 0 for a test. `routes` goes through the real schema (defaults applied).
 * Pass `manualClock: true` to drive its timeouts with ManualClock.advance().
 */
export async function startProxy(
  routes: unknown,
  opts: { region?: string; limits?: Partial<ProxyLimits>; manualClock?: boolean | undefined; random?: (() => number) | undefined; statics?: StaticRoots | undefined } = {},
): Promise<TestProxy> {
  const clock = opts.manualClock ? new ManualClock() : new SystemClock();
  const access: Record<string, unknown>[] = [];
  const logs: Record<string, unknown>[] = [];
  const spec: RoutesSpec = parseRoutesSpec(routes, 'test routes');
  const proxy = new ProxyServer({
    region: opts.region ?? 'fra',
    routes: spec,
    clock,
    random: opts.random,
    limits: opts.limits,
    statics: opts.statics,
    logger: new Logger({ write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) }, 'debug'),
    accessLog: { write: (line: string) => access.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const addr = await proxy.listen('127.0.0.1', 0);
  return { proxy, port: addr.port, clock, access, logs, close: () => proxy.close() };
}

/** A machine entry for a routes file. */
export function machine(id: string, region: string, port: number, extra: Record<string, unknown> = {}) {
  return { id, region, address: '127.0.0.1', port, ...extra };
}

/** Sends raw bytes and collects everything the proxy answers until it closes or `until` matches. */
export function rawRequest(
  port: number,
  bytes: string | Buffer,
  opts: { until?: (text: string) => boolean; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete answer within ${opts.timeoutMs ?? 5000} ms; got: ${JSON.stringify(got.slice(0, 300))}`));
    }, opts.timeoutMs ?? 5000);
    s.on('connect', () => s.write(bytes));
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (opts.until?.(got)) {
        clearTimeout(timer);
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

/** The status code of the first response in a raw answer ("HTTP/1.1 400 ..." → 400). */
export function statusOf(raw: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  return m ? Number(m[1]) : -1;
}
