/**
 * The platform registry's routes: the OCI distribution API at `/v2/`, one repository per app (its
 * name is the app's). Raw routes of the control plane's router, `public` to it because the
 * registry checks its own credentials (below) and answers in the registry's error envelope
 * with a Basic challenge, which registry clients (skopeo, buildah, the agents) understand.
 * Cross-repository mounts are answered with a fresh upload session; deletes are UNSUPPORTED.
 *
 * Who may use the platform registry, with Starling's own tokens: the token comes as the password
 * of Basic auth (any user name: `skopeo --creds x:TOKEN`) or as a Bearer token, and is checked by
 * the control plane's Authenticator. Pull: a user token that sees the app (any scope), the
 * platform operator, or a host credential (agents pull every app's image). Push: deploy scope on
 * the app, or the operator. An app of another org is answered NAME_UNKNOWN, exactly as one that
 * does not exist: a token learns nothing about other tenants.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { APP_NAME_RE, type AppDoc } from '../../contract/index.js';
import { addressKey, describeError, type Logger, type RateLimiter } from '../../shared/index.js';
import { principalKey, scopeAtLeast, seesApp, type Authenticator, type Principal } from '../auth/index.js';
import type { StateStore } from '../store/index.js';
import { rawRoute, type Route } from '../api/http.js';
import { MAX_MANIFEST_BYTES, credentialOf, registryCodeFor, registryError, type RegistryErrorCode } from './manifest.js';
import { repositoryOwner, type RegistryStorage } from './storage.js';

export interface RegistryContext {
  storage: RegistryStorage;
  store: StateStore;
  /** Absent (socket-free tests): every request is answered 401. */
  auth?: RegistryAuth | undefined;
  logger: Logger;
}

export interface RegistryAuth {
  authenticator: Authenticator;
  /** Requests answered 401, per client address (the /v1 API's limiter). */
  failedAuth?: RateLimiter | undefined;
  /** Requests per caller (the /v1 API's limiter). */
  rate?: RateLimiter | undefined;
}

export type Refusal = { status: number; body: unknown; headers: Record<string, string> };
export type Decision = { ok: true; principal: Principal } | { ok: false; refusal: Refusal };

export const CHALLENGE = 'Basic realm="Starling"';

function refuse(code: RegistryErrorCode, message: string, headers: Record<string, string> = {}): Decision {
  const e = registryError(code, message);
  return { ok: false, refusal: { status: e.status, body: e.body, headers } };
}

/** The caller, or the answer to give instead (401 with the Basic challenge, 429). */
async function caller(auth: RegistryAuth | undefined, req: IncomingMessage): Promise<Decision> {
  const header = req.headers.authorization;
  const token = credentialOf(typeof header === 'string' ? header : undefined);
  // Never the token itself in any answer or log line.
  const who = token === undefined || !auth ? undefined : await auth.authenticator.authenticate(`Bearer ${token}`);
  if (!who?.ok) {
    // Registry clients ping /v2/ without credentials first, to learn the challenge: only a
    // credential that fails counts against the address (guessing tokens is slow).
    const d = token === undefined ? undefined : auth?.failedAuth?.take(`ip:${addressKey(req.socket.remoteAddress)}`);
    if (d && !d.ok) return refuse('TOOMANYREQUESTS', 'too many requests with a missing or wrong token from this address', { 'retry-after': String(d.retryAfterS) });
    const message = who && !who.ok && who.code === 'ERR_TOKEN_EXPIRED' ? who.message : 'authentication required: a Starling token as the password (Basic) or a Bearer token';
    return refuse('UNAUTHORIZED', message, { 'www-authenticate': CHALLENGE });
  }
  const p = who.principal;
  if (p.kind !== 'platform' && p.kind !== 'user' && p.kind !== 'host') return refuse('DENIED', 'this token cannot use the registry');
  const d = auth!.rate?.take(principalKey(p));
  if (d && !d.ok) return refuse('TOOMANYREQUESTS', 'too many requests with this token', { 'retry-after': String(d.retryAfterS) });
  return { ok: true, principal: p };
}

