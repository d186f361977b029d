/**
 * How `tokens create` and `hosts add` hand over a secret: printed once on stdout, or written to a
 * file (0600, never overwriting one) with `--write FILE`, so it need not pass through a terminal.
 * Also the `--expiry` grammar those commands share: `30d`, `12h`, `90m`, `3600s`, or sums (`1d12h`).
 */
import { writeFileSync } from 'node:fs';
import { StarlingError, describeError } from '../../../shared/index.js';
import type { OptionSpec } from '../../args.js';

export const writeOption: Record<string, OptionSpec> = {
  write: { type: 'string', value: 'FILE', description: 'write the secret to FILE (created 0600; an existing file is not overwritten) instead of printing it' },
};

/** `--write FILE`: the secret goes there; returns false when it should be printed instead. */
export function writeSecret(opts: Record<string, unknown>, secret: string): string | undefined {
  const file = opts.write;
  if (typeof file !== 'string' || file === '') return undefined;
  try {
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    throw new StarlingError('ERR_USAGE', `cannot write the secret to ${file}: ${describeError(e)}`, { fault: 'user', hint: 'name a file that does not exist yet, in a directory you can write' });
  }
  return file;
}

const UNIT_S: Record<string, number> = { d: 86_400, h: 3600, m: 60, s: 1 };

/** `30d`, `1d12h`, `90m` → seconds; throws a usage error naming the flag otherwise. */
export function parseExpiry(flag: string, text: string): number {
  const parts = [...text.matchAll(/(\d+)([dhms])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new StarlingError('ERR_USAGE', `${flag} must be a duration such as 30d, 12h, 90m or 1d12h, got "${text}"`, { fault: 'user' });
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_S[p[2]!]!, 0);
}
