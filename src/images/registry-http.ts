/**
 * The HTTP under RegistryClient: one request to `/v2/<repository>/…` with the registry's auth
 * (answer a 401 once: Basic, or a Bearer token from the realm, cached by scope), redirects followed
 * by hand so that our Authorization never goes to another host (blob storage behind a redirect has
 * its own signed URL), a timeout on every request, and the registry's errors as StarlingErrors with
 * its `errors[0].message` quoted on one line.
 */
import { StarlingError, isLoopbackHost } from '../shared/index.js';
import { TokenCache, basicAuthorization, parseTokenAnswer, parseWwwAuthenticate, repositoryScope, tokenUrl } from './registry-auth.js';
import type { ImageRef } from './types.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryHttpOptions {
  fetch: typeof fetch;
  credentials: (registry: string) => Credentials | undefined;
  plainHttp: ((registry: string) => boolean) | undefined;
  timeoutMs: number;
  now: () => number;
}

export interface RegistryRequest {
  method: string;
  /** Under /v2/<repository>/. */
  path?: string;
  /** Absolute (an upload's Location). */
  url?: URL;
  headers?: Record<string, string>;
  /** Called once per attempt (a retry after a 401 sends the body again). */
  body?: () => Buffer | ReadableStream<Uint8Array>;
  push?: boolean;
  /** A 404 is an answer (HEAD of a blob), not an error. */
  allow404?: boolean;
}

export interface RegistryAnswer {
  status: number;
  headers: Headers;
  url: string;
  body: ReadableStream<Uint8Array> | null;
}

const MAX_REDIRECTS = 5;
const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim().slice(0, 300);
const hostOf = (registry: string): string => new URL(`http://${registry}`).hostname;

