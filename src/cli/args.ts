import { parseArgs, type ParseArgsConfig } from 'node:util';
import { StarlingError } from '../shared/index.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** Shown in help as `--name VALUE`. */
  value?: string;
  description: string;
  default?: string | boolean;
  /**
   * A string flag that may be given several times (`--env A=1 --env B=2`). Its value reaches run()
   * as a string[] (the opts type predates it): read it with optionList().
   */
  multiple?: boolean;
}

export interface Command {
  noun: string;
  verb: string;
  aliases?: string[];
  summary: string;
  /**
   * Positional arguments, in order (`HOST`); each is required and lands in opts under its lower-case
   * name. The last may end in `...` (`CMD...`): it takes every remaining word (at least one), and
   * reaches run() as a string[] under its name without the dots: read it with optionList().
   */
  args?: string[];
  options: Record<string, OptionSpec>;
  run(opts: Record<string, string | boolean | undefined>): Promise<number>;
}

/** `deploy`, `apps create`: the words that name a command (some have no verb). */
export function commandName(cmd: Pick<Command, 'noun' | 'verb'>): string {
  return cmd.verb === '' ? cmd.noun : `${cmd.noun} ${cmd.verb}`;
}

/** Parses a command's flags strictly: an unknown flag or a missing value is a user error. */
export function parseOptions(cmd: Command, argv: string[]): Record<string, string | boolean | undefined> {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, spec] of Object.entries(cmd.options)) {
    options[name] = spec.default === undefined ? { type: spec.type } : { type: spec.type, default: spec.default } as never;
    if (spec.multiple) options[name].multiple = true;
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
    const names = cmd.args ?? [];
    const rest = names.at(-1)?.endsWith('...') === true;
    if (positionals.length > names.length && !rest) {
      throw new StarlingError('ERR_USAGE', `unexpected argument "${positionals[names.length]}"`, {
        fault: 'user',
        hint: `see: starling ${commandName(cmd)} --help`,
      });
    }
    if (positionals.length < names.length) {
      throw new StarlingError('ERR_USAGE', `missing ${names.slice(positionals.length).join(' ')}`, {
        fault: 'user',
        hint: `usage: starling ${commandName(cmd)} ${names.join(' ')} [options]`,
      });
    }
    const out = values as Record<string, string | boolean | undefined>;
    names.forEach((n, i) => {
      if (rest && i === names.length - 1) (out as Record<string, unknown>)[n.slice(0, -3).toLowerCase()] = positionals.slice(i);
      else out[n.toLowerCase()] = positionals[i];
    });
    return out;
  } catch (e) {
    if (e instanceof StarlingError) throw e;
    throw new StarlingError('ERR_USAGE', (e as Error).message, {
      fault: 'user',
      hint: `see: starling ${commandName(cmd)} --help`,
    });
  }
}

/** Every value of a `multiple` flag, in order ([] when it was not given). */
export function optionList(opts: Record<string, unknown>, name: string): string[] {
  const v = opts[name];
  return Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : [];
}

/** `HOST:PORT` (IPv6 as `[::1]:8080`) → parts; `what` names the flag in errors. */
export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new StarlingError('ERR_USAGE', `${what} must be HOST:PORT (e.g. 127.0.0.1:8080), got "${value}"`, {
      fault: 'user',
    });
  }
  return { host: (m[1] ?? m[2])!, port };
}

export function commandHelp(cmd: Command): string {
  const args = (cmd.args ?? []).map((a) => (a.endsWith('...') ? ` -- ${a}` : ` ${a}`)).join('');
  const lines = [`starling ${commandName(cmd)}${args} — ${cmd.summary}`, '', 'options:'];
  for (const [name, spec] of Object.entries(cmd.options)) {
    const flag = spec.type === 'string' ? `--${name} ${spec.value ?? 'VALUE'}` : `--${name}`;
    const def = spec.default === undefined ? '' : ` (default: ${String(spec.default)})`;
    lines.push(`  ${flag.padEnd(28)} ${spec.description}${def}${spec.multiple ? ' (repeatable)' : ''}`);
  }
  return lines.join('\n');
}
