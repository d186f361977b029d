/**
 * The sandbox's network: each machine gets its own network namespace joined to the host by a
 * point-to-point veth with a /30 from the driver's CIDR (host end .1, machine end .2, default route
 * via the host end). There is no shared bridge, so machines share no L2 segment.
 *
 * Two locks keep a machine in. Routing: a policy rule `iif <veth> unreachable` right after the
 * `local` table (priority 0) refuses whatever arrives on a machine's host-side veth and is not
 * addressed to a host address, whatever the host's ip_forward or any later sysctl says — so no
 * machine reaches another (of its own app or any other) nor the outside world, and a machine's
 * 127.0.0.1 is its own. The `local` table comes first, though: everything addressed to any host
 * address (its own gateway, another machine's host-side end, the host's interfaces) is delivered to
 * the host. That is what the per-machine nftables table (sandbox-firewall.ts) closes: on the veth,
 * only answers to host-initiated connections and TCP to the platform's public ports on the
 * machine's own gateway get in. The host reaches every machine through the connected /30 route.
 *
 * `forwarding=1` on the host-side veth is deliberate: only a forwarding input device makes the kernel
 * answer the rule with ICMP unreachable (ip_error() drops silently otherwise), so an app's connect()
 * to anything but the host fails at once instead of hanging for the SYN-retry timeout. It forwards
 * nothing: the rule decides first (and the firewall's forward chain drops it too). No IPv6
 * address is generated on either end.
 *
 * A machine with a private address (its host on the mesh) gets IPv6 too: the address (/128) and
 * fe80::2 on eth0, the private /16 routed via the host's fe80::1; on the host a /128 route to it.
 * The rule above is IPv4's only: IPv6 is forwarded — between the machine and its organisation's
 * machines, here or across the mesh, and nothing else: the firewall's forward chain decides
 * (sandbox-firewall.ts). The host must forward IPv6: the first such machine turns
 * net.ipv6.conf.all.forwarding on (ensureIpv6Forwarding).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { privateNetOf } from '../../mesh/index.js';
import { StarlingError } from '../../shared/index.js';

/** Priority of the per-machine "refuse to forward" rule: after `local` (0), before `main` (32766). */
export const RULE_PRIORITY = 900;

export interface MachineNet {
  netns: string;
  /** Host-side end of the veth (the namespace side is `eth0`). */
  hostIf: string;
  /** The machine's nftables table (`inet`), named like its netns. */
  table: string;
  hostAddress: string;
  /** The machine's address, reachable from the host. */
  address: string;
  /** Its private IPv6 (MachineSpec.private_ip): on eth0, routed to from the host and the mesh. */
  privateAddress?: string | undefined;
}

/** Link-local ends of the veth for the private network: the machine's next hop is the host's. */
export const HOST_LINK_LOCAL = 'fe80::1';
export const MACHINE_LINK_LOCAL = 'fe80::2';


export interface Cidr {
  base: number;
  prefix: number;
}

export function parseCidr(cidr: string): Cidr {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr.trim());
  const prefix = Number(m?.[2]);
  const base = m?.[1] ? ipToInt(m[1]) : undefined;
  if (base === undefined || !(prefix >= 8 && prefix <= 30)) {
    throw new StarlingError('ERR_SANDBOX_CONFIG', `machine network "${cidr}" is not an IPv4 CIDR between /8 and /30`, {
      fault: 'user',
      hint: 'use a private range such as 172.31.0.0/16',
    });
  }
  return { base: (base & maskOf(prefix)) >>> 0, prefix };
}

export function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return parts.reduce((acc, p) => ((acc << 8) | p) >>> 0, 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0);

/** Names derived from the driver's state dir and the machine id, so two drivers never collide. */
export function netNames(stateDir: string, id: string, ifPrefix: string): { short: string; netns: string; hostIf: string; table: string } {
  const short = createHash('sha256').update(`${stateDir}\0${id}`).digest('hex').slice(0, 10);
  const prefix = ifPrefix.replace(/[^a-zA-Z0-9]/g, '').slice(0, 4) || 'sm';
  return { short, netns: `sm-${short}`, hostIf: `${prefix}${short}`, table: `sm-${short}` };
}

/** /30 blocks taken by any driver in this process (block base → owner key). */
const taken = new Map<number, string>();

/**
 * Hands out /30 blocks of the CIDR. A block is free when no driver in this process holds it and no
 * host route inside the CIDR overlaps it (another process's machines, a leftover). Picks at random,
 * so two processes allocating at the same moment rarely pick the same block.
 */
export class AddressPool {
  private readonly cidr: Cidr;
  constructor(cidr: string) {
    this.cidr = parseCidr(cidr);
  }

  allocate(key: string): { hostAddress: string; address: string } {
    const blocks = 2 ** (30 - this.cidr.prefix);
    const routed = this.routedBlocks();
    const free = (i: number): boolean => {
      const b = this.cidr.base + i * 4;
      return !taken.has(b) && !routed.has(b);
    };
    let index = -1;
    for (let tries = 0; tries < 32 && index < 0; tries++) {
      const i = Math.floor(Math.random() * blocks);
      if (free(i)) index = i;
    }
    for (let i = 0; i < blocks && index < 0; i++) if (free(i)) index = i;
    if (index < 0) {
      throw new StarlingError('ERR_SANDBOX_NETWORK_FULL', `no free /30 left in ${intToIp(this.cidr.base)}/${this.cidr.prefix}`, {
        hint: 'destroy unused machines or give the driver a larger CIDR',
      });
    }
    const base = this.cidr.base + index * 4;
    taken.set(base, key);
    return { hostAddress: intToIp(base + 1), address: intToIp(base + 2) };
  }

