/**
 * The same operations as uapi.ts, spelled for the `wg` tool (wireguard-tools), I/O-free: how the
 * mesh drives the kernel's WireGuard, which has no UAPI socket but netlink, which `wg` speaks.
 * (`wg` speaks a userspace implementation's UAPI socket too, so the same commands drive
 * wireguard-go: the tests run them that way, here where the kernel has no WireGuard.)
 *
 * `wg set IF [listen-port P] [private-key FILE] (peer KEY (remove | [endpoint E]
 * [persistent-keepalive N] allowed-ips A,B))…` — allowed-ips replaces the peer's list, as
 * replace_allowed_ips does. `wg show IF dump`: one tab-separated line for the interface (private
 * key, public key, listen port, fwmark), then one per peer (public key, preshared key, endpoint,
 * allowed ips, latest handshake in seconds, rx bytes, tx bytes, persistent keepalive).
 */
import type { DeviceState, PeerState, SetOp } from './uapi.js';

/** A value that would become two arguments, or an option, must never reach `wg`. */
function clean(v: string, what: string): string {
  if (v === '' || /[\s,]/.test(v) || v.startsWith('-')) throw new Error(`wg: a bad ${what}: ${JSON.stringify(v)}`);
  return v;
}

/**
 * The arguments of `wg set IF …` for `op`. The private key is never an argument: `privateKeyFile`
 * names where `wg` reads it (`/dev/stdin`, the key written to the tool's input).
 */
export function wgSetArgs(ifname: string, op: SetOp, privateKeyFile?: string): string[] {
  const args = ['set', clean(ifname, 'interface name')];
  if (op.listenPort !== undefined) args.push('listen-port', String(op.listenPort));
  if (op.privateKey !== undefined) {
    if (privateKeyFile === undefined) throw new Error('wg: a private key needs a file to be read from');
    args.push('private-key', privateKeyFile);
  }
  for (const k of op.remove ?? []) args.push('peer', clean(k, 'public key'), 'remove');
  for (const p of op.put ?? []) {
    args.push('peer', clean(p.publicKey, 'public key'));
    if (p.endpoint !== undefined) args.push('endpoint', clean(p.endpoint, 'endpoint'));
    args.push('persistent-keepalive', p.keepalive === 0 ? 'off' : String(p.keepalive));
    // An empty list is `allowed-ips ""`: wg clears them.
    args.push('allowed-ips', p.allowedIps.map((a) => clean(a, 'allowed ip')).join(','));
  }
  return args;
}

const none = (v: string | undefined): string | undefined => (v === undefined || v === '(none)' || v === '' ? undefined : v);

/** `wg show IF dump` → the device's state (the private key in the first line is not kept). */
export function parseWgDump(text: string): DeviceState {
  const lines = text.split('\n').filter((l) => l !== '');
  const [head, ...peers] = lines;
  const h = head?.split('\t') ?? [];
  const state: DeviceState = { peers: new Map(), listenPort: Number(h[2] ?? 0) || 0, hasPrivateKey: none(h[0]) !== undefined };
  for (const line of peers) {
    const f = line.split('\t');
    if (f.length < 8) continue;
    const peer: PeerState = {
      publicKey: f[0]!,
      endpoint: none(f[2]),
      allowedIps: none(f[3])?.split(',') ?? [],
      lastHandshakeMs: Number(f[4]) * 1000 || 0,
      rxBytes: Number(f[5]) || 0,
      txBytes: Number(f[6]) || 0,
      keepalive: f[7] === 'off' ? 0 : Number(f[7]) || 0,
    };
    state.peers.set(peer.publicKey, peer);
  }
  return state;
}
