import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { StarlingError, describeError, loadOrCreateTokenFile, remoteCode, type Logger } from '../../shared/index.js';
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
  /** Socket idle timeout; 0 for none (a followed stream). */
  timeoutMs?: number;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * A call to a running agent's admin API, as the CLI makes it, with the `[agent]` section of the same
 * agent.toml. Resolves with the body of a 2xx answer; otherwise throws with the API's error code.
 * `opts` may be the timeout in ms alone.
 */
export async function callAdminApi(
  target: { admin_listen: string; token_file: string },
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  opts: number | AdminCallOptions = {},
): Promise<string> {
  const res = await openAdminApi(target, method, path, typeof opts === 'number' ? { timeoutMs: opts } : opts);
  return readText(res);
}

/** Like callAdminApi, but resolves with the 2xx response itself, its body unread (for streams). */
export async function openAdminApi(
  target: { admin_listen: string; token_file: string },
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  opts: AdminCallOptions = {},
): Promise<http.IncomingMessage> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
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
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string> = { ...opts.headers, authorization: `Bearer ${token}` };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request({ host, port, method, path, headers, timeout: timeoutMs > 0 ? timeoutMs : undefined, agent: false }, resolve);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) =>
      reject(
        new StarlingError('ERR_AGENT_UNREACHABLE', `cannot reach the agent's admin API at ${target.admin_listen}: ${describeError(e)}`, {
          cause: e,
          hint: 'is the agent running with this config? (starling agent run --config FILE)',
        }),
      ),
    );
    req.end(payload);
  });
  const status = res.statusCode ?? 0;
  if (status >= 200 && status < 300) return res;
  const body = await readText(res);
  let err: { code?: string; message?: string } = {};
  try {
    err = (JSON.parse(body) as { error?: typeof err }).error ?? {};
  } catch {
    // not our JSON: report the status alone
  }
  throw new StarlingError(remoteCode(err.code, status, 'ERR_AGENT_API'), `agent answered ${status}: ${err.message ?? body.slice(0, 200)}`, {
    fault: status < 500 ? 'user' : 'system',
    hint: status === 401 ? `the token in ${target.token_file} is not the running agent's: use the same agent.toml as the agent` : undefined,
  });
}

function readText(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (text += d));
    res.on('end', () => resolve(text));
    res.on('error', reject);
    res.on('close', () => reject(new Error('the agent closed the connection mid-answer'))); // no-op once resolved
  });
}

/** agent.toml's `HOST:PORT` (validated when the file was loaded) → parts; `what` names the key. */
export function hostPort(value: string, what: string): { host: string; port: number } {
  const hp = parseHostPort(value);
  if (!hp) throw new StarlingError('ERR_AGENT_CONFIG', `${what} must be HOST:PORT, got "${value}"`, { fault: 'user' });
  return hp;
}

