/**
 * The command tree as shell completion needs it: for each run of words typed so far, the words
 * that may follow; for each command (by every name it answers to), its flags. The bash, zsh and
 * fish scripts embed this, so completing a word starts no Node process.
 */
import type { CommandTree } from '../../kit/index.js';

export interface Word {
  word: string;
  summary: string;
}

export interface Flag {
  /** `--json` */
  flag: string;
  /** `j`, when `-j` is the flag too (fish completes it; bash and zsh offer the long form). */
  short?: string | undefined;
  takesValue: boolean;
  /** The values it takes, when there are few; else any text or a file. */
  choices?: readonly string[] | undefined;
  description: string;
}

export interface CompletionModel {
  name: string;
  /** `''` → the nouns; `agent` → `run`, `drain`, …, `bgp`; `agent bgp` → `status`. Aliases are not offered. */
  next: Map<string, Word[]>;
  /** `apps create`, `apps ls`, `deploy`: each command's flags, `--help` last. */
  commands: Map<string, Flag[]>;
  /** The commands that take positional arguments (they may be file names). */
  withArgs: Set<string>;
}

export function completionModel(tree: CommandTree): CompletionModel {
  const next = new Map<string, Word[]>();
  const add = (key: string, w: Word): void => {
    const list = next.get(key) ?? [];
    if (!list.some((x) => x.word === w.word)) list.push(w);
    next.set(key, list);
  };
  for (const n of tree.nouns) add('', { word: n.noun, summary: n.summary });
  const commands = new Map<string, Flag[]>();
  const withArgs = new Set<string>();
  for (const cmd of tree.commands) {
    const words = cmd.verb === '' ? [] : cmd.verb.split(' ');
    words.forEach((w, i) => add([cmd.noun, ...words.slice(0, i)].join(' '), { word: w, summary: i === words.length - 1 ? cmd.summary : `${w} …` }));
    const flags: Flag[] = Object.entries(cmd.options).map(([name, o]) => ({
      flag: `--${name}`,
      short: o.short,
      takesValue: o.type === 'string',
      choices: o.choices,
      description: o.description,
    }));
    flags.push({ flag: '--help', takesValue: false, description: 'show the options of this command' });
    for (const v of [cmd.verb, ...(cmd.aliases ?? [])]) {
      const key = v === '' ? cmd.noun : `${cmd.noun} ${v}`;
      commands.set(key, flags);
      if ((cmd.args ?? []).length > 0) withArgs.add(key);
    }
  }
  return { name: tree.name, next, commands, withArgs };
}

/** Every run of words that names a noun, a part of a verb or a command (what the scripts walk). */
export function knownKeys(m: CompletionModel): string[] {
  return [...new Set([...[...m.next.keys()].filter((k) => k !== ''), ...m.commands.keys()])];
}
