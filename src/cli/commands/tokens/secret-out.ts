/**
 * How `tokens create` and `hosts add` hand over a secret: printed once on stdout, or written to a
 * file (0600, never overwriting one) with `--write FILE`, so it need not pass through a terminal.
 */
import { writeFileSync } from 'node:fs';
import { StarlingError, describeError } from '../../../shared/index.js';

/** `--write FILE`: the secret goes there and the file is returned; undefined when it should be printed instead. */
export function writeSecret(file: string | undefined, secret: string): string | undefined {
  if (file === undefined || file === '') return undefined;
  try {
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    throw new StarlingError('ERR_USAGE', `cannot write the secret to ${file}: ${describeError(e)}`, { fault: 'user', hint: 'name a file that does not exist yet, in a directory you can write' });
  }
  return file;
}
