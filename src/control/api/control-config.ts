/**
 * `control.toml`, the control plane's static config, and the API token file. Zod (strict) checks
 * it; every problem is reported at once with its key path. See docs/control-api.md.
 */
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { readToml, ConfigIssuesError, fromZod, loadOrCreateTokenFile, readConfigText, type Logger, type SchemaIssue } from '../../shared/index.js';

export const DEFAULT_STATE = '/var/lib/starling/control/state.db';
export const DEFAULT_LISTEN = '127.0.0.1:9300';

export interface ControlConfig {
  listen: { host: string; port: number };
  /** SQLite database file. */
  state: string;
  /** Bearer token file, created (0600) when missing. Default: next to `state`, `api.token`. */
  token_file: string;
  /** Bearer token file for agents (hosts), created (0600) when missing. Default: next to `state`, `agent.token`. */
  agent_token_file: string;
  /** Uploaded images (content-addressed .tar.gz files). Default: next to `state`, `images/`. */
  images_dir: string;
  /** Seconds without hearing from a host before it is marked down. */
  host_timeout_s: number;
  /** AES-256-GCM key file, created (0600) when missing. Default: next to `state`, `secrets.key`. */
  secrets_key_file: string;
}

const hostPort = z.string().transform((s, ctx) => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `must be HOST:PORT (e.g. ${DEFAULT_LISTEN})` });
    return z.NEVER;
  }
  return { host: (m[1] ?? m[2])!, port };
});
const path = z.string().min(1, 'must not be empty');

const Schema = z.strictObject({
  listen: hostPort.prefault(DEFAULT_LISTEN),
  state: path.default(DEFAULT_STATE),
  token_file: path.optional(),
  agent_token_file: path.optional(),
  images_dir: path.optional(),
  host_timeout_s: z.number().int('must be a whole number of seconds').min(5, 'must be at least 5 (agents poll every 25 s but hold the poll open)').max(3600).default(75),
  secrets_key_file: path.optional(),
});

export class ControlConfigError extends ConfigIssuesError {
  constructor(source: string, issues: SchemaIssue[], cause?: unknown) {
    super('ERR_CONTROL_CONFIG', source, issues, 'docs/control-api.md lists every key of control.toml', cause);
  }
}

export function parseControlConfig(text: string, source: string): ControlConfig {
  const toml = readToml(text);
  if (!toml.ok) throw new ControlConfigError(source, [toml.issue], toml.cause);
  const result = Schema.safeParse(toml.doc);
  if (!result.success) throw new ControlConfigError(source, fromZod(result.error));
  const { listen, state, token_file, agent_token_file, images_dir, secrets_key_file, host_timeout_s } = result.data;
  const dir = dirname(state);
  return {
    listen,
    state,
    token_file: token_file ?? join(dir, 'api.token'),
    agent_token_file: agent_token_file ?? join(dir, 'agent.token'),
    images_dir: images_dir ?? join(dir, 'images'),
    host_timeout_s,
    secrets_key_file: secrets_key_file ?? join(dir, 'secrets.key'),
  };
}

export async function loadControlConfig(file: string): Promise<ControlConfig> {
  const text = await readConfigText(file, { code: 'ERR_CONTROL_CONFIG_READ', what: 'control config', hint: 'check the path given with --config' });
  return parseControlConfig(text, file);
}

/** The API's bearer token: read from token_file, or created there (0600) on first start. */
export function loadOrCreateControlToken(path: string, logger: Logger): Promise<string> {
  return loadOrCreateTokenFile(path, logger, { code: 'ERR_CONTROL_TOKEN', who: 'control plane' });
}
