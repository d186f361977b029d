/**
 * A host of machines on the private network, for sandbox-private-net.test.ts: run in a network
 * namespace of its own (the test's `ip netns exec`), so the IPv6 forwarding it turns on, the
 * machines' veths and their nftables tables are that namespace's and nobody else's. Starts three
 * probe machines with private addresses — two of org `acme`, one of org `umbrella` — and asks
 * each to connect to the others' private addresses; prints one JSON line with what happened.
 */
import { machineAddress } from '../../src/mesh/index.js';
import { SandboxDriver, type DriverMachine, type MachineSpec } from '../../src/runtime/index.js';
import { Logger, SystemClock, describeError } from '../../src/shared/index.js';
import { getJson } from '../conformance/runtime-driver.js';
import { execIn, probeSpec, runProbe } from './probe-app.js';

interface Job {
  stateDir: string;
  cidr: string;
  image: MachineSpec['image'];
  /** This host's mesh address, e.g. `fdaa:7::1/16`. */
  hostAddress: string;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.STARLING_PRIVATE_NET_CHILD ?? '{}') as Job;
  const lines: string[] = [];
  const driver = new SandboxDriver({ stateDir: job.stateDir, bridge: { name: 'stpn', cidr: job.cidr }, clock: new SystemClock(), logger: new Logger({ write: (l: string) => lines.push(l) }, 'debug') });
  const made: Record<string, { m: DriverMachine; ip: string }> = {};
  try {
    for (const [name, org] of [['a1', 'acme'], ['a2', 'acme'], ['b1', 'umbrella']] as const) {
      const spec = probeSpec(job.image, `${name}-app`);
      const ip = machineAddress(job.hostAddress, org, spec.id);
      made[name] = { m: await runProbe(driver, { ...spec, private_ip: ip }), ip };
    }
    const reach = async (from: string, to: string): Promise<unknown> =>
      getJson(made[from]!.m.address, `/connect?host=${encodeURIComponent(made[to]!.ip)}&port=8080`, 8080, 10_000);
    const a1 = made.a1!.m;
    process.stdout.write(
      JSON.stringify({
        ips: Object.fromEntries(Object.entries(made).map(([k, v]) => [k, v.ip])),
        a1ToA2: await reach('a1', 'a2'),
        a2ToA1: await reach('a2', 'a1'),
        b1ToA1: await reach('b1', 'a1'),
        a1ToB1: await reach('a1', 'b1'),
        env: (await execIn(a1, ['printenv', 'FLY_PRIVATE_IP'])).stdout.trim(),
        hosts: (await execIn(a1, ['cat', '/etc/hosts'])).stdout,
        forwarding: lines.some((l) => l.includes('IPv6 forwarding turned on')),
      }) + '\n',
    );
  } finally {
    await driver.close();
  }
}

main().catch((e: unknown) => {
  process.stdout.write(JSON.stringify({ error: describeError(e) }) + '\n');
  process.exit(1);
});
