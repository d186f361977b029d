/**
 * A SandboxDriver in a process of its own, for what a test cannot do to its own process: run it
 * inside a user-namespace holder like the non-root lab's (`unshare -Urnm`), or SIGKILL it with a
 * machine running. Reads its job from STARLING_SANDBOX_CHILD (JSON) and prints one JSON line:
 *   refuse: prepare's error { code, message, hint }
 *   run:    starts a probe machine and reports who it is inside, then destroys it
 *   orphan: starts a probe machine, reports its address and netns, and waits to be killed
 */
import { Logger, SystemClock, describeError, isStarlingError } from '../../src/shared/index.js';
import { SandboxDriver, type MachineSpec } from '../../src/runtime/index.js';
import { getJson } from '../conformance/runtime-driver.js';
import { execIn, probeSpec, runProbe } from './probe-app.js';

interface Job {
  mode: 'refuse' | 'run' | 'orphan';
  stateDir: string;
  cidr: string;
  linkPrefix: string;
  image: MachineSpec['image'];
  allowHostRoot?: boolean;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.STARLING_SANDBOX_CHILD ?? '{}') as Job;
  const lines: string[] = [];
  const logger = new Logger({ write: (l: string) => lines.push(l) }, 'debug');
  const driver = new SandboxDriver({ stateDir: job.stateDir, bridge: { name: job.linkPrefix, cidr: job.cidr }, allowHostRoot: job.allowHostRoot, clock: new SystemClock(), logger });
  const spec = probeSpec(job.image, 'child-app');
  const print = (o: unknown): boolean => process.stdout.write(JSON.stringify(o) + '\n');
  if (job.mode === 'refuse') {
    try {
      await driver.prepare(spec);
      print({ prepared: true });
    } catch (e) {
      print(isStarlingError(e) ? { code: e.code, message: e.message, hint: e.hint } : { error: describeError(e) });
    }
    await driver.close();
    return;
  }
  const m = await runProbe(driver, spec);
  const traces = driver.traces(m);
  if (job.mode === 'orphan') {
    print({ address: m.address, netns: traces?.netns, user: traces?.user });
    setInterval(() => undefined, 60_000); // until the test kills this process
    return;
  }
  const status = (await execIn(m, ['cat', '/proc/self/status'])).stdout;
  print({
    id: (await getJson(m.address, '/')).id,
    uidMap: (await execIn(m, ['cat', '/proc/self/uid_map'])).stdout.trim().split(/\s+/).join(' '),
    uid: /^Uid:\s+(\d+)/m.exec(status)?.[1],
    seccomp: /^Seccomp:\s+(\d+)/m.exec(status)?.[1],
    unshare: (await execIn(m, ['unshare', '-U', 'true'])).status,
    hostRootWarnings: lines.filter((l) => l.includes('HOST ROOT')).length,
  });
  await driver.close();
}

main().catch((e: unknown) => {
  process.stdout.write(JSON.stringify({ error: describeError(e) }) + '\n');
  process.exit(1);
});
