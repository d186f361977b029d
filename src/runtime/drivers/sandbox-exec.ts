/**
 * `starling ssh console` inside a sandboxed machine: the command joins the machine's own
 * namespaces (user, mount, pid, network, uts, ipc, cgroup) with nsenter, as the machine's uid and
 * gid (never the host's root: without a user namespace, allow_host_root, it is what the machine
 * itself is), in /app, with the machine's environment (secrets included, passed as the environment
 * and never argv). Inside, bwrap adds what nsenter cannot: the machine's seccomp filter, no
 * capabilities and no_new_privs. With a terminal, util-linux `script` runs it on a pseudo-terminal
 * inside the machine. The driver moves the process into the machine's cgroups once it runs.
 *
 * An image-base machine has no host /usr inside, so the host's bwrap and script are run from open
 * file descriptors: the driver opens the host's dynamic loader, library directories and the two
 * programs (no O_CLOEXEC once passed as the child's stdio), and the command inside is
 * `/proc/self/fd/<ld.so> --library-path /proc/self/fd/<dir>:… /proc/self/fd/<bwrap> …`. Nothing of
 * the host is mounted into the machine for it; the fds end with the command.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, realpathSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { ExecRequest } from '../types.js';
import { findBinary } from './sandbox-args.js';

export interface ExecPlace {
  /** The sandbox init (pid 1 inside): whose namespaces are joined. */
  init: number;
  /** The uid/gid inside, when the machine has a user namespace of its own. */
  user?: { uid: number; gid: number } | undefined;
  /** The host's bwrap: inside on the host base (its /usr is bound read-only); from fds on an image base (`host`). */
  bwrap: string;
  /** The fd the seccomp program arrives on. */
  seccompFd: number;
  /** The cwd inside. */
  workdir: string;
  /** Image base: the host programs as open fds in the child (hostFds). */
  host?: HostFds | undefined;
}

/** Child fd numbers of the host's loader, library dirs, bwrap and script. */
export interface HostFds {
  ldso: number;
  libs: number[];
  bwrap: number;
  script: number;
}

/** The host's loader, library dirs, bwrap and script opened as fds (the caller closes them). */
export function openHostFds(bwrap: string): { paths: string[]; fds: number[] } {
  const triplet = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  const ldso = ['/lib64/ld-linux-x86-64.so.2', '/lib/ld-linux-aarch64.so.1'].find((p) => existsSync(p));
  const libs = [...new Set([`/lib/${triplet}`, `/usr/lib/${triplet}`, '/lib64', '/usr/lib64', '/lib', '/usr/lib'].filter((d) => existsSync(d)).map((d) => realpathSync(d)))];
  const paths = [ldso ?? '/lib64/ld-linux-x86-64.so.2', bwrap, '/usr/bin/script', ...libs];
  const fds: number[] = [];
  try {
    for (const p of paths) fds.push(openSync(p, 'r'));
  } catch (e) {
    for (const fd of fds) closeSync(fd);
    throw e;
  }
  return { paths, fds };
}

/** A host program, run through the host's loader from fds (image base), or by its path. */
function hostProgram(p: ExecPlace, which: 'bwrap' | 'script', path: string): string[] {
  if (!p.host) return [path];
  const fd = (n: number): string => `/proc/self/fd/${n}`;
  return [fd(p.host.ldso), '--library-path', p.host.libs.map(fd).join(':'), fd(p.host[which])];
}

/** Starts nsenter as host root (it becomes the machine's user), the filter on fd 3, host programs from fd 4 on. */
export function spawnExec(p: ExecPlace, req: ExecRequest, o: { imageBase: boolean; seccomp: Buffer; env: Record<string, string> }): ChildProcess {
  const host = o.imageBase ? openHostFds(p.bwrap) : undefined;
  const at = (i: number): number => 4 + i;
  const fds = host && { ldso: at(0), bwrap: at(1), script: at(2), libs: host.fds.slice(3).map((_, i) => at(3 + i)) };
  let child: ChildProcess;
  try {
    child = spawn(findBinary('nsenter', 'install the "util-linux" package'), execArgs({ ...p, host: fds }, req), {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe', ...(host?.fds ?? [])],
      env: o.env,
      uid: 0,
      gid: 0,
    });
  } finally {
    for (const fd of host?.fds ?? []) closeSync(fd); // the child has its own copies
  }
  const filter = child.stdio[3] as Writable;
  filter.on('error', () => undefined); // the command failed before reading it: its exit status says why
  filter.end(o.seccomp);
  return child;
}

/** nsenter's argv (after the program): join, become the machine's user, filter, run. */
export function execArgs(p: ExecPlace, req: ExecRequest): string[] {
  const join = ['--target', String(p.init), '--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', `--wdns=${p.workdir}`];
  if (p.user) join.push('--user', '--setuid', String(p.user.uid), '--setgid', String(p.user.gid));
  // A nested bwrap only to load the filter: the whole machine view bound as it is, no new namespace but its own user one.
  const filter = [...hostProgram(p, 'bwrap', p.bwrap), '--dev-bind', '/', '/', '--cap-drop', 'ALL', '--seccomp', String(p.seccompFd), '--die-with-parent', '--chdir', p.workdir, '--'];
  return [...join, '--', ...filter, ...command(req, hostProgram(p, 'script', '/usr/bin/script'))];
}

/** The command, on a pseudo-terminal with `tty` (`script -e` returns the command's own status). */
export function command(req: ExecRequest, script = ['/usr/bin/script']): string[] {
  if (!req.tty) return req.cmd;
  const size = req.size ? `stty cols ${req.size.cols} rows ${req.size.rows} 2>/dev/null; ` : '';
  return [...script, '-qfec', `${size}exec ${req.cmd.map(shellQuote).join(' ')}`, '/dev/null'];
}

/** One POSIX shell word. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
