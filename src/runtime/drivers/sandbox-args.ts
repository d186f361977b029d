/**
 * What a sandbox looks like from inside, as bwrap options: a pure function of the machine spec and
 * its host-side names (no I/O but reading which host runtime dirs exist, and writing the generated
 * /etc files). The driver (sandbox.ts) hands these options to bwrap through a pipe, never argv.
 *
 * The view: the image read-only at /app (the cwd), the host's /usr (+ merged-/usr symlinks, node's
 * own dir if elsewhere) and a few /etc entries read-only, generated hosts/hostname/passwd/group,
 * fresh /proc and /dev, tmpfs /tmp and home (each capped at the machine's memory), volumes
 * read-write. Nothing else of the host exists inside. Capabilities are all dropped (and bwrap sets
 * no_new_privs), so uid 0 inside is root over nothing but its own mounts.
 */
import { existsSync, lstatSync, readlinkSync, realpathSync, statSync, writeFileSync } from 'node:fs';
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

export const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HOME = '/home/app';
/** Host files a typical runtime needs (TLS roots, resolver and libc config); bound read-only if present. */
const ETC = ['ssl', 'ca-certificates', 'pki', 'resolv.conf', 'nsswitch.conf', 'host.conf', 'gai.conf', 'localtime', 'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'alternatives', 'mime.types'];

/** Everything but the command: namespaces, the filesystem view, hostname and the environment. */
export function bwrapOptions(spec: MachineSpec, t: SandboxPlace, runtimeBinds: string[]): string[] {
  const tmpSize = spec.guest.memory_mb > 0 ? ['--size', String(spec.guest.memory_mb * 1024 * 1024)] : [];
  const args = ['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--die-with-parent', '--new-session'];
  args.push('--cap-drop', 'ALL', '--hostname', hostname(spec.id, t), ...runtimeBinds);
  for (const f of ['hosts', 'hostname', 'passwd', 'group']) args.push('--ro-bind', join(t.stateDir, f), `/etc/${f}`);
  args.push('--proc', '/proc', '--dev', '/dev', ...tmpSize, '--tmpfs', '/tmp', ...tmpSize, '--tmpfs', HOME);
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

/** A minimal /etc/hosts, hostname, passwd and group: nothing about the host's own users leaks in. */
export function writeEtcFiles(spec: MachineSpec, t: SandboxPlace): void {
  const dir = t.stateDir;
  const host = hostname(spec.id, t);
  writeFileSync(join(dir, 'hosts'), `127.0.0.1\tlocalhost\n::1\tlocalhost\n${t.address}\t${host}\n`);
  writeFileSync(join(dir, 'hostname'), `${host}\n`);
  writeFileSync(join(dir, 'passwd'), `root:x:0:0:root:${HOME}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`);
  writeFileSync(join(dir, 'group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/** The id when it is a safe file name, for readable state/cgroup dir names (a hash suffix keeps them unique). */
export const label = (id: string): string => (/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(id) ? id : 'machine');
const hostname = (id: string, t: SandboxPlace): string => (/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/.test(id) ? id : t.netns);

export function findBinary(name: string, hint: string): string {
  for (const dir of HOST_PATH.split(':')) if (existsSync(join(dir, name))) return join(dir, name);
  throw new StarlingError('ERR_SANDBOX_MISSING_TOOL', `${name} not found in ${HOST_PATH}`, { hint });
}
