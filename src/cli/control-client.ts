/**
 * The CLI's client for the control plane's HTTP API (docs/control-api.md): where the control plane
 * is and which token to send, then one JSON call at a time.
 *
 * Each setting is looked up on its own, first match wins:
 *   URL:   --control URL or --lab NAME, env STARLING_CONTROL_URL or STARLING_LAB, then in
 *          ~/.config/starling/config.toml `lab` (set by starling lab use) or else `control_url`.
 *          Two at one level (--control with --lab) are an error, not a guess.
 *   token: --token-file FILE, env STARLING_TOKEN, env STARLING_TOKEN_FILE, `token_file` or `token`
 *          in that config file (a relative token_file is relative to the config file).
 *   pin:   --fingerprint SHA256, env STARLING_CONTROL_FINGERPRINT, `control_fingerprint` in that
 *          file, else the pin kept in ~/.config/starling/known_controls.json (tls-pins.ts).
 * A lab (lab-target.ts) brings its own URL, token and pin, from what lab up left in
 * ~/.config/starling/labs/NAME.toml; --token-file and --fingerprint still override them. Its
 * connections go through a relay into the lab's namespace.
 * The token is never printed, not even in an error, and never sent in clear to a non-loopback
 * address (plain http:// there needs --insecure).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { StarlingError, SystemClock, checkPlainHttp, describeError, isStarlingError, normalizeFingerprint, trustingFetch } from '../shared/index.js';
import { HttpError, callJson, answerError } from '../http/index.js';
import type { controlFlags } from './flags.js';
import type { OptionValues } from './kit/index.js';
import { checkLabName, labTunnel, readLabAccess } from './lab-target.js';
import { trustOnFirstUse } from './tls-pins.js';

/** The values of the control flags (flags.ts) a command was given. */
export type ControlFlagValues = Partial<OptionValues<typeof controlFlags>>;

export interface ControlTarget {
  /** Without a trailing slash. */
  url: string;
  token: string;
  /** Checks the control plane's certificate (the pin, a CA, or trust on first use). */
  fetch: typeof fetch;
  /** How errors name it: "the control plane at URL", or "lab NAME's control plane". */
  label: string;
}

const CONFIG_KEYS = ['control_url', 'token_file', 'token', 'control_fingerprint', 'lab'] as const;

/** `~/.config/starling/config.toml` (HOME decides where ~ is). */
export function userConfigPath(): string {
  return join(homedir(), '.config', 'starling', 'config.toml');
}

const SETUP_HINT =
  'pass --control URL --token-file FILE, set STARLING_CONTROL_URL and STARLING_TOKEN (or STARLING_TOKEN_FILE), ' +
  `or write control_url and token_file in ${userConfigPath()}`;

function configError(message: string, hint?: string): StarlingError {
  return new StarlingError('ERR_CONTROL_CONFIG', message, { fault: 'user', hint });
}

/** The user config file's keys; {} when there is no file. Unknown keys and wrong types are errors. */
function readUserConfig(path: string): Partial<Record<(typeof CONFIG_KEYS)[number], string>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw configError(`cannot read ${path}: ${describeError(e)}`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (e) {
    throw configError(`${path} is not valid TOML: ${describeError(e)}`);
  }
  const problems: string[] = [];
  const out: Partial<Record<(typeof CONFIG_KEYS)[number], string>> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(k)) problems.push(`${k}: unknown key (known: ${CONFIG_KEYS.join(', ')})`);
    else if (typeof v !== 'string' || v === '') problems.push(`${k}: must be a non-empty string`);
    else out[k as (typeof CONFIG_KEYS)[number]] = v;
  }
  if (problems.length > 0) throw configError(`${path} is invalid:\n  ${problems.join('\n  ')}`);
  return out;
}

function readTokenFile(path: string, from: string): string {
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw configError(`cannot read the token file ${path} (${from}): ${describeError(e)}`, "it is the control plane's token_file (control.toml); copy it somewhere this user can read");
  }
  if (token === '') throw configError(`the token file ${path} (${from}) is empty`);
  return token;
}

