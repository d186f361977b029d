/**
 * Hosts on the mesh through the control plane: each agent makes its key pair, registers the public
 * key and endpoint, gets a number and address in the plan, and keeps its WireGuard peers equal to
 * the host list on the feed — a removed host is dropped everywhere, and an agent restarted while
 * the control plane is down brings its mesh back from the cached view. (Traffic over the mesh is
 * mesh-wireguard.test.ts: these agents share one network namespace.)
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canMakeNamespaces } from '../helpers/netns.js';
import { runCli } from '../helpers/cli.js';
import { closedPort } from '../helpers/origin.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { waitFor } from '../helpers/wait.js';

const skip = canMakeNamespaces() ? false : 'needs root (TUN devices, sandboxes)';
let p: Platform;
const ports: Record<string, number> = {};

/** The host ids an agent's WireGuard interface has as peers now. */
async function peersOf(name: string): Promise<string[]> {
  const s = await p.agents.get(name)!.mesh!.status();
  return (s?.peers.map((x) => x.host) ?? []).sort();
}

before(async () => {
  if (skip) return;
  for (const h of ['a', 'b', 'c']) ports[h] = await closedPort();
  p = await startPlatform(
    [
      { name: 'a', region: 'fra', meshPort: ports.a! },
      { name: 'b', region: 'iad', meshPort: ports.b! },
      { name: 'c', region: 'syd', meshPort: ports.c! },
    ],
    { prefix: 'mesh' },
  );
});

after(async () => {
  await p?.stop();
});

describe('the mesh follows the control plane\'s hosts', { skip, timeout: 120_000 }, () => {
  it('every host is placed in the plan with the key its agent made, and peers with every other host', async () => {
    await waitFor(async () => (await peersOf('a')).length === 2 && (await peersOf('b')).length === 2 && (await peersOf('c')).length === 2, 'every agent peers with the two others', 20_000, 50);
    assert.deepEqual(await peersOf('a'), ['host-b', 'host-c']);
    const hosts = (await p.api('GET', '/v1/hosts')).body.hosts as { id: string; mesh: { public_key: string; endpoint: string; number: number; address: string; subnet: string } }[];
    const numbers = hosts.map((h) => h.mesh.number).sort();
    assert.deepEqual(numbers, [1, 2, 3], 'the lowest free numbers');
    for (const h of hosts) {
      const name = h.id.replace('host-', '');
      const agent = p.agents.get(name)!;
      assert.equal(h.mesh.public_key, agent.mesh!.keys.publicKey);
      assert.equal(h.mesh.endpoint, `127.0.0.1:${ports[name]}`);
      assert.equal(h.mesh.address, `fdaa:${h.mesh.number}::1/16`);
      assert.equal(h.mesh.subnet, `fdaa:${h.mesh.number}::/32`);
      const keyFile = join(agent.config.agent.state_dir, 'wireguard.key');
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      const priv = readFileSync(keyFile, 'utf8').trim();
      assert.ok(!JSON.stringify(hosts).includes(priv), 'no private key in the host list');
      assert.ok(!p.lines.some((l) => l.includes(priv)), 'no private key in the agents\' logs');
      assert.ok(!p.controlStderr().includes(priv), 'no private key in the control plane\'s log');
    }
    // The operator's view of it: starling agent mesh status --json, through the agent's admin API.
    const cli = await runCli(['agent', 'mesh', 'status', '--json', '--config', join(p.dir, 'a', 'agent.toml')]);
    assert.equal(cli.code, 0, cli.stderr);
    const shown = JSON.parse(cli.stdout) as { mesh: { address: string; peers: { host: string }[] } };
    assert.equal(shown.mesh.address, hosts.find((h) => h.id === 'host-a')!.mesh.address);
    assert.deepEqual(shown.mesh.peers.map((x) => x.host).sort(), ['host-b', 'host-c']);
    const a = (await p.agents.get('a')!.mesh!.status())!;
    const b = hosts.find((h) => h.id === 'host-b')!;
    assert.deepEqual(
      a.peers.filter((x) => x.host === 'host-b').map((x) => x.endpoint),
      [b.mesh.endpoint],
    );
  });

  it('a public key another host has is refused', async () => {
    const a = p.agents.get('a')!;
    const bKey = p.agents.get('b')!.mesh!.keys.publicKey;
    const r = await p.fetch(`${p.controlUrl}/v1/hosts/host-a`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${a.control!.identity.credential}`, 'content-type': 'application/json' },
      body: JSON.stringify({ region: 'fra', capacity: { machines: 8 }, agent_url: 'http://127.0.0.1:1', agent_secret: a.control!.agentSecret, mesh: { public_key: bKey, endpoint: '127.0.0.1:9' } }),
    });
    assert.equal(r.status, 409);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'ERR_MESH_KEY_IN_USE');
  });

  it('a removed host is cut from every other host\'s mesh', async () => {
    assert.equal((await p.api('DELETE', '/v1/hosts/host-c?force=true')).status, 200);
    await waitFor(async () => (await peersOf('a')).join() === 'host-b' && (await peersOf('b')).join() === 'host-a', 'host-c dropped by a and b', 10_000, 20);
  });

  it('an agent restarted while the control plane is down brings its mesh back from its cache', async () => {
    await p.stopControl('SIGKILL');
    const a = await p.restartAgent('a');
    await waitFor(async () => (await a.mesh!.status())?.peers.map((x) => x.host).join() === 'host-b', 'a back on the mesh with b, from its cache', 15_000, 50);
    await p.startControl();
  });
});
