/**
 * CLI habits a flyctl user brings (issue 14, item 5), through the built CLI: "did you mean" for a
 * mistyped command or flag (exit 2), and the short flags -a -c -j -y -f, which must reach the
 * command as their long forms do (checked against a real control plane on loopback).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startLoopbackControl, type LoopbackControl } from '../helpers/control.js';

let c: LoopbackControl;
before(async () => {
  c = await startLoopbackControl('starling-cli-habits-');
});
after(() => c.close());

function cli(...args: string[]): Promise<CliResult> {
  return runCli(args, { env: { HOME: c.home, STARLING_CONTROL_URL: c.url, STARLING_TOKEN: c.token }, cleanEnv: true });
}

describe('did you mean', () => {
  it('a mistyped command exits 2 and names the nearest one', async () => {
    const r = await cli('stauts', '--app', 'web');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: unknown command "stauts": did you mean "status"\?\n/);
    assert.match(r.stderr, /hint: see: starling status --help/);
    assert.equal(r.stdout, '');
  });

  it('a mistyped noun or verb of a two-word command names the command', async () => {
    assert.match((await cli('aps', 'list')).stderr, /unknown command "aps list": did you mean "apps list"\?/);
    const verb = await cli('apps', 'lst');
    assert.equal(verb.code, 2);
    assert.match(verb.stderr, /unknown command "apps lst": did you mean "apps list"\?/);
    // `deploy` is a command too, but it takes no argument: `deploy resme` meant `deploy resume`.
    const sub = await cli('deploy', 'resme', '7');
    assert.equal(sub.code, 2);
    assert.match(sub.stderr, /unknown command "deploy resme": did you mean "deploy resume"\?/);
  });

  it('a word nothing is near still gets the help, exit 2', async () => {
    const r = await cli('zzzzzz');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: unknown command "zzzzzz"\n\nstarling — /);
  });

  it('a mistyped flag exits 2 and names the nearest flag of that command', async () => {
    const r = await cli('deploy', '--strateg', 'canary');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: unknown flag --strateg: did you mean --strategy\?\nhint: see: starling deploy --help\n$/);
    assert.match((await cli('releases', 'list', '--jsn', '--app=web')).stderr, /unknown flag --jsn: did you mean --json\?/);
    assert.match((await cli('deploy', '--strateg=canary')).stderr, /unknown flag --strateg: did you mean --strategy\?/);
    const far = await cli('deploy', '--bogus');
    assert.equal(far.code, 2);
    assert.match(far.stderr, /^error: unknown flag --bogus\nhint: see: starling deploy --help\n$/);
  });
});

describe('short flags', () => {
  it('help shows them next to the long form', async () => {
    const status = await cli('status', '--help');
    assert.match(status.stdout, /^ {2}-a, --app APP\s+the app/m);
    assert.match(status.stdout, /^ {2}-j, --json\s/m);
    assert.match((await cli('apps', 'destroy', '--help')).stdout, /^ {2}-y, --yes\s/m);
    assert.match((await cli('config', 'validate', '--help')).stdout, /^ {2}-c, --config FILE\s/m);
    assert.match((await cli('machines', 'logs', '--help')).stdout, /^ {2}-f, --follow\s/m);
  });

  it('-a, -j and -y reach the command as --app, --json and --yes do', async () => {
    assert.equal((await cli('apps', 'create', 'web', '--primary-region', 'ams', '-j')).code, 0);
    const listed = await cli('secrets', 'list', '-a', 'web', '-j');
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), JSON.parse((await cli('secrets', 'list', '--app', 'web', '--json')).stdout));
    const other = await cli('secrets', 'list', '-a', 'nope');
    assert.equal(other.code, 2);
    assert.match(other.stderr, /nope/);
    const gone = await cli('apps', 'destroy', 'web', '-y');
    assert.equal(gone.code, 0, gone.stderr);
    assert.match((await cli('apps', 'list', '-j')).stdout, /^\[\]\s*$/);
  });

  it('-c names the config file', async () => {
    const r = await cli('config', 'validate', '-c', join(c.dir, 'missing', 'fly.toml'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing\/fly\.toml/);
  });

  it('an unknown short flag is a usage error', async () => {
    const r = await cli('status', '-q');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: unknown flag -q\n/);
  });
});
