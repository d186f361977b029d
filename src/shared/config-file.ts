import type { ErrorCode } from './error-codes.js';
import { readFile } from 'node:fs/promises';
import { parse as parseToml, TomlError } from 'smol-toml';
import { StarlingError, describeError } from './errors.js';
import type { SchemaIssue } from './schema.js';

/**
 * Reads a config file's text. A missing or unreadable file is the user's to fix: a StarlingError
 * with the caller's code, naming the file and what it is (`agent config`, `control config`).
 */
export async function readConfigText(path: string, o: { code: ErrorCode; what: string; hint: string }): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new StarlingError(o.code, `cannot read ${o.what} ${path}: ${describeError(e)}`, { fault: 'user', cause: e, hint: o.hint });
  }
}

/**
 * TOML text → a document, or the syntax error as one issue with its line and column, worded the
 * same for every config file (smol-toml puts a code excerpt after the first line; only the reason
 * is kept).
 */
export function readToml(text: string): { ok: true; doc: unknown } | { ok: false; issue: SchemaIssue; cause: unknown } {
  try {
    return { ok: true, doc: parseToml(text) };
  } catch (e) {
    return { ok: false, issue: tomlSyntaxIssue(e), cause: e };
  }
}

export function tomlSyntaxIssue(e: unknown): SchemaIssue {
  const raw = e instanceof Error ? e.message : String(e);
  const reason = (raw.split('\n')[0] ?? raw).replace(/^Invalid TOML document: /, '');
  const where = e instanceof TomlError ? `line ${e.line}, column ${e.column}` : '(syntax)';
  return { path: where, message: `invalid TOML: ${reason}` };
}
