/**
 * What the CLI's tests and older callers import from here: the kit's parser and name helpers, and
 * optionList for a repeatable flag's or a `CMD...` argument's values.
 */
export { commandName, parseHostPort, parseOptions } from './kit/index.js';

/** Every value of a repeatable flag or a trailing `CMD...` argument, in order ([] when not given). */
export function optionList(opts: Record<string, unknown>, name: string): string[] {
  const v = opts[name];
  return Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : [];
}
