/**
 * One base error for the whole project. Callers match on `code` (a stable string), never on the
 * message. `fault` says whose mistake it was: 'user' errors are reported as-is (bad config, bad
 * request); 'system' errors are ours or the environment's (a socket failed, a daemon died).
 */
import type { ErrorCode } from './error-codes.js';

export type Fault = 'user' | 'system';

export class StarlingError extends Error {
  /** Registered in ./error-codes.ts, with what it means and, for an API's, its HTTP status. */
  readonly code: ErrorCode;
  readonly fault: Fault;
  /** Optional next step for the person reading the error (shown by the CLI as "hint:"). */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { fault?: Fault; cause?: unknown; hint?: string | undefined } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'StarlingError';
    this.code = code;
    this.fault = opts.fault ?? 'system';
    this.hint = opts.hint;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isStarlingError(e: unknown, code?: ErrorCode): e is StarlingError {
  return e instanceof StarlingError && (code === undefined || e.code === code);
}

/** A short description of any thrown value, for logs (never includes stack or secrets). */
export function describeError(e: unknown): string {
  if (e instanceof StarlingError) return `${e.code}: ${e.message}`;
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    // Node's fs errors already start with their code ("ENOENT: no such file…"): say it once.
    return code && !e.message.startsWith(`${code}:`) ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}