/** May `p` pull from (or push to) repository `name`? NAME_UNKNOWN for an app it cannot see. */
async function mayUse(store: StateStore, p: Principal, name: string, push: boolean): Promise<Decision & { app?: AppDoc }> {
  const doc = APP_NAME_RE.test(name) ? ((await store.get('apps', name))?.value as AppDoc | undefined) : undefined;
  const visible = doc !== undefined && (p.kind === 'platform' || p.kind === 'host' || seesApp(p, doc));
  if (!visible) return refuse('NAME_UNKNOWN', `no repository ${JSON.stringify(name.slice(0, 80))}`);
  if (!push || p.kind === 'platform' || (p.kind === 'user' && scopeAtLeast(p.scope, 'deploy'))) return { ok: true, principal: p, app: doc };
  return refuse('DENIED', p.kind === 'user' ? `this token's scope is ${p.scope}; pushing needs deploy` : 'a host credential only pulls');
}

const API_VERSION = { 'docker-distribution-api-version': 'registry/2.0' };

function send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.destroy();
  const text = body === undefined ? '' : JSON.stringify(body) + '\n';
  // A body still on its way is thrown away and the connection closed, as the /v1 API does.
  const unread = !req.complete && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0) && !req.readableEnded;
  if (unread) req.resume();
  res.writeHead(status, { ...API_VERSION, 'cache-control': 'no-store', ...(body === undefined ? { 'content-length': '0' } : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }), ...(unread ? { connection: 'close' } : {}), ...headers });
  res.end(req.method === 'HEAD' ? undefined : text);
}

function fail(req: IncomingMessage, res: ServerResponse, code: RegistryErrorCode, message: string, headers?: Record<string, string>): void {
  const e = registryError(code, message);
  send(req, res, e.status, e.body, headers);
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > max) return undefined;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

type Handler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>, query: URLSearchParams) => Promise<void>;

