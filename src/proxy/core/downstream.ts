import type { ResponseHead } from '../codec/index.js';
import type { ResponseInfo } from './headers.js';

/**
 * The client side of one exchange: an HTTP/1.x connection or an HTTP/2 stream. The request path is
 * the same for both ("one request path, two front doors"); only these calls differ.
 */
export interface Downstream {
  readonly clientIp: string;
  readonly localPort: number;
  /** The connection is closing (drain, or the client asked): answer with close. */
  readonly closing: boolean;
  /** TLS was terminated here: X-Forwarded-Proto https. */
  readonly secure: boolean;
  /** HTTP/2: no chunked coding towards the client, no upgrades, keep-alive is per stream. */
  readonly h2: boolean;
  pause(): void;
  resume(): void;
  /** A 1xx interim answer (100 Continue, 103 Early Hints): the raw HTTP/1 head and its parse. */
  interim(raw: Buffer, resp: ResponseHead): void;
  /** Starts the response to the client. */
  head(resp: ResponseHead, info: ResponseInfo): void;
  /** Body bytes; false when the client is not taking more (wait for onClientDrain). */
  write(b: Buffer): boolean;
  cork(): void;
  uncork(): void;
  /** A response the proxy writes itself. */
  local(status: number, text: string, requestId: string, close: boolean, extra: readonly (readonly [string, string])[]): void;
  /**
   * The response cannot be completed: cut the connection (HTTP/1) or reset the stream (HTTP/2).
   * `reset`: over plain TCP send RST, not FIN, so not even a body delimited by the close looks whole.
   */
  abort(reset?: boolean): void;
  /** The upgraded connection's upstream side ended. */
  endTunnel(): void;
  /**
   * The exchange is over (answered, cut or abandoned): take the next request (`keepAlive`), starting
   * with the bytes that followed this one, or close. `idleMs`: the app's idle_timeout, for how long
   * an HTTP/1 connection may wait for that next request (HTTP/2 sessions keep the proxy's own).
   */
  exchangeDone(keepAlive: boolean, leftover: Buffer | undefined, idleMs?: number): void;
}
