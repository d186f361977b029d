/**
 * The one JSON client of the platform (the CLI to the control plane, an agent to the control
 * plane, the control plane to an agent): a deadline on the injected clock, the answer read up to a
 * size cap, and an error answer turned into the HttpError its envelope describes. A connection that
 * fails is `unreachable` (the caller names the code); an answer that is not JSON is `protocol`.
 * The token goes in the Authorization header only and appears in no error.
 */
import type { ErrorCode } from '../shared/index.js';
import type { Clock } from '../shared/index.js';
import { StarlingError, describeError } from '../shared/index.js';
import { HttpError, parseErrorBody, remoteCode } from './errors.js';

export interface JsonCall {
  method: string;
  url: string;
  token?: string | undefined;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string> | undefined;
  clock: Clock;
  /** Until the whole answer is read (default 30 s). */
  timeoutMs?: number;
  /** The most of an answer read (default 8 MiB). */
  maxBytes?: number;
  fetch?: typeof fetch | undefined;
  /** Ends the call early (a stopping agent). */
  signal?: AbortSignal | undefined;
  /** Codes for the two ways a call fails without an answer (defaults ERR_UNREACHABLE, ERR_PROTOCOL). */
  codes?: { unreachable?: ErrorCode; protocol?: ErrorCode };
  /** Names the peer in messages, e.g. "the control plane at https://…" (default: method and path). */
  what?: string;
}

export async function callJson<T = unknown>(c: JsonCall): Promise<{ status: number; body: T }> {
  const what = c.what ?? `${c.method} ${new URL(c.url).pathname}`;
  const abort = new AbortController();
  const timeoutMs = c.timeoutMs ?? 30_000;
  const timer = c.clock.setTimeout(() => abort.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  const onCancel = (): void => abort.abort(c.signal?.reason);
  c.signal?.addEventListener('abort', onCancel, { once: true });
  if (c.signal?.aborted) abort.abort(c.signal.reason);
  let res: Response;
  let text: string;
  try {
    try {
      res = await (c.fetch ?? fetch)(c.url, {
        method: c.method,
        signal: abort.signal,
        headers: { accept: 'application/json', ...(c.token ? { authorization: `Bearer ${c.token}` } : {}), ...(c.body === undefined ? {} : { 'content-type': 'application/json' }), ...c.headers },
        body: c.body === undefined ? null : JSON.stringify(c.body),
        redirect: 'error',
      });
      text = await readCapped(res, c.maxBytes ?? 8 << 20);
    } catch (e) {
      if (e instanceof StarlingError) throw e;
      const cause: unknown = abort.signal.aborted ? abort.signal.reason : ((e as { cause?: unknown }).cause ?? e);
      // A certificate that is not the pinned one is no connection problem: say so as it is.
      if (cause instanceof StarlingError) throw cause;
      throw new StarlingError(c.codes?.unreachable ?? 'ERR_UNREACHABLE', `${what}: ${describeError(cause)}`, { cause: e });
    }
  } finally {
    timer.cancel();
    c.signal?.removeEventListener('abort', onCancel);
  }
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new StarlingError(c.codes?.protocol ?? 'ERR_PROTOCOL', `${what}: HTTP ${res.status} with something that is not JSON: ${text.slice(0, 120)}`);
  }
  if (res.ok) return { status: res.status, body: parsed as T };
  const err = parseErrorBody(parsed);
  throw new HttpError(res.status, remoteCode(err.code, res.status), err.message ?? `${what}: HTTP ${res.status}`, err.details);
}

/** The body as text, refusing to hold more than `max` bytes of it. */
export async function readCapped(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await res.body?.cancel();
    throw new StarlingError('ERR_ANSWER_TOO_LARGE', `the answer is ${declared} bytes, over the ${max}-byte cap`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += (chunk as Uint8Array).byteLength;
    if (size > max) throw new StarlingError('ERR_ANSWER_TOO_LARGE', `the answer is over the ${max}-byte cap`);
    chunks.push(chunk as Uint8Array);
  }
  return Buffer.concat(chunks).toString('utf8');
}
