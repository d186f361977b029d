/**
 * The verbs a fly user reaches for, through the real CLI against a real control plane and two
 * agents in two regions with sandboxed machines (issue 14, "Verbs"): `machines list|start|stop|
 * destroy` across every host without an agent.toml, `scale show`, `open`, `ssh console` (a command
 * inside the machine as its own uid, with its environment and exit status, audited in the agent's
 * log) and `proxy LOCAL:REMOTE` (an HTTP GET to the machine's port through the control plane).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'node:http';
import { spawn } from 'node:child_process';
import { CLI_MAIN, killAllCli, runCli, startCli, type CliRun } from '../helpers/cli.js';
import type { MachineJson } from '../../src/cli/commands/deploy/follow.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { waitFor } from '../helpers/wait.js';

const FIXTURE = new URL('../../../test/fixtures/apps/env-echo/server.mjs', import.meta.url).pathname;
let p: Platform;
const SECRET = 's3cret-value-0123456789';

type Listed = Pick<MachineJson, 'id' | 'region' | 'host' | 'release' | 'state' | 'healthy'>;

const list = async (): Promise<Listed[]> => {
  const r = await p.cli(['machines', 'list', '--app', 'web', '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout) as Listed[];
};
/** The app's machines as the API lists them (to pick one without depending on `machines list`). */
const placed = async (): Promise<Listed[]> => (await p.api('GET', '/v1/apps/web/machines')).body.machines as Listed[];
const out = (r: { stdout: string; stderr: string }): string => r.stdout + r.stderr;

/** `starling proxy …` running; resolves with it and the local port its first line names. */
async function startProxy(args: string[]): Promise<{ run: CliRun; port: number }> {
  const run = startCli(['proxy', ...args], { env: p.cliEnv, timeoutMs: 120_000 });
  let text = '';
  run.child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  await Promise.race([run.until(/proxying 127\.0\.0\.1:\d+ /), run.done.then((r) => assert.fail(`proxy exited: ${out(r)}`))]);
  return { run, port: Number(/proxying 127\.0\.0\.1:(\d+) /.exec(text)![1]) };
}

/** GET on a fresh connection to 127.0.0.1:port; rejects when the connection fails or closes early. */
function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 20_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  p = await startPlatform([
    { name: 'a', region: 'fra' },
    { name: 'b', region: 'ams' },
  ], { prefix: 'cli-verbs' });
  const appDir = join(p.dir, 'app');
  mkdirSync(appDir);
  copyFileSync(FIXTURE, join(appDir, 'server.mjs'));
  writeFileSync(
    join(appDir, 'starling.toml'),
    `app = "web"\nprimary_region = "fra"\nkill_signal = "SIGTERM"\nkill_timeout = "2s"\n[experimental]\ncmd = ["node", "server.mjs"]\n` +
      `[http_service]\ninternal_port = 8080\n[[http_service.checks]]\npath = "/healthz"\ninterval = "1s"\ntimeout = "500ms"\ngrace_period = "0s"\n` +
      `[[vm]]\ncpus = 1\nmemory_mb = 192\n`,
  );
  // A secret from the start (set before the first release: no second rollout).
  assert.equal((await p.cli(['apps', 'create', 'web', '--primary-region', 'fra'])).code, 0);
  assert.equal((await p.cli(['secrets', 'set', `API_KEY=${SECRET}`, '--app', 'web'])).code, 0);
  const d = await p.cli(['deploy', '--config', join(appDir, 'starling.toml'), '--image', appDir], 180_000);
  assert.equal(d.code, 0, out(d));
  const s = await p.cli(['scale', 'count', '1', '--region', 'fra,ams', '--app', 'web']);
  assert.equal(s.code, 0, out(s));
  // Through the API, not `machines list`: each test below must stand or fall on its own verb.
  await waitFor(async () => (await placed()).filter((m) => m.healthy).length === 2, 'a healthy machine in each region', 60_000, 100);
});

after(async () => {
  killAllCli();
  await p?.stop();
});

