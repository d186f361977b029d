/**
 * Failed deploys say why, at once: through the real CLI against a real control plane and one
 * agent with sandboxed machines. An app that exits at once and an app that listens on the wrong
 * port fail their deploy long before its wait timeout, with the exit code, the check's output and
 * the app's own last lines; a replaced machine's logs stay readable; `machines status` shows a
 * machine's events; `logs -f` keeps printing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { killAllCli, startCli } from '../helpers/cli.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { waitFor } from '../helpers/wait.js';

let p: Platform;

/** The deploy may wait 600 s for checks; the CLI run is killed long before that. */
const WAIT_TIMEOUT_S = '600';
const CLI_TIMEOUT_MS = 90_000;

/** An app directory with `server.mjs` and a starling.toml whose check runs every 300 ms. */
function app(name: string, server: string, extra = ''): string {
  const dir = join(p.dir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'server.mjs'), server);
  writeFileSync(
    join(dir, 'starling.toml'),
    `app = "${name}"\nprimary_region = "fra"\nkill_signal = "SIGTERM"\nkill_timeout = "2s"\n${extra}` +
      `[experimental]\ncmd = ["node", "server.mjs"]\n` +
      `[http_service]\ninternal_port = 8080\n[[http_service.checks]]\npath = "/"\ninterval = "300ms"\ntimeout = "300ms"\ngrace_period = "1s"\n`,
  );
  return dir;
}

const listen = (port: string, banner: string): string =>
  `import http from 'node:http';\n` +
  `const server = http.createServer((req, res) => res.end(process.env.GREETING ?? 'ok'));\n` +
  `server.listen(${port}, () => console.log(${JSON.stringify(banner)}));\n` +
  // Each tick names the banner too: a machine's kept tail (its last 100 lines) says which it was however long it ran.
  `setInterval(() => console.log(${JSON.stringify(banner)} + ' tick ' + Date.now()), 200);\n` +
  `process.on('SIGTERM', () => process.exit(0));\n`;

async function deploy(dir: string): Promise<{ code: number | null; out: string }> {
  const r = await p.cli(['deploy', '--config', join(dir, 'starling.toml'), '--image', dir, '--create', '--wait-timeout', WAIT_TIMEOUT_S], CLI_TIMEOUT_MS);
  return { code: r.code, out: r.stdout + r.stderr };
}

before(async () => {
  p = await startPlatform([{ name: 'f', region: 'fra' }], { prefix: 'deploy-failures' });
});

after(async () => {
  killAllCli();
  await p?.stop();
});

describe('failed deploys explain themselves', { timeout: 300_000 }, () => {
  it('an app that exits at once fails its deploy before the wait timeout, with its exit code and last lines', async () => {
    // Restarted forever by its policy: only the crash loop says it will never serve.
    const dir = app('crash', `console.log('booting');\nconsole.error('FATAL: DATABASE_URL is not set');\nprocess.exit(1);\n`, '[[restart]]\npolicy = "always"\n');
    const r = await deploy(dir);
    // The CLI run's own timeout is far below the 600 s wait: ending here at all is the result.
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /exited with code 1/);
    assert.match(r.out, /exit code: 1/);
    assert.match(r.out, /FATAL: DATABASE_URL is not set/, "the app's own last line");
    const d = (await p.api('GET', '/v1/apps/crash/status')).body as { deploy: { error: string; events: { message: string }[] } };
    assert.match(d.deploy.error, /^machine \w+ \(fra\) (exited with code 1|is crash-looping)/);
  });

  it('an app listening on the wrong port fails with what its check saw', async () => {
    const dir = app('wrongport', listen('3000', 'listening on 3000'));
    const r = await deploy(dir);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /check http:8080\/ failed \d+ times in a row: connection refused/);
    assert.match(r.out, /ECONNREFUSED/, "the check's own output");
    assert.match(r.out, /listening on 3000/, "the app's own last lines");
  });

  it('logs --machine shows a replaced machine; machines status, its events; status, the last event of each; logs -f, new lines', async () => {
    const dir = app('good', listen('8080', 'v1 up'), '[env]\nGREETING = "v1"\n');
    const first = await deploy(dir);
    assert.equal(first.code, 0, first.out);
    const machines = async (): Promise<{ id: string; release: number }[]> => ((await p.api('GET', '/v1/apps/good/machines')).body as { machines: { id: string; release: number }[] }).machines;
    const old = (await machines())[0]!.id;

    const st = await p.cli(['machines', 'status', old, '--app', 'good']);
    assert.equal(st.code, 0, st.stdout + st.stderr);
    assert.match(st.stdout, /starting/);
    assert.match(st.stdout, /started/);
    assert.match(st.stdout, /every check passes/);

    const status = await p.cli(['status', '--app', 'good']);
    assert.match(status.stdout, /LAST EVENT/);
    assert.match(status.stdout, new RegExp(`${old} .*every check passes`), 'each machine with its newest event');

    // logs -f started now must print a line the machine writes later.
    const follow = startCli(['logs', '-f', '--app', 'good', '--machine', old], { env: p.cliEnv, timeoutMs: 60_000 });
    let seen = '';
    follow.child.stdout!.on('data', (c: Buffer) => (seen += c.toString()));
    await waitFor(() => /tick/.test(seen), 'logs -f to print the first lines', 20_000, 50);
    const firstTicks = new Set(seen.match(/tick \d+/g));
    await waitFor(() => (seen.match(/tick \d+/g) ?? []).some((t) => !firstTicks.has(t)), 'logs -f to print a line written after it started', 20_000, 50);
    const ticks = seen.match(/tick \d+/g) ?? [];
    assert.equal(new Set(ticks).size, ticks.length, 'no line printed twice');
    follow.child.kill('SIGINT');
    await follow.done;

    writeFileSync(join(dir, 'server.mjs'), listen('8080', 'v2 up'));
    const second = await deploy(dir);
    assert.equal(second.code, 0, second.out);
    assert.ok(!(await machines()).some((m) => m.id === old), 'the old machine was replaced');

    // Its agent reports it destroyed (with its last lines) once it has stopped it.
    await waitFor(async () => ((await p.api('GET', `/v1/apps/good/machines/${old}/status`)).body as { gone_at?: string | null }).gone_at != null, 'the old machine reported gone', 20_000, 50);
    const logs = await p.cli(['logs', '--machine', old, '--app', 'good']);
    assert.equal(logs.code, 0, logs.stdout + logs.stderr);
    assert.match(logs.stdout, /v1 up/, "the replaced machine's lines");
    assert.doesNotMatch(logs.stdout, /v2 up/, "only that machine's lines");

    const gone = await p.cli(['machines', 'status', old, '--app', 'good', '--json']);
    assert.equal(gone.code, 0, gone.stdout + gone.stderr);
    const doc = JSON.parse(gone.stdout) as { gone_at: string | null; events: { message: string }[] };
    assert.ok(doc.gone_at, 'shown as gone');
    assert.ok(doc.events.some((e) => /stopped: its placement was removed/.test(e.message)), JSON.stringify(doc.events));
  });
});
