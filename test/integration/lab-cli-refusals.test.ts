/**
 * `starling lab up` refuses a topology it cannot build faithfully before it makes anything: ties BGP
 * would break by router id (each tied path named), and a file with schema errors (all listed).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'starling-lab-refusals-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('starling lab up refuses what it cannot build faithfully', () => {
  it('a topology with ties: exit 2, every tied city and path named, nothing built', async () => {
    const name = `tie${process.pid % 100000}`;
    const r = await runCli(['lab', 'up', '--topology', join(repoRoot(), 'test/fixtures/lab/tie.toml'), '--name', name]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /city lhr: PoP ams via ams→lhr \(length 2\) ties PoP cdg via cdg→lhr \(length 2\)/);
    assert.match(r.stderr, /city fra: PoP ams via ams→fra \(length 2\) ties PoP cdg via cdg→fra \(length 2\)/);
    assert.ok(!existsSync(join('/run/starling-lab', name)), 'no lab state was made');
  });

  it('a topology file with errors: exit 2, all of them with their paths', async () => {
    const file = join(dir, 'bad.toml');
    writeFileSync(file, '[[cities]]\ncode = "X"\nname = "?"\nlat = 200\nlon = 0\ncolour = "red"\n[[links]]\na = "X"\nb = "nowhere"\n');
    const r = await runCli(['lab', 'up', '--topology', file, '--name', `bad${process.pid % 100000}`]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    for (const path of ['cities[0].code', 'cities[0].lat', 'cities[0]', 'links[0].b']) assert.ok(r.stderr.includes(path), `${path} in:\n${r.stderr}`);
  });
});
