/** The CLI kit on a small tree of its own: typed options, usage errors, help and dispatch. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  boolean,
  commandHelp,
  custom,
  defineCommand,
  dispatch,
  duration,
  implement,
  list,
  loadImplementation,
  mainHelp,
  nounHelp,
  number,
  oneOf,
  parseOptions,
  string,
  type CommandTree,
} from '../../src/cli/kit/index.js';
import { isStarlingError } from '../../src/shared/index.js';

const ran: unknown[] = [];

const pets = defineCommand({
  noun: 'pets',
  verb: 'add',
  aliases: ['new'],
  summary: 'add a pet',
  args: ['NAME', 'TAGS...'],
  options: {
    kind: oneOf(['cat', 'dog'], { description: 'what it is', default: 'cat' }),
    legs: number({ description: 'how many', integer: true, min: 0, max: 8 }),
    weight: number({ description: 'in kg', positive: true }),
    owner: string({ value: 'WHO', description: 'who has it', required: { hint: 'every pet has one' } }),
    vet: string({ value: 'WHO', description: 'its vet' }),
    toy: list({ value: 'TOY', description: 'a toy' }),
    walk: duration({ description: 'walk every', default: '12h' }),
    home: custom({ value: 'X,Y', description: 'where it lives' }, (t, flag) => {
      const [x, y] = t.split(',').map(Number);
      if (x === undefined || y === undefined || Number.isNaN(x) || Number.isNaN(y)) throw new Error(`${flag}: not X,Y`);
      return { x, y };
    }),
    loud: boolean({ description: 'barks' }),
  },
  load: async (): Promise<object> => ({ addPet }),
});

const addPet = implement(pets, async (opts) => {
  // The types are the point: each line would fail to compile if the kit typed it otherwise.
  const name: string = opts.name;
  const tags: string[] = opts.tags;
  const kind: 'cat' | 'dog' = opts.kind;
  const legs: number | undefined = opts.legs;
  const owner: string = opts.owner;
  const vet: string | undefined = opts.vet;
  const toys: string[] = opts.toy;
  const walkMs: number = opts.walk;
  const home: { x: number; y: number } | undefined = opts.home;
  const loud: boolean = opts.loud;
  // @ts-expect-error -- --vet may be left out
  const vetName: string = opts.vet;
  // @ts-expect-error -- --legs is a number, not text
  const legsText: string | undefined = opts.legs;
  // @ts-expect-error -- no such option
  void opts.colour;
  void [vetName, legsText];
  ran.push({ name, tags, kind, legs, owner, vet, toys, walkMs, home, loud });
  return 0;
});

const petsList = defineCommand({ noun: 'pets', verb: 'list', summary: 'the pets', options: {}, load: async () => ({}) });
const feed = defineCommand({ noun: 'feed', verb: '', summary: 'feed them all', options: { now: boolean({ description: 'at once' }) }, load: async () => ({}) });

const tree: CommandTree = {
  name: 'starling',
  tagline: 'a test',
  groups: ['Animals', 'Chores'],
  nouns: [
    { noun: 'pets', group: 'Animals', summary: 'the pets we have' },
    { noun: 'feed', group: 'Chores', summary: 'feeding' },
  ],
  commands: [pets, petsList, feed],
};

const usage = (re: RegExp) => (e: unknown) => isStarlingError(e, 'ERR_USAGE') && e.fault === 'user' && re.test(e.message) && e.hint !== undefined;

describe('CLI kit: options', () => {
  it('parses each type, applies defaults and collects positionals', async () => {
    const opts = parseOptions(pets, ['rex', 'old', 'good', '--owner', 'ann', '--legs', '4', '--toy', 'ball', '--toy', 'bone', '--home', '1,2', '--loud', '--weight', '0.5']);
    assert.deepEqual({ ...opts }, {
      name: 'rex',
      tags: ['old', 'good'],
      kind: 'cat',
      legs: 4,
      weight: 0.5,
      owner: 'ann',
      vet: undefined,
      toy: ['ball', 'bone'],
      walk: 12 * 3_600_000,
      home: { x: 1, y: 2 },
      loud: true,
    });
    ran.length = 0;
    assert.equal(await (await loadImplementation(pets)).run(opts), 0);
    assert.equal((ran[0] as { owner: string }).owner, 'ann');
  });

  it('refuses bad values, naming the flag, what it takes and what it got', () => {
    const base = ['rex', 'a', '--owner', 'ann'];
    assert.throws(() => parseOptions(pets, [...base, '--kind', 'cow']), usage(/^--kind must be cat or dog, got "cow"$/));
    assert.throws(() => parseOptions(pets, [...base, '--legs', '9']), usage(/^--legs must be a whole number from 0 to 8, got "9"$/));
    for (const v of ['1.5', '-1', '1e1', '']) assert.throws(() => parseOptions(pets, [...base, `--legs=${v}`]), usage(/^--legs must be a whole number/), v);
    assert.throws(() => parseOptions(pets, [...base, '--weight', '0']), usage(/^--weight must be a positive number, got "0"$/));
    assert.throws(() => parseOptions(pets, [...base, '--walk', '10 s']), usage(/^--walk must be a duration such as 30d, 12h, 90m or 1d12h/));
    assert.throws(() => parseOptions(pets, [...base, '--bogus']), usage(/bogus/));
    assert.throws(() => parseOptions(pets, [...base, '--loud=yes']), usage(/loud/));
  });

  it('says what is missing: a required option, an argument', () => {
    assert.throws(() => parseOptions(pets, ['rex', 'a']), (e) => usage(/^missing --owner WHO$/)(e) && (e as { hint: string }).hint === 'every pet has one');
    assert.throws(() => parseOptions(pets, ['rex', 'a', '--owner', '']), usage(/^missing --owner WHO$/));
    assert.throws(() => parseOptions(pets, ['rex', '--owner', 'ann']), usage(/^missing TAGS\.\.\.$/));
    assert.throws(() => parseOptions(petsList, ['extra']), usage(/^unexpected argument "extra"$/));
  });

  it('an optional trailing argument [VERSION] may be left out; a required one may not follow it', () => {
    const back = defineCommand({ noun: 'pets', verb: 'back', summary: 'go back', args: ['NAME', '[VERSION]'], options: {}, load: async () => ({}) });
    assert.deepEqual({ ...parseOptions(back, ['rex']) }, { name: 'rex', version: undefined });
    assert.deepEqual({ ...parseOptions(back, ['rex', 'v3']) }, { name: 'rex', version: 'v3' });
    assert.throws(() => parseOptions(back, []), usage(/^missing NAME$/));
    assert.throws(() => parseOptions(back, ['rex', 'v3', 'more']), usage(/^unexpected argument "more"$/));
    assert.match(commandHelp(back), /pets back NAME \[VERSION\]/);
    assert.throws(() => defineCommand({ noun: 'x', verb: 'y', summary: '', args: ['[A]', 'B'], options: {}, load: async () => ({}) }), /follows an optional argument/);
  });

  it('refuses a declaration whose argument and option share a name', () => {
    assert.throws(() => defineCommand({ noun: 'x', verb: 'y', summary: '', args: ['NAME'], options: { name: boolean({ description: '' }) }, load: async () => ({}) }), /share a name/);
  });

  it('a short letter is the flag too, shown in help; an unknown flag names the nearest one', () => {
    const greet = defineCommand({
      noun: 'greet',
      verb: '',
      summary: 'say hello',
      options: { who: string({ value: 'NAME', short: 'w', description: 'to whom' }), loud: boolean({ short: 'l', description: 'shout' }) },
      load: async () => ({}),
    });
    assert.deepEqual(parseOptions(greet, ['-w', 'ann', '-l']), { who: 'ann', loud: true });
    assert.deepEqual(parseOptions(greet, ['-lw', 'bo']), { who: 'bo', loud: true });
    assert.match(commandHelp(greet), /^ {2}-w, --who NAME {2}to whom$/m);
    assert.throws(() => parseOptions(greet, ['--whoo', 'x']), usage(/^unknown flag --whoo: did you mean --who\?$/));
    assert.throws(() => parseOptions(greet, ['--zzzzzz']), usage(/^unknown flag --zzzzzz$/));
    assert.throws(() => parseOptions(greet, ['-q']), usage(/^unknown flag -q$/));
  });

  it('refuses a short letter used twice, -h (help) or more than one letter', () => {
    const def = (options: Record<string, ReturnType<typeof boolean>>) => () => defineCommand({ noun: 'x', verb: 'y', summary: '', options, load: async () => ({}) });
    assert.throws(def({ a: boolean({ short: 'q', description: '' }), b: boolean({ short: 'q', description: '' }) }), /-q is not one free letter/);
    assert.throws(def({ a: boolean({ short: 'h', description: '' }) }), /-h is not one free letter/);
    assert.throws(def({ a: boolean({ short: 'ab', description: '' }) }), /not one free letter/);
  });

  it('a module without the implementation is an error of ours, not a crash without words', async () => {
    await assert.rejects(loadImplementation(petsList), (e) => isStarlingError(e, 'ERR_CLI_DEFINITION') && /pets list/.test(e.message));
  });
});

describe('CLI kit: help and dispatch', () => {
  it('root help groups the nouns; a noun with one command shows that command', () => {
    const help = mainHelp(tree);
    assert.match(help, /\nAnimals\n {2}pets {2,}the pets we have\n\nChores\n {2}feed {2,}feed them all\n/);
  });

  it("a noun's help lists its verbs with summaries and aliases; a command's help its options", () => {
    assert.match(nounHelp(tree, tree.nouns[0]!), /starling pets add NAME TAGS\.\.\. {2,}add a pet \(alias: new\)\n {2}starling pets list {2,}the pets/);
    const help = commandHelp(pets, tree);
    assert.match(help, /^starling pets add NAME TAGS\.\.\. — add a pet\nalias: starling pets new\n/);
    assert.match(help, /--kind cat\|dog {2,}what it is \(default: cat\)/);
    assert.match(help, /--owner WHO {2,}who has it \(required\)/);
    assert.match(help, /--toy TOY {2,}a toy \(repeatable\)/);
  });

  it('--help anywhere before --, `help NOUN`, the noun alone: help on stdout, exit 0; an unknown verb: exit 2', async (t) => {
    const out: string[] = [];
    const err: string[] = [];
    t.mock.method(console, 'log', (s: string) => void out.push(s));
    t.mock.method(console, 'error', (s: string) => void err.push(s));
    const pkg = new URL('../../../package.json', import.meta.url);
    assert.equal(await dispatch(tree, ['pets', 'new', 'x', '--help'], { packageJson: pkg }), 0);
    assert.match(out.pop()!, /^starling pets add/);
    assert.equal(await dispatch(tree, ['help', 'pets'], { packageJson: pkg }), 0);
    assert.match(out.pop()!, /^starling pets — the pets we have/);
    assert.equal(await dispatch(tree, ['pets'], { packageJson: pkg }), 0);
    assert.match(out.pop()!, /^starling pets — /);
    assert.equal(await dispatch(tree, ['pets', 'frob'], { packageJson: pkg }), 2);
    assert.match(err.pop()!, /^error: unknown command "pets frob"\n\nstarling pets — /);
    assert.equal(await dispatch(tree, ['cows'], { packageJson: pkg }), 2);
    assert.match(err.pop()!, /^error: unknown command "cows"\n\nstarling — a test/);
    assert.equal(await dispatch(tree, ['pets', 'lst'], { packageJson: pkg }), 2);
    assert.match(err.pop()!, /^error: unknown command "pets lst": did you mean "pets list"\?\nhint: see: starling pets list --help$/);
    assert.equal(await dispatch(tree, ['pots', 'new', '--loud'], { packageJson: pkg }), 2);
    assert.match(err.pop()!, /^error: unknown command "pots new": did you mean "pets new"\?/);
    assert.equal(await dispatch(tree, ['--version'], { packageJson: pkg }), 0);
    assert.match(out.pop()!, /^starling \d+\.\d+\.\d+/);
  });
});
