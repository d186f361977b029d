import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import type { AnnouncerStatus } from '../announcer/index.js';
import { StarlingError, describeError, type Logger } from '../shared/index.js';
import { parseHostPort } from './config.js';

/** What the admin API needs of the announcer (the Announcer itself; a fake in tests). */
export interface AnnouncerControl {
  drain(): void;
  undrain(): void;
  readonly drainState: 'serving' | 'draining' | 'drained';
  status(): Promise<AnnouncerStatus>;
  metricsText(): Promise<string>;
}

/** Socket-free request and response: routing and auth are tested without a port. */
export interface AdminRequest {
  method: string;
  path: string;
  authorization: string | undefined;
}

export interface AdminResponse {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

/** One endpoint; it gets the (already authorised) request. */
export type AdminHandler = (req: AdminRequest) => Promise<AdminResponse>;

/** `POST /v1/drain` and `POST /v1/undrain` answer this (stable keys, read by the CLI). */
export interface DrainReply {
  /** The drain state after the call. */
  drain: 'serving' | 'draining' | 'drained';
  /** False when the agent was already in the asked-for state. */
  changed: boolean;
  community: '65535:0';
  prepend: number;
  delay_ms: number;
}

export interface AdminApiOptions {
  announcer: AnnouncerControl;
  /** The bearer token every request must carry (see loadOrCreateToken). */
  token: string;
  /** Echoed in drain replies so the operator sees what happens: AS-path prepends and the delay. */
  drain: { prepend: number; delay_ms: number };
  logger: Logger;
}

export const GRACEFUL_SHUTDOWN = '65535:0';

/**
 * The agent's local admin API. Every endpoint, `/metrics` included, needs `Authorization: Bearer
 * <token>`: an unauthenticated caller learns nothing, not even which paths exist. Errors are
 * `{ "error": { "code", "message" } }`. Later parts of the agent add endpoints with route().
 */
export class AdminApi {
  private readonly server: http.Server;
  private readonly routes = new Map<string, Map<string, AdminHandler>>();
  private readonly tokenHash: Buffer;

  constructor(private readonly o: AdminApiOptions) {
    this.tokenHash = sha256(o.token);
    this.server = http.createServer((req, res) => void this.serve(req, res));
    const a = o.announcer;
    this.route('POST', '/v1/drain', async () => {
      const changed = a.drainState === 'serving';
      a.drain();
      if (changed) o.logger.info('drain requested', { delay_ms: o.drain.delay_ms });
      return json(200, this.drainReply(changed));
    });
    this.route('POST', '/v1/undrain', async () => {
      const changed = a.drainState !== 'serving';
      a.undrain();
      if (changed) o.logger.info('undrain requested');
      return json(200, this.drainReply(changed));
    });
    this.route('GET', '/v1/bgp/status', async () => json(200, await a.status()));
    this.route('GET', '/metrics', async () => ({
      status: 200,
      contentType: 'text/plain; version=0.0.4',
      body: await a.metricsText(),
    }));
  }

  /** Adds an endpoint (the agent's later parts: machines, leases, logs). */
  route(method: string, path: string, handler: AdminHandler): void {
    const byMethod = this.routes.get(path) ?? new Map<string, AdminHandler>();
    byMethod.set(method, handler);
    this.routes.set(path, byMethod);
  }

