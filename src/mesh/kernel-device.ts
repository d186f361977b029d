/**
 * The host's WireGuard interface in the kernel (`ip link add NAME type wireguard`), driven with
 * `wg` (wireguard-tools): the kernel's WireGuard has no UAPI socket, only netlink, which `wg`
 * speaks (wg-tool.ts spells the operations). The agent uses it where the kernel has WireGuard
 * (`[mesh] wireguard = "auto"` probes with a throw-away link; docs/private-network.md): faster
 * than wireguard-go, no process to keep. The private key goes to `wg` on its stdin, never argv.
 *
 * `userspace: true` makes the same device over wireguard-go instead of the kernel — `wg` drives a
 * userspace implementation's UAPI socket with the same commands, as wg-quick does with
 * WG_QUICK_USERSPACE_IMPLEMENTATION. The tests run it so, on a kernel without WireGuard: only the
 * `ip link add … type wireguard` line differs from what a server runs.
 */
import { StarlingError } from '../shared/index.js';
import type { DeviceOptions } from './device.js';
import { addressAndUp, syncLocalAddresses, toolRunner, type MeshDevice, type Tool } from './link-tools.js';
import type { DeviceState, SetOp } from './uapi.js';
import { parseWgDump, wgSetArgs } from './wg-tool.js';

/** As wireguard-go's (device.ts), without what only a wireguard-go child needs. */
export interface KernelDeviceOptions extends Omit<DeviceOptions, 'binary' | 'socketDir' | 'clock'> {
  /** wireguard-go (daemonised) instead of the kernel: see above. */
  userspace?: boolean;
}

/** Whether this kernel makes WireGuard links: adds a throw-away one and deletes it. */
export async function kernelWireguardAvailable(wrap: readonly string[] = []): Promise<boolean> {
  const tool = toolRunner(wrap);
  const probe = `swprobe${process.pid % 100000}`;
  try {
    await tool('ip', ['link', 'add', probe, 'type', 'wireguard']);
  } catch {
    return false;
  }
  await tool('ip', ['link', 'del', probe]).catch(() => undefined);
  return true;
}

export class KernelWireguardDevice implements MeshDevice {
  readonly kind: 'kernel' | 'wireguard-go';
  private readonly tool: Tool;
  /** Made by this device (not adopted): close() deletes it. */
  private made = false;

  constructor(private readonly o: KernelDeviceOptions) {
    this.kind = o.userspace ? 'wireguard-go' : 'kernel';
    this.tool = toolRunner(o.wrap);
  }

  async open(): Promise<void> {
    const exists = await this.tool('ip', ['link', 'show', 'dev', this.o.name]).then(() => true, () => false);
    if (exists) this.o.logger.info('WireGuard interface adopted from an earlier run', { interface: this.o.name, kind: this.kind });
    else {
      if (this.o.userspace) await this.tool('wireguard-go', [this.o.name]);
      else await this.tool('ip', ['link', 'add', this.o.name, 'type', 'wireguard']);
      this.made = true;
    }
    await this.set({ privateKey: this.o.privateKey, listenPort: this.o.listenPort });
    await addressAndUp(this.tool, this.o.name, this.o.address, this.o.extraAddresses ?? []);
  }

  async get(): Promise<DeviceState> {
    return parseWgDump(await this.tool('wg', ['show', this.o.name, 'dump']));
  }

  async set(op: SetOp): Promise<void> {
    const args = wgSetArgs(this.o.name, op, op.privateKey === undefined ? undefined : '/dev/stdin');
    try {
      if (op.privateKey === undefined) await this.tool('wg', args);
      // Node gives a child's stdin as a socket, which wg cannot open as /dev/stdin: cat makes it a pipe.
      else await this.tool('sh', ['-c', 'cat | wg "$@"', 'sh', ...args], `${op.privateKey}\n`);
    } catch (e) {
      throw new StarlingError('ERR_MESH_DEVICE', `WireGuard ${this.o.name} refused a change: ${(e as Error).message.replace(/sh -c cat \| wg "\$@" sh /, 'wg ')}`, { cause: e });
    }
  }

  syncServiceAddresses(want: readonly string[]): Promise<{ added: string[]; removed: string[] }> {
    return syncLocalAddresses(this.tool, this.o.name, [this.o.address, ...(this.o.extraAddresses ?? [])], want);
  }

  /** Deletes the link it made (a userspace one's wireguard-go exits with it); an adopted one stays. */
  async close(): Promise<void> {
    if (!this.made) return;
    this.made = false;
    await this.tool('ip', ['link', 'del', this.o.name]).catch(() => undefined);
  }
}
