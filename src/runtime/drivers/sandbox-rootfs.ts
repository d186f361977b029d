/**
 * An image-base machine's `/`: overlayfs over the image's root filesystem (the lower layer, from
 * the host image store, owners already shifted into the app's uid block), with the writable layer
 * in the machine's state dir:
 *
 *   <state>/upper, <state>/work   wiped and made again at every start (ephemeral, as on fly)
 *   <state>/root                  the overlay, mounted nosuid,nodev by the driver (host root) and
 *                                 bound as `/` by bwrap
 *
 * The upper dir is owned like the image's root (the block's uid 0, host uid `first`) with its
 * mode, since an overlay's root takes its attributes from it. The overlay is unmounted when the
 * machine's process exits, on stop and destroy; a crashed driver's leftovers are found through
 * /proc/self/mountinfo below the state root (orphan cleanup).
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { StarlingError } from '../../shared/index.js';

export const rootOf = (stateDir: string): string => join(stateDir, 'root');

function run(bin: string, args: string[]): Promise<string | undefined> {
  return new Promise((done) => {
    execFile(bin, args, { encoding: 'utf8' }, (err, _out, stderr) => done(err ? stderr.trim() || err.message : undefined));
  });
}

/** Wipes the writable layer, mounts a fresh overlay of `lower` at <state>/root; returns the mount point. */
export async function mountRoot(mountBin: string, stateDir: string, lower: string): Promise<string> {
  const root = rootOf(stateDir);
  await unmountBelow(stateDir);
  // overlayfs options are comma-separated and lowerdir colon-separated: such paths cannot be given.
  for (const p of [lower, stateDir]) {
    if (/[,:\\\n]/.test(p)) throw new StarlingError('ERR_SANDBOX_CONFIG', `the path ${JSON.stringify(p)} cannot be an overlayfs layer: it contains , : or \\`);
  }
  const st = statSync(lower);
  if (!st.isDirectory()) throw new StarlingError('ERR_SANDBOX_CONFIG', `the image root filesystem ${lower} is not a directory`);
  const upper = join(stateDir, 'upper');
  const work = join(stateDir, 'work');
  for (const d of [upper, work]) rmSync(d, { recursive: true, force: true });
  for (const d of [upper, work, root]) mkdirSync(d, { recursive: true, mode: 0o700 });
  chownSync(upper, st.uid, st.gid);
  chmodSync(upper, st.mode & 0o7777 & ~0o6000);
  chmodSync(root, 0o711);
  const why = await run(mountBin, ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work},nosuid,nodev`, root]);
  if (why !== undefined) throw new StarlingError('ERR_MACHINE_START', `cannot mount the machine's root filesystem (overlayfs over ${lower}): ${why}`);
  return root;
}

/**
 * Unmounts every mount at or below `dir` (deepest first) and removes the writable layer; returns
 * the mount points still there. A mount still busy is detached lazily: it goes once unused.
 */
export async function unmountBelow(dir: string, umountBin = 'umount'): Promise<string[]> {
  for (const m of mountsBelow(dir)) {
    if ((await run(umountBin, [m])) !== undefined) await run(umountBin, ['-l', m]);
  }
  return mountsBelow(dir);
}

/** Mount points at or below `dir` in this process's mount namespace, deepest first. */
export function mountsBelow(dir: string): string[] {
  const base = resolve(dir);
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const point = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (point === base || point.startsWith(`${base}/`)) out.add(point);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/** After the process: unmount and drop the writable layer (what the app wrote is gone). */
export async function releaseRoot(stateDir: string): Promise<string[]> {
  const left = await unmountBelow(stateDir);
  if (left.length === 0) for (const d of ['upper', 'work']) rmSync(join(stateDir, d), { recursive: true, force: true });
  return left;
}
