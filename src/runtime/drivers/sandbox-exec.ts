/**
 * `starling ssh console` inside a sandboxed machine: the command joins the machine's own
 * namespaces (user, mount, pid, network, uts, ipc, cgroup) with nsenter, as the machine's uid and
 * gid (never the host's root: without a user namespace, allow_host_root, it is what the machine
 * itself is), in /app, with the machine's environment (secrets included, passed as the environment
 * and never argv). Inside, bwrap adds what nsenter cannot: the machine's seccomp filter, no
 * capabilities and no_new_privs. With a terminal, util-linux `script` runs it on a pseudo-terminal
 * inside the machine. The driver moves the process into the machine's cgroups once it runs.
 */
import type { ExecRequest } from '../types.js';

export interface ExecPlace {
  /** The sandbox init (pid 1 inside): whose namespaces are joined. */
  init: number;
  /** The uid/gid inside, when the machine has a user namespace of its own. */
  user?: { uid: number; gid: number } | undefined;
  /** The host's bwrap, which exists inside too (the host's /usr is bound read-only). */
  bwrap: string;
  /** The fd the seccomp program arrives on. */
  seccompFd: number;
}

/** nsenter's argv (after the program): join, become the machine's user, filter, run. */
export function execArgs(p: ExecPlace, req: ExecRequest): string[] {
  const join = ['--target', String(p.init), '--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', '--wdns=/app'];
  if (p.user) join.push('--user', '--setuid', String(p.user.uid), '--setgid', String(p.user.gid));
  // A nested bwrap only to load the filter: the whole machine view bound as it is, no new namespace but its own user one.
  const filter = [p.bwrap, '--dev-bind', '/', '/', '--cap-drop', 'ALL', '--seccomp', String(p.seccompFd), '--die-with-parent', '--chdir', '/app', '--'];
  return [...join, '--', ...filter, ...command(req)];
}

/** The command, on a pseudo-terminal with `tty` (`script -e` returns the command's own status). */
export function command(req: ExecRequest): string[] {
  if (!req.tty) return req.cmd;
  const size = req.size ? `stty cols ${req.size.cols} rows ${req.size.rows} 2>/dev/null; ` : '';
  return ['/usr/bin/script', '-qfec', `${size}exec ${req.cmd.map(shellQuote).join(' ')}`, '/dev/null'];
}

/** One POSIX shell word. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
