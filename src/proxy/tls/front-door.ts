import net from 'node:net';
import tls from 'node:tls';
import type { ConnectionGate } from '../../shared/index.js';
import type { ProxyConfig } from '../core/index.js';
import { readClientHello } from './client-hello.js';

/**
 * Where the proxy's TLS certificates come from. `lookup` must be O(1): it runs on every handshake.
 */
export interface TlsContexts {
  /** The certificate for a name (exact, then a `*.` wildcard one label up). */
  lookup(servername: string): tls.SecureContext | undefined;
  /** For a handshake without SNI or with an unknown name; undefined refuses it with an alert. */
  fallback(): tls.SecureContext | undefined;
  /** ACME TLS-ALPN-01 (RFC 8737): the challenge certificate for a name, from the shared store. */
  alpnChallenge(servername: string): Promise<tls.SecureContext | undefined>;
  /**
   * OCSP stapling: the response to staple for the certificate (DER, as the context serves it), or
   * undefined for none. Must be O(1) and never wait: it runs in the handshake of every client that
   * sends status_request. Absent: nothing is stapled and handshakes pay nothing for it.
   */
  ocspResponse?(certificate: Buffer): Buffer | undefined;
  /**
   * Whether any certificate may have a staple now (O(1)); false lets the HTTP/1.1 path skip the
   * certificate callback, so a store without OCSP URLs costs handshakes nothing. Absent: true.
   */
  ocspStapling?(): boolean;
}

type OcspCallback = (err: Error | null, response?: Buffer | null) => void;

/** The 'OCSPRequest' listener of a tls.Server (or of our stand-in) for the contexts' staples. */
export function ocspRequestListener(
  contexts: TlsContexts,
): ((certificate: Buffer | null, issuer: Buffer | null, cb: OcspCallback) => void) | undefined {
  const staple = contexts.ocspResponse?.bind(contexts);
  // A context without a certificate (the refusing one) hands over null.
  return staple && ((certificate, _issuer, cb) => cb(null, (certificate && staple(certificate)) ?? null));
}

/** A context with no certificate: the handshake fails and the client gets a TLS alert. */
let refuseContext: tls.SecureContext | undefined;
function refuse(): tls.SecureContext {
  refuseContext ??= tls.createSecureContext({});
  return refuseContext;
}

type SniCallback = (err: Error | null, ctx?: tls.SecureContext) => void;

const TLS_PLAIN_HTTP_ANSWER =
  'HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: 45\r\n\r\n' +
  'this port speaks HTTPS: use https:// instead\n';

export interface FrontDoorHandlers {
  /** An HTTP/1.x connection over TLS, handshake done. */
  http1(socket: tls.TLSSocket): void;
  /** A raw socket (ClientHello unread again) whose client offered h2: the HTTP/2 server takes it. */
  h2(socket: net.Socket): void;
}

/**
 * The TLS port. It reads the ClientHello itself before any TLS object exists, because the choice it
 * makes needs both SNI and ALPN: a client offering only `acme-tls/1` gets the ACME challenge
 * certificate (Node's SNICallback does not see ALPN); one offering `h2` goes to the HTTP/2 server;
 * everything else is HTTP/1.1 on our own connection handling. The bytes read are put back
 * (`unshift`) so the TLS layer reads the hello as if untouched.
 */
export class TlsFrontDoor {
  readonly server: net.Server;
  /**
   * Stands in as the `server` of the HTTP/1.1 TLSSockets, for OCSP stapling only. What Node does
   * (lib/internal/tls/wrap.js, Node 24): a server TLSSocket asks OpenSSL for the certificate
   * callback only when its `server` option has an 'OCSPRequest' listener (or an SNICallback is
   * given); in that callback, when the client sent status_request, it takes the context set by
   * the SNICallback (`_handle.sni_context`) or else `server._sharedCreds` (which only a real
   * tls.Server has), emits 'OCSPRequest'(context.getCertificate(), context.getIssuer(), cb) on
   * `server`, and staples what cb is given. The `secureContext` option alone sets no
   * sni_context, so each socket also gets an SNICallback answering with the context already
   * chosen. The server is never listened on; TLSSocket uses it for nothing else here (the session
   * events need listeners it does not have). Without SNI there is no SNICallback call and no
   * _sharedCreds: nothing is stapled for the fallback certificate. The certificate callback is a
   * pause of the handshake for one synchronous JS call: sockets skip it while nothing is stapled.
   */
  private readonly ocspServer: net.Server | undefined;

  constructor(
    private readonly config: ProxyConfig,
    /** The proxy's connection caps, shared with its plain port. */
    private readonly gate: ConnectionGate,
    private readonly contexts: TlsContexts,
    private readonly handlers: FrontDoorHandlers,
  ) {
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    const onOcsp = ocspRequestListener(contexts);
    if (onOcsp) this.ocspServer = new net.Server().on('OCSPRequest', onOcsp);
  }

  private accept(socket: net.Socket): void {
    // The caps come before the handshake: a refused connection costs no TLS work and no timer.
    if (!this.gate.admit(socket)) return;
    let buf: Buffer | undefined;
    const timer = this.config.clock.setTimeout(() => socket.destroy(), this.config.limits.headerTimeoutMs);
    socket.on('error', () => undefined);
    socket.on('close', () => timer.cancel());
    const onData = (chunk: Buffer): void => {
      buf = buf ? Buffer.concat([buf, chunk]) : chunk;
      const hello = readClientHello(buf);
      if (hello.kind === 'incomplete') return;
      socket.removeListener('data', onData);
      socket.pause();
      if (hello.kind === 'error') {
        this.config.metrics.rejectedRequest(`tls_${hello.code}`);
        timer.cancel();
        if (hello.code === 'not_tls') socket.end(TLS_PLAIN_HTTP_ANSWER);
        else socket.destroy();
        return;
      }
      socket.unshift(buf);
      const name = hello.serverName;
      if (hello.alpn.length === 1 && hello.alpn[0] === 'acme-tls/1') {
        return void this.acmeChallenge(socket, name).finally(() => timer.cancel());
      }
      // Without SNI only the fallback certificate can answer; that path is ours (HTTP/1.1).
      if (name !== undefined && hello.alpn.includes('h2')) {
        timer.cancel();
        return this.handlers.h2(socket);
      }
      const secureContext = (name ? this.contexts.lookup(name) : undefined) ?? this.contexts.fallback() ?? refuse();
      const t = new tls.TLSSocket(socket, {
        isServer: true,
        secureContext,
        ALPNProtocols: ['http/1.1'],
        ...(this.ocspServer && this.contexts.ocspStapling?.() !== false && { server: this.ocspServer, SNICallback: (_: string, cb: SniCallback) => cb(null, secureContext) }),
      });
      t.on('error', () => t.destroy());
      t.once('secure', () => {
        timer.cancel();
        this.handlers.http1(t);
      });
    };
    socket.on('data', onData);
  }

  /** Answers a TLS-ALPN-01 validation: handshake with the challenge certificate, then close. */
  private async acmeChallenge(socket: net.Socket, name: string | undefined): Promise<void> {
    const secureContext = name ? await this.contexts.alpnChallenge(name).catch(() => undefined) : undefined;
    if (!secureContext || socket.destroyed) {
      socket.destroy();
      return;
    }
    const t = new tls.TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: ['acme-tls/1'] });
    t.on('error', () => t.destroy());
    t.once('secure', () => t.end());
  }
}
