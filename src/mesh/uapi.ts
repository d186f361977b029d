/**
 * WireGuard's cross-platform userspace API (https://www.wireguard.com/xplatform/), I/O-free: the
 * text of a `set` and `get` operation, and the parse of their answers. Keys travel as hex here
 * (base64 everywhere else). wireguard-go serves it on `/var/run/wireguard/<ifname>.sock`.
 */

export interface PeerConfig {
  /** base64 public key. */
  publicKey: string;
  /** `IP:PORT` (IPv6 in brackets), or undefined: only the peer may start. */
  endpoint: string | undefined;
  allowedIps: readonly string[];
  /** Seconds; 0 = off. */
  keepalive: number;
}

export interface PeerState extends PeerConfig {
  /** Wall-clock ms of the last completed handshake; 0 = never. */
  lastHandshakeMs: number;
  rxBytes: number;
  txBytes: number;
}

export interface DeviceState {
  /** base64 public keys → state. */
  peers: Map<string, PeerState>;
  listenPort: number;
  /** True when a private key is set (the key itself is not kept from the answer). */
  hasPrivateKey: boolean;
}

/** One set operation: the device's own settings (when given), removals, then peers put. */
export interface SetOp {
  privateKey?: string;
  listenPort?: number;
  remove?: readonly string[];
  put?: readonly PeerConfig[];
}

export const hex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex');
const b64 = (h: string): string => Buffer.from(h, 'hex').toString('base64');

/** A value that would end a line or the operation must never reach the socket. */
function clean(v: string, what: string): string {
  if (/[\n\r]/.test(v)) throw new Error(`uapi: a line break in the ${what}`);
  return v;
}

export function formatSet(op: SetOp): string {
  let out = 'set=1\n';
  if (op.privateKey !== undefined) out += `private_key=${hex(op.privateKey)}\n`;
  if (op.listenPort !== undefined) out += `listen_port=${op.listenPort}\n`;
  for (const k of op.remove ?? []) out += `public_key=${hex(k)}\nremove=true\n`;
  for (const p of op.put ?? []) {
    out += `public_key=${hex(p.publicKey)}\n`;
    if (p.endpoint !== undefined) out += `endpoint=${clean(p.endpoint, 'endpoint')}\n`;
    out += `persistent_keepalive_interval=${p.keepalive}\nreplace_allowed_ips=true\n`;
    for (const a of p.allowedIps) out += `allowed_ip=${clean(a, 'allowed_ip')}\n`;
  }
  return `${out}\n`;
}

export const GET = 'get=1\n\n';

/** An answer is complete at its blank line. */
export function answerComplete(text: string): boolean {
  return text.endsWith('\n\n');
}

/** `errno=N` of an answer; NaN when it has none. */
export function errnoOf(text: string): number {
  const m = /(?:^|\n)errno=(-?\d+)\n/.exec(text);
  return m ? Number(m[1]) : NaN;
}

export function parseGet(text: string): DeviceState {
  const state: DeviceState = { peers: new Map(), listenPort: 0, hasPrivateKey: false };
  let peer: PeerState | undefined;
  let allowed: string[] = [];
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const k = line.slice(0, eq);
    const v = line.slice(eq + 1);
    switch (k) {
      case 'private_key':
        state.hasPrivateKey = /[1-9a-f]/.test(v);
        break;
      case 'listen_port':
        state.listenPort = Number(v);
        break;
      case 'public_key':
        allowed = [];
        peer = { publicKey: b64(v), endpoint: undefined, allowedIps: allowed, keepalive: 0, lastHandshakeMs: 0, rxBytes: 0, txBytes: 0 };
        state.peers.set(peer.publicKey, peer);
        break;
      case 'endpoint':
        if (peer) peer.endpoint = v;
        break;
      case 'allowed_ip':
        allowed.push(v);
        break;
      case 'persistent_keepalive_interval':
        if (peer) peer.keepalive = Number(v);
        break;
      case 'last_handshake_time_sec':
        if (peer) peer.lastHandshakeMs += Number(v) * 1000;
        break;
      case 'last_handshake_time_nsec':
        if (peer) peer.lastHandshakeMs += Math.floor(Number(v) / 1e6);
        break;
      case 'rx_bytes':
        if (peer) peer.rxBytes = Number(v);
        break;
      case 'tx_bytes':
        if (peer) peer.txBytes = Number(v);
        break;
    }
  }
  return state;
}
