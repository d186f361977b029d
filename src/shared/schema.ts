import type { ErrorCode } from './error-codes.js';
import type { z } from 'zod';
import { StarlingError } from './errors.js';

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
    // A record's key that fails its own schema: say what is wrong with the key, not "invalid key".
    if (i.code === 'invalid_key') return { path, message: i.issues[0]?.message ?? i.message };
    return { path, message: i.message };
  });
}

/** Every issue on its own line, `file: path: message`, so all of them are reported at once. */
export function formatIssues(source: string, issues: readonly SchemaIssue[]): string {
  return issues.map((i) => `${source}: ${i.path}: ${i.message}`).join('\n');
}

/**
 * A config file (agent.toml, control.toml, the routes file, an app config, a lab topology) was read
 * but is not valid: `issues` holds every problem with its path, the message lists them all, and
 * the hint names the document that describes the file. Each file has its own subclass and code.
 */
export class ConfigIssuesError extends StarlingError {
  readonly issues: SchemaIssue[];
  constructor(code: ErrorCode, source: string, issues: SchemaIssue[], hint: string, cause?: unknown) {
    super(code, formatIssues(source, issues), { fault: 'user', cause, hint });
    this.name = new.target.name;
    this.issues = issues;
  }
}
