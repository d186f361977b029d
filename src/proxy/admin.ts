import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectionGate, closeNow, listenOn } from '../shared/index.js';

/** What the admin endpoint reports: one proxy, or the sum of a multi-process proxy's workers. */
export interface AdminSource {
  draining(): boolean;
  metrics(): Promise<string>;
}

/**
 * The proxy's admin endpoint: `/healthz` (200 while serving, 503 while draining: what the announcer
 * will probe) and `/metrics` (Prometheus). It exposes no control, takes no token (health probes and
 * scrapers; the agent's admin API serves the same metrics behind its token) and binds loopback by
 * default; machines cannot reach it (their loopback is their own, their host's firewall shuts the
 * rest). Its connections are capped like every other server's.
 */
export class AdminServer {
  private readonly server: http.Server;

  constructor(private readonly source: AdminSource) {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.headersTimeout = 10_000;
    new ConnectionGate({ maxConnections: 256, maxPerAddress: 64 }).attach(this.server);
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return listenOn(this.server, host, port);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      const ok = !this.source.draining();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'draining\n');
      return;
    }
    if (path === '/metrics') {
      this.source.metrics().then(
        (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
        () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz or /metrics\n');
  }
}
