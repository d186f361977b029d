import http2 from 'node:http2';
import type tls from 'node:tls';
import type { ProxyContext } from '../core/index.js';
import { H2Downstream, resetByProxy, type H2SessionState } from './stream.js';
import { H2Backends } from './backend.js';

/**
 * HTTP/2 limits. nghttp2 already enforces the protocol's own (header list size, concurrent streams,
 * invalid frames, rejected streams); the rapid-reset guard is ours on top (CVE-2023-44487): a session
 * whose client cancels streams faster than `maxResetsPerSecond` gets GOAWAY ENHANCE_YOUR_CALM.
 */
export interface H2Limits {
  maxConcurrentStreams: number;
  maxHeaderListSize: number;
  maxResetsPerSecond: number;
  /** MB of memory nghttp2 may hold per session before it refuses new streams. */
  maxSessionMemoryMb: number;
}

export const DEFAULT_H2_LIMITS: H2Limits = {
  maxConcurrentStreams: 100,
  maxHeaderListSize: 64 * 1024,
  maxResetsPerSecond: 100,
  maxSessionMemoryMb: 10,
};

export interface H2Front {
  server: http2.Http2SecureServer;
  sessions: Map<http2.ServerHttp2Session, H2SessionState>;
  /** Streams with an exchange in flight (the proxy's sweep enforces their timeouts). */
  active: Set<H2Downstream>;
  /** From the proxy's sweep: the streams' timeouts, and idle sessions closed. */
  onTick(now: number): void;
  /** The h2c sessions to machines of `h2_backend` apps. */
  backends: H2Backends;
}

export function createH2Server(
  ctx: ProxyContext,
  limits: H2Limits,
  sni: (servername: string) => tls.SecureContext | undefined,
  /** The tls.Server 'OCSPRequest' listener for stapling; undefined staples nothing. */
  onOcspRequest?: (certificate: Buffer | null, issuer: Buffer | null, cb: (err: Error | null, response?: Buffer | null) => void) => void,
): H2Front {
  const sessions = new Map<http2.ServerHttp2Session, H2SessionState>();
  const active = new Set<H2Downstream>();
  const backends = new H2Backends(ctx);
  const server = http2.createSecureServer({
    SNICallback: (name, cb) => cb(null, sni(name)),
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderListSize,
      enablePush: false,
    },
    maxSessionMemory: limits.maxSessionMemoryMb,
    // Streams over the concurrency limit are refused by nghttp2; a client that keeps opening them
    // anyway is cut off after this many.
    maxSessionRejectedStreams: 100,
    maxSessionInvalidFrames: 100,
    unknownProtocolTimeout: 1000,
  });
  // An http2 secure server is a tls.Server: Node emits 'OCSPRequest' with the certificate of the
  // context the SNICallback chose, for clients that sent status_request.
  if (onOcspRequest) server.on('OCSPRequest', onOcspRequest);
  server.on('session', (session) => {
    const state: H2SessionState = { streams: 0, touched: false, idleSince: ctx.config.clock.monotonic() };
    sessions.set(session, state);
    ctx.config.metrics.connectionOpened();
    const socket = session.socket;
    const addr = socket.remoteAddress ?? '';
    const clientIp = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
    const localPort = socket.localPort ?? 0;
    let windowStart = ctx.config.clock.monotonic();
    let resets = 0;
    session.on('error', () => undefined);
    session.on('close', () => {
      sessions.delete(session);
      ctx.config.metrics.connectionClosed();
    });
    session.on('stream', (stream, headers, flags) => {
      state.touched = true;
      stream.on('aborted', () => {
        if (resetByProxy.has(stream)) return;
        const now = ctx.config.clock.monotonic();
        if (now - windowStart > 1000) {
          windowStart = now;
          resets = 0;
        }
        if (++resets > limits.maxResetsPerSecond && !session.destroyed) {
          ctx.config.metrics.rejectedRequest('h2_rapid_reset');
          ctx.config.logger.warn('HTTP/2 client reset too many streams; closing the session', { client: clientIp });
          // destroy() sends its own GOAWAY, with this code (after a separate goaway() it added NO_ERROR).
          session.destroy(new Error('HTTP/2 rapid reset'), http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
        }
      });
      if (ctx.live.draining) {
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      new H2Downstream(ctx, stream, clientIp, localPort, active, state, backends).start(headers, flags);
    });
  });
  // Only clients that offered h2 are handed to this server; anything else is not ours to serve.
  server.on('unknownProtocol', (socket) => socket.destroy());
  server.on('tlsClientError', () => undefined);
  const idleMs = ctx.config.limits.idleTimeoutMs;
  const onTick = (now: number): void => {
    for (const s of active) s.onTick(now);
    // An idle session (no stream in flight for idleTimeoutMs) gets GOAWAY, as an idle HTTP/1.1
    // connection gets its close; close() is graceful and a no-op once the session is closing.
    for (const [session, st] of sessions) {
      if (st.streams > 0 || st.touched) {
        st.touched = false;
        st.idleSince = now;
      } else if (now - st.idleSince > idleMs) session.close();
    }
  };
  return { server, sessions, active, onTick, backends };
}