/** The whole body, or an error when it is longer than `max` bytes. */
export async function readLimited(body: ReadableStream<Uint8Array>, max: number, what: string, tooLargeIsUserFault = false): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > max) {
      await body.cancel().catch(() => undefined);
      throw new StarlingError(tooLargeIsUserFault ? 'ERR_IMAGE_MANIFEST' : 'ERR_IMAGE_DIGEST', `${what} is longer than ${max} bytes`, { fault: tooLargeIsUserFault ? 'user' : 'system' });
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

export class RegistryHttp {
  private readonly tokens = new TokenCache();
  /** Registries whose 401 asked for Basic: later requests send it at once. */
  private readonly basic = new Set<string>();

  constructor(private readonly o: RegistryHttpOptions) {}

  origin(registry: string): string {
    const plain = this.o.plainHttp ? this.o.plainHttp(registry) : isLoopbackHost(hostOf(registry));
    // Docker Hub's API is not at the name images use.
    return `${plain ? 'http' : 'https'}://${registry === 'docker.io' ? 'registry-1.docker.io' : registry}`;
  }

  async request(ref: ImageRef, req: RegistryRequest): Promise<RegistryAnswer> {
    const url = req.url ?? new URL(`/v2/${ref.repository}/${req.path ?? ''}`, this.origin(ref.registry));
    const scope = repositoryScope(ref.repository, req.push === true);
    let auth = this.cachedAuth(ref.registry, scope);
    let res = await this.send(ref.registry, url, req, auth);
    if (res.status === 401) {
      await res.body?.cancel();
      this.tokens.delete(ref.registry, scope);
      auth = await this.authenticate(ref.registry, res.headers.get('www-authenticate') ?? '', scope);
      res = await this.send(ref.registry, url, req, auth);
    }
    if ((res.status >= 200 && res.status < 300) || (req.allow404 === true && res.status === 404)) return res;
    if (res.status === 401) this.tokens.delete(ref.registry, scope);
    throw await this.failure(ref, req, res);
  }

  private cachedAuth(registry: string, scope: string): string | undefined {
    const token = this.tokens.get(registry, scope, this.o.now());
    if (token) return `Bearer ${token}`;
    const creds = this.basic.has(registry) ? this.o.credentials(registry) : undefined;
    return creds ? basicAuthorization(creds.username, creds.password) : undefined;
  }

  /** fetch with a timeout until the answer's head and between body chunks; redirects by hand. */
  private async send(registry: string, first: URL, req: RegistryRequest, auth: string | undefined): Promise<RegistryAnswer> {
    const home = new URL(this.origin(registry)).origin;
    let url = first;
    let method = req.method;
    let body = req.body;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { ...req.headers };
      if (auth && url.origin === home) headers['authorization'] = auth;
      const res = await this.fetchTimed(registry, url, { method, headers, redirect: 'manual', ...(body ? { body: body(), duplex: 'half' } : {}) });
      const location = res.headers.get('location');
      if (![301, 302, 303, 307, 308].includes(res.status) || !location || hop >= MAX_REDIRECTS) return res;
      await res.body?.cancel();
      url = new URL(location, url);
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
      }
    }
  }

  private async fetchTimed(registry: string, url: URL, init: RequestInit & { duplex?: 'half' }): Promise<RegistryAnswer> {
    const abort = new AbortController();
    const ms = this.o.timeoutMs;
    let timer = setTimeout(() => abort.abort(), ms);
    let res: Response;
    try {
      res = await this.o.fetch(url, { ...init, signal: abort.signal });
    } catch (e) {
      throw this.unreachable(registry, e, abort.signal.aborted ? `no answer within ${ms} ms` : undefined);
    } finally {
      clearTimeout(timer);
    }
    const reader = (res.body as ReadableStream<Uint8Array> | null)?.getReader();
    const body = reader
      ? new ReadableStream<Uint8Array>({
          pull: async (controller) => {
            timer = setTimeout(() => abort.abort(), ms);
            try {
              const chunk = await reader.read();
              if (chunk.done) controller.close();
              else controller.enqueue(chunk.value);
            } catch (e) {
              controller.error(this.unreachable(registry, e, abort.signal.aborted ? `no data for ${ms} ms` : undefined));
            } finally {
              clearTimeout(timer);
            }
          },
          cancel: (reason) => reader.cancel(reason),
        })
      : null;
    return { status: res.status, headers: res.headers, url: res.url || url.href, body };
  }

  private unreachable(registry: string, e: unknown, why: string | undefined): StarlingError {
    if (e instanceof StarlingError) return e;
    const cause = (e as { cause?: unknown }).cause;
    const inner = cause instanceof Error ? cause : e instanceof Error ? e : undefined;
    const code = (inner as NodeJS.ErrnoException | undefined)?.code;
    const text = why ?? oneLine(inner ? `${code && !inner.message.includes(code) ? `${code} ` : ''}${inner.message}` : String(e));
    return new StarlingError('ERR_REGISTRY_UNREACHABLE', `cannot reach the registry ${registry}: ${text}`, { fault: 'system', cause: e });
  }

  /** The Authorization for a retry after a 401 with this challenge. */
  private async authenticate(registry: string, header: string, scope: string): Promise<string> {
    const challenges = parseWwwAuthenticate(header);
    const creds = this.o.credentials(registry);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer?.params['realm']) {
      let url: URL;
      try {
        url = tokenUrl(bearer, [scope]);
      } catch {
        throw new StarlingError('ERR_REGISTRY', `${registry} names a token realm that is not a URL: ${oneLine(bearer.params['realm'])}`, { fault: 'system' });
      }
      if (creds && url.protocol === 'http:' && !(this.o.plainHttp?.(url.host) ?? isLoopbackHost(url.hostname))) {
        throw new StarlingError('ERR_REGISTRY_AUTH', `${registry} asks for the credentials at ${url.origin} over plain HTTP; they are not sent`, { fault: 'user' });
      }
      const headers: Record<string, string> = creds ? { authorization: basicAuthorization(creds.username, creds.password) } : {};
      const res = await this.fetchTimed(registry, url, { method: 'GET', headers });
      const text = res.body ? (await readLimited(res.body, 1 << 20, `the token answer of ${registry}`)).toString('utf8') : '';
      if (res.status === 401 || res.status === 403) throw this.refused(registry, creds, scope);
      if (res.status < 200 || res.status >= 300) {
        throw new StarlingError('ERR_REGISTRY', `the token service of ${registry} answered ${res.status}: ${registryMessage(text)}`, { fault: 'system' });
      }
      let answer;
      try {
        answer = parseTokenAnswer(JSON.parse(text));
      } catch {
        answer = undefined;
      }
      if (!answer) throw new StarlingError('ERR_REGISTRY', `the token service of ${registry} answered without a token`, { fault: 'system' });
      this.tokens.set(registry, scope, answer, this.o.now());
      return `Bearer ${answer.token}`;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (!creds) throw this.refused(registry, creds, scope);
      this.basic.add(registry);
      return basicAuthorization(creds.username, creds.password);
    }
    throw new StarlingError('ERR_REGISTRY_AUTH', `${registry} asks for an authentication Starling does not speak: ${oneLine(header) || '(no WWW-Authenticate)'}`, { fault: 'user' });
  }

  private refused(registry: string, creds: Credentials | undefined, scope: string): StarlingError {
    return new StarlingError(
      'ERR_REGISTRY_AUTH',
      creds ? `${registry} refused the credentials of ${JSON.stringify(creds.username)} for ${scope}` : `${registry} asks for credentials for ${scope} and none are configured`,
      { fault: 'user', hint: creds ? 'check the username and password (or token) for this registry' : 'configure credentials for this registry' },
    );
  }

  private async failure(ref: ImageRef, req: RegistryRequest, res: RegistryAnswer): Promise<StarlingError> {
    const text = res.body ? (await readLimited(res.body, 1 << 20, 'an error answer').catch(() => Buffer.alloc(0))).toString('utf8') : '';
    const code = registryCode(text);
    const what = `${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : ref.tag ? `:${ref.tag}` : ''}`;
    if (res.status === 401 || res.status === 403) {
      const e = this.refused(ref.registry, this.o.credentials(ref.registry), repositoryScope(ref.repository, req.push === true));
      return res.status === 403 ? new StarlingError('ERR_REGISTRY_AUTH', `${e.message} (forbidden: ${registryMessage(text)})`, { fault: 'user', hint: e.hint }) : e;
    }
    if (res.status === 404 || ['MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NAME_UNKNOWN'].includes(code ?? '')) {
      return new StarlingError('ERR_REGISTRY_NOT_FOUND', `${what} is not in the registry ${ref.registry}: ${registryMessage(text)}`, { fault: 'user' });
    }
    return new StarlingError('ERR_REGISTRY', `${ref.registry} answered ${res.status} to ${req.method} for ${what}: ${registryMessage(text)}`, { fault: 'system' });
  }
}

function registryErrors(text: string): { code?: unknown; message?: unknown }[] {
  try {
    const doc = JSON.parse(text) as { errors?: unknown };
    return Array.isArray(doc.errors) ? (doc.errors as { code?: unknown; message?: unknown }[]) : [];
  } catch {
    return [];
  }
}

const registryCode = (text: string): string | undefined => {
  const c = registryErrors(text)[0]?.code;
  return typeof c === 'string' ? c : undefined;
};

/** `errors[0].message` (OCI distribution-spec "Error Codes"), else the start of the body. */
export function registryMessage(text: string): string {
  const m = registryErrors(text)[0]?.message;
  return oneLine(typeof m === 'string' && m ? m : text) || '(no message)';
}
