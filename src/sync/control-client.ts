/**
 * The agent's calls to the control plane besides the feed (sync.ts): reporting machine states,
 * fetching a machine's secrets, downloading images. Every call carries the host credential and has a
 * deadline on the injected clock. A non-2xx answer becomes the HttpError of the control plane's
 * envelope (its code); a connection failure is ERR_CONTROL_UNREACHABLE. Secret values never appear
 * in an error.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StarlingError, describeError, type Clock } from '../shared/index.js';
import { answerError, callJson, readCapped } from '../http/index.js';
import { DIGEST_RE } from '../contract/index.js';

export interface ControlClientOptions {
  /** The control plane's base URL, e.g. `http://10.0.0.1:9300`. */
  url: string;
  token: string;
  clock: Clock;
  /** Per request (an image download: until its last byte). Default 30 s; downloads 10 min. */
  timeoutMs?: number;
  /** The fetch to use (one that checks the control plane's certificate); default the global one. */
  fetch?: typeof fetch | undefined;
}


export class ControlClient {
  private readonly base: string;

  constructor(private readonly o: ControlClientOptions) {
    this.base = o.url.replace(/\/+$/, '');
  }

  /** One JSON request; resolves with the parsed answer of a 2xx (an error answer throws its HttpError). */
  async json(method: string, path: string, body?: unknown, cancel?: AbortSignal): Promise<unknown> {
    const answer = await callJson({
      method,
      url: this.base + path,
      token: this.o.token,
      body,
      clock: this.o.clock,
      timeoutMs: this.o.timeoutMs ?? 30_000,
      fetch: this.o.fetch,
      signal: cancel,
      codes: { unreachable: 'ERR_CONTROL_UNREACHABLE', protocol: 'ERR_CONTROL_PROTOCOL' },
    });
    return answer.body;
  }

  /**
   * Downloads `GET /v1/images/<digest>` to `file` unless a file with that digest is already there.
   * The bytes are hashed as they arrive; only a complete download with the right sha256 is renamed
   * into place, so `file` is always whole and verified. A file there with other bytes (a damaged
   * disk) is replaced.
   */
  async downloadImage(digest: string, file: string, cancel?: AbortSignal): Promise<'cached' | 'downloaded'> {
    const m = DIGEST_RE.exec(digest);
    if (!m) throw new StarlingError('ERR_IMAGE_DIGEST', `image digest ${JSON.stringify(digest.slice(0, 80))} is not sha256:<64 hex digits>`);
    const hex = m[1]!;
    if ((await fileDigest(file)) === hex) return 'cached';
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const tmp = join(dirname(file), `.download-${randomBytes(6).toString('hex')}`);
    try {
      await this.withDeadline(this.o.timeoutMs ?? 600_000, cancel, async (signal) => {
        const path = `/v1/images/${digest}`;
        const res = await this.fetch('GET', path, signal);
        if (!res.ok || !res.body) {
          // An error answer too large to read is still the status's error.
          throw answerError(res.status, await readCapped(res, 64 << 10).catch(() => ''), (m) => `GET ${path}: ${m ?? `HTTP ${res.status}`}`);
        }
        const hash = createHash('sha256');
        const tap = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            cb(null, chunk);
          },
        });
        try {
          await pipeline(Readable.fromWeb(res.body), tap, createWriteStream(tmp, { mode: 0o600 }));
        } catch (e) {
          throw unreachable('GET', path, e);
        }
        const got = hash.digest('hex');
        if (got !== hex) {
          throw new StarlingError('ERR_IMAGE_DIGEST', `image ${digest} downloaded with sha256 ${got}: refused`, {
            hint: 'the control plane holds a damaged image; upload it again',
          });
        }
      });
      await rename(tmp, file);
      return 'downloaded';
    } finally {
      await rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  private async fetch(method: string, path: string, signal: AbortSignal, body?: unknown): Promise<Response> {
    try {
      return await (this.o.fetch ?? fetch)(this.base + path, {
        method,
        signal,
        headers: { authorization: `Bearer ${this.o.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? null : JSON.stringify(body),
      });
    } catch (e) {
      throw unreachable(method, path, e);
    }
  }

  /** Runs `fn` with a signal that aborts after `ms` (on the clock) or with `cancel`. */
  private async withDeadline<T>(ms: number, cancel: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const abort = new AbortController();
    const timer = this.o.clock.setTimeout(() => abort.abort(), ms);
    const onCancel = (): void => abort.abort();
    cancel?.addEventListener('abort', onCancel, { once: true });
    if (cancel?.aborted) abort.abort();
    try {
      return await fn(abort.signal);
    } finally {
      timer.cancel();
      cancel?.removeEventListener('abort', onCancel);
    }
  }
}

function unreachable(method: string, path: string, e: unknown): StarlingError {
  const cause = (e as { cause?: unknown }).cause;
  return new StarlingError('ERR_CONTROL_UNREACHABLE', `${method} ${path}: ${describeError(cause ?? e)}`, { cause: e });
}

/** The sha256 (hex) of a file; undefined when there is none. */
export async function fileDigest(file: string): Promise<string | undefined> {
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
