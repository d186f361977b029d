/**
 * An agent that stops cleanly leaves nothing of its machines on the host: their network
 * namespaces, links and cgroups go with it (a next agent would only remove them as orphans).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseAgentConfig, startAgent } from '../../src/agent/index.js';
import { SystemClock, silentLogger } from '../../src/shared/index.js';
import { closedPort } from '../helpers/origin.js';
import { waitFor } from '../helpers/wait.js';

const IMAGE = new URL('../../../test/fixtures/apps/hello', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'starling-agent-stop-'));
chmodSync(dir, 0o711); // the agent's machines must pass through to its state dir (as /var/lib is)
after(() => rmSync(dir, { recursive: true, force: true }));

const netns = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');

describe('agent stop', { timeout: 60_000 }, () => {
  it("removes its machines' namespaces and cgroups", async () => {
    writeFileSync(join(dir, 'routes.json'), '{ "apps": [] }\n');
    const [proxy, admin, api] = [await closedPort(), await closedPort(), await closedPort()];
    const config = parseAgentConfig(
      `[agent]\nregion = "fra"\nstate_dir = "${join(dir, 'state')}"\nadmin_listen = "127.0.0.1:${api}"\n` +
        `[proxy]\nlisten = "127.0.0.1:${proxy}"\nroutes = "${join(dir, 'routes.json')}"\nadmin = "127.0.0.1:${admin}"\n` +
        `[bgp]\nasn = 65010\nrouter_id = "192.0.2.31"\nprefixes = ["198.51.100.0/24"]\n[[bgp.peers]]\nname = "up1"\naddress = "192.0.2.1"\nasn = 65001\n` +
        `[runtime]\nbridge = "sst${process.pid % 10000}"\nnetwork = "172.26.${process.pid % 250}.0/24"\n`,
      'agent.toml',
    );
    const agent = await startAgent(config, { logger: silentLogger, clock: new SystemClock() });
    const m = await agent.machines!.create('hello', { config: { image: IMAGE, cmd: ['node', 'server.mjs'], guest: { memory_mb: 64 } } });
    await waitFor(() => agent.machines!.get('hello', m.id)?.state === 'started', 'the machine started', 20_000);
    // What the driver recorded of this machine on the host (other test files make namespaces too).
    const machinesDir = join(config.runtime.data_dir, 'machines');
    const states = readdirSync(machinesDir).map((d) => join(machinesDir, d, 'state.json')).filter((f) => existsSync(f));
    assert.equal(states.length, 1, 'one machine on this agent');
    const traces = (JSON.parse(readFileSync(states[0]!, 'utf8')) as { traces: { netns: string; cgroupDirs: string[] } }).traces;
    assert.ok(netns().includes(traces.netns), `its namespace ${traces.netns} exists`);

    await agent.stop();
    assert.ok(!netns().includes(traces.netns), 'the machine namespace is gone');
    for (const d of traces.cgroupDirs) assert.ok(!existsSync(d), `cgroup ${d} is gone`);
  });
});
