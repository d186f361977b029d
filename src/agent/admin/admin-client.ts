import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { StarlingError, SystemClock, describeError, isStarlingError, loadOrCreateTokenFile, type Logger } from '../../shared/index.js';
import { HttpError, callJson, answerError } from '../../http/index.js';
import { parseHostPort } from '../../contract/index.js';

/**
 * The client side of the agent's admin API: the token file both sides share, and the calls the CLI
 * makes (`starling agent …`, `starling machines …`).
 */
/** The admin token: read from token_file, or created there (0600) on first start. */
export function loadOrCreateToken(path: string, logger: Logger): Promise<string> {
  return loadOrCreateTokenFile(path, logger, { code: 'ERR_AGENT_TOKEN', who: 'agent' });
}

export interface AdminCallOptions {
  /**
   * callAdminApi: until the whole answer is read (default 10 s). openAdminApi: the socket's idle
   * timeout (default 10 s), 0 for none (a followed stream).
   */
  timeoutMs?: number;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** The `[agent]` keys of agent.toml a call needs. */
export type AdminTarget = { admin_listen: string; token_file: string };

const CLOCK = new SystemClock();

/**
 * A call to a running agent's admin API, as the CLI makes it, with the `[agent]` section of the same
 * agent.toml: the HTTP kit's callJson on loopback with the agent's token. Resolves with the parsed
 * JSON of a 2xx answer; an error answer throws the HttpError of its envelope (the API's code).
 * `opts` may be the timeout in ms alone.
 */
export async function callAdminApi<T = unknown>(target: AdminTarget, method: 'GET' | 'POST' | 'DELETE', path: string, opts: number | AdminCallOptions = {}): Promise<T> {
  const o = typeof opts === 'number' ? { timeoutMs: opts } : opts;
  const at = await locate(target);
  try {
    const answer = await callJson<T>({
      method,
      url: `http://${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}${path}`,
      token: at.token,
      body: o.body,
      headers: o.headers,
      clock: CLOCK,
      timeoutMs: o.timeoutMs ?? 10_000,
      what: `the agent's admin API at ${target.admin_listen}`,
      codes: { unreachable: 'ERR_AGENT_UNREACHABLE', protocol: 'ERR_AGENT_API' },
    });
    return answer.body;
  } catch (e) {
    throw explainAdminError(e, target);
  }
}

/**
 * Like callAdminApi, but resolves with the 2xx response itself, its body unread: for a followed
 * stream, which fetch would end after its body timeout, so this is node:http with no timeout at all
 * when `timeoutMs` is 0. An error answer throws as callAdminApi's do.
 */
export async function openAdminApi(target: AdminTarget, method: 'GET' | 'POST' | 'DELETE', path: string, opts: AdminCallOptions = {}): Promise<http.IncomingMessage> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const { host, port, token } = await locate(target);
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string> = { ...opts.headers, authorization: `Bearer ${token}` };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request({ host, port, method, path, headers, timeout: timeoutMs > 0 ? timeoutMs : undefined, agent: false }, resolve);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => reject(explainAdminError(new StarlingError('ERR_AGENT_UNREACHABLE', `the agent's admin API at ${target.admin_listen}: ${describeError(e)}`, { cause: e }), target)));
    req.end(payload);
  });
  const status = res.statusCode ?? 0;
  if (status >= 200 && status < 300) return res;
  const text = await readAnswer(res, 64 << 10);
  throw explainAdminError(answerError(status, text, (m) => m ?? (text.slice(0, 200) || `HTTP ${status}`)), target);
}

/** The agent's token (from its token_file) and where its admin API is reached from this host. */
async function locate(target: AdminTarget): Promise<{ host: string; port: number; token: string }> {
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
  return { host, port: at.port, token };
}

/**
 * The error a person reads: an error answer says that it is the agent's, its status, message and
 * each problem of its details on a line of its own, with a hint for a token the agent refused; a
 * connection that failed says so, with a hint. Anything else comes back as it is.
 */
function explainAdminError<E>(e: E, target: AdminTarget): E | HttpError | StarlingError {
  if (e instanceof HttpError) {
    const message = [`the agent answered ${e.status}: ${e.message}`, ...e.details.map((d) => `  ${d.path || '(body)'}: ${d.message}`)].join('\n');
    const hint = e.status === 401 ? `the token in ${target.token_file} is not the running agent's: use the same agent.toml as the agent` : undefined;
    return new HttpError(e.status, e.code, message, e.details, { hint, cause: e.cause });
  }
  if (isStarlingError(e, 'ERR_AGENT_UNREACHABLE')) {
    return new StarlingError(e.code, `cannot reach ${e.message}`, { cause: e.cause, hint: 'is the agent running with this config? (starling agent run --config FILE)' });
  }
  return e;
}

/** An answer's body as text, at most `max` bytes of it (an error answer's: only its message is wanted). */
async function readAnswer(res: http.IncomingMessage, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).byteLength;
    if (size > max) {
      res.destroy();
      break;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** agent.toml's `HOST:PORT` (validated when the file was loaded) → parts; `what` names the key. */
export function hostPort(value: string, what: string): { host: string; port: number } {
  const hp = parseHostPort(value);
  if (!hp) throw new StarlingError('ERR_AGENT_CONFIG', `${what} must be HOST:PORT, got "${value}"`, { fault: 'user' });
  return hp;
}

