/**
 * The one error that carries an HTTP status, on both sides of every API: a router answers it as
 * `{ "error": { "code", "message", "details"? } }` with its status, and the JSON client throws it
 * from such an answer. `details` lists every problem of a bad input, each with where it is.
 */
import { statusOf, type ErrorCode } from '../shared/index.js';
import { StarlingError } from '../shared/index.js';

export interface ErrorDetail {
  path: string;
  message: string;
}

export class HttpError extends StarlingError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
    readonly details: readonly ErrorDetail[] = [],
    opts: { hint?: string | undefined; cause?: unknown } = {},
  ) {
    super(code, message, { fault: status < 500 ? 'user' : 'system', ...opts });
    this.name = 'HttpError';
  }
}

/**
 * The one mapping from a thrown error to an HTTP status, for every API: an HttpError keeps its own;
 * a StarlingError answers the status its code has in the registry (src/shared/error-codes.ts), or
 * 400 when it is the caller's fault; anything else is undefined, which the router answers as a 500
 * (logged, its code kept, its message not: it may name internals).
 */
export function statusFor(e: unknown): number | undefined {
  if (e instanceof HttpError) return e.status;
  if (!(e instanceof StarlingError)) return undefined;
  return statusOf(e.code) ?? (e.fault === 'user' ? 400 : undefined);
}

/**
 * The code of a remote API's error answer, kept as the server gave it (a newer server may know codes
 * this one does not), or `fallback` (by default ERR_HTTP_<status>) when it gave none.
 */
export function remoteCode(code: string | undefined, status: number, fallback?: ErrorCode): ErrorCode {
  return (code ?? fallback ?? `ERR_HTTP_${status}`) as ErrorCode;
}

/**
 * The HttpError of an error answer read as text outside callJson (a streamed download or upload, a
 * raw node:http call): its envelope's code and details when it has one; `say` words the message
 * from the envelope's (undefined when the answer had none, or was not JSON).
 */
export function answerError(status: number, text: string, say: (message: string | undefined) => string): HttpError {
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const err = parseErrorBody(parsed);
  return new HttpError(status, remoteCode(err.code, status), say(err.message), err.details);
}

export function errorBody(code: string, message: string, details?: readonly ErrorDetail[]): { error: { code: string; message: string; details?: ErrorDetail[] } } {
  return { error: details && details.length > 0 ? { code, message, details: [...details] } : { code, message } };
}

/** The error envelope of an answer, if it has one (codes and messages as the server gave them). */
export function parseErrorBody(parsed: unknown): { code?: string; message?: string; details: ErrorDetail[] } {
  const err = (typeof parsed === 'object' && parsed !== null ? (parsed as { error?: unknown }).error : undefined) as { code?: unknown; message?: unknown; details?: unknown } | undefined;
  const details = Array.isArray(err?.details) ? (err.details as { path?: unknown; message?: unknown }[]).map((d) => ({ path: typeof d.path === 'string' ? d.path : '', message: typeof d.message === 'string' ? d.message : '' })) : [];
  return {
    ...(typeof err?.code === 'string' ? { code: err.code } : {}),
    ...(typeof err?.message === 'string' ? { message: err.message } : {}),
    details,
  };
}
