/**
 * Machines on the private network (docs/private-network.md): a machine with a private address
 * reaches its own organisation's machines at theirs, and another organisation's machine cannot
 * reach it, nor it that one — on one host here, with the real sandbox driver, its veths and its
 * nftables tables, in a network namespace of the test's own (helpers/private-net-child.ts) so the
 * IPv6 forwarding it turns on is that namespace's. The address is in FLY_PRIVATE_IP and
 * `fly-local-6pn` in /etc/hosts; the machine's resolver is the agent's .internal DNS at fdaa::3,
 * which answers its own org's names and not another's. Needs root, bubblewrap and nftables.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { canMakeNamespaces } from '../helpers/netns.js';
import { probeImage } from '../helpers/probe-app.js';

const skip = canMakeNamespaces() ? false : 'needs root (network namespaces, sandboxes)';
const CHILD = fileURLToPath(new URL('../helpers/private-net-child.js', import.meta.url));
const NS = `stpn-${process.pid}`;

interface Report {
  error?: string;
  ips: Record<'a1' | 'a2' | 'b1', string>;
  a1ToA2: { ok: boolean; code?: string };
  a2ToA1: { ok: boolean; code?: string };
  b1ToA1: { ok: boolean; code?: string };
  a1ToB1: { ok: boolean; code?: string };
  env: string;
  hosts: string;
  resolvConf: string;
  forwarding: boolean;
  dns: { a1SeesA2: unknown; a1SeesB1: unknown; b1SeesA1: unknown; a1Apps: unknown; b1Apps: unknown };
}

let report: Report;
let workDir = '';

before(async () => {
  if (skip) return;
  const probe = await probeImage('starling-private-net-');
  workDir = probe.workDir;
  execFileSync('ip', ['netns', 'add', NS]);
  execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  const job = { stateDir: join(workDir, 'state'), cidr: `172.30.${10 + Math.floor(Math.random() * 240)}.0/24`, image: probe.image, hostAddress: 'fdaa:7::1/16' };
  const p = spawn('ip', ['netns', 'exec', NS, process.execPath, CHILD], { env: { ...process.env, STARLING_PRIVATE_NET_CHILD: JSON.stringify(job) }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise((resolve) => p.on('close', resolve));
  report = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Report;
  assert.equal(report.error, undefined, report.error);
});

after(() => {
  if (skip) return;
  execFileSync('ip', ['netns', 'del', NS]);
  rmSync(workDir, { recursive: true, force: true });
});

describe('machines on the private network', { skip, timeout: 120_000 }, () => {
  it('each has an address of the plan: this host, its org, its id', () => {
    for (const ip of Object.values(report.ips)) assert.match(ip, /^fdaa:7:[0-9a-f]{1,4}:[0-9a-f]{1,4}:/);
    const org = (ip: string): string => ip.split(':').slice(2, 4).join(':');
    assert.equal(org(report.ips.a1), org(report.ips.a2), 'one org, one network');
    assert.notEqual(org(report.ips.a1), org(report.ips.b1));
    assert.ok(report.forwarding, 'the driver turned IPv6 forwarding on, and said so');
  });

  it("reaches its own organisation's machines at their private addresses, both ways", () => {
    assert.deepEqual(report.a1ToA2, { ok: true });
    assert.deepEqual(report.a2ToA1, { ok: true });
  });

  it("another organisation's machine cannot reach it, nor it that one", () => {
    assert.equal(report.b1ToA1.ok, false, 'umbrella reached acme');
    assert.equal(report.a1ToB1.ok, false, 'acme reached umbrella');
  });

  it('knows its address: FLY_PRIVATE_IP and fly-local-6pn', () => {
    assert.equal(report.env, report.ips.a1);
    assert.match(report.hosts, new RegExp(`^${report.ips.a1}\\tfly-local-6pn starling-local-6pn$`, 'm'));
  });

  it("resolves its org's names at fdaa::3, and another org's app is a name that does not exist", () => {
    assert.equal(report.resolvConf, 'nameserver fdaa::3\n');
    assert.deepEqual(report.dns.a1SeesA2, [report.ips.a2]);
    assert.equal(report.dns.a1SeesB1, 'ENOTFOUND', 'acme sees umbrella');
    assert.equal(report.dns.b1SeesA1, 'ENOTFOUND', 'umbrella sees acme');
    assert.deepEqual(report.dns.a1Apps, [['a1-app,a2-app']]);
    assert.deepEqual(report.dns.b1Apps, [['b1-app']]);
  });
});
