import { StarlingError } from '../shared/index.js';
export { commandName, parseOptions } from './kit/index.js';

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
