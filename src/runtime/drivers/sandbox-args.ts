/**
 * What a sandbox looks like from inside, as bwrap options: a pure function of the machine spec and
 * its host-side names (no I/O but reading which host runtime dirs exist, and writing the generated
 * /etc files). The driver (sandbox.ts) hands these options to bwrap through a pipe, never argv.
 *
 * The view: the image read-only at /app (the cwd), the host's /usr (+ merged-/usr symlinks, node's
 * own dir if elsewhere) and a few /etc entries read-only, generated hosts/hostname/passwd/group,
 * fresh /proc (with /proc/sys and /proc/sysrq-trigger read-only) and /dev, no /sys, tmpfs /tmp
 * (1777) and home (0700, the app's), each capped at the machine's memory, volumes read-write.
 * Nothing else of the host exists inside.
 *
 * Who runs it: with a user namespace (sandbox-userns.ts) the app is uid/gid 1000 "app" inside,
 * an unprivileged host uid of its app's block outside, with no capabilities (and bwrap sets
 * no_new_privs); the seccomp filter (seccomp.ts) closes the kernel calls a container has no
 * business making. Never `--uid 0` with `--userns`: bwrap calls setuid() only when the sandbox uid
 * differs from its real uid (0), so uid 0 would stay host uid 0 (likewise gid 0 and setgid()).
 * Without a user namespace (allow_host_root) the app is the host's uid 0 with no capabilities.
 */
