/**
 * How the lab runs commands: directly as root, or — for a normal user — inside a long-lived
 * "holder": `unshare -Urnm --pid --fork` (user, mount, network and PID namespaces, the caller mapped
 * to root) that mounts its own /proc and a tmpfs on /run (so `ip netns add` can bind-mount under
 * /run/netns) and then sleeps. Every lab command enters it with `nsenter --preserve-credentials -U -m
 * -n -p -t PID`, so all of them see the same /run/netns, the same namespaces and the same pids.
 *
 * Stopping the holder SIGKILLs it; it is pid 1 of its PID namespace, so the kernel kills every
 * process in it (daemons, orphans, nested sandboxes), the mount namespace holding the /run/netns
 * bind mounts goes, and with it every network namespace and veth of the lab.
 *
 * Verified unprivileged (as nobody, test/integration/lab-fabric.test.ts): buildFabric itself run
 * inside (netns add, veths between namespaces, `ip netns exec` — it remounts /sys, allowed in the
 * holder's mount namespace — sysctls, addresses, routes), tc tbf (silenceLink), TCP across the
 * fabric, a second nsenter'd command seeing the same namespaces. What does NOT work unprivileged:
 * the lab is cut off from the host's network (no way in or out; the host's `ip netns list` does not
 * show it: enter the holder to look); the tmpfs hides the host's /run (e.g. a resolv.conf symlinked
 * into /run/systemd); lab pids are the holder's PID namespace's, so lab state is only meaningful
 * inside; cgroup limits would need a delegated cgroup (not tried). The kernel must allow
 * unprivileged user namespaces (user.max_user_namespaces > 0; on Ubuntu 24.04+ also
 * kernel.apparmor_restrict_unprivileged_userns=0) and an unprivileged mount of /proc (the kernel
 * refuses it where the host's /proc has overmounted paths, as in many containers).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StarlingError, SystemClock, type Clock } from '../shared/index.js';
import { isRecordedAlive, procInfo } from './lab-state.js';

export const HOLDER_FILE = 'userns-holder.json';

export interface UserNamespaceHolder {
  /** The holder's pid as the host (the caller's PID namespace) sees it: give it to userNamespaceCommand. */
  pid: number;
  startTime: number;
}

// Learns its own host pid (before /proc is remounted for the new PID namespace), then prepares.
const HOLDER_SCRIPT = [
  'set -e',
  'while read -r k v _; do if [ "$k" = NSpid: ]; then pid=$v; fi; done < /proc/self/status',
  'mount -t proc proc /proc',
  'mount -t tmpfs -o mode=0755 starling-lab /run',
  'mkdir -p /run/netns',
  'echo "ready $pid"',
  'exec sleep infinity </dev/null >/dev/null 2>&1',
].join('\n');

/** Root in the initial user namespace (inside a holder, euid is 0 too, but that is not root). */
export function isRoot(): boolean {
  return process.geteuid?.() === 0 && !inUserNamespace();
}

/** Whether this process runs in a user namespace other than the host's (e.g. inside a holder). */
export function inUserNamespace(): boolean {
  try {
    return readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/).join(' ') !== '0 0 4294967295';
  } catch {
    return false;
  }
}

/** The holder recorded in `stateBaseDir`, if that process still runs. */
export function readUserNamespaceHolder(stateBaseDir: string): UserNamespaceHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(join(stateBaseDir, HOLDER_FILE), 'utf8')) as UserNamespaceHolder;
    return Number.isSafeInteger(h.pid) && isRecordedAlive(h) ? { pid: h.pid, startTime: h.startTime } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts the holder (or returns the running one) and records it in `stateBaseDir`/userns-holder.json.
 * `wrapper` is an argv prefix for starting it, e.g. `setpriv --reuid=… --regid=… --clear-groups`.
 */
