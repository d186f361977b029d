/**
 * `starling completion bash|zsh|fish`: the bash script is loaded into a real bash and asked what
 * it completes (the function `complete -F` registered, fed COMP_WORDS as bash would); the zsh and
 * fish scripts name every noun, and are syntax-checked by their shells where those are installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NOUNS } from '../../src/cli/index.js';
import { CLI_MAIN } from '../helpers/cli.js';

function script(shell: string): string {
  const r = spawnSync(process.execPath, [CLI_MAIN, 'completion', shell], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function has(shell: string): boolean {
  return spawnSync(shell, ['-c', 'exit 0']).status === 0;
}

describe('starling completion bash', () => {
  let dir: string;
  let file: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'starling-completion-'));
    file = join(dir, 'starling.bash');
    writeFileSync(file, script('bash'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** What bash offers for the command line `words` (the last word being completed). */
  function complete(...words: string[]): string[] {
    const line = ['starling', ...words];
    const program = [
      'source "$1"',
      'complete -p starling >/dev/null || { echo "not registered" >&2; exit 3; }',
      'shift',
      'COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}',
      '_starling starling "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"',
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', program, 'bash', file, ...line], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l !== '');
  }

  it('completes `starling de` to deploy', () => {
    assert.deepEqual(complete('de'), ['deploy']);
  });

  it('offers every noun first, then the verbs of a noun, a second word of a verb, a command\'s flags and a flag\'s values', () => {
    assert.deepEqual(complete(''), NOUNS.map((n) => n.noun));
    assert.deepEqual(complete('machines', ''), ['run', 'list', 'show', 'start', 'stop', 'suspend', 'cordon', 'uncordon', 'wait', 'lease', 'destroy', 'logs', 'status']);
    assert.deepEqual(complete('agent', 'b'), ['bgp']);
    assert.deepEqual(complete('agent', 'bgp', ''), ['status']);
    assert.deepEqual(complete('apps', 'create', '--pr'), ['--primary-region']);
    assert.deepEqual(complete('apps', 'ls', '--j'), ['--json'], 'an alias has the flags of its command');
    assert.deepEqual(complete('agent', 'run', '--log-level', ''), ['debug', 'info', 'warn', 'error']);
    assert.deepEqual(complete('agent', 'run', '--log-level', '=', 'w'), ['warn'], '--flag=value');
    assert.deepEqual(complete('--v'), ['--version']);
    assert.deepEqual(complete('machines', 'run', '--app', ''), [], 'a free value: bash falls back to file names');
  });
});

describe('starling completion zsh and fish', () => {
  for (const shell of ['zsh', 'fish']) {
    it(`${shell}: names every noun and every command's flags`, (t) => {
      const text = script(shell);
      for (const n of NOUNS) assert.ok(text.includes(`'${n.noun}`), `${shell} script lacks ${n.noun}`);
      assert.match(text, /primary-region/);
      // fish knows a short form is the flag (and so that -a takes a value); zsh offers the long form.
      if (shell === 'fish') assert.match(text, /__starling_at \\'releases list\\'' -l app -s a -r -F /);
      if (!has(shell)) return t.skip(`${shell} is not installed: syntax not checked`);
      const dir = mkdtempSync(join(tmpdir(), 'starling-completion-'));
      try {
        writeFileSync(join(dir, `starling.${shell}`), text);
        const r = spawnSync(shell, ['-n', join(dir, `starling.${shell}`)], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('refuses another shell with exit 2', () => {
    const r = spawnSync(process.execPath, [CLI_MAIN, 'completion', 'tcsh'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /SHELL must be bash, zsh or fish, got "tcsh"/);
  });
});
