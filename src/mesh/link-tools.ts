/**
 * What every mesh device does with `ip` (and `wg`) once the interface exists, whoever runs it
 * (wireguard-go or the kernel): put the mesh address and the local extra addresses on it, bring it
 * up, and keep its private service addresses equal to a list. Commands run with `wrap` in front
 * (`ip netns exec NS` in tests and the lab); a failure is ERR_MESH_DEVICE naming the command.
 */
import { parseIp, runTool } from '../shared/index.js';
import type { DeviceState, SetOp } from './uapi.js';

/** The device the mesh drives: wireguard-go over its UAPI socket (device.ts) or the kernel's through `wg` (kernel-device.ts). */
export interface MeshDevice {
  /** Which WireGuard runs the interface. */
  readonly kind: 'wireguard-go' | 'kernel';
  open(): Promise<void>;
  get(): Promise<DeviceState>;
  set(op: SetOp): Promise<void>;
  /** Makes the interface's private service addresses exactly `want` (agent/private-services.ts). */
  syncServiceAddresses(want: readonly string[]): Promise<{ added: string[]; removed: string[] }>;
  /** Takes the interface down if this device made it. */
  close(): Promise<void>;
}

/** Runs a tool and resolves with its stdout; `input` goes to its stdin (a private key: never argv). */
export type Tool = (file: string, args: readonly string[], input?: string) => Promise<string>;

export function toolRunner(wrap: readonly string[] = []): Tool {
  return (file, args, input) => runTool([...wrap, file, ...args], { code: 'ERR_MESH_DEVICE', input });
}

/**
 * The mesh address (`fdaa:1::1/16`: the prefix routes into the mesh) and the extra ones, local
 * to this host and deprecated so the kernel never picks one as a connection's source (device.ts
 * DeviceOptions.extraAddresses says why); then up.
 */
export async function addressAndUp(tool: Tool, name: string, address: string, extra: readonly string[]): Promise<void> {
  await tool('ip', ['-6', 'addr', 'replace', address, 'dev', name, 'nodad']);
  for (const a of extra) await tool('ip', ['-6', 'addr', 'replace', a, 'dev', name, 'nodad', 'preferred_lft', '0']);
  await tool('ip', ['link', 'set', name, 'up']);
}

/**
 * Makes the interface's addresses other than `fixed` (the mesh and extra ones) and link-local
 * ones exactly `want`, each a deprecated `/128`: what an earlier run left is removed too.
 */
export async function syncLocalAddresses(tool: Tool, name: string, fixed: readonly string[], want: readonly string[]): Promise<{ added: string[]; removed: string[] }> {
  const canonical = (a: string): string => parseIp(a)?.text ?? a;
  const keep = new Set(fixed.map((a) => canonical(a.split('/')[0]!)));
  const out = await tool('ip', ['-6', '-o', 'addr', 'show', 'dev', name]);
  const have = new Set([...out.matchAll(/\binet6 ([0-9a-f:]+)\/\d+/g)].map((m) => canonical(m[1]!)).filter((a) => !keep.has(a) && !a.startsWith('fe80:')));
  const wanted = new Set(want.map(canonical));
  const added = [...wanted].filter((a) => !have.has(a));
  const removed = [...have].filter((a) => !wanted.has(a));
  for (const a of added) await tool('ip', ['-6', 'addr', 'replace', `${a}/128`, 'dev', name, 'nodad', 'preferred_lft', '0']);
  for (const a of removed) await tool('ip', ['-6', 'addr', 'del', `${a}/128`, 'dev', name]);
  return { added, removed };
}
