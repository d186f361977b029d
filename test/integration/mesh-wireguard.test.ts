/**
 * The mesh with real wireguard-go between two network namespaces joined by a veth (the underlay):
 * each side's Mesh follows a host list as the control plane would send it. Hosts reach each other
 * at their mesh addresses only through WireGuard (a capture on the underlay holds nothing but UDP
 * to the WireGuard ports, and not the bytes sent), a host taken off the list is cut off, and a
 * host whose underlay address moves is followed. Side a runs wireguard-go over its UAPI socket
 * (WireguardGoDevice), side b is driven with `wg` as the kernel's WireGuard is (KernelWireguardDevice,
 * over wireguard-go here: this kernel has no WireGuard), so the two implementations interoperate
 * and every operation of the kernel path but `ip link add … type wireguard` runs for real.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { publicKeyOf, generateMeshKeys, hostAddress, hostSubnet, KernelWireguardDevice, Mesh, WireguardGoDevice, type MeshDevice, type MeshHost } from '../../src/mesh/index.js';
import { silentLogger, SystemClock } from '../../src/shared/index.js';
import { startCapture } from '../helpers/capture.js';
import { canMakeNamespaces, inNs, twoHosts, type Link } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const PREFIX = 'fdaa::/16';
const PORT = 51820;
const skip = canMakeNamespaces() ? false : 'needs root (network namespaces)';
const clock = new SystemClock();
const tmp = mkdtempSync(join(tmpdir(), 'starling-mesh-'));
let link: Link;
const devices: MeshDevice[] = [];
const meshes: Record<'a' | 'b', Mesh> = {} as Record<'a' | 'b', Mesh>;
const hosts: Record<'a' | 'b', MeshHost> = {} as Record<'a' | 'b', MeshHost>;
const ifname: Record<'a' | 'b', string> = {} as Record<'a' | 'b', string>;

/** An echo server in namespace `ns` on [addr]:PORT_ECHO: each connection gets back what it sent. */
const ECHO_PORT = 7007;
const ECHO = `require('net').createServer((s) => s.pipe(s)).listen(${ECHO_PORT}, process.argv[1], () => console.log('listening'))`;
const servers: ReturnType<typeof spawn>[] = [];

/**
 * A TCP connection from namespace `ns` to [to]:ECHO_PORT that sends `payload` and reads it back;
 * true when it came back whole within a second.
 */
async function reaches(ns: string, to: string, payload = 'hello over the mesh'): Promise<boolean> {
  const client = `const s = require('net').connect(${ECHO_PORT}, process.argv[1]); let got = ''; s.setTimeout(1000, () => process.exit(1));
    s.on('connect', () => s.write(process.argv[2])); s.on('data', (d) => { got += d; if (got === process.argv[2]) process.exit(0); }); s.on('error', () => process.exit(1));`;
  try {
    await run('ip', ['netns', 'exec', ns, process.execPath, '-e', client, to, payload]);
    return true;
  } catch {
    return false;
  }
}

async function startEcho(ns: string, addr: string): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', ECHO, addr], { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => out.includes('listening'), `the echo server on ${addr}`, 10_000, 20);
}

before(async () => {
  if (skip) return;
  link = twoHosts('sm');
  const id = randomBytes(3).toString('hex');
  for (const [side, n, ns, addr] of [['a', 1, link.a, link.addrA], ['b', 2, link.b, link.addrB]] as const) {
    const keys = generateMeshKeys();
    ifname[side] = `stm${id}${side}`;
    hosts[side] = { id: side, publicKey: keys.publicKey, endpoint: `${addr}:${PORT}`, address: hostAddress(PREFIX, n), subnet: hostSubnet(PREFIX, n) };
    const o = { name: ifname[side], privateKey: keys.privateKey, listenPort: PORT, address: hosts[side].address, wrap: ['ip', 'netns', 'exec', ns], logger: silentLogger };
    const dev: MeshDevice = side === 'a' ? new WireguardGoDevice({ ...o, clock }) : new KernelWireguardDevice({ ...o, userspace: true });
    devices.push(dev);
    await dev.open();
    meshes[side] = new Mesh(dev, { id: side, address: hosts[side].address, publicKey: keys.publicKey, interface: ifname[side] }, silentLogger, clock);
  }
  await startEcho(link.a, 'fdaa:1::1');
  await startEcho(link.b, 'fdaa:2::1');
});

