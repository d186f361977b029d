/**
 * The CLI's side of `--lab NAME` and `starling lab use`: what `lab up` leaves for the CLI to find
 * the lab's control plane from outside the lab, and the tunnel each connection to it takes.
 *
 *   ~/.config/starling/labs/NAME.toml   written by lab up and lab use (0600: it holds the lab
 *                                       operator's token), removed by lab down
 *   lab = "NAME" in config.toml         the default target, set by lab use, cleared by
 *                                       lab use --clear and by lab down of that lab
 *
 * The lab's control plane is in a network namespace the host cannot route to (and, for a normal
 * user, in a user namespace too): every connection is a relay process started in that namespace
 * (lab-relay.js) whose stdio carries the TLS bytes, so the token and the pinned certificate check
 * work exactly as for a real control plane. As root it is `ip netns exec NS node lab-relay.js`; a
 * normal user's goes through the lab's user-namespace holder first (src/lab finds it: that module
 * is loaded only then, it costs a few hundred ms).
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import type { LabControlAccess } from '../lab/index.js';
import { StarlingError, describeError } from '../shared/index.js';

const LAB_RELAY = fileURLToPath(new URL('./lab-relay.js', import.meta.url));

/** What the CLI keeps of a lab: what lab up reports (a type only: the lab part is not loaded). */
export type LabAccess = LabControlAccess;

const KEYS: Record<string, keyof LabAccess> = {
  lab: 'lab',
  control_url: 'controlUrl',
  control_fingerprint: 'fingerprint',
  token: 'token',
  netns: 'netns',
  apps_domain: 'appsDomain',
  service_address: 'serviceAddress',
};

/** A lab's name, as the lab checks it (assertLabId: 1-8 of a-z and 0-9), so that it is safe in a file name. */
export function checkLabName(name: string, from: string): string {
  if (!/^[a-z0-9]{1,8}$/.test(name)) throw new StarlingError('ERR_USAGE', `${from}: a lab's name is 1-8 of a-z and 0-9, got "${name.slice(0, 40)}"`, { fault: 'user', hint: 'see your labs: starling lab status' });
  return name;
}

export function labAccessPath(name: string): string {
  return join(homedir(), '.config', 'starling', 'labs', `${checkLabName(name, 'lab')}.toml`);
}

const q = (v: string): string => JSON.stringify(v);

/** Keeps how to reach lab `a.lab` for later commands; returns the file. */
export function saveLabAccess(a: LabAccess): string {
  const path = labAccessPath(a.lab);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const lines = ['# Written by starling lab up / lab use; removed by lab down. Holds the lab operator\'s token.'];
  for (const [key, field] of Object.entries(KEYS)) lines.push(`${key} = ${q(a[field])}`);
  writeFileSync(path, lines.join('\n') + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/** How to reach lab `name`; a user error when no lab of that name was brought up with this HOME. */
export function readLabAccess(name: string, from: string): LabAccess {
  const path = labAccessPath(checkLabName(name, from));
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new StarlingError('ERR_CONTROL_CONFIG', `cannot read ${path}: ${describeError(e)}`, { fault: 'user' });
    throw new StarlingError('ERR_LAB_NOT_FOUND', `lab "${name}" (${from}) is not up, or was brought up with another HOME: there is no ${path}`, {
      fault: 'user',
      hint: `bring it up with starling lab up${name === 'default' ? '' : ` --name ${name}`} (a lab that is up: starling lab use ${name})`,
    });
  }
  const doc = parseToml(text) as Record<string, unknown>;
  const out: Partial<LabAccess> = {};
  for (const [key, field] of Object.entries(KEYS)) {
    const v = doc[key];
    if (typeof v !== 'string' || v === '') throw new StarlingError('ERR_CONTROL_CONFIG', `${path}: ${key} is missing or empty`, { fault: 'user', hint: `write it again: starling lab use ${name}` });
    out[field] = v;
  }
  return out as LabAccess;
}

/** Forgets lab `name` (lab down); false when there was nothing to forget. */
export function forgetLabAccess(name: string): boolean {
  const path = labAccessPath(name);
  if (!existsSync(path)) return false;
  rmSync(path, { force: true });
  return true;
}

/**
 * Sets (or, with undefined, removes) `lab = "NAME"` in the user config file, keeping its other
 * lines and comments as they are; `onlyIf` keeps a default that is another lab. Returns the lab
 * that was the default before. A file with nothing to change is not written.
 */
export function setDefaultLab(configPath: string, name: string | undefined, o: { onlyIf?: string } = {}): string | undefined {
  let text = '';
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new StarlingError('ERR_CONTROL_CONFIG', `cannot read ${configPath}: ${describeError(e)}`, { fault: 'user' });
  }
  const LAB_LINE = /^\s*lab\s*=\s*(?:"([^"]*)"|'([^']*)')\s*(?:#.*)?$/;
  let before: string | undefined;
  const kept = text.split('\n').filter((line) => {
    const m = LAB_LINE.exec(line);
    if (m) before = m[1] ?? m[2];
    return !m;
  });
  if (name === before || (o.onlyIf !== undefined && before !== o.onlyIf)) return before;
  while (kept.length > 0 && kept.at(-1) === '') kept.pop();
  // The config file has no tables: a key at the top is one at the end.
  if (name !== undefined) kept.push(`lab = ${q(name)}`);
  mkdirSync(dirname(configPath), { recursive: true, mode: 0o700 });
  writeFileSync(configPath, kept.length > 0 ? kept.join('\n') + '\n' : '', { mode: 0o600 });
  return before;
}

/**
 * A connection to HOST:PORT inside lab `name`'s namespace `netns`: a relay process whose stdio is the
 * connection. A relay that fails (the lab is down, nothing listens) ends the stream with its error.
 */
export function labTunnel(name: string, netns: string): (host: string, port: number) => Promise<Duplex> {
  return async (host, port) => {
    const [cmd = '', ...args] = await relayCommand(name, netns, host, port);
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-2000)));
    const duplex = Duplex.from({ readable: child.stdout, writable: child.stdin });
    const fail = (why: string): void =>
      void duplex.destroy(new StarlingError('ERR_CONTROL_UNREACHABLE', `lab ${name}: the relay into ${netns} failed: ${why}`, { hint: 'is the lab up? starling lab status' }));
    child.on('error', (e) => fail(e.message));
    child.on('exit', (code, signal) => {
      if (code !== 0 && code !== null) fail(stderr.trim() || `exit status ${code}`);
      else if (signal) fail(`killed by ${signal}`);
    });
    duplex.on('close', () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    });
    return duplex;
  };
}

/** The argv that starts a relay to HOST:PORT in `netns` of lab `name`, from this process. */
async function relayCommand(name: string, netns: string, host: string, port: number): Promise<string[]> {
  const inner = ['ip', 'netns', 'exec', netns, process.execPath, LAB_RELAY, host, String(port)];
  if (process.getuid?.() === 0) return inner;
  const lab = await import('../lab/index.js');
  if (lab.runsDirectly()) return inner; // already inside the holder
  const holder = lab.readUserNamespaceHolder(lab.holderDir(name));
  if (!holder) {
    throw new StarlingError('ERR_LAB_NOT_FOUND', `lab "${name}" is not up for this user (no user-namespace holder in ${lab.holderDir(name)})`, {
      fault: 'user',
      hint: name === 'default' ? 'start it with: starling lab up' : `start it with: starling lab up --name ${name}`,
    });
  }
  return lab.userNamespaceCommand(holder.pid, inner, '/');
}
