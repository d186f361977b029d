/**
 * A host of machines on the private network, for sandbox-private-net.test.ts: run in a network
 * namespace of its own (the test's `ip netns exec`), so the IPv6 forwarding it turns on, the
 * machines' veths and their nftables tables are that namespace's and nobody else's. Starts three
 * probe machines with private addresses — two of org `acme`, one of org `umbrella` — and the
 * agent's .internal DNS (PrivateDnsLink) at fdaa::3 over a view that places them on this host;
 * asks each machine to connect to the others' private addresses and to resolve their names;
 * prints one JSON line with what happened.
 */
import { execFileSync } from 'node:child_process';
import { PrivateDnsLink } from '../../src/agent/index.js';
import { machineAddress } from '../../src/mesh/index.js';
import { SandboxDriver, type DriverMachine, type MachineSpec } from '../../src/runtime/index.js';
import { Logger, SystemClock, describeError } from '../../src/shared/index.js';
import type { SyncView } from '../../src/sync/index.js';
import { getJson } from '../conformance/runtime-driver.js';
import { execIn, probeSpec, runProbe } from './probe-app.js';

interface Job {
  stateDir: string;
  cidr: string;
  image: MachineSpec['image'];
  /** This host's mesh address, e.g. `fdaa:7::1/16`. */
  hostAddress: string;
}

const MACHINES = [['a1', 'acme'], ['a2', 'acme'], ['b1', 'umbrella']] as const;
type Name = (typeof MACHINES)[number][0];

/** The synced view an agent would have: one host on the mesh, the three apps and their machines, started. */
function viewOf(job: Job, specs: Record<Name, MachineSpec>): SyncView {
  const T = '2026-01-01T00:00:00.000Z';
  const coll = (entries: [string, unknown][]): Map<string, unknown> => new Map(entries);
  return {
    revision: 1,
    documents: new Map([
      ['hosts', coll([['h1', { id: 'h1', region: 'ams', capacity: { machines: 8 }, agent_url: 'http://127.0.0.1:1', mesh: { public_key: '', endpoint: '', number: 7, address: job.hostAddress, subnet: '' }, registered_at: T, updated_at: T }]])],
      ['apps', coll(MACHINES.map(([n, org]) => [`${n}-app`, { name: `${n}-app`, org, primary_region: 'ams', created_at: T }]))],
      ['machines', coll(MACHINES.map(([n]) => [`${n}-app.${specs[n].id}`, { id: specs[n].id, app: `${n}-app`, region: 'ams', host: 'h1', release: 1, deploy: null, created_at: T }]))],
      ['machine_states', coll(MACHINES.map(([n]) => [`${n}-app.${specs[n].id}`, { id: specs[n].id, app: `${n}-app`, host: 'h1', region: 'ams', release: 1, state: 'started', healthy: true, updated_at: T }]))],
    ]),
  };
}

/** What a resolver inside machine `m` says of `name` (node's c-ares, through the machine's /etc/resolv.conf). */
async function resolve(m: DriverMachine, name: string, type: 'AAAA' | 'TXT'): Promise<unknown> {
  const call = type === 'AAAA' ? 'resolve6' : 'resolveTxt';
  const js = `require('dns').promises.${call}(${JSON.stringify(name)}).then((r) => console.log(JSON.stringify(r)), (e) => console.log(JSON.stringify(e.code)))`;
  return JSON.parse((await execIn(m, ['node', '-e', js])).stdout.trim() || 'null') as unknown;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.STARLING_PRIVATE_NET_CHILD ?? '{}') as Job;
  const lines: string[] = [];
  const logger = new Logger({ write: (l: string) => lines.push(l) }, 'debug');
  const clock = new SystemClock();
  const driver = new SandboxDriver({ stateDir: job.stateDir, bridge: { name: 'stpn', cidr: job.cidr }, clock, logger });
  const specs = Object.fromEntries(MACHINES.map(([n]) => [n, probeSpec(job.image, `${n}-app`)])) as Record<Name, MachineSpec>;
  // The agent's DNS, at fdaa::3 (on lo here; on the mesh interface in an agent).
  execFileSync('ip', ['-6', 'addr', 'add', 'fdaa::3/128', 'dev', 'lo', 'nodad']);
  const dns = new PrivateDnsLink(clock, logger);
  dns.onView(viewOf(job, specs), 'h1');
  const server = await dns.open('fdaa::3');
  const made = {} as Record<Name, { m: DriverMachine; ip: string }>;
  try {
    for (const [name, org] of MACHINES) {
      const ip = machineAddress(job.hostAddress, org, specs[name].id);
      made[name] = { m: await runProbe(driver, { ...specs[name], private_ip: ip }), ip };
    }
    const reach = async (from: Name, to: Name): Promise<unknown> => getJson(made[from].m.address, `/connect?host=${encodeURIComponent(made[to].ip)}&port=8080`, 8080, 10_000);
    const a1 = made.a1.m;
    process.stdout.write(
      JSON.stringify({
        ips: Object.fromEntries(Object.entries(made).map(([k, v]) => [k, v.ip])),
        a1ToA2: await reach('a1', 'a2'),
        a2ToA1: await reach('a2', 'a1'),
        b1ToA1: await reach('b1', 'a1'),
        a1ToB1: await reach('a1', 'b1'),
        env: (await execIn(a1, ['printenv', 'FLY_PRIVATE_IP'])).stdout.trim(),
        hosts: (await execIn(a1, ['cat', '/etc/hosts'])).stdout,
        resolvConf: (await execIn(a1, ['cat', '/etc/resolv.conf'])).stdout,
        forwarding: lines.some((l) => l.includes('IPv6 forwarding turned on')),
        dns: {
          a1SeesA2: await resolve(a1, 'a2-app.internal', 'AAAA'),
          a1SeesB1: await resolve(a1, 'b1-app.internal', 'AAAA'),
          b1SeesA1: await resolve(made.b1.m, 'a1-app.internal', 'AAAA'),
          a1Apps: await resolve(a1, '_apps.internal', 'TXT'),
          b1Apps: await resolve(made.b1.m, '_apps.internal', 'TXT'),
        },
      }) + '\n',
    );
  } finally {
    await driver.close();
    await server.close();
  }
}

main().catch((e: unknown) => {
  process.stdout.write(JSON.stringify({ error: describeError(e) }) + '\n');
  process.exit(1);
});