export function registryRoutes(ctx: RegistryContext): Route[] {
  const { storage } = ctx;
  /** A route that needs a caller allowed to pull (or push) the `{app}` in its path. */
  const r = (method: Route['method'], path: string, summary: string, push: boolean | 'none', handler: Handler): Route =>
    rawRoute({
      method,
      path,
      access: 'public',
      summary: `${summary} (registry: Basic or Bearer Starling token, ${push === 'none' ? 'any caller' : push ? 'deploy scope' : 'read scope or a host'})`,
      contentType: 'application/octet-stream',
      responses: { '200': 'see the OCI distribution spec', '401': 'UNAUTHORIZED (registry envelope)', '404': 'NAME_UNKNOWN, BLOB_UNKNOWN, MANIFEST_UNKNOWN' },
      async raw(req, res, params) {
        const who = await caller(ctx.auth, req);
        if (!who.ok) return send(req, res, who.refusal.status, who.refusal.body, who.refusal.headers);
        if (push !== 'none') {
          const may = await mayUse(ctx.store, who.principal, params.app!, push);
          if (!may.ok) return send(req, res, may.refusal.status, may.refusal.body, may.refusal.headers);
          // A repository left by a destroyed app of the same name is not the new app's.
          await storage.claimRepository(params.app!, repositoryOwner(may.app!));
        }
        const query = new URL(req.url ?? '/', 'http://registry').searchParams;
        try {
          await handler(req, res, params, query);
        } catch (e) {
          const code = registryCodeFor(e);
          if (code) return fail(req, res, code, (e as Error).message);
          ctx.logger.error('registry request failed', { method: req.method, path: path, error: describeError(e) });
          if (!res.headersSent) return send(req, res, 500, { errors: [{ code: 'UNKNOWN', message: 'internal error; see the log of the control plane', detail: null }] });
          res.destroy();
        }
      },
    });

  const uploadUrl = (app: string, uuid: string): string => `/v2/${app}/blobs/uploads/${uuid}`;
  const uploadHeaders = (app: string, uuid: string, size: number): Record<string, string> => ({
    location: uploadUrl(app, uuid),
    'docker-upload-uuid': uuid,
    range: `0-${Math.max(0, size - 1)}`,
  });
  const created = (req: IncomingMessage, res: ServerResponse, app: string, digest: string): void =>
    send(req, res, 201, undefined, { location: `/v2/${app}/blobs/${digest}`, 'docker-content-digest': digest });

  async function serveBlob(req: IncomingMessage, res: ServerResponse, p: Record<string, string>): Promise<void> {
    const file = await storage.blobPath(p.app!, p.digest!);
    if (!file) return fail(req, res, 'BLOB_UNKNOWN', `repository ${p.app} holds no blob ${p.digest!.slice(0, 80)}`);
    const { size } = await stat(file);
    res.writeHead(200, { ...API_VERSION, 'content-type': 'application/octet-stream', 'content-length': String(size), 'docker-content-digest': p.digest!, etag: `"${p.digest}"` });
    if (req.method === 'HEAD') return void res.end();
    await pipeline(createReadStream(file), res).catch((e: unknown) => ctx.logger.debug('registry blob download ended early', { error: describeError(e) }));
  }

  async function serveManifest(req: IncomingMessage, res: ServerResponse, p: Record<string, string>): Promise<void> {
    const m = await storage.getManifest(p.app!, p.reference!);
    if (!m) return fail(req, res, 'MANIFEST_UNKNOWN', `repository ${p.app} has no manifest ${p.reference!.slice(0, 80)}`);
    res.writeHead(200, { ...API_VERSION, 'content-type': m.mediaType, 'content-length': String(m.bytes.length), 'docker-content-digest': m.digest, etag: `"${m.digest}"` });
    res.end(req.method === 'HEAD' ? undefined : m.bytes);
  }

  async function session(req: IncomingMessage, res: ServerResponse, p: Record<string, string>): Promise<number | undefined> {
    const size = await storage.uploadSize(p.app!, p.uuid!);
    if (size === undefined) fail(req, res, 'BLOB_UPLOAD_UNKNOWN', `no upload ${p.uuid!.slice(0, 80)} in repository ${p.app}`);
    return size;
  }

  const unsupported: Handler = (req, res) => Promise.resolve(fail(req, res, 'UNSUPPORTED', 'deleting from the platform registry is not supported: destroying the app removes its repository'));

  return [
    r('GET', '/v2/', 'Registry API version check', 'none', (req, res) => Promise.resolve(send(req, res, 200, {}))),
    r('HEAD', '/v2/{app}/blobs/{digest}', 'Whether the repository holds a blob', false, serveBlob),
    r('GET', '/v2/{app}/blobs/{digest}', 'Download a blob', false, serveBlob),
    r('DELETE', '/v2/{app}/blobs/{digest}', 'Delete a blob (unsupported)', true, unsupported),
    r('POST', '/v2/{app}/blobs/uploads/', 'Start a blob upload (or push a whole blob with ?digest=)', true, async (req, res, p, q) => {
      const digest = q.get('digest');
      if (digest !== null) return created(req, res, p.app!, (await storage.putBlob(p.app!, digest, req)).digest);
      // ?mount=&from= is not honoured (no cross-repository reads): a new session, as the spec allows.
      const uuid = await storage.startUpload(p.app!);
      send(req, res, 202, undefined, uploadHeaders(p.app!, uuid, 0));
    }),
    r('GET', '/v2/{app}/blobs/uploads/{uuid}', "An upload's progress", true, async (req, res, p) => {
      const size = await session(req, res, p);
      if (size !== undefined) send(req, res, 204, undefined, uploadHeaders(p.app!, p.uuid!, size));
    }),
    r('PATCH', '/v2/{app}/blobs/uploads/{uuid}', 'Upload a chunk', true, async (req, res, p) => {
      const size = await session(req, res, p);
      if (size === undefined) return;
      const range = /^(\d+)-(\d+)$/.exec(String(req.headers['content-range'] ?? ''));
      if (req.headers['content-range'] !== undefined && (!range || Number(range[1]) !== size)) {
        return send(req, res, 416, registryError('BLOB_UPLOAD_INVALID', `the chunk must start at ${size}`).body, uploadHeaders(p.app!, p.uuid!, size));
      }
      let now: number;
      try {
        now = await storage.appendUpload(p.app!, p.uuid!, req);
      } catch (e) {
        await storage.cancelUpload(p.uuid!); // a chunk over the cap, or a client gone: nothing is kept
        throw e;
      }
      send(req, res, 202, undefined, uploadHeaders(p.app!, p.uuid!, now));
    }),
    r('PUT', '/v2/{app}/blobs/uploads/{uuid}', 'Finish an upload (?digest=, with the last chunk if any)', true, async (req, res, p, q) => {
      const digest = q.get('digest');
      if ((await session(req, res, p)) === undefined) return;
      if (digest === null) return fail(req, res, 'DIGEST_INVALID', 'finishing an upload needs ?digest=sha256:<hex>');
      try {
        await storage.appendUpload(p.app!, p.uuid!, req);
      } catch (e) {
        await storage.cancelUpload(p.uuid!);
        throw e;
      }
      created(req, res, p.app!, (await storage.completeUpload(p.app!, p.uuid!, digest)).digest);
    }),
    r('DELETE', '/v2/{app}/blobs/uploads/{uuid}', 'Cancel an upload', true, async (req, res, p) => {
      if ((await session(req, res, p)) === undefined) return;
      await storage.cancelUpload(p.uuid!);
      send(req, res, 204, undefined);
    }),
    r('HEAD', '/v2/{app}/manifests/{reference}', 'Whether a manifest exists (by tag or digest)', false, serveManifest),
    r('GET', '/v2/{app}/manifests/{reference}', 'Download a manifest (by tag or digest)', false, serveManifest),
    r('PUT', '/v2/{app}/manifests/{reference}', 'Push a manifest (OCI or Docker schema 2, manifest or index)', true, async (req, res, p) => {
      const bytes = await readBody(req, MAX_MANIFEST_BYTES);
      if (!bytes) return fail(req, res, 'SIZE_INVALID', `manifests are at most ${MAX_MANIFEST_BYTES} bytes`);
      const digest = await storage.putManifest(p.app!, p.reference!, bytes, req.headers['content-type']);
      ctx.logger.info('registry manifest pushed', { repository: p.app, reference: p.reference, digest });
      send(req, res, 201, undefined, { location: `/v2/${p.app}/manifests/${digest}`, 'docker-content-digest': digest });
    }),
    r('DELETE', '/v2/{app}/manifests/{reference}', 'Delete a manifest (unsupported)', true, unsupported),
    r('GET', '/v2/{app}/tags/list', "The repository's tags (?n=&last=)", false, async (req, res, p, q) => {
      let tags = await storage.tags(p.app!);
      const last = q.get('last');
      if (last !== null) tags = tags.filter((t) => t > last);
      const n = Number(q.get('n') ?? NaN);
      if (Number.isSafeInteger(n) && n >= 0 && n < tags.length) {
        tags = tags.slice(0, n);
        return send(req, res, 200, { name: p.app, tags }, { link: `</v2/${p.app}/tags/list?n=${n}&last=${encodeURIComponent(tags.at(-1) ?? '')}>; rel="next"` });
      }
      send(req, res, 200, { name: p.app, tags });
    }),
  ];
}