import { chmodSync, existsSync, lstatSync, readlinkSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { StarlingError } from '../../shared/index.js';
import type { MachineSpec } from '../types.js';

/** The host-side facts the options depend on. */
export interface SandboxPlace {
  /** The machine's state dir, holding the generated /etc files. */
  stateDir: string;
  address: string;
  netns: string;
}

/** How bwrap gets the process's identity and filter: fds the driver passes after the option pipe (3). */
export interface SandboxRun {
  /** The user namespace to join and the uid/gid inside; undefined: run as the host's uid 0. */
  userns?: { fd: number; uid: number; gid: number } | undefined;
  seccompFd: number;
}

export const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HOME = '/home/app';
/** Who the app is inside unless its spec says otherwise. */
export const DEFAULT_USER = { uid: 1000, gid: 1000 } as const;
/** Host files a typical runtime needs (TLS roots, resolver and libc config); bound read-only if present. */
const ETC = ['ssl', 'ca-certificates', 'pki', 'resolv.conf', 'nsswitch.conf', 'host.conf', 'gai.conf', 'localtime', 'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'alternatives', 'mime.types'];

/** Everything but the command: namespaces, identity, the filesystem view, hostname and the environment. */
export function bwrapOptions(spec: MachineSpec, t: SandboxPlace, runtimeBinds: string[], run: SandboxRun): string[] {
  const tmpSize = spec.guest.memory_mb > 0 ? ['--size', String(spec.guest.memory_mb * 1024 * 1024)] : [];
  const args: string[] = [];
  if (run.userns) args.push('--userns', String(run.userns.fd), '--uid', String(run.userns.uid), '--gid', String(run.userns.gid));
  args.push('--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--die-with-parent', '--new-session');
  args.push('--cap-drop', 'ALL', '--seccomp', String(run.seccompFd), '--hostname', hostname(spec.id, t), ...runtimeBinds);
  for (const f of ['hosts', 'hostname', 'passwd', 'group']) args.push('--ro-bind', join(t.stateDir, f), `/etc/${f}`);
  // bwrap covers /proc/sys and sysrq-trigger only where access(W_OK) succeeds for it, which it does
  // not once it has dropped its capabilities: bind them read-only here (the host's /proc/sys shows
  // each reader its own namespaces' values; sysrq-trigger is absent on kernels without it).
  args.push('--proc', '/proc', '--ro-bind', '/proc/sys', '/proc/sys', '--ro-bind-try', '/proc/sysrq-trigger', '/proc/sysrq-trigger');
  args.push('--dev', '/dev', '--perms', '01777', ...tmpSize, '--tmpfs', '/tmp', '--perms', '0700', ...tmpSize, '--tmpfs', HOME);
  args.push('--ro-bind', spec.image.dir, '/app');
  for (const mnt of spec.mounts) args.push('--bind', mnt.source, normalize(mnt.destination));
  args.push('--chdir', '/app', '--clearenv');
  for (const [k, v] of Object.entries(machineEnv(spec, t.address))) args.push('--setenv', k, v);
  return args;
}

/** The app's environment: defaults < [env] < secrets < platform variables (FLY_* and STARLING_* twins). */
export function machineEnv(spec: MachineSpec, address: string): Record<string, string> {
  const env: Record<string, string> = { PATH: HOST_PATH, HOME, PORT: String(spec.internal_port), ...spec.env, ...spec.secrets };
  const platform: Record<string, string> = {
    APP_NAME: spec.app,
    MACHINE_ID: spec.id,
    ALLOC_ID: spec.id,
    REGION: spec.region,
    PRIVATE_IP: address,
    IMAGE_REF: spec.image.ref,
    PROCESS_GROUP: 'app',
    VM_MEMORY_MB: String(spec.guest.memory_mb),
  };
  for (const [k, v] of Object.entries(platform)) env[`FLY_${k}`] = env[`STARLING_${k}`] = v;
  if (spec.env.PRIMARY_REGION) env.STARLING_PRIMARY_REGION = spec.env.PRIMARY_REGION;
  return env;
}

export function validateSpec(spec: MachineSpec): void {
  const bad = (what: string): never => {
    throw new StarlingError('ERR_MACHINE_SPEC', `machine ${spec.id}: ${what}`, { fault: 'user' });
  };
  if (!spec.id || spec.id.includes('\0')) bad('empty or invalid id');
  if (spec.cmd.length === 0) bad('no command');
  // Names may be reported; values never are (a secret's value must not reach an error).
  for (const [k, v] of [...Object.entries(spec.env), ...Object.entries(spec.secrets)]) {
    if (!k || k.includes('=') || k.includes('\0')) bad(`invalid variable name ${JSON.stringify(k)}`);
    if (v.includes('\0')) bad(`the value of ${k} contains a NUL byte`);
  }
  const user = spec.user ?? DEFAULT_USER;
  for (const [what, n] of [['uid', user.uid], ['gid', user.gid]] as const) {
    // Root inside needs another path than `--userns --uid 0` (see the top); the images work brings it.
    if (n === 0) bad(`user ${what} 0 is not supported yet: machines run as an unprivileged user (default ${DEFAULT_USER.uid}:${DEFAULT_USER.gid})`);
    if (!Number.isInteger(n) || n < 1 || n > 65533) bad(`user ${what} ${n} must be from 1 to 65533 (inside the machine's 65536-id range, not nobody)`);
  }
  for (const m of spec.mounts) {
    if (!isAbsolute(m.destination) || normalize(m.destination) === '/') bad(`mount destination ${m.destination} must be an absolute path below /`);
    if (!existsSync(m.source) || !statSync(m.source).isDirectory()) bad(`volume directory ${m.source} does not exist`);
  }
}

/** /usr read-only, the merged-/usr symlinks (or binds), node's own directory, and a few /etc files. */
export function hostRuntimeBinds(): string[] {
  const out = ['--ro-bind', '/usr', '/usr'];
  for (const d of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    try {
      const st = lstatSync(d);
      if (st.isSymbolicLink()) out.push('--symlink', readlinkSync(d), d);
      else if (st.isDirectory()) out.push('--ro-bind', d, d);
    } catch {
      /* not on this host */
    }
  }
  const nodeDir = dirname(realpathSync(process.execPath));
  if (!/^\/(usr|bin|sbin|lib)(\/|$)/.test(nodeDir)) out.push('--ro-bind', nodeDir, nodeDir);
  for (const f of ETC) if (existsSync(`/etc/${f}`)) out.push('--ro-bind', `/etc/${f}`, `/etc/${f}`);
  return out;
}

/** A minimal /etc/hosts, hostname, passwd and group (0644): nothing about the host's own users leaks in. */
export function writeEtcFiles(spec: MachineSpec, t: SandboxPlace): void {
  const dir = t.stateDir;
  const host = hostname(spec.id, t);
  const { uid, gid } = spec.user ?? DEFAULT_USER;
  const files: [string, string][] = [
    ['hosts', `127.0.0.1\tlocalhost\n::1\tlocalhost\n${t.address}\t${host}\n`],
    ['hostname', `${host}\n`],
    ['passwd', `root:x:0:0:root:/root:/bin/sh\napp:x:${uid}:${gid}:app:${HOME}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`],
    ['group', `root:x:0:\napp:x:${gid}:\nnogroup:x:65534:\n`],
  ];
  for (const [name, text] of files) {
    writeFileSync(join(dir, name), text, { mode: 0o644 });
    chmodSync(join(dir, name), 0o644); // whatever the umask: the machine's uid reads them through a bind
  }
}

/** The id when it is a safe file name, for readable state/cgroup dir names (a hash suffix keeps them unique). */
export const label = (id: string): string => (/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(id) ? id : 'machine');
const hostname = (id: string, t: SandboxPlace): string => (/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/.test(id) ? id : t.netns);

export function findBinary(name: string, hint: string): string {
  for (const dir of HOST_PATH.split(':')) if (existsSync(join(dir, name))) return join(dir, name);
  throw new StarlingError('ERR_SANDBOX_MISSING_TOOL', `${name} not found in ${HOST_PATH}`, { hint });
}
