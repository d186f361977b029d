/**
 * What the `starling machines …` commands share: the agent named by `--config` (whose local
 * Machines API they call, as the `agent` commands do), API paths, and how a machine is printed.
 * The `--json` output is the API's machine object (README "Machines API"); secrets appear by name only.
 */
import { callAdminApi, type AdminCallOptions } from '../../../agent/index.js';
import { loadAgentConfig } from '../../../agent/index.js';
import { APP_NAME_RE, APP_NAME_RULE } from '../../../contract/index.js';
import type { MachineView } from '../../../runtime/index.js';
import { usageError as usage } from '../../kit/index.js';
import { table } from '../../output.js';
import { DEFAULT_AGENT_CONFIG } from '../agent/meta.js';

export type AgentTarget = { admin_listen: string; token_file: string };

/** What start, stop and destroy answer. */
export interface ChangeReply {
  ok: true;
  previous_state: MachineView['state'];
  machine: MachineView | null;
}

/** `--app`, checked against the Machines API's app names (the kit has checked that it was given). */
export function appOf(opts: { app: string }): string {
  const { app } = opts;
  if (!APP_NAME_RE.test(app)) throw usage(`--app ${APP_NAME_RULE}, got "${app}"`);
  return app;
}

/** `/v1/apps/APP/machines[/ID][SUFFIX]`. */
export function machinePath(app: string, id?: string, suffix = ''): string {
  return `/v1/apps/${encodeURIComponent(app)}/machines${id === undefined ? '' : `/${encodeURIComponent(id)}`}${suffix}`;
}

/** The agent named by `--config` (default /etc/starling/agent.toml); the API call with its token. */
export async function agentOf(opts: { config?: string | undefined }): Promise<AgentTarget> {
  return (await loadAgentConfig(opts.config ?? DEFAULT_AGENT_CONFIG)).agent;
}

/** Whether a command that reaches every host through the control plane was asked for this host's agent instead. */
export function isLocal(opts: { local?: boolean; config?: string | undefined }): boolean {
  return opts.local === true || opts.config !== undefined;
}

export async function callJson<T>(agent: AgentTarget, method: 'GET' | 'POST' | 'DELETE', path: string, o: AdminCallOptions = {}): Promise<T> {
  return callAdminApi<T>(agent, method, path, o);
}

/** One machine, key facts one per line (run, and later show). */
export function describeMachine(m: MachineView): string {
  const rows: string[][] = [
    ['id', m.id],
    ['app', m.app],
    ['state', m.state],
    ['region', m.region],
    ['image', m.image_ref],
    ['private ip', m.private_ip ?? '-'],
    ['command', m.config.cmd.join(' ')],
    ['port', String(m.config.internal_port)],
    ['env', Object.keys(m.config.env).sort().join(', ') || '-'],
    ['secrets', m.config.secret_names.join(', ') || '-'],
    ['checks', checksText(m)],
  ];
  return table(rows.map(([k, v]) => [`  ${k}`, v ?? '']));
}

/** `2/2 passing`, `1/2 passing`, or `-` for a machine without checks. */
export function checksText(m: MachineView): string {
  const all = m.checks.checks;
  if (all.length === 0) return '-';
  return `${all.filter((c) => c.status === 'passing').length}/${all.length} passing`;
}

/**
 * `--cmd "node server.js"` → argv. Words split on white space; single or double quotes keep
 * spaces in one word (`--cmd "sh -c 'echo hi'"`). No escapes and no variables: it is not a shell.
 */
export function splitCommand(s: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (const ch of s) {
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote !== undefined) throw usage(`--cmd has an unclosed ${quote} quote`);
  if (inWord) out.push(word);
  if (out.length === 0) throw usage('--cmd must name a program, e.g. --cmd "node server.js"');
  return out;
}

/** `K=V` pairs of a repeatable flag → an object; a later K wins. */
export function pairs(values: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw usage(`${flag} takes NAME=VALUE, got "${v.slice(0, 40)}"`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}
