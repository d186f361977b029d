/**
 * Volumes on the platform (issue 20), with a real control plane, a real agent and sandboxed
 * machines: an app whose config mounts a volume (`[mounts]`) gets its machine placed on the host of
 * the volume made with `starling volumes create`; what it writes there outlives the machine's
 * restart, a rolling deploy (the new machine takes the old one's place on the same volume), and an
 * agent restart; a full volume fails the machine's writes with ENOSPC; a mounted volume cannot be
 * destroyed, and a canary deploy of such an app is refused.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canMakeNamespaces } from '../helpers/netns.js';
import { send } from '../helpers/origin.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { waitFor } from '../helpers/wait.js';

const FIXTURE = new URL('../../../test/fixtures/apps/notes/server.mjs', import.meta.url).pathname;
const skip = canMakeNamespaces() ? false : 'needs root (sandboxes, loop-mounted volumes)';
let p: Platform;
let appDir = '';
let volume = '';

const out = (r: { stdout: string; stderr: string }): string => r.stdout + r.stderr;
const config = (env: string) =>
  `app = "notes"\nprimary_region = "fra"\nkill_timeout = "2s"\n[experimental]\ncmd = ["node", "server.mjs"]\n[env]\nNOTES_DIR = "/data"\nRELEASE = "${env}"\n` +
  `[mounts]\nsource = "data"\ndestination = "/data"\ninitial_size = "1gb"\n[http_service]\ninternal_port = 8080\n[[http_service.checks]]\npath = "/healthz"\ninterval = "1s"\ntimeout = "500ms"\ngrace_period = "0s"\n`;

/** The app through the agent's proxy: which machine answered, and the notes it reads from its volume. */
async function notes(path = '/', method = 'GET'): Promise<{ machine: string; notes: string[]; error?: string | null; written?: number }> {
  const r = await send(p.agents.get('a')!.proxy.address.port, 'notes.starling.test', { method, path });
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as { machine: string; notes: string[] };
}

const machines = async (): Promise<{ id: string; healthy: boolean; volume?: string }[]> => (await p.api('GET', '/v1/apps/notes/machines')).body.machines;

async function deploy(env: string, extra: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  writeFileSync(join(appDir, 'starling.toml'), config(env));
  return p.cli(['deploy', '--config', join(appDir, 'starling.toml'), '--image', appDir, ...extra], 180_000);
}

before(async () => {
  if (skip) return;
  p = await startPlatform([{ name: 'a', region: 'fra' }], { prefix: 'platform-volumes' });
  appDir = join(p.dir, 'app');
  mkdirSync(appDir);
  copyFileSync(FIXTURE, join(appDir, 'server.mjs'));
  assert.equal((await p.cli(['apps', 'create', 'notes', '--primary-region', 'fra'])).code, 0);
});
after(async () => {
  await p?.stop();
});