describe('the verbs a fly user reaches for', { timeout: 300_000 }, () => {
  it('machines list shows the app on every host through the control plane, with no agent.toml here', async () => {
    const r = await p.cli(['machines', 'list', '--app', 'web']);
    assert.equal(r.code, 0, out(r));
    const [head, ...rows] = r.stdout.trim().split('\n');
    assert.match(head!, /^ID\s+GROUP\s+REGION\s+HOST\s+RELEASE\s+STATE\s+CHECKS$/);
    assert.equal(rows.length, 2, r.stdout);
    assert.match(r.stdout, /ams\s+host-b\s+v1\s+started\s+passing/);
    assert.match(r.stdout, /fra\s+host-a\s+v1\s+started\s+passing/);
    const json = await list();
    assert.deepEqual(json.map((m) => m.host).sort(), ['host-a', 'host-b']);
  });

  it('scale show gives the count per region and the VM size of the deployed release', async () => {
    const r = await p.cli(['scale', 'show', '--app', 'web']);
    assert.equal(r.code, 0, out(r));
    assert.match(r.stdout, /2 machines of release v1; VM size 1 cpu, 192 MB/);
    assert.match(r.stdout, /ams\s+1\s+1\n/);
    assert.match(r.stdout, /fra\s+1\s+1/);
    const j = JSON.parse((await p.cli(['scale', 'show', '--app', 'web', '--json'])).stdout) as { count: number; vm: unknown; regions: unknown[] };
    assert.deepEqual(j.vm, { cpus: 1, memory_mb: 192 });
    assert.deepEqual(j.regions, [{ region: 'ams', count: 1, started: 1 }, { region: 'fra', count: 1, started: 1 }]);
  });

  it("open prints the app's URL with the path; an unknown app is an error", async () => {
    const r = await p.cli(['open', '/healthz', '--app', 'web']);
    assert.equal(r.code, 0, out(r));
    assert.equal(r.stdout.trim(), 'http://web.starling.test/healthz');
    assert.equal((await p.cli(['open', '--app', 'web'])).stdout.trim(), 'http://web.starling.test/');
    const bad = await p.cli(['open', '--app', 'nope']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /nope/);
  });

  it('ssh console -C runs inside the machine as its uid with its environment, returns its exit status, and is audited', async () => {
    const fra = (await placed()).find((m) => m.region === 'fra')!;
    const r = await p.cli(['ssh', 'console', '--app', 'web', '--machine', fra.id, '-C', 'grep ^Uid: /proc/self/status; echo "id=$FLY_MACHINE_ID region=$FLY_REGION"; pwd; exit 3']);
    assert.equal(r.code, 3, out(r));
    assert.match(r.stdout, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m, 'the machine\'s uid, not root');
    assert.match(r.stdout, new RegExp(`id=${fra.id} region=fra`));
    assert.match(r.stdout, /^\/app$/m);
    const audit = p.lines.filter((l) => l.includes('exec into machine') && l.includes(fra.id));
    assert.equal(audit.length, 1, 'audited in the agent log');
    assert.match(audit[0]!, /"by":"control plane for platform"/);
    assert.match(audit[0]!, /grep \^Uid/);
    assert.ok(p.lines.some((l) => l.includes('exec ended') && l.includes(fra.id) && l.includes('"code":3')));
    // The machine's secrets are its environment; one typed into the command is not in the audit line.
    const typed = await p.cli(['ssh', 'console', '--app', 'web', '--machine', fra.id, '-C', `test "$API_KEY" = ${SECRET} && echo same`]);
    assert.equal(typed.stdout.trim(), 'same', out(typed));
    const line = p.lines.filter((l) => l.includes('exec into machine') && l.includes(fra.id)).at(-1)!;
    assert.match(line, /test \\"\$API_KEY\\" = \[redacted\]/);
    assert.ok(!p.lines.some((l) => l.includes(SECRET)), 'the secret appears in no agent log line');
    // stdin reaches the command; with no machine named, the first started one runs it.
    const piped = await runCli(['ssh', 'console', '--app', 'web', '-C', 'cat'], { env: p.cliEnv, stdin: 'hello from stdin\n', timeoutMs: 60_000 });
    assert.equal(piped.code, 0, out(piped));
    assert.equal(piped.stdout, 'hello from stdin\n');
    // A read-only token may look, not enter.
    const t = await p.cli(['tokens', 'create', '--org', 'personal', '--scope', 'read', '--json']);
    assert.equal(t.code, 0, out(t));
    const { STARLING_TOKEN_FILE: _file, ...env } = p.cliEnv;
    const reader = await runCli(['ssh', 'console', '--app', 'web', '-C', 'true'], { env: { ...env, STARLING_TOKEN: (JSON.parse(t.stdout) as { token: string }).token }, timeoutMs: 60_000 });
    assert.equal(reader.code, 2, out(reader));
    assert.match(reader.stderr, /ERR_FORBIDDEN|deploy/);
    const s = await p.cli(['ssh', 'console', '--app', 'web', '-s', '-C', 'true']);
    assert.equal(s.code, 2, out(s));
    assert.match(s.stderr, /stdin is not a terminal/);
  });

  it('ssh console on a terminal gets a terminal inside the machine: an interactive shell, its exit status ours', async () => {
    const fra = (await placed()).find((m) => m.region === 'fra')!;
    // util-linux script gives the CLI a terminal of its own; what we write is typed on it.
    const cli = ['node', CLI_MAIN, 'ssh', 'console', '--app', 'web', '--machine', fra.id].map((w) => `'${w}'`).join(' ');
    const child = spawn('script', ['-qfec', cli, '/dev/null'], { env: { ...process.env, ...p.cliEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    const code = new Promise<number | null>((resolve) => child.once('close', resolve));
    // Typed once the remote shell shows its prompt (the CLI is in raw mode by then).
    await waitFor(() => /\$ $/.test(text), 'the remote shell prompt', 30_000, 20).catch((e: Error) => assert.fail(`${e.message}; the terminal showed: ${JSON.stringify(text)}`));
    child.stdin.write('tty; echo "uid=$(id -u) in $FLY_REGION"; exit 5\r');
    assert.equal(await code, 5, text);
    assert.match(text, /\/dev\/pts\/\d+/, 'a terminal inside the machine');
    assert.match(text, /uid=1000 in fra/);
  });

  it("proxy LOCAL:REMOTE forwards a local port to the machine's port through the control plane", async () => {
    const ams = (await placed()).find((m) => m.region === 'ams')!;
    const { run, port } = await startProxy(['0:8080', '--app', 'web', '--machine', ams.id]);
    // Two requests, each its own connection (agent: false), both answered by the named machine.
    for (const path of ['/', '/env?name=FLY_REGION']) {
      const body = await get(port, path);
      assert.ok(body.includes(path === '/' ? ams.id : '"ams"'), body);
    }
    // Nothing listens on the machine's port 9: the connection is closed, the reason on stderr.
    const { run: none, port: port9 } = await startProxy(['0:9', '--app', 'web', '--machine', ams.id]);
    await assert.rejects(get(port9, '/'));
    run.child.kill('SIGINT');
    none.child.kill('SIGINT');
    assert.equal((await run.done).code, 0);
    const n = await none.done;
    assert.equal(n.code, 0);
    assert.match(n.stderr, /machine \w+ port 9 failed: .*ECONNREFUSED/);
    const bad = await p.cli(['proxy', 'serv']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /did you mean "proxy serve"/);
  });

  it('machines stop and start act on the host that runs the machine; destroy removes its placement', async () => {
    const ams = (await placed()).find((m) => m.region === 'ams')!;
    const stop = await p.cli(['machines', 'stop', ams.id, '--app', 'web']);
    assert.equal(stop.code, 0, out(stop));
    assert.match(stop.stdout, new RegExp(`machine ${ams.id} on host-b: stopped \\(was started\\)`));
    await waitFor(async () => (await list()).find((m) => m.id === ams.id)?.state === 'stopped', 'the stop reported', 20_000, 100);
    const start = await p.cli(['machines', 'start', ams.id, '--app', 'web']);
    assert.equal(start.code, 0, out(start));
    await waitFor(async () => (await list()).find((m) => m.id === ams.id)?.healthy === true, 'started and healthy again', 30_000, 100);
    const gone = await p.cli(['machines', 'destroy', ams.id, '--app', 'web']);
    assert.equal(gone.code, 0, out(gone));
    await waitFor(async () => !(await list()).some((m) => m.id === ams.id), 'the machine gone from the list', 30_000, 100);
    await waitFor(() => p.agents.get('b')!.machines!.get('web', ams.id) === undefined, 'host-b to tear it down', 30_000, 50);
    const missing = await p.cli(['machines', 'start', ams.id, '--app', 'web']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no machine/);
  });
});
