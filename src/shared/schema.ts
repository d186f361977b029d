import type { z } from 'zod';

/** One problem found in a config file, with where it is (`apps[0].machines[1].region`). */
export interface SchemaIssue {
  path: string;
  message: string;
}

export function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out === '' ? '(top level)' : out;
}

export function fromZod(error: z.ZodError): SchemaIssue[] {
  return error.issues.map((i) => {
    const path = issuePath(i.path);
    // Zod names unknown keys in `keys`; say them with their full path so the user finds them.
    if (i.code === 'unrecognized_keys') {
      const keys = (i as { keys: string[] }).keys;
      return { path, message: `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}` };
    }
    return { path, message: i.message };
  });
}

/** Every issue on its own line, `file: path: message`, so all of them are reported at once. */
export function formatIssues(source: string, issues: readonly SchemaIssue[]): string {
  return issues.map((i) => `${source}: ${i.path}: ${i.message}`).join('\n');
}
