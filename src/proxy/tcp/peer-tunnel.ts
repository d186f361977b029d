/**
 * A TCP connection to a machine on another host goes through that host's proxy (the backhaul, as
 * HTTP requests do): the edge opens a connection to the peer proxy's HTTP port and asks for an
 * upgrade to `starling-tcp`, naming the service and the machine it chose, with the platform's peer
 * key (core/peer.ts). The peer connects to its own machine, answers 101, and from then on the
 * connection carries the client's bytes both ways. The edge has already done the handlers (TLS,
 * PostgreSQL's SSLRequest, the PROXY header): the peer only passes bytes.
 *
 * Pure: the request the edge writes, and the peer's answer read back.
 */
import type { RequestHead } from '../codec/index.js';

export const TUNNEL_PROTOCOL = 'starling-tcp';
const SERVICE_HEADER = 'starling-tcp-service';
/** A UDP service's flow: the tunnel then carries its datagrams, each framed (udp/frames.ts). */
const UDP_SERVICE_HEADER = 'starling-udp-service';
const MAX_ANSWER_BYTES = 4096;

export interface TunnelRequest {
  app: string;
  internalPort: number;
  machineId: string;
  clientIp: string;
  edgeRegion: string;
  peerKey: string;
  /** Default tcp. */
  protocol?: 'tcp' | 'udp' | undefined;
}

export function tunnelRequest(t: TunnelRequest): Buffer {
  return Buffer.from(
    'GET / HTTP/1.1\r\n' +
      `host: ${t.app}\r\n` +
      'connection: upgrade\r\n' +
      `upgrade: ${TUNNEL_PROTOCOL}\r\n` +
      `starling-peer: ${t.peerKey}\r\n` +
      `${t.protocol === 'udp' ? UDP_SERVICE_HEADER : SERVICE_HEADER}: ${t.app}/${t.internalPort}\r\n` +
      `starling-prefer-instance-id: ${t.machineId}\r\n` +
      `starling-client-ip: ${t.clientIp}\r\n` +
      `starling-region: ${t.edgeRegion}\r\n\r\n`,
    'latin1',
  );
}

/** Whether a request head asks for a TCP tunnel (the caller checks the peer key). */
export function isTunnelRequest(head: RequestHead): boolean {
  const i = head.names.indexOf('upgrade');
  return i >= 0 && head.values[i]!.toLowerCase() === TUNNEL_PROTOCOL;
}

/** What a trusted tunnel request names (undefined: malformed). */
export function tunnelTarget(head: RequestHead): { app: string; internalPort: number; protocol: 'tcp' | 'udp'; machineId: string | undefined; clientIp: string; edgeRegion: string } | undefined {
  const get = (n: string): string | undefined => {
    const i = head.names.indexOf(n);
    return i < 0 ? undefined : head.values[i];
  };
  const udp = get(UDP_SERVICE_HEADER);
  const m = /^([a-z][a-z0-9-]{0,62})\/(\d{1,5})$/.exec(udp ?? get(SERVICE_HEADER) ?? '');
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) return undefined;
  return { app: m[1]!, internalPort: port, protocol: udp !== undefined ? 'udp' : 'tcp', machineId: get('starling-prefer-instance-id'), clientIp: get('starling-client-ip') ?? '', edgeRegion: get('starling-region') ?? '' };
}

export const TUNNEL_OPEN = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${TUNNEL_PROTOCOL}\r\n\r\n`, 'latin1');

/** The peer's refusal: the edge tries another machine. */
export function tunnelRefusal(status: 502 | 503, reason: string): Buffer {
  const body = `${reason}\n`;
  return Buffer.from(`HTTP/1.1 ${status} ${status === 502 ? 'Bad Gateway' : 'Service Unavailable'}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`, 'latin1');
}

/**
 * The peer's answer, from the bytes read so far: 'more', the 101 with whatever followed it (the
 * machine's first bytes), or a refusal with its status.
 */
export function readTunnelAnswer(b: Buffer): { kind: 'more' } | { kind: 'open'; rest: Buffer } | { kind: 'refused'; status: number; reason: string } {
  const end = b.indexOf('\r\n\r\n');
  if (end < 0) return b.length > MAX_ANSWER_BYTES ? { kind: 'refused', status: 0, reason: 'answer head too large' } : { kind: 'more' };
  const line = b.toString('latin1', 0, b.indexOf('\r\n'));
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(line)?.[1] ?? 0);
  if (status === 101 && /\r\nupgrade: *starling-tcp\r\n/i.test(b.toString('latin1', 0, end + 2))) return { kind: 'open', rest: b.subarray(end + 4) };
  return { kind: 'refused', status, reason: b.toString('utf8', end + 4).trim().slice(0, 200) || line };
}