function checkUrl(value: string, from: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw configError(`${from} must be a URL like http://127.0.0.1:9300, got "${value}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw configError(`${from} must be an http:// or https:// URL, got "${value}"`);
  return value.replace(/\/+$/, '');
}

/** Where the control plane is and the token to send it, by the precedence above. */
export function resolveControl(opts: ControlFlagValues, env: NodeJS.ProcessEnv = process.env): ControlTarget {
  const path = userConfigPath();
  let file: ReturnType<typeof readUserConfig> | undefined;
  const fileConfig = (): ReturnType<typeof readUserConfig> => (file ??= readUserConfig(path));

  const choice = chooseTarget(opts, env, fileConfig, path);
  if (choice === undefined) throw configError('no control plane configured', SETUP_HINT);
  if (choice.lab !== undefined) return labTarget(choice.lab, choice.from, opts);
  const url = checkUrl(choice.url, choice.from);

  let token: string | undefined;
  const tokenFile = opts['token-file'];
  if (tokenFile !== undefined) token = readTokenFile(tokenFile, '--token-file');
  else if (env.STARLING_TOKEN?.trim()) token = env.STARLING_TOKEN.trim();
  else if (env.STARLING_TOKEN_FILE) token = readTokenFile(env.STARLING_TOKEN_FILE, 'STARLING_TOKEN_FILE');
  else if (fileConfig().token_file !== undefined) token = readTokenFile(resolve(dirname(path), fileConfig().token_file!), `token_file in ${path}`);
  else if (fileConfig().token !== undefined) token = fileConfig().token!.trim();
  if (!token) throw configError(`no API token configured for the control plane at ${url}`, SETUP_HINT);
  checkPlainHttp(new URL(url), opts.insecure === true, 'the control plane', 'use its https:// URL, or pass --insecure on a network you trust');
  const pinText = opts.fingerprint ?? env.STARLING_CONTROL_FINGERPRINT ?? fileConfig().control_fingerprint;
  let pin: string | undefined;
  if (pinText !== undefined && pinText !== '') {
    pin = normalizeFingerprint(pinText);
    if (!pin) throw configError(`the control plane's fingerprint must be 64 hex digits (colons allowed), got "${pinText.slice(0, 100)}"`);
  }
  // No pin given: a CA-signed certificate is trusted; an unknown self-signed one is pinned on first use.
  return { url, token, fetch: trustingFetch(pin ? { fingerprint: pin } : trustOnFirstUse(url, env)), label: `the control plane at ${url}` };
}

type Choice = { url: string; lab?: undefined; from: string } | { lab: string; url?: undefined; from: string };

/** --control/--lab, then STARLING_CONTROL_URL/STARLING_LAB, then the config file's lab or control_url. */
function chooseTarget(opts: ControlFlagValues, env: NodeJS.ProcessEnv, file: () => ReturnType<typeof readUserConfig>, path: string): Choice | undefined {
  if (opts.control !== undefined && opts.lab !== undefined) throw configError('give --control URL or --lab NAME, not both');
  if (opts.control !== undefined) return { url: opts.control, from: '--control' };
  if (opts.lab !== undefined) return { lab: opts.lab, from: '--lab' };
  if (env.STARLING_CONTROL_URL && env.STARLING_LAB) throw configError('STARLING_CONTROL_URL and STARLING_LAB are both set: unset one');
  if (env.STARLING_CONTROL_URL) return { url: env.STARLING_CONTROL_URL, from: 'STARLING_CONTROL_URL' };
  if (env.STARLING_LAB) return { lab: env.STARLING_LAB, from: 'STARLING_LAB' };
  // lab use writes `lab` beside a real control_url: the lab is what the user chose last.
  if (file().lab !== undefined) return { lab: file().lab!, from: `lab in ${path} (starling lab use)` };
  if (file().control_url !== undefined) return { url: file().control_url!, from: `control_url in ${path}` };
  return undefined;
}

/** A lab's control plane: its URL, token and pin from lab up's file, connections through a relay. */
function labTarget(name: string, from: string, opts: ControlFlagValues): ControlTarget {
  const access = readLabAccess(checkLabName(name, from), from);
  const token = opts['token-file'] !== undefined ? readTokenFile(opts['token-file'], '--token-file') : access.token;
  const pin = normalizeFingerprint(opts.fingerprint ?? access.fingerprint);
  if (!pin) throw configError(`the control plane's fingerprint must be 64 hex digits (colons allowed), got "${(opts.fingerprint ?? access.fingerprint).slice(0, 100)}"`);
  return { url: access.controlUrl, token, fetch: trustingFetch({ fingerprint: pin }, { tunnel: labTunnel(access.lab, access.netns) }), label: `lab ${access.lab}'s control plane (${access.controlUrl})` };
}

export interface CallOptions {
  /** Until the whole answer is read (default 30 s). */
  timeoutMs?: number;
  /** More request headers (a machine's lease nonce). */
  headers?: Record<string, string>;
}

const CLOCK = new SystemClock();

/**
 * One call to the control plane (the HTTP kit's callJson with the target's token and certificate
 * check): resolves with the parsed JSON of a 2xx answer. An error answer throws the HttpError of
 * its envelope, its details under the message and a hint for what to do; a control plane that
 * cannot be reached is ERR_CONTROL_UNREACHABLE, a certificate that is not the pinned one
 * ERR_TLS_UNTRUSTED as the TLS check said it.
 */
export async function callControl<T = unknown>(target: ControlTarget, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, o: CallOptions = {}): Promise<T> {
  try {
    const answer = await callJson<T>({
      method,
      url: target.url + path,
      token: target.token,
      body,
      clock: CLOCK,
      timeoutMs: o.timeoutMs ?? 30_000,
      headers: o.headers,
      fetch: target.fetch,
      what: target.label,
      codes: { unreachable: 'ERR_CONTROL_UNREACHABLE', protocol: 'ERR_CONTROL_API' },
    });
    return answer.body;
  } catch (e) {
    throw explainControlError(e);
  }
}

/**
 * The error a person reads for a failed call: an error answer explained (below); callJson's own
 * errors name the peer ("the control plane at URL: why"), to which the CLI adds what failed and
 * what to do. Anything else (ERR_TLS_UNTRUSTED, with its own hint) comes back as it is.
 */
function explainControlError(e: unknown): unknown {
  if (e instanceof HttpError) return explainAnswer(e);
  if (isStarlingError(e, 'ERR_CONTROL_UNREACHABLE')) {
    return new StarlingError(e.code, `cannot reach ${e.message}`, {
      cause: e.cause,
      hint: "is it running (starling control run) and is the URL right (--control, STARLING_CONTROL_URL or control_url)? A lab's control plane is reached with --lab NAME or starling lab use",
    });
  }
  if (isStarlingError(e, 'ERR_CONTROL_API')) {
    return new StarlingError(e.code, e.message, { cause: e.cause, hint: "is --control the control plane (not a proxy or an agent)? A lab's control plane is not routable from the host: use --lab NAME or starling lab use" });
  }
  return e;
}

/** An error answer with each problem of its details on a line under the message (the CLI prints the message alone), and a hint. */
function explainAnswer(e: HttpError): HttpError {
  // A validation answer's message ends with its problems inline ("invalid body: a: …; b: …"): they
  // are said once, each on its own line under the head.
  const inline = e.details.map((d) => `${d.path}: ${d.message}`).join('; ');
  const head = inline !== '' && e.message.endsWith(`: ${inline}`) ? `${e.message.slice(0, -inline.length - 2)}:` : e.message;
  const message = [head, ...e.details.map((d) => `  ${d.path || '(body)'}: ${d.message}`)].join('\n');
  return new HttpError(e.status, e.code, message, e.details, { hint: hintFor(e.status, e.code), cause: e.cause });
}

/** The HttpError of an error answer read without callJson (an image upload streams its body), explained as callControl's are. */
export function controlAnswerError(status: number, text: string, doing: string): HttpError {
  return explainAnswer(answerError(status, text, (m) => `${doing} failed (${status}): ${m ?? text.slice(0, 300)}`));
}

/**
 * A streamed call: `body` is sent as it is read (an image upload, an exec's stdin), and the answer
 * comes back as soon as its head does, its body unread. A connection that fails is
 * ERR_CONTROL_UNREACHABLE naming what was being done; a certificate (or a lab relay) that failed
 * is the error it said; an answer that is not 2xx throws its explained HttpError.
 */
export async function streamControl(
  target: ControlTarget,
  method: 'POST' | 'PUT',
  path: string,
  body: ReadableStream<Uint8Array>,
  o: { doing: string; headers?: Record<string, string>; signal?: AbortSignal },
): Promise<Response> {
  let res: Response;
  try {
    res = await target.fetch(target.url + path, {
      method,
      headers: { authorization: `Bearer ${target.token}`, ...o.headers },
      body,
      duplex: 'half',
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } catch (e) {
    const cause = e instanceof Error && e.cause !== undefined ? e.cause : e;
    if (cause instanceof StarlingError) throw cause;
    throw new StarlingError('ERR_CONTROL_UNREACHABLE', `${o.doing}: cannot reach ${target.label}: ${describeError(cause)}`, { cause: e });
  }
  if (!res.ok || !res.body) throw controlAnswerError(res.status, await res.text().catch(() => ''), o.doing);
  return res;
}

function hintFor(status: number, code: string): string | undefined {
  if (code === 'ERR_TOKEN_EXPIRED') return 'ask an admin of your org for a new one (starling tokens create)';
  if (status === 401) return 'the token is not one this control plane accepts: a token from starling tokens create, or the operator\'s token_file (see control.toml)';
  if (status === 403) return 'the token may not do this: see its scope with starling tokens list, or ask for one with a wider scope';
  if (status === 429) return 'wait as long as the message says, then try again';
  if (code === 'ERR_APP_NOT_FOUND') return 'see your apps with: starling apps list';
  if (code === 'ERR_APP_EXISTS') return 'pick another name, or see your apps with: starling apps list';
  if (status >= 500) return "the control plane's log says more";
  return undefined;
}

/** `/v1/apps/APP…`, the name encoded. */
export function appPath(app: string, suffix = ''): string {
  return `/v1/apps/${encodeURIComponent(app)}${suffix}`;
}
