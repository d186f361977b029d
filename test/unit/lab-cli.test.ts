/** The lab commands' argument handling: a trailing `CMD...` takes the rest of the words. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMMANDS, commandHelp, findCommand } from '../../src/cli/index.js';
import { optionList, parseOptions } from '../../src/cli/args.js';
import { isStarlingError } from '../../src/shared/index.js';

const find = (...words: string[]) => {
  const found = findCommand(words);
  assert.ok(found, `no command ${words.join(' ')}`);
  return found;
};

describe('starling lab exec CITY -- CMD...', () => {
  it('takes every word after CITY as the command, options of its own included', () => {
    const { cmd, rest } = find('lab', 'exec', 'cdg', '--name', 'x1', '--', 'ip', '-4', 'route');
    const opts = parseOptions(cmd, rest);
    assert.equal(opts.city, 'cdg');
    assert.equal(opts.name, 'x1');
    assert.deepEqual(optionList(opts, 'cmd'), ['ip', '-4', 'route']);
    assert.match(commandHelp(cmd), /^starling lab exec CITY -- CMD\.\.\. — /);
  });

  it('wants a command, and still refuses extra words on commands without CMD...', () => {
    const exec = find('lab', 'exec', 'cdg');
    assert.throws(() => parseOptions(exec.cmd, exec.rest), (e) => isStarlingError(e, 'ERR_USAGE') && /missing CMD\.\.\./.test(e.message));
    const heal = find('lab', 'heal', 'lhr1', 'extra');
    assert.throws(() => parseOptions(heal.cmd, heal.rest), (e) => isStarlingError(e, 'ERR_USAGE') && /unexpected argument "extra"/.test(e.message));
  });

  it('lab curl takes -4 and -6 (and --4, --6), as curl does', () => {
    for (const [argv, v4, v6] of [[['-6'], false, true], [['--6'], false, true], [['-4'], true, false], [[], false, false]] as const) {
      const { cmd, rest } = find('lab', 'curl', 'cdg', 'http://demo.starling.test/', ...argv);
      const opts = parseOptions(cmd, rest) as { 4: boolean; 6: boolean };
      assert.deepEqual([opts[4], opts[6]], [v4, v6], argv.join(' '));
    }
    assert.match(commandHelp(find('lab', 'curl').cmd), /-6, --6 +over IPv6/);
  });

  it('every lab command has --name, defaulting to the default lab (lab use names it as kubectl config use-context does: [NAME])', () => {
    const lab = COMMANDS.filter((c) => c.noun === 'lab');
    assert.deepEqual(lab.map((c) => c.verb).sort(), ['curl', 'down', 'exec', 'fail', 'failover', 'heal', 'status', 'up', 'use']);
    for (const c of lab.filter((x) => x.verb !== 'use')) assert.equal(c.options.name?.default, 'default', `lab ${c.verb}`);
    assert.deepEqual(lab.find((c) => c.verb === 'use')?.args, ['[NAME]']);
  });
});
