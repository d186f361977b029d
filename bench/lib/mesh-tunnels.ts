/**
 * The two tunnels bench:mesh compares over the same veth:
 * - mesh: Starling's own, a WireguardGoDevice and a Mesh per namespace, the peers given by
 *   Mesh.update() with a host list as the control plane sends it (fdaa::/16, port 51820);
 * - bare: wireguard-go set up by hand as its README shows, `wireguard-go -f`, `wg set`, `ip addr`,
 *   `ip link` (fd99::/16, port 51821, the same allowed-ips shape and keepalive as the mesh's).
 * Both use Debian's wireguard-go with its default MTU (1420); only who drives it differs.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateMeshKeys, hostAddress, hostSubnet, KEEPALIVE_S, Mesh, WireguardGoDevice, type MeshHost } from '../../src/mesh/index.js';
import { silentLogger, SystemClock } from '../../src/shared/index.js';
import { inNs, noteInterface, WG_SOCKET_DIR, type TwoHosts } from './mesh-net.js';
import { spawnManaged, stop, type Managed } from './procs.js';
import { BenchError } from './util.js';

export const MESH_PREFIX = 'fdaa::/16';
export const MESH_PORT = 51820;
export const BARE_PREFIX_BASE = 'fd99';
export const BARE_PORT = 51821;

const clock = new SystemClock();
const bare = (addr: string): string => addr.split('/')[0]!;

export interface StarlingMesh {
  /** The hosts' mesh addresses, without the prefix length. */
  addrA: string;
  addrB: string;
  interfaces: [string, string];
  /**
   * Both sides' Mesh.update() with both hosts listed: the peer added. At once by default; with
   * `staggerMs`, B's update starts that long after A's has returned.
   */
  join(staggerMs?: number): Promise<void>;
  /** Both sides' Mesh.update() with only themselves: the peer removed. */
  split(): Promise<void>;
  close(): Promise<void>;
}

export async function startStarlingMesh(net: TwoHosts): Promise<StarlingMesh> {
  const devices: WireguardGoDevice[] = [];
  const meshes: Mesh[] = [];
  const hosts: MeshHost[] = [];
  const names: [string, string] = [`sbm${process.pid}a`, `sbm${process.pid}b`];
  try {
    for (const [i, ns, underlay] of [[0, net.a, net.addrA], [1, net.b, net.addrB]] as const) {
      const keys = generateMeshKeys();
      const id = i === 0 ? 'a' : 'b';
      const host: MeshHost = { id, publicKey: keys.publicKey, endpoint: `${underlay}:${MESH_PORT}`, address: hostAddress(MESH_PREFIX, i + 1), subnet: hostSubnet(MESH_PREFIX, i + 1) };
      noteInterface(names[i]);
      const dev = new WireguardGoDevice({ name: names[i], privateKey: keys.privateKey, listenPort: MESH_PORT, address: host.address, wrap: ['ip', 'netns', 'exec', ns], clock, logger: silentLogger });
      devices.push(dev);
      await dev.open();
      hosts.push(host);
      meshes.push(new Mesh(dev, { id, address: host.address, publicKey: keys.publicKey, interface: names[i] }, silentLogger, clock));
    }
  } catch (e) {
    for (const d of devices) await d.close().catch(() => undefined);
    throw e;
  }
  const [ma, mb] = meshes as [Mesh, Mesh];
  const [ha, hb] = hosts as [MeshHost, MeshHost];
  return {
    addrA: bare(ha.address),
    addrB: bare(hb.address),
    interfaces: names,
    join: async (staggerMs = 0) => {
      if (staggerMs === 0) return void (await Promise.all([ma.update([ha, hb]), mb.update([ha, hb])]));
      await ma.update([ha, hb]);
      await new Promise((r) => setTimeout(r, staggerMs));
      await mb.update([ha, hb]);
    },
    split: async () => {
      await Promise.all([ma.update([ha]), mb.update([hb])]);
    },
    close: async () => {
      for (const m of meshes) await m.close().catch(() => undefined);
    },
  };
}

export interface BareTunnel {
  addrA: string;
  addrB: string;
  interfaces: [string, string];
  close(): Promise<void>;
}

async function waitForSocket(name: string, proc: Managed): Promise<void> {
  const sock = join(WG_SOCKET_DIR, `${name}.sock`);
  const deadline = Date.now() + 5000;
  while (!existsSync(sock)) {
    if (proc.hasExited() || Date.now() > deadline) throw new BenchError(`wireguard-go did not bring up ${name} (see ${proc.logFile})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The hand-made tunnel; key files (0600) and wireguard-go's logs go in `dir`. */
export async function startBareTunnel(net: TwoHosts, dir: string): Promise<BareTunnel> {
  const names: [string, string] = [`sbw${process.pid}a`, `sbw${process.pid}b`];
  const keys = [generateMeshKeys(), generateMeshKeys()] as const;
  const side = [
    { ns: net.a, underlay: net.addrA, addr: `${BARE_PREFIX_BASE}:1::1`, subnet: `${BARE_PREFIX_BASE}:1::/32` },
    { ns: net.b, underlay: net.addrB, addr: `${BARE_PREFIX_BASE}:2::1`, subnet: `${BARE_PREFIX_BASE}:2::/32` },
  ] as const;
  const procs: Managed[] = [];
  try {
    for (const i of [0, 1] as const) {
      const name = names[i];
      noteInterface(name);
      const p = spawnManaged(`wireguard-go ${name}`, 'ip', ['netns', 'exec', side[i].ns, 'wireguard-go', '-f', name], join(dir, `${name}.log`));
      procs.push(p);
      await waitForSocket(name, p);
    }
    for (const i of [0, 1] as const) {
      const me = side[i];
      const peer = side[i === 0 ? 1 : 0];
      const keyFile = join(dir, `${names[i]}.key`);
      writeFileSync(keyFile, `${keys[i].privateKey}\n`, { mode: 0o600 });
      await inNs(me.ns, 'wg', 'set', names[i], 'private-key', keyFile, 'listen-port', String(BARE_PORT),
        'peer', keys[i === 0 ? 1 : 0].publicKey, 'endpoint', `${peer.underlay}:${BARE_PORT}`, 'allowed-ips', peer.subnet, 'persistent-keepalive', String(KEEPALIVE_S));
      await inNs(me.ns, 'ip', '-6', 'addr', 'add', `${me.addr}/16`, 'dev', names[i], 'nodad');
      await inNs(me.ns, 'ip', 'link', 'set', names[i], 'up');
    }
  } catch (e) {
    for (const p of procs) await stop(p);
    throw e;
  }
  return {
    addrA: side[0].addr,
    addrB: side[1].addr,
    interfaces: names,
    close: async () => {
      for (const p of procs) await stop(p);
    },
  };
}
