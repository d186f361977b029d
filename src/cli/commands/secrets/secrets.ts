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

/** `NAME=VALUE` → [NAME, VALUE]; `which` says which argument it is, for messages (never the value). */
function pairOf(arg: string, which: string): [string, string] {
  const eq = arg.indexOf('=');
  if (eq <= 0) {
    throw usage(`expected NAME=VALUE, but ${which} has no NAME= in front`, 'starling secrets set --app APP DATABASE_URL=postgres://… API_KEY=…, or NAME --stdin to read one value from stdin');
  }
  return [checkName(arg.slice(0, eq)), arg.slice(eq + 1)];
}

/**
 * Every argument checked before anything is sent, so a bad one sets none: `NAME=VALUE …`, or with
 * --stdin one NAME whose value is stdin. A name given twice is refused rather than one value winning.
 */
async function pairsOf(args: readonly string[], stdin: boolean): Promise<Record<string, string>> {
  if (stdin) {
    if (args.length !== 1 || args[0]!.includes('=')) throw usage('with --stdin give one NAME alone; its value comes from stdin', 'printf %s "$VALUE" | starling secrets set --app APP NAME --stdin');
    return { [checkName(args[0]!)]: await readStdin() };
  }
  const pairs = new Map<string, string>();
  for (const [i, arg] of args.entries()) {
    const [name, value] = pairOf(arg, args.length === 1 ? 'the argument' : `argument ${i + 1}`);
    if (pairs.has(name)) throw usage(`secret ${name} is given twice`, 'give each NAME once');
    pairs.set(name, value);
  }
  // fromEntries defines own properties, so even a secret named __proto__ is sent as one.
  return Object.fromEntries(pairs);
}

/** All the pairs in one PUT: one new secrets version, one rollout. */
export const runSecretsSet = implement(secretsSet, async (opts) => {
  const { app } = opts;
  const pairs = await pairsOf(opts['name=value'], opts.stdin);
  const names = Object.keys(pairs);
  const target = resolveControl(opts);
  const reply = await callControl<SecretsReply>(target, 'PUT', appPath(app, `/secrets${stageQuery(opts)}`), pairs);
  if (opts.json) printJson(reply);
  else {
    const digestOf = (name: string): string => reply.secrets.find((s) => s.name === name)?.digest ?? '?';
    const what = names.length === 1 ? `secret ${names[0]!} on app ${app} (digest ${digestOf(names[0]!)})` : `${names.length} secrets on app ${app}: ${names.map((n) => `${n} (digest ${digestOf(n)})`).join(', ')}`;
    console.log(`set ${what}; the app's secrets are now version ${reply.secrets_version}`);
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
