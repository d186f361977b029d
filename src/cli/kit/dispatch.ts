/**
 * argv → help, the version, or one command run: its options parsed first (a usage error needs no
 * module), then its module imported and its implementation called.
 */
import { readFileSync } from 'node:fs';
import { StarlingError, closest, describeError } from '../../shared/index.js';
import { commandName, loadImplementation, type AnyCommand } from './define.js';
import { commandHelp, mainHelp, nounHelp, type CommandTree } from './help.js';
import { completeOptions, parseOptions } from './parse.js';

/**
 * The command named by the first words of argv, and the words after it. A verb or alias may be
 * several words (`agent bgp status`); the longest name that matches wins.
 */
export function findCommand(tree: CommandTree, argv: readonly string[]): { cmd: AnyCommand; rest: string[] } | undefined {
  const [noun, ...words] = argv;
  let best: { cmd: AnyCommand; used: number } | undefined;
  for (const cmd of tree.commands) {
    if (cmd.noun !== noun) continue;
    for (const name of [cmd.verb, ...(cmd.aliases ?? [])]) {
      // A command without a verb (`starling deploy`, `starling status`) matches on its noun alone.
      const parts = name === '' ? [] : name.split(' ');
      if (parts.every((w, i) => words[i] === w) && parts.length > (best?.used ?? -1)) best = { cmd, used: parts.length };
    }
  }
  return best && { cmd: best.cmd, rest: words.slice(best.used) };
}

/** `--help` or `-h` among the words, before a `--` (after it they belong to the command run). */
function asksHelp(words: readonly string[]): boolean {
  const end = words.indexOf('--');
  return (end < 0 ? words : words.slice(0, end)).some((w) => w === '--help' || w === '-h');
}

/** `version` of the package.json at `url`, read when asked (not built in). */
export function packageVersion(url: URL): string {
  try {
    const v = (JSON.parse(readFileSync(url, 'utf8')) as { version?: unknown }).version;
    if (typeof v === 'string') return v;
  } catch (e) {
    throw new StarlingError('ERR_CLI_VERSION', `cannot read the version from ${url.pathname}: ${describeError(e)}`);
  }
  throw new StarlingError('ERR_CLI_VERSION', `${url.pathname} has no version`);
}

/** Runs argv against the tree; resolves with the exit status (2 for a usage mistake). */
export async function dispatch(tree: CommandTree, argv: readonly string[], o: { packageJson: URL }): Promise<number> {
  const [first, ...more] = argv;
  if (first === undefined || first === '--help' || first === '-h' || (first === 'help' && more.length === 0)) {
    console.log(mainHelp(tree));
    return 0;
  }
  if (first === '--version' || first === '-v') {
    console.log(`${tree.name} ${packageVersion(o.packageJson)}`);
    return 0;
  }
  // `starling help apps create` is `starling apps create --help`.
  const words = first === 'help' ? [...more, '--help'] : argv;
  const found = findCommand(tree, words);
  if (found) {
    const { cmd, rest } = found;
    if (asksHelp(rest)) {
      console.log(commandHelp(cmd, tree));
      return 0;
    }
    // `deploy resme`, `proxy serv`: a command named by its noun alone was given a word that is
    // nearly one of the noun's verbs (an argument such as `proxy 8080:80` is near none).
    if (cmd.verb === '' && rest[0] !== undefined && !rest[0].startsWith('-')) {
      const near = suggestCommand(tree, [cmd.noun, rest[0]]);
      if (near !== undefined) return unknownCommand(tree, `${cmd.noun} ${rest[0]}`, near);
    }
    const opts = await completeOptions(cmd, parseOptions(cmd, rest));
    return (await loadImplementation(cmd)).run(opts);
  }
  const noun = tree.nouns.find((n) => n.noun === words[0]);
  const extra = words.slice(1);
  if (noun && (extra.length === 0 || (extra.length === 1 && asksHelp(extra)))) {
    console.log(nounHelp(tree, noun));
    return 0;
  }
  // The words that name the command: those before the first flag (`stauts --app web` → `stauts`).
  const firstFlag = words.findIndex((w) => w.startsWith('-'));
  const named = (firstFlag < 0 ? words : words.slice(0, firstFlag)).slice(0, 2);
  const asked = (named.length > 0 ? named : words.filter((w) => w !== '--help').slice(0, 2)).join(' ');
  const near = suggestCommand(tree, named);
  if (near !== undefined) return unknownCommand(tree, asked, near);
  console.error(`error: unknown command "${asked}"\n\n${noun ? nounHelp(tree, noun) : mainHelp(tree)}`);
  return 2;
}

/**
 * "Did you mean": the command nearest to the words typed, a few edits away. A known noun with a
 * mistyped verb (`apps lst`) gets the nearest of its verbs; a mistyped noun (`stauts`, `aps list`)
 * gets the nearest noun, with the verb typed after it when that noun has such a verb.
 */
function suggestCommand(tree: CommandTree, named: readonly string[]): string | undefined {
  const [noun, verb] = named;
  if (noun === undefined) return undefined;
  const cmds = tree.commands.filter((c) => c.noun === noun);
  if (cmds.length > 0) {
    if (verb === undefined) return undefined;
    // Only the first word of a verb or alias: `agent bgp stauts` is not worth a guess.
    const verbs = [...new Set(cmds.flatMap((c) => [c.verb, ...(c.aliases ?? [])]).filter((v) => v !== '').map((v) => v.split(' ')[0]!))];
    const v = closest(verb, verbs);
    return v === undefined ? undefined : `${noun} ${v}`;
  }
  const n = closest(noun, tree.nouns.map((x) => x.noun));
  if (n === undefined) return undefined;
  const exact = verb === undefined ? undefined : findCommand(tree, [n, verb]);
  return exact && exact.cmd.verb !== '' ? commandName({ noun: n, verb: verb! }) : n;
}

function unknownCommand(tree: CommandTree, asked: string, near: string): number {
  console.error(`error: unknown command "${asked}": did you mean "${near}"?\nhint: see: ${tree.name} ${near} --help`);
  return 2;
}
