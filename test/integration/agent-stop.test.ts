/**
 * An agent that stops cleanly leaves nothing of its machines on the host: their network
 * namespaces, links and cgroups go with it (a next agent would only remove them as orphans).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
    const before = new Set(netns());
    const agent = await startAgent(config, { logger: silentLogger, clock: new SystemClock() });
    const m = await agent.machines!.create('hello', { config: { image: IMAGE, cmd: ['node', 'server.mjs'], guest: { memory_mb: 64 } } });
    await waitFor(() => agent.machines!.get('hello', m.id)?.state === 'started', 'the machine started', 20_000);
    const added = netns().filter((n) => !before.has(n));
    assert.equal(added.length, 1, `one namespace for the machine: ${added.join(', ')}`);
    const stateFile = join(config.runtime.data_dir, 'machines', m.id, 'state.json');
    const cgroups = existsSync(stateFile) ? ((JSON.parse(execFileSync('cat', [stateFile], { encoding: 'utf8' })) as { traces?: { cgroupDirs?: string[] } }).traces?.cgroupDirs ?? []) : [];

    await agent.stop();
    assert.deepEqual(netns().filter((n) => !before.has(n)), [], 'the machine namespace is gone');
    for (const d of cgroups) assert.ok(!existsSync(d), `cgroup ${d} is gone`);
  });
});
