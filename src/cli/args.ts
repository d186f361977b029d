export { commandName, parseHostPort, parseOptions } from './kit/index.js';

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
