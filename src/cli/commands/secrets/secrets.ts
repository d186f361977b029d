/**
 * `starling secrets set|list|unset --app APP`: an app's secrets on the control plane. The API keeps
 * them encrypted and answers names and digests only; nothing here prints a value, not even in an
 * error (a malformed NAME=VALUE argument is described, never repeated).
 */
import { StarlingError } from '../../../shared/index.js';
import type { Command } from '../../args.js';
import { appOption, appPath, callControl, controlOptions, requireApp, resolveControl } from '../../control-client.js';
import { jsonOption } from '../certs/common.js';
import { printJson, table } from '../../output.js';

/** What set and list answer. */
export interface SecretsReply {
  secrets_version: number;
  secrets: { name: string; digest: string; updated_at: string }[];
  /** Set and unset: the release and deploy that roll the machines onto the change (null: staged, or nothing deployed). */
  rollout?: { release: number; deploy: string } | null;
}

const stageOption = {
  stage: { type: 'boolean' as const, description: "record the change without rolling the machines; the app's next deploy picks it up" },
};

function rolloutLine(app: string, r: SecretsReply['rollout']): string {
  return r
    ? `machines roll onto it: release v${r.release}, deploy ${r.deploy} (follow with: starling status --app ${app})`
    : 'no machines rolled (staged, or nothing deployed yet): the next deploy picks it up';
}

const stageQuery = (opts: Record<string, unknown>): string => (opts.stage === true ? '?stage=true' : '');

/** Secret names as the API takes them. */
const SECRET_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

function usage(message: string, hint?: string): StarlingError {
  return new StarlingError('ERR_USAGE', message, { fault: 'user', hint });
}

function checkName(name: string): string {
  if (!SECRET_NAME_RE.test(name)) {
    throw usage(`secret name "${name.slice(0, 40)}" must be letters, digits and _, not starting with a digit (at most 128)`);
  }
  return name;
}

/** All of stdin, less one trailing newline (so `echo "$V" |` and a file both work). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** `NAME=VALUE` → [NAME, VALUE]; with --stdin the argument is NAME alone. */
async function pairOf(arg: string, stdin: boolean): Promise<[string, string]> {
  if (stdin) {
    if (arg.includes('=')) throw usage('with --stdin give the NAME alone; the value comes from stdin', 'printf %s "$VALUE" | starling secrets set --app APP NAME --stdin');
    return [checkName(arg), await readStdin()];
  }
  const eq = arg.indexOf('=');
  if (eq <= 0) {
    throw usage('expected NAME=VALUE (the argument has no NAME= in front)', 'starling secrets set --app APP DATABASE_URL=postgres://…, or NAME --stdin to read the value from stdin');
  }
  return [checkName(arg.slice(0, eq)), arg.slice(eq + 1)];
}

export const secretsSet: Command = {
  noun: 'secrets',
  verb: 'set',
  summary: 'set one secret of an app (NAME=VALUE, or NAME with --stdin); prints its digest, never its value',
  args: ['NAME=VALUE'],
  options: {
    ...appOption,
    stdin: { type: 'boolean', description: 'read the value from stdin (the argument is then NAME alone)' },
    ...stageOption,
    ...jsonOption,
    ...controlOptions,
  },
  async run(opts) {
    const app = requireApp(opts);
    const [name, value] = await pairOf(String(opts['name=value']), opts.stdin === true);
    const target = resolveControl(opts);
    const reply = await callControl<SecretsReply>(target, 'PUT', appPath(app, `/secrets${stageQuery(opts)}`), { [name]: value });
    if (opts.json === true) printJson(reply);
    else {
      const digest = reply.secrets.find((s) => s.name === name)?.digest ?? '?';
      console.log(`set secret ${name} on app ${app} (digest ${digest}); the app's secrets are now version ${reply.secrets_version}`);
      console.log(rolloutLine(app, reply.rollout));
    }
    return 0;
  },
};

export const secretsList: Command = {
  noun: 'secrets',
  verb: 'list',
  aliases: ['ls'],
  summary: "an app's secrets: names and digests (values are never shown)",
  options: { ...appOption, ...jsonOption, ...controlOptions },
  async run(opts) {
    const app = requireApp(opts);
    const reply = await callControl<SecretsReply>(resolveControl(opts), 'GET', appPath(app, '/secrets'));
    reply.secrets.sort((a, b) => a.name.localeCompare(b.name));
    if (opts.json === true) printJson(reply);
    else if (reply.secrets.length === 0) console.log(`app ${app} has no secrets; set one with: starling secrets set --app ${app} NAME=VALUE`);
    else {
      const rows = [['NAME', 'DIGEST', 'UPDATED']];
      for (const s of reply.secrets) rows.push([s.name, s.digest, s.updated_at]);
      console.log(`${table(rows)}\n(secrets version ${reply.secrets_version}; the digest is the first 16 hex digits of the value's SHA-256)`);
    }
    return 0;
  },
};

export const secretsUnset: Command = {
  noun: 'secrets',
  verb: 'unset',
  summary: 'remove one secret of an app',
  args: ['NAME'],
  options: { ...appOption, ...stageOption, ...jsonOption, ...controlOptions },
  async run(opts) {
    const app = requireApp(opts);
    const name = checkName(String(opts.name));
    const path = appPath(app, `/secrets/${encodeURIComponent(name)}${stageQuery(opts)}`);
    const reply = await callControl<{ secrets_version: number; deleted: string; rollout?: SecretsReply['rollout'] }>(resolveControl(opts), 'DELETE', path);
    if (opts.json === true) printJson(reply);
    else {
      console.log(`unset secret ${name} on app ${app}; the app's secrets are now version ${reply.secrets_version}`);
      console.log(rolloutLine(app, reply.rollout));
    }
    return 0;
  },
};
