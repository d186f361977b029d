/**
 * What a sandbox looks like from inside, as bwrap options: a pure function of the machine spec and
 * its host-side names (no I/O but reading which host runtime dirs exist, and writing the generated
 * /etc files). The driver (sandbox.ts) hands these options to bwrap through a pipe, never argv.
 *
 * The view, host base: the image read-only at /app (the default cwd), the host's /usr (+ merged-/usr
 * symlinks, node's own dir if elsewhere) and a few /etc entries read-only, generated
 * hosts/hostname/passwd/group, tmpfs home (0700, the app's). Image base: the machine's overlay
 * (sandbox-rootfs.ts) as `/` (default cwd /), keeping the image's own /etc/passwd and /etc/group,
 * with generated hosts/hostname and the host's resolv.conf bound over its /etc. Both: fresh /proc
 * (with /proc/sys and /proc/sysrq-trigger read-only) and /dev, no /sys, tmpfs /tmp (1777) capped at
 * the machine's memory, volumes read-write. Nothing else of the host exists inside.
 *
 * Who runs it: with a user namespace (sandbox-userns.ts) the app is its uid/gid inside (default
 * 1000 "app" on the host base, root on an image base), a host uid of its app's block outside —
 * uid 0 inside is the block's first uid, never host root — with no capabilities (and bwrap sets
 * no_new_privs); the seccomp filter (seccomp.ts) closes the kernel calls a container has no
 * business making. Which host uid runs bwrap so that this holds: bwrapAs (sandbox-userns.ts).
 * Without a user namespace (allow_host_root) the app is the host's uid 0 with no capabilities.
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readlinkSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { StarlingError } from '../../shared/index.js';
import type { MachineSpec } from '../types.js';
import { HOST_BASE_USER, resolveUser, type ResolvedUser } from './sandbox-user.js';
import { privateDnsAddress } from '../../mesh/index.js';

/** The host-side facts the options depend on. */
export interface SandboxPlace {
  /** The machine's state dir, holding the generated /etc files. */
  stateDir: string;
  address: string;
  netns: string;
  /** The machine's user on the host (its uid block), when it runs in a user namespace. */
  user?: { uid: number; gid: number } | null | undefined;
}

/** How bwrap gets the process's identity and filter: fds the driver passes after the option pipe (3). */
export interface SandboxRun {
  /** The user namespace to join and the uid/gid inside; undefined: run as the host's uid 0. */
  userns?: { fd: number; uid: number; gid: number } | undefined;
  seccompFd: number;
  /** An image base: the mounted overlay (sandbox-rootfs.ts) that becomes `/`. Host base: undefined. */
  root?: string | undefined;
  /** HOME inside (sandbox-user.ts). */
  home: string;
}

