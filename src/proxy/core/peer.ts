/**
 * Requests between Starling proxies. When the machine the proxy picked lives on another host, the
 * request goes to that host's proxy (fly's backhaul) with two marks:
 *   - `starling-peer: <key>`: the key the platform's proxies share, so the receiving proxy knows a
 *     peer sent it and may take the edge facts (client IP, scheme, port, edge region, request id)
 *     from the peer's forwarding headers instead of setting them from its own socket, and must not
 *     answer `force_https` with a redirect (the first proxy already enforced it);
 *   - `starling-prefer-instance-id: <id>`: the machine the first proxy chose (a client's own
 *     force header travels instead, when it sent one).
 * A trusted peer's request is served by the receiving host's own machines only — the preferred one,
 * else another (its view is fresher: the first proxy may have picked a machine that just stopped)
 * — never sent on to a third proxy, so requests cannot bounce between proxies.
 * A client cannot claim to be a peer without the key; the header never reaches a machine.
 */
import { timingSafeEqual } from 'node:crypto';
import type { RequestHead } from '../codec/index.js';

export const PEER_HEADER = 'starling-peer';

/** What the first proxy saw of the client, carried to the machine by a peer's forwarding headers. */
export interface PeerOrigin {
  clientIp: string;
  secure: boolean;
  port: number;
  edgeRegion: string;
  requestId: string;
  /** The X-Forwarded-For chain as the peer sent it (the client is already in it). */
  forwardedFor: string;
  /**
   * Where a request the first proxy replayed came from (`starling-replay-src`): passed on to the
   * machine here, as fly's edge does whichever host the machine is on. From a client it is dropped.
   */
  replaySrc: string | undefined;
  /** Likewise `starling-replay-failed`, when the first proxy's replay fell back. */
  replayFailed: string | undefined;
}

/** Constant time over equal lengths: the key is a secret. */
export function peerKeyMatches(given: string, key: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether the request carries the platform's key (for checks made before an exchange exists). */
export function isPeerRequest(head: RequestHead, key: string | undefined): boolean {
  if (key === undefined) return false;
  for (let i = 0; i < head.names.length; i++) if (head.names[i] === PEER_HEADER && peerKeyMatches(head.values[i]!, key)) return true;
  return false;
}

/** The edge facts a trusted peer forwarded (call only once the key matched). */
export function peerOrigin(head: RequestHead): PeerOrigin {
  const get = (name: string): string | undefined => {
    const i = head.names.indexOf(name);
    return i < 0 ? undefined : head.values[i];
  };
  const port = Number(get('x-forwarded-port'));
  return {
    clientIp: get('starling-client-ip') ?? '',
    secure: get('x-forwarded-proto') === 'https',
    port: Number.isInteger(port) && port > 0 && port < 65536 ? port : 0,
    edgeRegion: get('starling-region') ?? '',
    requestId: get('starling-request-id') ?? '',
    forwardedFor: get('x-forwarded-for') ?? '',
    replaySrc: get('starling-replay-src'),
    replayFailed: get('starling-replay-failed'),
  };
}
