/**
 * A command in two halves, so that `starling --help` need not load what the commands use:
 *
 *   // commands/apps/meta.ts: what the command table, help and completion read (cheap to load)
 *   export const appsCreate = defineCommand({
 *     noun: 'apps', verb: 'create', summary: '…', args: ['NAME'],
 *     options: { org: string({ value: 'ORG', description: '…' }), ...jsonFlag() },
 *     load: () => import('./apps.js'),
 *   });
 *
 *   // commands/apps/apps.ts: what it does, loaded only to run it
 *   export const runAppsCreate = implement(appsCreate, async (opts) => { … opts.name, opts.org, opts.json … });
 *
 * `opts` is typed from the declaration: `name: string` (a positional), `org: string | undefined`,
 * `json: boolean`. `load` names the module; the kit finds in it the implementation of this command.
 */
import { StarlingError } from '../../shared/index.js';
import type { OptionValues, Options } from './options.js';

/** `NAME` → `name`; `CMD...` → `cmd`; `[VERSION]` → `version`. */
type ArgKey<S extends string> = S extends `[${infer N}]` ? Lowercase<N> : S extends `${infer N}...` ? Lowercase<N> : Lowercase<S>;
/** A trailing `CMD...` takes every remaining word (at least one); a trailing `[NAME]` may be left out. */
type ArgValue<S extends string> = S extends `[${string}]` ? string | undefined : S extends `${string}...` ? string[] : string;
export type ArgValues<A extends readonly string[]> = { readonly [K in A[number] as ArgKey<K>]: ArgValue<K> };

export interface CommandMeta<O extends Options = Options, A extends readonly string[] = readonly string[]> {
  readonly noun: string;
  /** '' for a command named by its noun alone (`starling deploy`); may be two words (`bgp status`). */
  readonly verb: string;
  readonly aliases?: readonly string[];
  readonly summary: string;
  /**
   * Positional arguments, in order (`HOST`); each is required and reaches run() under its lower-case
   * name. The last may end in `...` (`CMD...`): every remaining word, as a string[]. The last ones
   * may be optional, in brackets (`[VERSION]`): a string, or undefined when left out.
   */
  readonly args?: A;
  readonly options: O;
  /** The module that implements it (with implement()); imported only when the command runs. */
  readonly load: () => Promise<object>;
}

export type AnyCommand = CommandMeta<Options, readonly string[]>;

/** What run() receives: each option's value and each positional argument, typed. */
export type OptsOf<C extends AnyCommand> = OptionValues<C['options']> & ArgValues<NonNullable<C['args']>>;

/** `deploy`, `apps create`: the words that name a command (some have no verb). */
export function commandName(cmd: Pick<AnyCommand, 'noun' | 'verb'>): string {
  return cmd.verb === '' ? cmd.noun : `${cmd.noun} ${cmd.verb}`;
}

/** Whether a positional argument may be left out (`[VERSION]`). */
export const isOptionalArg = (arg: string): boolean => arg.startsWith('[') && arg.endsWith(']');

/** The key a positional argument lands under in run()'s object. */
export function argKey(arg: string): string {
  const bare = isOptionalArg(arg) ? arg.slice(1, -1) : arg;
  return (bare.endsWith('...') ? bare.slice(0, -3) : bare).toLowerCase();
}

/** Declares a command. Throws (a bug, caught by the unit tests) when an argument and an option share a key. */
export function defineCommand<const O extends Options, const A extends readonly string[] = readonly []>(
  meta: CommandMeta<O, A>,
): CommandMeta<O, A> {
  const args = meta.args ?? [];
  for (const [i, a] of args.entries()) {
    if (Object.hasOwn(meta.options, argKey(a))) throw internal(`${commandName(meta)}: argument ${a} and option --${argKey(a)} share a name`);
    if (a.endsWith('...') && i !== args.length - 1) throw internal(`${commandName(meta)}: only the last argument may end in ...`);
    if (isOptionalArg(a) && a.endsWith('...]')) throw internal(`${commandName(meta)}: ${a}: a CMD... argument cannot be optional`);
    if (!isOptionalArg(a) && args.slice(0, i).some(isOptionalArg)) throw internal(`${commandName(meta)}: ${a} follows an optional argument`);
  }
  // `-h` is help; a letter (or a digit: curl's -4 and -6) names one flag of a command.
  const shorts = new Set(['h']);
  for (const [name, o] of Object.entries(meta.options)) {
    if (o.short === undefined) continue;
    if (!/^[a-zA-Z0-9]$/.test(o.short) || shorts.has(o.short)) throw internal(`${commandName(meta)}: --${name}'s short form -${o.short} is not one free letter or digit`);
    shorts.add(o.short);
  }
  return meta;
}

const IMPLEMENTS = Symbol('starling.cli.implements');

export interface Implementation {
  readonly [IMPLEMENTS]: AnyCommand;
  run(opts: object): Promise<number>;
}

/** The body of a command: `run` gets the parsed options and arguments and resolves with the exit status. */
export function implement<C extends AnyCommand>(command: C, run: (opts: OptsOf<C>) => Promise<number>): Implementation {
  return { [IMPLEMENTS]: command, run: (opts) => run(opts as OptsOf<C>) };
}

/** The implementation of `cmd` among the exports of the module its `load` imports. */
export async function loadImplementation(cmd: AnyCommand): Promise<Implementation> {
  const mod = (await cmd.load()) as Record<string, unknown>;
  for (const v of Object.values(mod)) {
    if (typeof v === 'object' && v !== null && (v as Partial<Implementation>)[IMPLEMENTS] === cmd) return v as Implementation;
  }
  throw internal(`starling ${commandName(cmd)}: its module exports no implement() of it`);
}

/** A mistake in a command's declaration: ours, not the user's. */
function internal(message: string): StarlingError {
  return new StarlingError('ERR_CLI_DEFINITION', message);
}