describe('volumes on the platform', { skip, timeout: 300_000 }, () => {
  it('a first deploy of an app that mounts a volume makes the volume (initial_size) and places its machine on it', async () => {
    const d = await deploy('v1');
    assert.equal(d.code, 0, out(d));
    const made = (await p.api('GET', '/v1/apps/notes/volumes')).body.volumes as { id: string; name: string; size_gb: number; state: string }[];
    assert.deepEqual(made.map((v) => [v.name, v.size_gb, v.state]), [['data', 1, 'ready']], 'one volume, made by the deploy and by the agent');
    volume = made[0]!.id;
    const [m] = await machines();
    assert.equal(m?.volume, volume, 'the machine mounts the volume');
    const r = await notes('/notes?text=first', 'POST');
    assert.deepEqual(r.notes, ['first']);
    const shown = (await p.api('GET', `/v1/apps/notes/volumes/${volume}`)).body;
    assert.equal(shown.attached_machine, m?.id);
  });

  it('its files outlive a restart of the machine', async () => {
    const [m] = await machines();
    assert.equal((await p.api('POST', `/v1/apps/notes/machines/${m!.id}/stop`)).status, 200);
    await waitFor(async () => !(await machines())[0]?.healthy, 'the machine to stop', 30_000, 100);
    assert.equal((await p.api('POST', `/v1/apps/notes/machines/${m!.id}/start`)).status, 200);
    await waitFor(async () => (await machines())[0]?.healthy === true, 'the machine to run again', 30_000, 100);
    assert.deepEqual((await notes()).notes, ['first']);
  });

  it('a rolling deploy replaces the machine in place: the new one mounts the same volume and reads what the old one wrote', async () => {
    const [old] = await machines();
    const d = await deploy('v2');
    assert.equal(d.code, 0, out(d));
    const now = await machines();
    assert.equal(now.length, 1);
    assert.notEqual(now[0]!.id, old!.id, 'a new machine');
    assert.equal(now[0]!.volume, volume);
    const r = await notes('/notes?text=second', 'POST');
    assert.equal(r.machine, now[0]!.id);
    assert.deepEqual(r.notes, ['first', 'second']);
  });

  it('its files outlive an agent restart', async () => {
    await p.restartAgent('a');
    await waitFor(async () => (await send(p.agents.get('a')!.proxy.address.port, 'notes.starling.test').catch(() => ({ status: 0 }))).status === 200, 'the app to answer after the agent restarted', 60_000, 200);
    assert.deepEqual((await notes()).notes, ['first', 'second']);
  });

  it('a full volume fails the machine\'s writes with ENOSPC', async () => {
    await waitFor(async () => (await machines())[0]?.healthy === true, 'the machine to pass its checks', 30_000, 100);
    const r = await notes('/fill', 'POST');
    assert.equal(r.error, 'ENOSPC');
    assert.ok(r.written! < 1e9, `at most its 1 GB: ${r.written}`);
    assert.deepEqual((await notes()).notes, ['first', 'second'], 'and nothing it held is lost');
  });

  it('a snapshot is the volume at that moment: a volume restored from it has what was written before, not after', async () => {
    const s = await p.cli(['volumes', 'snapshots', 'create', volume, '--app', 'notes', '--json']);
    assert.equal(s.code, 0, out(s));
    const snap = (JSON.parse(s.stdout) as { id: string }).id;
    const ready = async (): Promise<string> => JSON.parse((await p.cli(['volumes', 'snapshots', 'list', volume, '--app', 'notes', '--json'])).stdout)[0]?.state as string;
    await waitFor(async () => (await ready()) === 'ready', 'the host to take the snapshot', 30_000, 200);
    await notes('/notes?text=after-the-snapshot', 'POST');
    const early = await p.cli(['volumes', 'create', 'data', '--region', 'fra', '--snapshot', 'vs_00000000000000', '--app', 'notes']);
    assert.match(out(early), /no snapshot "vs_00000000000000"/);
    const r = await p.cli(['volumes', 'create', 'copy', '--region', 'fra', '--snapshot', snap, '--app', 'notes', '--json']);
    assert.equal(r.code, 0, out(r));
    const restored = JSON.parse(r.stdout) as { id: string; size_gb: number };
    assert.equal(restored.size_gb, 1, "the snapshot's size");
    await waitFor(async () => (await p.api('GET', `/v1/apps/notes/volumes/${restored.id}`)).body.state === 'ready', 'the restored volume to be ready', 30_000, 100);
    const dataDir = p.agents.get('a')!.config.runtime.data_dir;
    assert.equal(readFileSync(join(dataDir, 'volumes', 'notes', restored.id, 'notes.txt'), 'utf8'), 'first\nsecond\n');
    assert.deepEqual((await notes()).notes, ['first', 'second', 'after-the-snapshot'], 'the volume itself goes on');
  });

  it('a mounted volume is not destroyed, and a canary deploy is refused', async () => {
    const destroy = await p.cli(['volumes', 'destroy', volume, '--app', 'notes', '--yes']);
    assert.notEqual(destroy.code, 0);
    assert.match(out(destroy), /mounts volume/);
    const canary = await deploy('v3', ['--strategy', 'canary']);
    assert.notEqual(canary.code, 0);
    assert.match(out(canary), /a canary deploy needs a second machine beside each old one, and a volume holds one/);
    const list = await p.cli(['volumes', 'list', '--app', 'notes']);
    assert.match(list.stdout, new RegExp(`${volume} +data +fra +host-a +1 GB +[\\d.]+ / [\\d.]+ GB +ready +[0-9a-f]{14}`));
    assert.match(list.stdout, / copy +fra +host-a +1 GB .* ready +-/, 'the restored volume, mounted by no machine');
    assert.ok(readFileSync('/proc/self/mounts', 'utf8').includes(`/volumes/notes/${volume} `), 'mounted on the host');
  });
});
