import type { RequestHead, ResponseHead } from '../codec/index.js';
import { PROXY_RESPONSE_FIELDS } from '../../contract/index.js';
import type { AppHeaders } from '../route-table/index.js';

/**
 * Building the heads the proxy sends: the request to the machine and the response to the client.
 * Hop-by-hop fields (RFC 9110 §7.6.1) are removed in both directions, framing is rewritten from what
 * the proxy parsed, and the fields only the edge may set are never taken from the client.
 */
const DROP = 1;
const XFF = 2;
const VIA = 3;

const REQUEST_ACTIONS = new Map<string, number>([
  ['connection', DROP],
  ['keep-alive', DROP],
  ['proxy-connection', DROP],
  ['te', DROP],
  ['trailer', DROP],
  ['transfer-encoding', DROP],
  ['upgrade', DROP],
  ['content-length', DROP],
  ['x-forwarded-for', XFF],
  ['via', VIA],
  // Set by the edge only: a client must not be able to claim another IP, region or replay origin.
  ['x-forwarded-proto', DROP],
  ['x-forwarded-port', DROP],
  ['x-forwarded-ssl', DROP],
  ['starling-client-ip', DROP],
  ['fly-client-ip', DROP],
  ['starling-region', DROP],
  ['fly-region', DROP],
  ['starling-request-id', DROP],
  ['fly-request-id', DROP],
  ['starling-forwarded-port', DROP],
  ['fly-forwarded-port', DROP],
  ['starling-replay-src', DROP],
  ['fly-replay-src', DROP],
  ['starling-replay-failed', DROP],
  ['fly-replay-failed', DROP],
  // The platform's shared key (core/peer.ts): never passed on to a machine.
  ['starling-peer', DROP],
]);

/**
 * Request fields the edge owns (hop-by-hop, framing, and those only the edge may set: it drops the
 * client's and writes its own), and X-Forwarded-For (extended) and Via: for the paths that do not
 * build an HTTP/1.1 head (h2/backend.ts), so both keep to one list.
 */
export function edgeOwnsRequestField(name: string): boolean {
  return REQUEST_ACTIONS.has(name);
}

/** From the machine's response: framing and hop-by-hop fields, the replay header, the request id (the proxy sets its own). */
export const RESPONSE_DROP: ReadonlySet<string> = new Set(PROXY_RESPONSE_FIELDS);

export interface ForwardInfo {
  clientIp: string;
  /** The port the client connected to. */
  port: number;
  requestId: string;
  edgeRegion: string;
  flyHeaders: boolean;
  replaySrc: string | undefined;
  /** A replay that fell back to the machine that asked for it: why it failed. */
  replayFailed?: string | undefined;
  upgrade: boolean;
  /** TLS was terminated by the proxy (or, from a peer, by the first proxy). */
  secure: boolean;
  /** From a trusted peer: its X-Forwarded-For chain, passed on as is (the client is in it). */
  forwardedFor?: string | undefined;
  /** To another host's proxy: the shared key, and the machine there to prefer (unless the client forced one). */
  toPeer?: { key: string; preferInstance: string | undefined } | undefined;
}

