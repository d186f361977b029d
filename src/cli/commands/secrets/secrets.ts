/**
 * `starling secrets set|list|unset --app APP`: an app's secrets on the control plane. The API keeps
 * them encrypted and answers names and digests only; nothing here prints a value, not even in an
 * error (a malformed NAME=VALUE argument is described, never repeated).
 */
import { SECRET_NAME_RE } from '../../../contract/index.js';
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement, usageError as usage } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { secretsList, secretsSet, secretsUnset } from './meta.js';

/** What set and list answer. */
export interface SecretsReply {
  secrets_version: number;
  secrets: { name: string; digest: string; updated_at: string }[];
  /** Set and unset: the release and deploy that roll the machines onto the change (null: staged, or nothing deployed). */
  rollout?: { release: number; deploy: string } | null;
}

function rolloutLine(app: string, r: SecretsReply['rollout']): string {
  return r
    ? `machines roll onto it: release v${r.release}, deploy ${r.deploy} (follow with: starling status --app ${app})`
    : 'no machines rolled (staged, or nothing deployed yet): the next deploy picks it up';
}

const stageQuery = (opts: { stage: boolean }): string => (opts.stage ? '?stage=true' : '');

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

export const runSecretsSet = implement(secretsSet, async (opts) => {
  const { app } = opts;
  const [name, value] = await pairOf(opts['name=value'], opts.stdin);
  const target = resolveControl(opts);
  const reply = await callControl<SecretsReply>(target, 'PUT', appPath(app, `/secrets${stageQuery(opts)}`), { [name]: value });
  if (opts.json) printJson(reply);
  else {
    const digest = reply.secrets.find((s) => s.name === name)?.digest ?? '?';
    console.log(`set secret ${name} on app ${app} (digest ${digest}); the app's secrets are now version ${reply.secrets_version}`);
    console.log(rolloutLine(app, reply.rollout));
  }
  return 0;
});

export const runSecretsList = implement(secretsList, async (opts) => {
  const { app } = opts;
  const reply = await callControl<SecretsReply>(resolveControl(opts), 'GET', appPath(app, '/secrets'));
  reply.secrets.sort((a, b) => a.name.localeCompare(b.name));
  if (opts.json) printJson(reply);
  else if (reply.secrets.length === 0) console.log(`app ${app} has no secrets; set one with: starling secrets set --app ${app} NAME=VALUE`);
  else {
    const rows = [['NAME', 'DIGEST', 'UPDATED']];
    for (const s of reply.secrets) rows.push([s.name, s.digest, s.updated_at]);
    console.log(`${table(rows)}\n(secrets version ${reply.secrets_version}; the digest is the first 16 hex digits of the value's SHA-256)`);
  }
  return 0;
});

export const runSecretsUnset = implement(secretsUnset, async (opts) => {
  const { app } = opts;
  const name = checkName(opts.name);
  const path = appPath(app, `/secrets/${encodeURIComponent(name)}${stageQuery(opts)}`);
  const reply = await callControl<{ secrets_version: number; deleted: string; rollout?: SecretsReply['rollout'] }>(resolveControl(opts), 'DELETE', path);
  if (opts.json) printJson(reply);
  else {
    console.log(`unset secret ${name} on app ${app}; the app's secrets are now version ${reply.secrets_version}`);
    console.log(rolloutLine(app, reply.rollout));
  }
  return 0;
});
