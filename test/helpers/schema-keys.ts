/**
 * The app config schema's keys, walked from the zod schema itself (tables and arrays of tables
 * walked into; an array of values is one key), for the tests that hold docs and warnings to it.
 */
import { AppConfigSchema } from '../../src/contract/app-config-schema.js';

/** Every leaf key path of the schema (`services[].ports[].port`); tables and arrays of tables are walked into. */
export function leafKeys(): string[] {
  type Def = { type?: string; innerType?: unknown; in?: unknown; element?: unknown; shape?: Record<string, unknown> };
  const defOf = (t: unknown): Def | undefined => (t as { _zod?: { def?: Def } })._zod?.def;
  const unwrap = (t: unknown): unknown => {
    for (let d = defOf(t); d && d.type !== 'object' && d.type !== 'array'; d = defOf(t)) {
      const next = d.innerType ?? d.in;
      if (next === undefined) return t;
      t = next;
    }
    return t;
  };
  const out: string[] = [];
  const walk = (t: unknown, path: string): void => {
    const d = defOf(unwrap(t));
    // An array of tables is walked into; an array of values (cmd, handlers) is the key itself.
    if (d?.type === 'array') return defOf(unwrap(d.element))?.type === 'object' ? walk(d.element, `${path}[]`) : void out.push(path);
    if (d?.type !== 'object' || !d.shape) return void (path && out.push(path));
    for (const [k, v] of Object.entries(d.shape)) walk(v, path ? `${path}.${k}` : k);
  };
  walk(AppConfigSchema, '');
  return out;
}

