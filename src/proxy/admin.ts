import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { describeError, silentLogger, type Logger } from '../shared/index.js';
import { Router, route, serveHttp, type HttpServer, type Route } from '../http/index.js';

/** What the admin endpoint reports: one proxy, or the sum of a multi-process proxy's workers. */
export interface AdminSource {
  draining(): boolean;
  metrics(): Promise<string>;
}

/** Everyone who reaches the port is the same caller: the endpoint has no token (see AdminServer). */
type Anyone = 'anyone';

const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4';
/** Scrapers and probes may add query parameters (a cache-buster, Prometheus `params`): ignored, as always. */
const ANY_QUERY = z.object({});

function adminRoutes(source: AdminSource, logger: Logger): Route<Anyone>[] {
  return [
    route<Anyone, z.ZodUndefined, typeof ANY_QUERY>({
      method: 'GET',
      path: '/healthz',
      access: 'public',
      querySchema: ANY_QUERY,
      summary: 'Serving (200) or draining (503): what the announcer probes',
      responses: { '200': 'ok', '503': 'draining' },
      handler: async () => {
        const ok = !source.draining();
        return { status: ok ? 200 : 503, contentType: 'text/plain', text: ok ? 'ok\n' : 'draining\n' };
      },
    }),
    route<Anyone, z.ZodUndefined, typeof ANY_QUERY>({
      method: 'GET',
      path: '/metrics',
      access: 'public',
      querySchema: ANY_QUERY,
      summary: "Prometheus text: the proxy's metrics (a multi-process proxy's summed over its workers)",
      responses: { '200': 'Prometheus text exposition (0.0.4)', '500': 'metrics unavailable' },
      contentType: METRICS_CONTENT_TYPE,
      handler: async () => {
        try {
          return { status: 200, contentType: METRICS_CONTENT_TYPE, text: await source.metrics() };
        } catch (e) {
          logger.error('proxy metrics unavailable', { error: describeError(e) });
          return { status: 500, contentType: 'text/plain', text: 'metrics unavailable\n' };
        }
      },
    }),
  ];
}

/**
 * The proxy's admin endpoint, on the shared HTTP kit: `/healthz` (200 while serving, 503 while
 * draining: what the announcer will probe) and `/metrics` (Prometheus). It exposes no control, takes
 * no token (health probes and scrapers; the agent's admin API serves the same metrics behind its
 * token) and binds loopback by default; machines cannot reach it (their loopback is their own, their
 * host's firewall shuts the rest). Its connections are capped like every other server's.
 */
export class AdminServer {
  private readonly http: HttpServer;

  constructor(source: AdminSource, logger: Logger = silentLogger) {
    const router = new Router<Anyone>(adminRoutes(source, logger), {
      anonymous: 'anyone',
      logger,
      // Only reached for a path or method no route takes: answered 404 / 405 as the kit does.
      authenticate: async () => ({ ok: true, principal: 'anyone' }),
    });
    this.http = serveHttp(router, {
      logger,
      limits: { maxConnections: 256, maxPerAddress: 64 },
      // The endpoint reads no bodies: GETs only.
      maxBodyBytes: 1024,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
    });
    // HEAD is answered like GET (probes use it), without a body: node:http decided that from the
    // request line already, before this listener, which runs before the kit's, renames the method.
    this.http.server.prependListener('request', (req) => {
      if (req.method === 'HEAD') req.method = 'GET';
    });
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return this.http.listen(host, port);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
