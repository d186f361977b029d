/**
 * The one error that carries an HTTP status, on both sides of every API: a router answers it as
 * `{ "error": { "code", "message", "details"? } }` with its status, and the JSON client throws it
 * from such an answer. `details` lists every problem of a bad input, each with where it is.
 */
import { StarlingError } from '../errors.js';

export interface ErrorDetail {
  path: string;
  message: string;
}

export class HttpError extends StarlingError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly details: readonly ErrorDetail[] = [],
    opts: { hint?: string; cause?: unknown } = {},
  ) {
    super(code, message, { fault: status < 500 ? 'user' : 'system', ...opts });
    this.name = 'HttpError';
  }
}

export function errorBody(code: string, message: string, details?: readonly ErrorDetail[]): { error: { code: string; message: string; details?: ErrorDetail[] } } {
  return { error: details && details.length > 0 ? { code, message, details: [...details] } : { code, message } };
}

/** The error envelope of an answer, if it has one (codes and messages as the server gave them). */
export function parseErrorBody(parsed: unknown): { code?: string; message?: string; details: ErrorDetail[] } {
  const err = (typeof parsed === 'object' && parsed !== null ? (parsed as { error?: unknown }).error : undefined) as { code?: unknown; message?: unknown; details?: unknown } | undefined;
  const details = Array.isArray(err?.details) ? (err.details as { path?: unknown; message?: unknown }[]).map((d) => ({ path: String(d.path ?? ''), message: String(d.message ?? '') })) : [];
  return {
    ...(typeof err?.code === 'string' ? { code: err.code } : {}),
    ...(typeof err?.message === 'string' ? { message: err.message } : {}),
    details,
  };
}
