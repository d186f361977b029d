import type { ErrorCode } from './error-codes.js';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StarlingError, describeError } from './errors.js';
import type { Logger } from './log.js';

/**
 * A bearer token kept in a file, shared by a daemon and the CLI on the same host: read from `path`,
 * or created there (32 random bytes, hex, mode 0600, directory 0700) when it does not exist yet.
 * The token itself is never logged; a file others can read only earns a warning. `code` is the
 * error code of the caller (ERR_AGENT_TOKEN, ERR_CONTROL_TOKEN) and `who` names the daemon in hints.
 */
export async function loadOrCreateTokenFile(path: string, logger: Logger, o: { code: ErrorCode; who: string }): Promise<string> {
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw tokenError(path, e, o);
  }
  if (text === undefined) {
    const token = randomBytes(32).toString('hex');
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFile(path, token + '\n', { mode: 0o600, flag: 'wx' });
    } catch (e) {
      // Another process created it first: use theirs.
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateTokenFile(path, logger, o);
      throw tokenError(path, e, o);
    }
    logger.info('token file created', { file: path });
    return token;
  }
  const token = text.trim();
  if (!/^\S{16,}$/.test(token)) {
    throw new StarlingError(o.code, `token_file ${path} must hold one token of at least 16 characters`, {
      fault: 'user',
      hint: `delete ${path} and the ${o.who} creates a new one`,
    });
  }
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) logger.warn('token file is readable by others: chmod 600 it', { file: path, mode: mode.toString(8) });
  return token;
}

function tokenError(path: string, e: unknown, o: { code: ErrorCode; who: string }): StarlingError {
  return new StarlingError(o.code, `cannot read or create token_file ${path}: ${describeError(e)}`, {
    fault: 'user',
    cause: e,
    hint: `token_file must be in a directory the ${o.who} can write, readable by the ${o.who} and the CLI user only`,
  });
}
