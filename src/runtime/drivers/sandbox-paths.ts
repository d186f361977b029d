/**
 * Host paths a machine's sandbox is built from, seen by the machine's uid. bwrap makes its bind
 * mounts after it has switched to the sandbox uid (so that e.g. FUSE sources work), and with the
 * user namespace that uid is an unprivileged host uid: it must be able to walk to every bind source
 * like any other user. Verified on bwrap 0.8: a 0700 parent fails with "Can't find source path …:
 * Permission denied", and /proc/self/fd/N sources do not help. So:
 *   - the driver's own directories (state dir, machines/, images/, volumes/, each machine's dir)
 *     are 0711: walkable, not listable; the generated /etc files are 0644;
 *   - every other directory above a bind source must already be o+x; the driver checks and refuses
 *     with ERR_SANDBOX_PATH (naming the directory and the chmod) instead of a bwrap error later;
 *   - a volume belongs to the app's host uid, 0700: the app can write it, other apps cannot.
 */
import { chmodSync, lchownSync, lstatSync, mkdirSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { StarlingError, type Logger } from '../../shared/index.js';
import type { MachineSpec } from '../types.js';

/** Makes `dir` (and missing parents) and sets it to 0711, whatever the umask. */
export function ensureOwnDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  chmodSync(dir, 0o711);
}

/** `path` and every directory above it, from / down (both as given and with symlinks resolved). */
function ancestors(path: string): string[] {
  const out = new Set<string>();
  const add = (p: string): void => {
    for (let d = resolve(p); ; d = dirname(d)) {
      out.add(d);
      if (d === '/') break;
    }
  };
  add(path);
  try {
    add(realpathSync(path));
  } catch {
    /* missing: the caller's stat reports it */
  }
  return [...out].sort((a, b) => a.length - b.length);
}

/**
 * Refuses (ERR_SANDBOX_PATH) unless an unprivileged uid can walk down to `path`: every directory on
 * the way, `path` included when it is one, has the x bit for others. `what` names it, path included.
 */
export function assertTraversable(path: string, what: string): void {
  for (const d of ancestors(path)) {
    let mode: number;
    try {
      const st = statSync(d);
      if (!st.isDirectory()) continue;
      mode = st.mode;
    } catch {
      continue; // a missing leaf is the caller's error to report
    }
    if ((mode & 0o001) === 0) {
      throw new StarlingError(
        'ERR_SANDBOX_PATH',
        `machines cannot reach ${what}: ${d} is mode ${(mode & 0o777).toString(8).padStart(4, '0')}, and machines run as an unprivileged host uid that must pass through it`,
        { fault: 'user', hint: `chmod o+x ${d} (lets others pass through, not list it), or keep the machines' data_dir elsewhere` },
      );
    }
  }
}

/** A machine's bind sources (state dir, host binds, image, volumes' parents) must be reachable by its uid. */
export function checkMachinePaths(stateDir: string, runtimeBinds: string[], spec?: MachineSpec): void {
  const state = join(stateDir, 'machines');
  assertTraversable(state, `their state directory ${state}`);
  for (let i = 0; i + 2 < runtimeBinds.length; i++) {
    const src = runtimeBinds[i + 1] ?? '/';
    if (runtimeBinds[i] === '--ro-bind') assertTraversable(src, `the host directory ${src}`);
  }
  if (!spec) return;
  // An image base's root is an overlay mounted by the driver: only the host base binds the image.
  if (spec.image.base !== 'image') assertTraversable(spec.image.dir, `the image ${spec.image.dir}`);
  // A volume itself becomes the app's own (0700, see prepareVolume); only the way to it must be open.
  for (const mnt of spec.mounts) assertTraversable(dirname(resolve(mnt.source)), `the volume ${mnt.source}`);
}

/** Adds o+x (never o+r) to those of `dirs` that are `path` or above it: directories the caller owns. */
export function addTraverse(dirs: readonly string[], path: string): void {
  const above = new Set(ancestors(path));
  for (const d of dirs.map((x) => resolve(x))) {
    if (!above.has(d)) continue;
    const st = statSync(d, { throwIfNoEntry: false });
    if (st?.isDirectory() && (st.mode & 0o001) === 0) chmodSync(d, (st.mode & 0o7777) | 0o001);
  }
}

/**
 * Gives a volume to the app's host uid/gid, 0700. The first time (the top directory had another
 * owner: a new volume, or one written while machines ran as host root) its contents are handed over
 * too, without following symlinks; a regular file with more than one link is skipped, since a
 * hard link could point at a host file outside the volume.
 */
export function prepareVolume(dir: string, uid: number, gid: number, log: Logger): void {
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new StarlingError('ERR_MACHINE_SPEC', `volume ${dir} is not a directory (a symlink?)`, { fault: 'user' });
  if (st.uid !== uid || st.gid !== gid) {
    const skipped: string[] = [];
    const walk = (d: string): void => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        const e = lstatSync(p);
        if (e.isFile() && e.nlink > 1) {
          skipped.push(p);
          continue;
        }
        lchownSync(p, uid, gid);
        if (e.isDirectory()) walk(p);
      }
    };
    walk(dir);
    lchownSync(dir, uid, gid);
    if (skipped.length) log.warn('volume files with several hard links keep their owner', { volume: dir, files: skipped.slice(0, 20) });
  }
  chmodSync(dir, 0o700);
}