after(async () => {
  for (const s of servers) s.kill();
  for (const d of devices) await d.close();
  link?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

describe('the host mesh on wireguard-go', { skip, timeout: 60_000 }, () => {
  it('host keys are the ones wg makes and derives (wireguard-tools)', async () => {
    const k = generateMeshKeys();
    const pub = async (priv: string): Promise<string> => {
      const child = spawn('wg', ['pubkey'], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stdin.end(`${priv}\n`);
      await new Promise((r) => child.once('exit', r));
      return out.trim();
    };
    assert.equal(await pub(k.privateKey), k.publicKey);
    const fromWg = (await run('wg', ['genkey'])).stdout.trim();
    assert.equal(publicKeyOf(fromWg), await pub(fromWg));
  });

  it('two hosts on each other\'s list reach each other at their mesh addresses', async () => {
    assert.equal(await reaches(link.a, 'fdaa:2::1'), false, 'no peers yet: nothing gets through');
    await Promise.all([meshes.a.update([hosts.a, hosts.b]), meshes.b.update([hosts.a, hosts.b])]);
    // Should a handshake still be lost, WireGuard retries it after 5 s (REKEY_TIMEOUT): the deadline
    // leaves room for that (Mesh holds one side back so that the two do not cross: mesh.ts).
    await waitFor(() => reaches(link.a, 'fdaa:2::1'), 'a reaches b over the mesh', 15_000, 50);
    assert.ok(await reaches(link.b, 'fdaa:1::1'), 'and b reaches a');
    const status = await meshes.a.status();
    assert.deepEqual(status.peers.map((p) => [p.host, p.endpoint]), [['b', `${link.addrB}:${PORT}`]]);
    assert.ok(status.peers[0]!.lastHandshakeMs > 0, 'a handshake completed');
    // b's side as `wg show … dump` reads it: the same peer, its endpoint learned, a handshake.
    const viaWg = await meshes.b.status();
    assert.deepEqual([viaWg.wireguard, status.wireguard], ['wireguard-go', 'wireguard-go']);
    assert.deepEqual(viaWg.peers.map((p) => [p.host, p.endpoint]), [['a', `${link.addrA}:${PORT}`]]);
    assert.ok(viaWg.peers[0]!.lastHandshakeMs > 0 && viaWg.peers[0]!.rxBytes > 0);
  });

  it('the underlay carries only WireGuard: UDP between the ports, never the bytes sent', async () => {
    const cap = await startCapture(link.b, link.ifB, '(ip or ip6) and not ip6 multicast and not src net fe80::/10 and not src host ::', join(tmp, 'underlay.pcap'));
    const pattern = `plaintext-${randomBytes(8).toString('hex')}`;
    for (let i = 0; i < 5; i++) assert.ok(await reaches(link.a, 'fdaa:2::1', pattern));
    const { raw, lines } = await cap.stop();
    assert.equal(raw.indexOf(Buffer.from(pattern)), -1, 'the bytes sent are not on the underlay in clear');
    assert.ok(lines.length >= 10, `captured ${lines.length} packets`);
    for (const l of lines) assert.match(l, new RegExp(`${link.addrA.replace(/\./g, '\\.')}\\.${PORT} > ${link.addrB.replace(/\./g, '\\.')}\\.${PORT}: UDP|${link.addrB.replace(/\./g, '\\.')}\\.${PORT} > ${link.addrA.replace(/\./g, '\\.')}\\.${PORT}: UDP`), l);
  });

  it('a key the mesh does not know gets nothing through: an interloper with b\'s key and endpoint is dropped by b', async () => {
    // In a's namespace, a second WireGuard interface with a key of its own, aimed at b like a peer
    // would be, and the route to b's mesh address through it.
    const intruder = generateMeshKeys();
    const name = `${ifname.a}x`;
    const dev = new WireguardGoDevice({ name, privateKey: intruder.privateKey, listenPort: PORT + 1, address: 'fdaa:9::1/128', wrap: ['ip', 'netns', 'exec', link.a], clock, logger: silentLogger });
    devices.push(dev);
    await dev.open();
    await dev.set({ put: [{ publicKey: hosts.b.publicKey, endpoint: hosts.b.endpoint, allowedIps: ['fdaa:2::1/128'], keepalive: 1 }] });
    inNs(link.a, 'ip', '-6', 'route', 'add', 'fdaa:2::1/128', 'dev', name);
    try {
      assert.equal(await reaches(link.a, 'fdaa:2::1'), false, 'b answered a key it does not have');
      const bPeers = (await meshes.b.status()).peers.map((p) => p.host);
      assert.deepEqual(bPeers, ['a'], 'b still has only a');
      const own = (await dev.get()).peers.get(hosts.b.publicKey);
      assert.ok(own && own.txBytes > 0, 'the interloper did send to b');
      assert.equal(own.lastHandshakeMs, 0, 'no handshake with b ever completed');
    } finally {
      inNs(link.a, 'ip', '-6', 'route', 'del', 'fdaa:2::1/128', 'dev', name);
      await dev.close();
    }
    assert.ok(await reaches(link.a, 'fdaa:2::1'), 'a itself still reaches b');
  });

  it('a host taken off the list is cut off at once, both ways', async () => {
    await Promise.all([meshes.a.update([hosts.a]), meshes.b.update([hosts.b])]);
    assert.deepEqual((await meshes.a.status()).peers, []);
    assert.equal(await reaches(link.a, 'fdaa:2::1'), false);
    assert.equal(await reaches(link.b, 'fdaa:1::1'), false);
  });

  it('a host whose underlay address moves is followed: the peers take the new endpoint', async () => {
    await Promise.all([meshes.a.update([hosts.a, hosts.b]), meshes.b.update([hosts.a, hosts.b])]);
    await waitFor(() => reaches(link.a, 'fdaa:2::1'), 'back on the mesh', 15_000, 50);
    // b moves to another underlay address; the old one goes away.
    const net = link.addrB.split('.').slice(0, 2).join('.');
    inNs(link.a, 'ip', 'addr', 'add', `${net}.1.1/24`, 'dev', link.ifA);
    inNs(link.b, 'ip', 'addr', 'add', `${net}.1.2/24`, 'dev', link.ifB);
    inNs(link.b, 'ip', 'addr', 'del', `${link.addrB}/30`, 'dev', link.ifB);
    const movedB = { ...hosts.b, endpoint: `${net}.1.2:${PORT}` };
    await meshes.a.update([hosts.a, movedB]);
    assert.deepEqual((await meshes.a.status()).peers.map((p) => p.endpoint), [`${net}.1.2:${PORT}`]);
    await waitFor(() => reaches(link.a, 'fdaa:2::1'), 'a reaches b at its new address', 15_000, 50);
  });
});
