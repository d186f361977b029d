/**
 * A Router on a node:http (or https) server, the same way for every API: connections are counted
 * against the caps (total, per address) when accepted; the request head decides the caller, their
 * rate and their right to the route (401 / 429 / 403 / 404) before one byte of the body is read;
 * then the body is read, capped (413, also from a declared length over the cap). An answer given
 * before the body arrived closes the connection instead of reading it. Long polls end when their
 * client goes or the server closes.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConnectionGate, SystemClock, addressKey, type Clock, type ConnectionLimits } from '../shared/index.js';
import { describeError } from '../shared/index.js';
import { readRequestBody } from '../shared/index.js';
import type { Logger } from '../shared/index.js';
import { closeNow, listenOn } from '../shared/index.js';
import type { RateLimiter } from '../shared/index.js';
import type { HttpMetrics } from './metrics.js';
import { errorResponse, type HttpResponse, type Router } from './router.js';

export interface ServeOptions<P> {
  logger: Logger;
  /** Serve HTTPS with this certificate (PEM); plain HTTP without. */
  tls?: { cert: string; key: string } | undefined;
  limits: ConnectionLimits;
  maxBodyBytes: number;
  /** Requests per caller: the bucket key of a principal (undefined: not counted, e.g. /healthz's). */
  rate?: { limiter: RateLimiter; key(principal: P): string | undefined } | undefined;
  /** Requests answered 401, per client address: guessing tokens is slow. */
  failedAuth?: RateLimiter | undefined;
  /** A streaming client that lets this much pile up unread is dropped (default 4 MiB). */
  maxStreamBacklog?: number;
  /** A client gets this long to send its request head (slowloris; default 10 s)… */
  headersTimeoutMs?: number;
  /** …and this long for a whole request (default 10 min: image uploads), but a long-lived route's. */
  requestTimeoutMs?: number;
  /** Runs the whole-request timeout (default: the system clock). */
  clock?: Clock | undefined;
  /** Counts every answer (method, route template, status, time until it was sent). */
  metrics?: HttpMetrics | undefined;
}

export interface HttpServer {
  server: http.Server;
  gate: ConnectionGate;
  listen(host: string, port: number): Promise<AddressInfo>;
  /** Stops listening and ends open requests (long polls first). */
  close(): Promise<void>;
}