export async function startUserNamespaceHolder(
  stateBaseDir: string,
  opts: { wrapper?: string[]; clock?: Clock | undefined; timeoutMs?: number } = {},
): Promise<UserNamespaceHolder> {
  const running = readUserNamespaceHolder(stateBaseDir);
  if (running) return running;
  mkdirSync(stateBaseDir, { recursive: true, mode: 0o700 });
  const clock = opts.clock ?? new SystemClock();
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const argv = [...(opts.wrapper ?? []), 'unshare', '-Urnm', '--pid', '--fork', '--propagation', 'private', 'sh', '-c', HOLDER_SCRIPT];
  const [cmd = '', ...args] = argv;
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const fail = (why: string): StarlingError =>
    new StarlingError('ERR_LAB_USERNS', `cannot start the user-namespace holder: ${why}`, {
      hint: 'unprivileged user namespaces must be allowed (sysctl user.max_user_namespaces; on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0); or run as root',
    });
  const pid = await new Promise<number>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = clock.setTimeout(() => {
      child.kill('SIGKILL');
      reject(fail(`not ready after ${timeoutMs} ms${err.trim() ? `: ${err.trim()}` : ''}`));
    }, timeoutMs);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /^ready (\d+)$/m.exec(out);
      if (m) {
        timer.cancel();
        resolve(Number(m[1]));
      }
    });
    child.on('error', (e) => {
      timer.cancel();
      reject(fail(e.message));
    });
    child.on('exit', (code, signal) => {
      timer.cancel();
      reject(fail(`${cmd} exited (${signal ?? `code ${code}`})${err.trim() ? `: ${err.trim()}` : ''}`));
    });
  });
  child.stdout?.destroy();
  child.stderr?.destroy();
  child.unref();
  const info = procInfo(pid);
  if (!info) throw fail(`the holder (pid ${pid}) is gone right after starting`);
  const holder: UserNamespaceHolder = { pid, startTime: info.startTime };
  const tmp = join(stateBaseDir, `.${HOLDER_FILE}.${randomBytes(4).toString('hex')}.tmp`);
  writeFileSync(tmp, JSON.stringify(holder) + '\n', { mode: 0o600, flag: 'wx' });
  renameSync(tmp, join(stateBaseDir, HOLDER_FILE));
  return holder;
}

/**
 * The argv that runs `argv` inside the holder's user, mount, network and PID namespaces, as the
 * holder's root, in `cwd` (default: the caller's; a path under /run is the holder's tmpfs there).
 * Run it as the user who started the holder: for anyone else its root is unmapped and has no rights.
 */
export function userNamespaceCommand(holderPid: number, argv: string[], cwd = process.cwd()): string[] {
  return ['nsenter', '--preserve-credentials', '-U', '-m', '-n', '-p', '-t', String(holderPid), `--wd=${cwd}`, '--', ...argv];
}

/**
 * Stops the holder recorded in `stateBaseDir` and waits until no process is left in its user
 * namespace; then forgets it. Returns false when there was no running holder. Idempotent. Everything
 * inside dies by SIGKILL: stop the lab gracefully first (teardownLab, run inside the holder).
 */
export async function stopUserNamespaceHolder(stateBaseDir: string, opts: { clock?: Clock | undefined; timeoutMs?: number } = {}): Promise<boolean> {
  const holder = readUserNamespaceHolder(stateBaseDir);
  const forget = (): void => rmSync(join(stateBaseDir, HOLDER_FILE), { force: true });
  if (!holder) {
    forget();
    return false;
  }
  const clock = opts.clock ?? new SystemClock();
  const userns = nsOf(holder.pid);
  if (userns !== undefined && userns === nsOf('self')) {
    throw new StarlingError('ERR_LAB_USERNS', 'cannot stop the user-namespace holder from inside it', { fault: 'user', hint: 'run this outside the lab' });
  }
  // pid 1 of a PID namespace takes only SIGKILL from outside; its death kills everything in it.
  if (isRecordedAlive(holder)) process.kill(holder.pid, 'SIGKILL');
  const members = (): number[] => (userns === undefined ? [] : allPids().filter((p) => nsOf(p) === userns));
  const deadline = clock.monotonic() + (opts.timeoutMs ?? 5000);
  while (isRecordedAlive(holder) || members().length > 0) {
    if (clock.monotonic() >= deadline) {
      throw new StarlingError('ERR_LAB_USERNS', `the user-namespace holder (pid ${holder.pid}) did not go: pids ${members().join(', ')} remain`, {
        hint: 'look at them with ps; kill them, then run this again',
      });
    }
    await clock.sleep(20);
  }
  forget();
  return true;
}

/** The user namespace link (`user:[4026531837]`) of a process; undefined when unreadable or gone. */
function nsOf(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/user`);
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

export interface RunOptions {
  input?: string | undefined;
  timeoutMs?: number | undefined;
  clock?: Clock;
}

/** ERR_LAB_EXEC: a command failed; carries its exit code and stderr. */
export class CommandError extends StarlingError {
  constructor(
    argv: string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    why: string,
  ) {
    super('ERR_LAB_EXEC', `${argv.join(' ')}: ${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
  }
}

/** Runs argv[0] with the rest as arguments; resolves with its output when it exits 0. */
export function runCommand(argv: string[], opts: RunOptions = {}): Promise<{ stdout: string; stderr: string }> {
  const clock = opts.clock ?? new SystemClock();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const [cmd = '', ...args] = argv;
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin?.on('error', () => {}); // EPIPE when it exits early: its exit status says why
    child.stdin?.end(opts.input);
    const timer = clock.setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      timer.cancel();
      reject(new CommandError(argv, null, stderr, `cannot run: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      timer.cancel();
      if (code === 0) resolve({ stdout, stderr });
      else if (timedOut) reject(new CommandError(argv, code, stderr, `timed out after ${timeoutMs} ms`));
      else reject(new CommandError(argv, code, stderr, signal ? `killed by ${signal}` : `exit code ${code}`));
    });
  });
}