  /** Auth first, then the route: the whole decision, without a socket. */
  async handle(req: AdminRequest): Promise<AdminResponse> {
    if (!this.authorized(req.authorization)) {
      const out = error(401, 'ERR_UNAUTHORIZED', 'missing or wrong bearer token (Authorization: Bearer <token from token_file>)');
      return { ...out, headers: { 'www-authenticate': 'Bearer realm="starling-agent"' } }; // RFC 6750 section 3
    }
    const byMethod = this.routes.get(req.path);
    if (!byMethod) return error(404, 'ERR_NOT_FOUND', `no endpoint ${req.path}`);
    const handler = byMethod.get(req.method);
    if (!handler) {
      const allow = [...byMethod.keys()].join(', ');
      return { ...error(405, 'ERR_METHOD_NOT_ALLOWED', `${req.path} accepts ${allow}, not ${req.method}`), headers: { allow } };
    }
    try {
      return await handler(req);
    } catch (e) {
      this.o.logger.error('admin request failed', { method: req.method, path: req.path, error: describeError(e) });
      if (e instanceof StarlingError) return error(e.fault === 'user' ? 400 : 500, e.code, e.message);
      return error(500, 'ERR_INTERNAL', describeError(e));
    }
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private drainReply(changed: boolean): DrainReply {
    const { prepend, delay_ms } = this.o.drain;
    return { drain: this.o.announcer.drainState, changed, community: GRACEFUL_SHUTDOWN, prepend, delay_ms };
  }

  /** Compares hashes in constant time, so neither the token nor its length leaks through timing. */
  private authorized(header: string | undefined): boolean {
    const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
    return m !== null && timingSafeEqual(sha256(m[1]!), this.tokenHash);
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.resume(); // no endpoint reads a body
    const out = await this.handle({
      method: req.method ?? 'GET',
      path: new URL(req.url ?? '/', 'http://agent').pathname,
      authorization: req.headers.authorization,
    });
    res.writeHead(out.status, { 'content-type': out.contentType, 'cache-control': 'no-store', ...out.headers }).end(out.body);
  }
}

/**
 * The admin token: read from `path`, or created there (32 random bytes, hex, mode 0600) when the
 * file does not exist. The token is never logged; a file others can read only earns a warning.
 */
export async function loadOrCreateToken(path: string, logger: Logger): Promise<string> {
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw tokenError(path, e);
  }
  if (text === undefined) {
    const token = randomBytes(32).toString('hex');
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFile(path, token + '\n', { mode: 0o600, flag: 'wx' });
    } catch (e) {
      // Another process created it first: use theirs.
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateToken(path, logger);
      throw tokenError(path, e);
    }
    logger.info('admin token created', { file: path });
    return token;
  }
  const token = text.trim();
  if (!/^\S{16,}$/.test(token)) {
    throw new StarlingError('ERR_AGENT_TOKEN', `token_file ${path} must hold one token of at least 16 characters`, {
      fault: 'user',
      hint: `delete ${path} and the agent creates a new one`,
    });
  }
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) logger.warn('admin token file is readable by others: chmod 600 it', { file: path, mode: mode.toString(8) });
  return token;
}

/**
 * A call to a running agent's admin API, as the CLI makes it, with the `[agent]` section of the same
 * agent.toml. Resolves with the body of a 2xx answer; otherwise throws with the API's error code.
 */
export async function callAdminApi(
  target: { admin_listen: string; token_file: string },
  method: 'GET' | 'POST',
  path: string,
  timeoutMs = 10_000,
): Promise<string> {
  let token: string;
  try {
    token = (await readFile(target.token_file, 'utf8')).trim();
  } catch (e) {
    throw new StarlingError('ERR_AGENT_TOKEN', `cannot read the agent's token_file ${target.token_file}: ${describeError(e)}`, {
      fault: 'user',
      cause: e,
      hint: 'the agent creates it when it starts; run this as a user who can read it (e.g. with sudo)',
    });
  }
  const at = hostPort(target.admin_listen, 'agent.admin_listen');
  // An agent listening on every address is reached on loopback.
  const host = at.host === '0.0.0.0' ? '127.0.0.1' : at.host === '::' ? '::1' : at.host;
  const port = at.port;
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host, port, method, path, headers: { authorization: `Bearer ${token}` }, timeout: timeoutMs, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) =>
      reject(
        new StarlingError('ERR_AGENT_UNREACHABLE', `cannot reach the agent's admin API at ${target.admin_listen}: ${describeError(e)}`, {
          cause: e,
          hint: 'is the agent running with this config? (starling agent run --config FILE)',
        }),
      ),
    );
    req.end();
  });
  if (status >= 200 && status < 300) return body;
  let err: { code?: string; message?: string } = {};
  try {
    err = (JSON.parse(body) as { error?: typeof err }).error ?? {};
  } catch {
    // not our JSON: report the status alone
  }
  throw new StarlingError(err.code ?? 'ERR_AGENT_API', `agent answered ${status}: ${err.message ?? body.slice(0, 200)}`, {
    fault: status < 500 ? 'user' : 'system',
    hint: status === 401 ? `the token in ${target.token_file} is not the running agent's: use the same agent.toml as the agent` : undefined,
  });
}

/** agent.toml's `HOST:PORT` (validated when the file was loaded) → parts; `what` names the key. */
export function hostPort(value: string, what: string): { host: string; port: number } {
  const hp = parseHostPort(value);
  if (!hp) throw new StarlingError('ERR_AGENT_CONFIG', `${what} must be HOST:PORT, got "${value}"`, { fault: 'user' });
  return hp;
}

function tokenError(path: string, e: unknown): StarlingError {
  return new StarlingError('ERR_AGENT_TOKEN', `cannot read or create token_file ${path}: ${describeError(e)}`, {
    fault: 'user',
    cause: e,
    hint: 'token_file must be in a directory the agent can write, readable by the agent and the CLI user only',
  });
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Unknown values are `null`, not left out: every documented key is always present. */
function json(status: number, value: unknown): AdminResponse {
  return { status, contentType: 'application/json', body: JSON.stringify(value, (_k, v: unknown) => (v === undefined ? null : v)) + '\n' };
}

function error(status: number, code: string, message: string): AdminResponse {
  return json(status, { error: { code, message } });
}