  /** Marks a block used (a machine found in the state dir). */
  reserve(address: string, key: string): void {
    const n = ipToInt(address);
    if (n !== undefined) taken.set((n & maskOf(30)) >>> 0, key);
  }

  release(address: string, key: string): void {
    const n = ipToInt(address);
    if (n === undefined) return;
    const base = (n & maskOf(30)) >>> 0;
    if (taken.get(base) === key) taken.delete(base);
  }

  private routedBlocks(): Set<number> {
    const out = new Set<number>();
    let text = '';
    try {
      text = readFileSync('/proc/net/route', 'utf8');
    } catch {
      return out;
    }
    const cidrMask = maskOf(this.cidr.prefix);
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 8) continue;
      const dest = hostOrder(parseInt(f[1] ?? '', 16));
      const mask = hostOrder(parseInt(f[7] ?? '', 16));
      const prefix = Math.clz32(~mask >>> 0); // leading ones of the mask
      if (prefix < this.cidr.prefix || ((dest & cidrMask) >>> 0) !== this.cidr.base) continue;
      const size = 2 ** (32 - prefix);
      for (let b = (dest & maskOf(30)) >>> 0; b < dest + size; b += 4) out.add(b);
    }
    return out;
  }
}

/** /proc/net/route prints addresses in the kernel's byte order. */
function hostOrder(n: number): number {
  if (endianness() === 'BE') return n >>> 0;
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | ((n >>> 24) & 0xff)) >>> 0;
}

/** Runs `ip` with a batch on stdin; rejects with ip's own message (never carries machine secrets). */
export function runIp(ipBin: string, args: string[], batch: string, opts: { force?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(ipBin, [...(opts.force ? ['-force'] : []), ...args, '-batch', '-'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => reject(new StarlingError('ERR_SANDBOX_NETWORK', `cannot run ${ipBin}: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      if (code === 0 || opts.force) resolve();
      else reject(new StarlingError('ERR_SANDBOX_NETWORK', `ip ${args.join(' ')} failed: ${stderr.trim() || `exit ${code}`}`));
    });
    child.stdin.end(batch);
  });
}

/** Namespace, veth, addresses, default route and the no-forwarding locks. */
export async function createMachineNet(ipBin: string, n: MachineNet): Promise<void> {
  await runIp(
    ipBin,
    [],
    [
      `netns add ${n.netns}`,
      `link add ${n.hostIf} type veth peer name eth0 netns ${n.netns}`,
      `link set dev ${n.hostIf} addrgenmode none`,
      `addr add ${n.hostAddress}/30 dev ${n.hostIf}`,
      `rule add iif ${n.hostIf} priority ${RULE_PRIORITY} unreachable`,
      `link set dev ${n.hostIf} up`,
      ...(n.privateAddress ? [`addr add ${HOST_LINK_LOCAL}/64 dev ${n.hostIf} nodad`] : []),
      '',
    ].join('\n'),
  );
  try {
    writeFileSync(`/proc/sys/net/ipv4/conf/${n.hostIf}/forwarding`, '1'); // for ICMP unreachable; see the top
    await runIp(
      ipBin,
      ['-n', n.netns],
      [
        'link set dev lo up',
        'link set dev eth0 addrgenmode none',
        `addr add ${n.address}/30 dev eth0`,
        'link set dev eth0 up',
        `route add default via ${n.hostAddress}`,
        ...(n.privateAddress
          ? [`addr add ${MACHINE_LINK_LOCAL}/64 dev eth0 nodad`, `addr add ${n.privateAddress}/128 dev eth0 nodad`, `route add ${privateNetOf(n.privateAddress)} via ${HOST_LINK_LOCAL} dev eth0`]
          : []),
        '',
      ].join('\n'),
    );
    if (n.privateAddress) await runIp(ipBin, [], `route add ${n.privateAddress}/128 via ${MACHINE_LINK_LOCAL} dev ${n.hostIf}\n`);
  } catch (e) {
    await removeMachineNet(ipBin, n);
    throw e;
  }
}

/** Removes rule, veth (both ends) and namespace; returns what is still there afterwards. */
export async function removeMachineNet(ipBin: string, n: MachineNet): Promise<string[]> {
  await runIp(
    ipBin,
    [],
    [`rule del iif ${n.hostIf} priority ${RULE_PRIORITY}`, `link del dev ${n.hostIf}`, `netns del ${n.netns}`, ''].join('\n'),
    { force: true },
  );
  const left: string[] = [];
  if (existsSync(`/run/netns/${n.netns}`)) left.push(`netns ${n.netns}`);
  if (existsSync(`/sys/class/net/${n.hostIf}`)) left.push(`link ${n.hostIf}`);
  return left;
}

const IPV6_FORWARDING = '/proc/sys/net/ipv6/conf/all/forwarding';

/**
 * Turns IPv6 forwarding on in this network namespace, for machines' private addresses; true when
 * it was off. Never turned off again (something else may rely on it). With forwarding on, Linux
 * stops taking router advertisements where `accept_ra` is 1: a host that gets its own IPv6 by
 * SLAAC needs `accept_ra = 2` (the caller warns; docs/private-network.md).
 */
export function ensureIpv6Forwarding(): boolean {
  try {
    if (readFileSync(IPV6_FORWARDING, 'utf8').trim() === '1') return false;
    writeFileSync(IPV6_FORWARDING, '1');
    return true;
  } catch (e) {
    throw new StarlingError('ERR_SANDBOX_NETWORK', `cannot turn IPv6 forwarding on for the private network: ${(e as Error).message}`, { cause: e });
  }
}
