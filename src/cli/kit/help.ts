/**
 * Help, from the command table alone (no command module is loaded to print it): the root help
 * grouped by task, one noun's commands, one command's arguments and options.
 */
import { commandName, type AnyCommand } from './define.js';
import { flagLabel } from './parse.js';

export interface NounMeta {
  readonly noun: string;
  /** One of the tree's groups: where the root help lists it. */
  readonly group: string;
  readonly summary: string;
}

/** Every command of a CLI, and how its help is arranged. */
export interface CommandTree {
  readonly name: string;
  readonly tagline: string;
  /** Root help's sections, in order. */
  readonly groups: readonly string[];
  /** In help order within each group. */
  readonly nouns: readonly NounMeta[];
  /** In help order within each noun. */
  readonly commands: readonly AnyCommand[];
}

/** The widest flag column a command's help uses. */
const FLAG_COLUMN_MAX = 30;

/** Aligned `label  text` lines, indented by two spaces. */
function columns(rows: readonly [string, string][], width = Math.max(0, ...rows.map(([l]) => l.length))): string[] {
  return rows.map(([l, t]) => `  ${l.padEnd(width)}  ${t}`.trimEnd());
}

/** `lab exec CITY -- CMD...`: the command's name and its arguments as typed. */
export function usageLine(cmd: AnyCommand): string {
  // `--` only before a command line of its own (`lab exec CITY -- CMD...`), whose words may be
  // flags meant for that command; other trailing words (`secrets set NAME=VALUE...`) need none.
  const args = (cmd.args ?? []).map((a) => (a === 'CMD...' ? ` -- ${a}` : ` ${a}`)).join('');
  return `${commandName(cmd)}${args}`;
}

export function commandsOf(tree: CommandTree, noun: string): AnyCommand[] {
  return tree.commands.filter((c) => c.noun === noun);
}

function commandRows(tree: CommandTree, cmds: readonly AnyCommand[]): [string, string][] {
  return cmds.map((c) => {
    const aliases = (c.aliases ?? []).length > 0 ? ` (alias: ${c.aliases!.join(', ')})` : '';
    return [`${tree.name} ${usageLine(c)}`, `${c.summary}${aliases}`];
  });
}

export function mainHelp(tree: CommandTree): string {
  const out = [`${tree.name} — ${tree.tagline}`, '', `usage: ${tree.name} <noun> <verb> [options]`];
  const row = (n: NounMeta): [string, string] => {
    const cmds = commandsOf(tree, n.noun);
    // A noun with one command shows that command (`regions list`), else the noun and what it is for.
    return cmds.length === 1 ? [usageLine(cmds[0]!), cmds[0]!.summary] : [n.noun, n.summary];
  };
  const width = Math.max(...tree.nouns.map((n) => row(n)[0].length));
  for (const group of tree.groups) {
    const rows = tree.nouns.filter((n) => n.group === group).map(row);
    if (rows.length > 0) out.push('', group, ...columns(rows, width));
  }
  out.push(
    '',
    `Run \`${tree.name} <noun> --help\` for a noun's commands, \`${tree.name} <noun> <verb> --help\` for a command's options;`,
    `\`${tree.name} --version\` prints the version.`,
  );
  return out.join('\n');
}

export function nounHelp(tree: CommandTree, noun: NounMeta): string {
  const cmds = commandsOf(tree, noun.noun);
  const hasVerbs = cmds.some((c) => c.verb !== '');
  return [
    `${tree.name} ${noun.noun} — ${noun.summary}`,
    '',
    `usage: ${tree.name} ${noun.noun}${hasVerbs ? ' <verb>' : ''} [options]`,
    '',
    'commands:',
    ...columns(commandRows(tree, cmds)),
    '',
    `Run \`${tree.name} ${noun.noun}${hasVerbs ? ' <verb>' : ''} --help\` for the options of one command.`,
  ].join('\n');
}

export function commandHelp(cmd: AnyCommand, tree?: CommandTree): string {
  const name = tree?.name ?? 'starling';
  const lines = [`${name} ${usageLine(cmd)} — ${cmd.summary}`];
  if ((cmd.aliases ?? []).length > 0) lines.push(`alias: ${cmd.aliases!.map((a) => `${name} ${cmd.noun} ${a}`).join(', ')}`);
  const opts = Object.entries(cmd.options);
  if (opts.length > 0) {
    const rows = opts.map(([flag, o]): [string, string] => {
      const notes = [
        o.required !== undefined && !o.description.includes('(required)') ? ' (required)' : '',
        o.default === undefined ? '' : ` (default: ${o.default})`,
        o.multiple ? ' (repeatable)' : '',
      ];
      return [flagLabel(flag, o), `${o.description}${notes.join('')}`];
    });
    // One column for the flags, as wide as most of them: a very long one just pushes its text on.
    const width = Math.max(...rows.map(([l]) => l.length).filter((n) => n <= FLAG_COLUMN_MAX), 0);
    lines.push('', 'options:', ...columns(rows, width));
  }
  // `starling deploy` is a command and a noun: its help names the noun's other commands too.
  const others = cmd.verb === '' && tree ? commandsOf(tree, cmd.noun).filter((c) => c !== cmd) : [];
  if (others.length > 0) lines.push('', 'commands:', ...columns(commandRows(tree!, others)));
  return lines.join('\n');
}
