/**
 * The CLI kit's optional trailing argument (`starling open [PATH]`) and a noun-alone command that
 * takes an argument beside the noun's verbs (`starling proxy LOCAL[:REMOTE]` and `proxy serve`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineCommand, dispatch, implement, parseOptions, string, type CommandTree } from '../../src/cli/kit/index.js';
import { isStarlingError } from '../../src/shared/index.js';

const ran: unknown[] = [];
const open = defineCommand({ noun: 'open', verb: '', args: ['[PATH]'], summary: 'open', options: { app: string({ value: 'APP', description: 'the app' }) }, load: async (): Promise<object> => impls });
const forward = defineCommand({ noun: 'proxy', verb: '', args: ['PORTS'], summary: 'forward', options: {}, load: async (): Promise<object> => impls });
const serve = defineCommand({ noun: 'proxy', verb: 'serve', summary: 'serve', options: {}, load: async (): Promise<object> => impls });
const impls = {
  open: implement(open, async (o) => (ran.push({ open: o.path ?? null }), 0)),
  forward: implement(forward, async (o) => (ran.push({ forward: o.ports }), 0)),
  serve: implement(serve, async () => (ran.push('serve'), 0)),
};
const tree: CommandTree = {
  name: 'kit',
  tagline: 'test',
  groups: ['G'],
  nouns: [{ noun: 'open', group: 'G', summary: 'o' }, { noun: 'proxy', group: 'G', summary: 'p' }],
  commands: [open, serve, forward],
};
const pkg = { packageJson: new URL('../../../package.json', import.meta.url) };

describe('CLI kit arguments', () => {
  it('a bracketed trailing argument may be left out; more than declared is still refused', () => {
    assert.equal(parseOptions(open, []).path, undefined);
    assert.equal(parseOptions(open, ['/healthz', '--app', 'a']).path, '/healthz');
    assert.throws(() => parseOptions(open, ['a', 'b']), (e: unknown) => isStarlingError(e, 'ERR_USAGE') && /unexpected argument "b"/.test(e.message));
  });

  it('a noun-alone command with an argument runs beside the noun verbs, and a near verb is named', async () => {
    ran.length = 0;
    assert.equal(await dispatch(tree, ['proxy', '8080:80'], pkg), 0);
    assert.equal(await dispatch(tree, ['proxy', 'serve'], pkg), 0);
    assert.deepEqual(ran, [{ forward: '8080:80' }, 'serve']);
    const errors: string[] = [];
    const orig = console.error;
    console.error = (m: string) => void errors.push(m);
    try {
      assert.equal(await dispatch(tree, ['proxy', 'serv'], pkg), 2);
    } finally {
      console.error = orig;
    }
    assert.match(errors.join('\n'), /did you mean "proxy serve"/);
    assert.equal(ran.length, 2, 'nothing ran');
  });
});
