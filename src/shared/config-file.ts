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
    return { ok: false, issue: tomlSyntaxIssue(e, text), cause: e };
  }
}

/** `text`, when given, lets the message say what the parser's words hide (an unclosed string). */
export function tomlSyntaxIssue(e: unknown, text?: string): SchemaIssue {
  const raw = e instanceof Error ? e.message : String(e);
  let reason = (raw.split('\n')[0] ?? raw).replace(/^Invalid TOML document: /, '');
  if (!(e instanceof TomlError)) return { path: '(syntax)', message: `invalid TOML: ${reason}` };
  // A basic string cannot span lines, so a missing closing quote reaches the end of the line, and
  // smol-toml calls the newline "a control character". Say what the user did instead.
  const line = text?.split('\n')[e.line - 1];
  if (/control characters are not allowed/.test(reason) && line !== undefined && e.column > line.replace(/\r$/, '').length) {
    reason = 'unclosed string: the line ends before its closing quote';
  }
  return { path: `line ${e.line}, column ${e.column}`, message: `invalid TOML: ${reason}` };
}