export function buildRequestHead(head: RequestHead, f: ForwardInfo): string {
  let out = `${head.method} ${head.target} HTTP/1.1\r\n`;
  let xff = '';
  let via = '';
  const extraHop = head.connectionTokens.length > 0;
  // Towards a peer, our own prefer header below is the only one.
  const ownPrefer = f.toPeer?.preferInstance !== undefined;
  for (let i = 0; i < head.names.length; i++) {
    const name = head.names[i]!;
    const act = REQUEST_ACTIONS.get(name);
    if (act === undefined) {
      if (extraHop && name !== 'host' && head.connectionTokens.includes(name)) continue;
      if (ownPrefer && (name === 'starling-prefer-instance-id' || name === 'fly-prefer-instance-id')) continue;
      out += `${name}: ${head.values[i]}\r\n`;
    } else if (act === XFF) xff += `${head.values[i]}, `;
    else if (act === VIA) via += `${head.values[i]}, `;
  }
  out +=
    `x-forwarded-for: ${f.forwardedFor ?? `${xff}${f.clientIp}`}\r\n` +
    (f.secure ? 'x-forwarded-proto: https\r\n' : 'x-forwarded-proto: http\r\n') +
    `x-forwarded-port: ${f.port}\r\nx-forwarded-ssl: ${f.secure ? 'on' : 'off'}\r\n` +
    `via: ${via}1.1 starling\r\n` +
    `starling-request-id: ${f.requestId}\r\nstarling-region: ${f.edgeRegion}\r\nstarling-client-ip: ${f.clientIp}\r\n` +
    `starling-forwarded-port: ${f.port}\r\n`;
  if (f.flyHeaders) {
    out +=
      `fly-request-id: ${f.requestId}\r\nfly-region: ${f.edgeRegion}\r\nfly-client-ip: ${f.clientIp}\r\n` +
      `fly-forwarded-port: ${f.port}\r\n`;
  }
  if (f.replaySrc !== undefined) {
    out += `starling-replay-src: ${f.replaySrc}\r\n`;
    if (f.flyHeaders) out += `fly-replay-src: ${f.replaySrc}\r\n`;
  }
  if (f.replayFailed !== undefined) {
    out += `starling-replay-failed: ${f.replayFailed}\r\n`;
    if (f.flyHeaders) out += `fly-replay-failed: ${f.replayFailed}\r\n`;
  }
  if (f.toPeer) {
    out += `starling-peer: ${f.toPeer.key}\r\n`;
    if (f.toPeer.preferInstance !== undefined) out += `starling-prefer-instance-id: ${f.toPeer.preferInstance}\r\n`;
  }
  if (head.chunked) out += 'transfer-encoding: chunked\r\n';
  else if (head.contentLength >= 0) out += `content-length: ${head.contentLength}\r\n`;
  if (f.upgrade) out += `connection: upgrade\r\nupgrade: ${head.upgrade}\r\n`;
  return out + '\r\n';
}

export interface ResponseInfo {
  requestId: string;
  flyHeaders: boolean;
  /** The app's response headers, applied to the machine's response (not to the proxy's own answers). */
  appHeaders?: AppHeaders | undefined;
  /** How the body is framed towards the client. */
  framing: 'none' | 'length' | 'chunked' | 'close';
  /** Announce `connection: close` (or, to an HTTP/1.0 client, `keep-alive` when not closing). */
  close: boolean;
  clientMinor: 0 | 1;
  preferredUnavailable: boolean;
}

export function buildResponseHead(resp: ResponseHead, r: ResponseInfo): string {
  let out = `HTTP/1.1 ${resp.status} ${resp.reason}\r\n`;
  const extraHop = resp.connectionTokens.length > 0;
  let via = '';
  const drop = r.appHeaders?.drop;
  for (let i = 0; i < resp.names.length; i++) {
    const name = resp.names[i]!;
    if (RESPONSE_DROP.has(name) || (extraHop && resp.connectionTokens.includes(name))) continue;
    if (name === 'via') {
      via += `${resp.values[i]}, `;
      continue;
    }
    if (drop !== undefined && drop.has(name)) continue;
    out += `${name}: ${resp.values[i]}\r\n`;
  }
  if (r.appHeaders) for (const [n, v] of r.appHeaders.set) out += `${n}: ${v}\r\n`;
  out += `via: ${via}1.1 starling\r\nstarling-request-id: ${r.requestId}\r\n`;
  if (r.flyHeaders) out += `fly-request-id: ${r.requestId}\r\n`;
  if (r.preferredUnavailable) {
    out += 'starling-preferred-instance-unavailable: 1\r\n';
    if (r.flyHeaders) out += 'fly-preferred-instance-unavailable: 1\r\n';
  }
  // A HEAD or 304 answer keeps its Content-Length: it describes the representation, not this body.
  if (r.framing === 'length' || (r.framing === 'none' && resp.contentLength >= 0)) {
    out += `content-length: ${resp.contentLength}\r\n`;
  }
  else if (r.framing === 'chunked') out += 'transfer-encoding: chunked\r\n';
  if (r.close) out += 'connection: close\r\n';
  else if (r.clientMinor === 0) out += 'connection: keep-alive\r\n';
  return out + '\r\n';
}

/** A response the proxy writes itself (errors, 404 for unknown hosts). */
export function buildLocalResponse(
  status: number,
  body: string,
  requestId: string,
  close: boolean,
  extra: readonly (readonly [string, string])[] = [],
): string {
  let out =
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
    // Every caller writes the result as latin1 (the body quotes latin1-decoded wire text, such as the
    // Host header), so that is the encoding the length must count in.
    `content-length: ${Buffer.byteLength(body, 'latin1')}\r\nstarling-request-id: ${requestId}\r\n`;
  for (const [k, v] of extra) out += `${k}: ${v}\r\n`;
  if (close) out += 'connection: close\r\n';
  return `${out}\r\n${body}`;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};
