/**
 * `http_options.h2_backend` (fly's): an HTTP/2 client stream goes to the machine as an HTTP/2
 * stream over cleartext (prior knowledge, h2c), so what HTTP/1.1 cannot carry gets through — gRPC
 * above all: its trailers (grpc-status), its long-lived streams both ways.
 *
 * What this path does and does not do, as documented in docs/app-config.md:
 * - the machine is this host's (started, healthy, nearest-first among this host's own: the PoP
 *   serves it): a request that finds none here gets 503, after asking for one to autostart;
 * - one h2c session per machine, shared by the streams to it; each stream is one unit of load;
 * - the request's fields go on, but for those the edge owns (core/headers.ts, the same list as
 *   HTTP/1.1's), which it sets as for HTTP/1.1 (X-Forwarded-*, Via, Fly-Client-IP, Fly-Region,
 *   Fly-Request-Id and their Starling twins); the machine's fields, body and trailers come back,
 *   without the proxy's own response fields, with the app's own response headers applied;
 * - no retry, replay or queueing: a stream is sent once.
 */
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { chooseMachine, edgeOwnsRequestField, RESPONSE_DROP, type ProxyContext } from '../core/index.js';
import type { AppRoute, MachineRoute } from '../route-table/index.js';


export class H2Backends {
  private readonly sessions = new Map<string, ClientHttp2Session>();

  constructor(private readonly ctx: ProxyContext) {}

  /** Sends the client's stream to one of this host's machines of `app` (see above). */
  forward(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, app: AppRoute, clientIp: string, localPort: number): void {
    const { config } = this.ctx;
    const requestId = config.nextRequestId();
    const choice = chooseMachine(app, { edgeRegion: config.region, localOnly: true }, config.random);
    if (choice.kind !== 'machine') {
      const starting = choice.kind === 'none' && this.ctx.autoscaler.start(app);
      config.metrics.request(app.name, config.region, 503);
      return answer(stream, 503, requestId, starting ? 'a machine is starting: try again\n' : `no machine of ${app.name} on this host can take the stream (h2_backend is served by each PoP's own machines)\n`);
    }
    const m = choice.machine;
    m.load.inflight++;
    let done = false;
    const finish = (status: number): void => {
      if (done) return;
      done = true;
      m.load.inflight--;
      this.ctx.queue.slotFreed(app.name);
      config.metrics.request(app.name, m.region, status);
    };
    // The fields the HTTP/1.1 path sets (core/headers.ts), from the same list of what the edge owns;
    // `te: trailers` stays (gRPC needs it; HTTP/2 allows no other value).
    const out: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined || k === 'host' || (edgeOwnsRequestField(k) && !(k === 'te' && v === 'trailers'))) continue;
      out[k] = k === ':scheme' ? 'http' : v;
    }
    const xff = headers['x-forwarded-for'];
    const via = headers.via;
    const twin = (name: string, value: string): void => {
      out[`starling-${name}`] = value;
      if (config.limits.flyHeaders) out[`fly-${name}`] = value;
    };
    out['x-forwarded-for'] = xff ? `${String(xff)}, ${clientIp}` : clientIp;
    out['x-forwarded-proto'] = 'https';
    out['x-forwarded-port'] = String(localPort);
    out['x-forwarded-ssl'] = 'on';
    out.via = via ? `${String(via)}, 2 starling` : '2 starling';
    twin('client-ip', clientIp);
    twin('region', config.region);
    twin('request-id', requestId);
    twin('forwarded-port', String(localPort));
    let req: http2.ClientHttp2Stream;
    try {
      req = this.session(m).request(out);
    } catch {
      finish(502);
      return answer(stream, 502, requestId, `cannot reach machine ${m.id}\n`);
    }
    let trailers: OutgoingHttpHeaders | undefined;
    req.on('response', (h, flags) => {
      const back: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(h)) if (v !== undefined && !RESPONSE_DROP.has(k)) back[k] = v;
      for (const name of app.responseHeaders?.drop ?? []) delete back[name];
      for (const [name, value] of app.responseHeaders?.set ?? []) back[name] = value;
      back['starling-request-id'] = requestId;
      if (config.limits.flyHeaders) back['fly-request-id'] = requestId;
      const status = Number(h[':status'] ?? 502);
      if (stream.destroyed) return req.close(http2.constants.NGHTTP2_CANCEL);
      // A trailers-only answer (gRPC's for a status without a message) stays one HEADERS frame.
      if ((flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0) {
        stream.respond(back, { endStream: true });
        req.once('close', () => finish(status));
        return;
      }
      stream.respond(back, { waitForTrailers: true });
      stream.on('wantTrailers', () => (trailers ? stream.sendTrailers(trailers) : stream.close()));
      req.once('close', () => finish(status));
    });
    req.on('trailers', (t: IncomingHttpHeaders) => {
      trailers = {};
      for (const [k, v] of Object.entries(t)) if (v !== undefined) trailers[k] = v;
    });
    req.on('data', (b: Buffer) => {
      if (!stream.destroyed && !stream.write(b)) {
        req.pause();
        stream.once('drain', () => req.resume());
      }
    });
    req.on('end', () => {
      if (!stream.destroyed && stream.headersSent && !stream.writableEnded) stream.end();
    });
    req.on('error', () => {
      if (!stream.headersSent) {
        finish(502);
        return answer(stream, 502, requestId, `machine ${m.id} did not answer the stream\n`);
      }
      finish(502);
      stream.destroy();
    });
    stream.on('close', () => {
      if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
    });
    stream.pipe(req);
  }

  /** Closes every session to the machines (the proxy closes). */
  close(): void {
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
  }

  private session(m: MachineRoute): ClientHttp2Session {
    const key = `${m.key}@${m.address}:${m.port}`;
    const have = this.sessions.get(key);
    if (have && !have.closed && !have.destroyed) return have;
    const host = m.address.includes(':') ? `[${m.address}]` : m.address;
    const s = http2.connect(`http://${host}:${m.port}`);
    s.on('error', () => undefined);
    const forget = (): void => {
      if (this.sessions.get(key) === s) this.sessions.delete(key);
    };
    s.on('close', forget);
    s.on('goaway', forget);
    s.unref();
    this.sessions.set(key, s);
    return s;
  }
}

function answer(stream: ServerHttp2Stream, status: number, requestId: string, text: string): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({ ':status': status, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), 'starling-request-id': requestId });
  stream.end(text);
}
