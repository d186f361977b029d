/**
 * argv → the typed object a command's run() receives: node:util parseArgs reads the flags strictly,
 * then each option parses its own value and the positional arguments are matched to `args`. Every
 * mistake (an unknown flag, a missing value, a bad number, a missing argument) is a usage error
 * (exit 2) with a hint.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { StarlingError, closest } from '../../shared/index.js';
import { argKey, commandName, type AnyCommand, type OptsOf } from './define.js';
import { usageError } from './options.js';

function seeHelp(cmd: AnyCommand): string {
  return `see: starling ${commandName(cmd)} --help`;
}

/** `--name VALUE` as help shows it; `-n, --name VALUE` when it has a short form. */
export function flagLabel(name: string, o: AnyCommand['options'][string]): string {
  const long = o.type === 'string' ? `--${name} ${o.value ?? 'VALUE'}` : `--${name}`;
  return o.short === undefined ? long : `-${o.short}, ${long}`;
}

/** parseArgs' error for a flag the command does not have, said as ours, with "did you mean". */
function unknownFlag(cmd: AnyCommand, e: unknown): StarlingError | undefined {
  if ((e as { code?: unknown }).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return undefined;
  const flag = /^Unknown option '([^']+)'/.exec((e as Error).message)?.[1];
  if (flag === undefined) return undefined;
  const near = flag.startsWith('--') ? closest(flag.slice(2), [...Object.keys(cmd.options), 'help']) : undefined;
  return usageError(`unknown flag ${flag}${near === undefined ? '' : `: did you mean --${near}?`}`, seeHelp(cmd));
}

/** Parses a command's flags and arguments; throws a usage error (fault: user) for any mistake. */
export function parseOptions<C extends AnyCommand>(cmd: C, argv: readonly string[]): OptsOf<C> {
  const config: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, o] of Object.entries(cmd.options)) {
    config[name] = { type: o.multiple ? 'string' : o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short === undefined ? {} : { short: o.short }) };
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: config, strict: true, allowPositionals: true }));
  } catch (e) {
    throw unknownFlag(cmd, e) ?? usageError((e as Error).message, seeHelp(cmd));
  }

  const names = cmd.args ?? [];
  const rest = names.at(-1)?.endsWith('...') === true;
  if (positionals.length > names.length && !rest) throw usageError(`unexpected argument "${positionals[names.length]}"`, seeHelp(cmd));
  const required = names.filter((n) => !n.startsWith('[')).length;
  if (positionals.length < required) {
    throw usageError(`missing ${names.slice(positionals.length, required).join(' ')}`, `usage: starling ${commandName(cmd)} ${names.join(' ')} [options]`);
  }

  const missing = Object.entries(cmd.options).filter(([name, o]) => o.required !== undefined && (values[name] === undefined || values[name] === ''));
  if (missing.length > 0) {
    const [, o] = missing[0]!;
    if (missing.length === 1 && o.required?.message !== undefined) throw usageError(o.required.message, o.required.hint ?? seeHelp(cmd));
    const flags = missing.map(([n, m]) => flagLabel(n, m));
    const hint = missing.find(([, m]) => m.required?.hint !== undefined)?.[1].required?.hint ?? seeHelp(cmd);
    throw usageError(`missing ${flags.join(' and ')}`, hint);
  }

  const out: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(cmd.options)) {
    try {
      out[name] = o.parse(values[name] as string | boolean | string[] | undefined, `--${name}`);
    } catch (e) {
      if (e instanceof StarlingError && e.hint === undefined) throw new StarlingError(e.code, e.message, { fault: e.fault, cause: e.cause, hint: seeHelp(cmd) });
      throw e;
    }
  }

  names.forEach((n, i) => (out[argKey(n)] = rest && i === names.length - 1 ? positionals.slice(i) : positionals[i]));
  return out as OptsOf<C>;
}