export const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HOME = HOST_BASE_USER.home;
/** Host files a typical runtime needs (TLS roots, resolver and libc config); bound read-only if present. */
const ETC = ['ssl', 'ca-certificates', 'pki', 'resolv.conf', 'nsswitch.conf', 'host.conf', 'gai.conf', 'localtime', 'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'alternatives', 'mime.types'];

/** The cwd inside: the spec's, else /app (host base) or / (image base). */
export const workdirOf = (spec: MachineSpec): string => normalize(spec.workdir || (isImageBase(spec) ? '/' : '/app'));
export const isImageBase = (spec: MachineSpec): boolean => spec.image.base === 'image';

/** Everything but the command: namespaces, identity, the filesystem view, hostname and the environment. */
export function bwrapOptions(spec: MachineSpec, t: SandboxPlace, runtimeBinds: string[], run: SandboxRun): string[] {
  const tmpSize = spec.guest.memory_mb > 0 ? ['--size', String(spec.guest.memory_mb * 1024 * 1024)] : [];
  const args: string[] = [];
  if (run.userns) args.push('--userns', String(run.userns.fd), '--uid', String(run.userns.uid), '--gid', String(run.userns.gid));
  args.push('--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--die-with-parent', '--new-session');
  args.push('--cap-drop', 'ALL', '--seccomp', String(run.seccompFd), '--hostname', hostname(spec.id, t));
  // Image base: the overlay is `/`, the image keeps its own /etc/passwd and /etc/group; only the
  // machine's names and the host's resolver are bound over its /etc.
  if (run.root) {
    args.push('--bind', run.root, '/');
    for (const f of ['hosts', 'hostname']) args.push('--ro-bind', join(t.stateDir, f), `/etc/${f}`);
    if (!spec.private_ip) args.push('--ro-bind-try', '/etc/resolv.conf', '/etc/resolv.conf');
  } else {
    args.push(...runtimeBinds);
    for (const f of ['hosts', 'hostname', 'passwd', 'group']) args.push('--ro-bind', join(t.stateDir, f), `/etc/${f}`);
  }
  // On the private network its resolver is the host's .internal DNS, over the host's resolv.conf.
  if (spec.private_ip) args.push('--ro-bind', join(t.stateDir, 'resolv.conf'), '/etc/resolv.conf');
  // bwrap covers /proc/sys and sysrq-trigger only where access(W_OK) succeeds for it, which it does
  // not once it has dropped its capabilities: bind them read-only here (the host's /proc/sys shows
  // each reader its own namespaces' values; sysrq-trigger is absent on kernels without it).
  args.push('--proc', '/proc', '--ro-bind', '/proc/sys', '/proc/sys', '--ro-bind-try', '/proc/sysrq-trigger', '/proc/sysrq-trigger');
  args.push('--dev', '/dev', '--perms', '01777', ...tmpSize, '--tmpfs', '/tmp');
  if (!run.root) args.push('--perms', '0700', ...tmpSize, '--tmpfs', HOME, '--ro-bind', spec.image.dir, '/app');
  for (const mnt of spec.mounts) args.push('--bind', mnt.source, normalize(mnt.destination));
  // [[files]]: written by writeEtcFiles into the machine's state dir, bound read-only over the view.
  (spec.files ?? []).forEach((f, i) => args.push('--ro-bind', join(t.stateDir, 'files', String(i)), normalize(f.guest_path)));
  args.push('--chdir', workdirOf(spec), '--clearenv');
  for (const [k, v] of Object.entries(machineEnv(spec, t.address, run.home))) args.push('--setenv', k, v);
  return args;
}

/** The app's environment: defaults < [env] < secrets < platform variables (FLY_* and STARLING_* twins). */
export function machineEnv(spec: MachineSpec, address: string, home: string = HOME): Record<string, string> {
  const env: Record<string, string> = { PATH: HOST_PATH, HOME: home, PORT: String(spec.internal_port), ...spec.env, ...spec.secrets };
  const platform: Record<string, string> = {
    APP_NAME: spec.app,
    MACHINE_ID: spec.id,
    ALLOC_ID: spec.id,
    REGION: spec.region,
    PRIVATE_IP: spec.private_ip ?? address,
    IMAGE_REF: spec.image.ref,
    PROCESS_GROUP: spec.process_group ?? 'app',
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
  if (spec.workdir !== undefined && (!isAbsolute(spec.workdir) || spec.workdir.includes('\0'))) bad(`workdir ${JSON.stringify(spec.workdir)} must be an absolute path`);
  if (typeof spec.user === 'object') resolveUser(spec, undefined); // checks the ids; names wait for the image
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
export function writeEtcFiles(spec: MachineSpec, t: SandboxPlace, user: ResolvedUser): void {
  const dir = t.stateDir;
  const host = hostname(spec.id, t);
  const { uid, gid } = user;
  const files: [string, string][] = [
    // fly-global-services (and our twin) is where UDP services' datagrams arrive: the machine's own
    // address, which an app written for fly binds (udp/udp-edge.ts delivers there).
    // fly-local-6pn (and twin): its private IPv6, when its host is on the mesh.
    ['hosts', `127.0.0.1\tlocalhost\n::1\tlocalhost\n${t.address}\t${host}\n${t.address}\tfly-global-services starling-global-services\n${spec.private_ip ? `${spec.private_ip}\tfly-local-6pn starling-local-6pn\n` : ''}`],
    ['hostname', `${host}\n`],
    ['passwd', `root:x:0:0:root:/root:/bin/sh\napp:x:${uid}:${gid}:app:${HOME}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`],
    ['group', `root:x:0:\napp:x:${gid}:\nnogroup:x:65534:\n`],
    // The .internal DNS (fly's fdaa::3) answers its org's names and forwards the rest.
    ...(spec.private_ip ? ([['resolv.conf', `nameserver ${privateDnsAddress(spec.private_ip)}\n`]] as [string, string][]) : []),
  ];
  for (const [name, text] of files) {
    writeFileSync(join(dir, name), text, { mode: 0o644 });
    chmodSync(join(dir, name), 0o644); // whatever the umask: the machine's uid reads them through a bind
  }
  // [[files]] may hold secrets: readable by the machine's own uid only (its host uid under a user
  // namespace), never by other users of the host; 0444 only without one (allow_host_root).
  if (spec.files && spec.files.length > 0) {
    mkdirSync(join(dir, 'files'), { recursive: true, mode: 0o711 });
    const owner = t.user;
    spec.files.forEach((f, i) => {
      const at = join(dir, 'files', String(i));
      writeFileSync(at, Buffer.from(f.content_base64, 'base64'), { mode: 0o400 });
      if (owner) chownSync(at, owner.uid, owner.gid);
      chmodSync(at, owner ? 0o400 : 0o444);
    });
  }
}

/** The id when it is a safe file name, for readable state/cgroup dir names (a hash suffix keeps them unique). */
export const label = (id: string): string => (/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(id) ? id : 'machine');
const hostname = (id: string, t: SandboxPlace): string => (/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/.test(id) ? id : t.netns);

export function findBinary(name: string, hint: string): string {
  for (const dir of HOST_PATH.split(':')) if (existsSync(join(dir, name))) return join(dir, name);
  throw new StarlingError('ERR_SANDBOX_MISSING_TOOL', `${name} not found in ${HOST_PATH}`, { hint });
}