export function serveHttp<P>(router: Router<P>, o: ServeOptions<P>): HttpServer {
  const open = new Set<AbortController>();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => void serve(req, res);
  const server = o.tls ? https.createServer({ cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2' }, handler) : http.createServer(handler);
  server.headersTimeout = o.headersTimeoutMs ?? 10_000;
  // Node's own request timeout would cut long-lived routes too (Route.longLived): ours below spares them.
  server.requestTimeout = 0;
  const requestTimeoutMs = o.requestTimeoutMs ?? 600_000;
  const clock = o.clock ?? new SystemClock();
  const gate = new ConnectionGate(o.limits);
  gate.attach(server);

  /** The route template each request was admitted to, for the metrics (absent: none took it). */
  const routeOf = new WeakMap<http.IncomingMessage, string>();

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    if (o.metrics) {
      res.once('finish', () => o.metrics!.record(req.method ?? 'GET', routeOf.get(req), res.statusCode, (performance.now() - started) / 1000));
      res.once('close', () => {
        // A stream or a raw route the client left: counted with the status it was answered with.
        if (!res.writableFinished && res.headersSent) o.metrics!.record(req.method ?? 'GET', routeOf.get(req), res.statusCode, (performance.now() - started) / 1000);
      });
    }
    const abort = new AbortController();
    open.add(abort);
    // A request whose body has not all arrived in time is answered 408 (as node's own timeout did).
    const timeout = clock.setTimeout(() => {
      if (req.complete) return;
      if (!res.headersSent) res.writeHead(408, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify(errorResponse(408, 'ERR_REQUEST_TIMEOUT', `the request did not arrive within ${requestTimeoutMs} ms`).json) + '\n');
      req.destroy();
    }, requestTimeoutMs);
    res.once('close', () => {
      timeout.cancel();
      open.delete(abort);
      abort.abort();
    });
    const url = new URL(req.url ?? '/', 'http://api');
    const method = req.method ?? 'GET';
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    let admitted;
    try {
      admitted = await router.admit(method, url.pathname, req.headers);
    } catch (e) {
      o.logger.error('API auth failed', { method, path: url.pathname, error: describeError(e) });
      return write(req, res, errorResponse(500, 'ERR_INTERNAL', 'internal error; see the log of the server'), hasBody);
    }
    if ('status' in admitted) {
      if (admitted.status === 401 && o.failedAuth) {
        const d = o.failedAuth.take(`ip:${addressKey(req.socket.remoteAddress)}`);
        if (!d.ok) return write(req, res, tooMany(d.retryAfterS, 'too many requests with a missing or wrong token from this address'), hasBody);
      }
      return write(req, res, admitted, hasBody);
    }
    routeOf.set(req, admitted.route.path);
    const key = o.rate?.key(admitted.principal);
    const d = key === undefined ? undefined : o.rate!.limiter.take(key);
    if (d && !d.ok) return write(req, res, tooMany(d.retryAfterS, 'too many requests with this token'), hasBody);
    if (admitted.route.raw) {
      if (admitted.route.longLived) timeout.cancel();
      try {
        await admitted.route.raw(req, res, admitted.params, admitted.principal);
      } catch (e) {
        o.logger.error('API request failed', { method, path: url.pathname, error: describeError(e) });
        if (!res.headersSent) write(req, res, errorResponse(500, 'ERR_INTERNAL', 'internal error; see the log of the server'), true);
        else res.destroy();
      }
      return;
    }
    if (Number(req.headers['content-length'] ?? 0) > o.maxBodyBytes) return write(req, res, tooLarge(o.maxBodyBytes), true);
    let body: string | undefined;
    try {
      body = await readRequestBody(req, o.maxBodyBytes);
    } catch (e) {
      o.logger.debug('API client went away', { method, path: url.pathname, error: describeError(e) });
      return void res.destroy();
    }
    if (body === undefined) return write(req, res, tooLarge(o.maxBodyBytes), true);
    write(req, res, await router.run(admitted, { method, path: url.pathname, body, query: url.searchParams, signal: abort.signal, headers: req.headers }), false);
  }

  /** Answers; a body still on its way means the connection cannot be reused. */
  function write(req: http.IncomingMessage, res: http.ServerResponse, out: HttpResponse, bodyLeft: boolean): void {
    if (res.destroyed || res.headersSent) return;
    const contentType = out.contentType ?? (out.json !== undefined ? 'application/json' : 'text/plain; charset=utf-8');
    res.writeHead(out.status, { 'content-type': contentType, 'cache-control': 'no-store', ...(bodyLeft ? { connection: 'close' } : {}), ...out.headers });
    const text = out.json !== undefined ? JSON.stringify(out.json, (_k, v: unknown) => (v === undefined ? null : v)) + '\n' : (out.text ?? '');
    if (bodyLeft) req.resume(); // what arrives until the close is thrown away, not buffered
    if (!out.stream) return void res.end(text);
    res.flushHeaders();
    if (text !== '') res.write(text);
    const backlog = o.maxStreamBacklog ?? 4 << 20;
    let stop: () => void;
    try {
      stop = out.stream((chunk) => {
        if (res.destroyed) return;
        if (res.writableLength > backlog) return void res.destroy();
        res.write(chunk);
      });
    } catch (e) {
      o.logger.error('API stream failed', { method: req.method, path: req.url?.split('?')[0], error: describeError(e) });
      return void res.destroy();
    }
    if (res.destroyed) stop();
    else res.once('close', stop);
  }

  return {
    server,
    gate,
    listen: (host, port) => listenOn(server, host, port),
    close: async () => {
      for (const a of open) a.abort();
      await closeNow(server);
    },
  };
}

export function tooLarge(max: number): HttpResponse {
  return errorResponse(413, 'ERR_BODY_TOO_LARGE', `request bodies are at most ${max} bytes`);
}

export function tooMany(retryAfterS: number, message: string): HttpResponse {
  return errorResponse(429, 'ERR_RATE_LIMITED', `${message}: retry in ${retryAfterS} s`, undefined, { 'retry-after': String(retryAfterS) });
}
