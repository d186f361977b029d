import { readFile } from 'node:fs/promises';
import { StarlingError, describeError } from './errors.js';

/**
 * Reads a config file's text. A missing or unreadable file is the user's to fix: a StarlingError
 * with the caller's code, naming the file and what it is (`agent config`, `control config`).
 */
export async function readConfigText(path: string, o: { code: string; what: string; hint: string }): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new StarlingError(o.code, `cannot read ${o.what} ${path}: ${describeError(e)}`, { fault: 'user', cause: e, hint: o.hint });
  }
}
