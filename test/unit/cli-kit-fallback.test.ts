/** An option's fallback (how --app comes from the app config): filled in by completeOptions, only when the flag is missing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { completeOptions, defineCommand, parseOptions, string, type Option } from '../../src/cli/kit/index.js';

const asked: unknown[] = [];
const where: Option<string> = {
  ...string({ value: 'W', description: 'where' }),
  parse: (raw) => raw as string,
  fallback: (values) => {
    asked.push(values.from);
    return Promise.resolve(`from ${String(values.from)}`);
  },
};
const cmd = defineCommand({ noun: 'go', verb: '', summary: 'go', options: { where, from: string({ value: 'F', description: 'from' }) }, load: async () => ({}) });

describe('option fallbacks', () => {
  it('runs only when the flag is missing, and sees the other options', async () => {
    assert.deepEqual(await completeOptions(cmd, parseOptions(cmd, ['--where', 'here'])), { where: 'here', from: undefined });
    assert.deepEqual(asked, []);
    assert.deepEqual(await completeOptions(cmd, parseOptions(cmd, ['--from', 'x'])), { where: 'from x', from: 'x' });
    assert.deepEqual(asked, ['x']);
  });
});
