/**
 * The I/O-free half of applying a layer: what a tar entry asks for, checked before anything touches
 * the disk. Paths are relative to the rootfs, `/`-separated, without `.` or `..` components (`''`
 * is the rootfs itself).
 *
 * Paths: a leading `/` or `./` is stripped (as Docker does: layers made by some tools hold absolute
 * names) and `a/../b` is resolved lexically, but a `..` that would leave the root is refused.
 * Symlink targets are kept verbatim, absolute ones too: they are resolved inside the rootfs at run
 * time. Whiteouts follow the OCI image spec (image-spec "layer.md", "Whiteouts"): `.wh.<name>`
 * hides `<name>` of the lower layers, `.wh..wh..opq` hides everything lower layers put in its
 * directory. Other `.wh..wh.` names are AUFS bookkeeping (hard-link directories) and are skipped,
 * as Docker skips them.
 */
import { StarlingError } from '../shared/index.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
/** Owners are shifted into one app's 65536-uid block; an id outside the block could be anyone's. */
export const MAX_IMAGE_ID = 65535;

export type LayerCompression = 'none' | 'gzip' | 'zstd';

const LAYER_TYPES: Record<string, LayerCompression> = {
  'application/vnd.oci.image.layer.v1.tar': 'none',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  'application/vnd.docker.image.rootfs.diff.tar': 'none',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
};

/** How a layer of this media type is compressed; ERR_IMAGE_MEDIA_TYPE for anything else. */
export function layerCompression(mediaType: string): LayerCompression {
  const c = LAYER_TYPES[mediaType];
  if (c === undefined) {
    throw new StarlingError('ERR_IMAGE_MEDIA_TYPE', `layer media type ${JSON.stringify(mediaType)} is not a tar, tar+gzip or tar+zstd layer`, { fault: 'user' });
  }
  return c;
}

function unsafe(entry: string, reason: string): StarlingError {
  return new StarlingError('ERR_IMAGE_UNSAFE', `layer entry ${JSON.stringify(entry)} refused: ${reason}`, { fault: 'user' });
}

/** The normalised rootfs-relative path of a tar entry name (or a hard link's target). */
export function entryPath(raw: string): string {
  if (raw.includes('\0')) throw unsafe(raw, 'its name holds a NUL byte');
  const out: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw unsafe(raw, "its '..' components leave the root");
      out.pop();
    } else out.push(part);
  }
  return out.join('/');
}

/** `a/b/c` → ['a', 'a/b']: the directories an entry's parent walk goes through, top first. */
export function ancestors(path: string): string[] {
  const parts = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** What one tar entry asks for, checked. */
export type EntryPlan =
  | { op: 'skip'; path: string }
  | { op: 'whiteout'; path: string }
  | { op: 'opaque'; dir: string }
  | { op: 'dir'; path: string; mode: number; uid: number; gid: number }
  | { op: 'file'; path: string; mode: number; uid: number; gid: number }
  | { op: 'symlink'; path: string; target: string; uid: number; gid: number }
  | { op: 'hardlink'; path: string; target: string };

/** The fields of a tar header the plan needs (node-tar's ReadEntry has them). */
export interface EntryHeader {
  path: string;
  type: string;
  mode?: number | undefined;
  uid?: number | undefined;
  gid?: number | undefined;
  linkpath?: string | undefined;
}

export function planEntry(h: EntryHeader, uidShift: number): EntryPlan {
  const path = entryPath(h.path);
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (base.startsWith(WHITEOUT_PREFIX)) {
    if (base === OPAQUE_WHITEOUT) return { op: 'opaque', dir: parentOf(path) };
    if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return { op: 'skip', path };
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === '' || name === '.' || name === '..') throw unsafe(h.path, 'a whiteout must name one entry');
    return { op: 'whiteout', path: parentOf(path) ? `${parentOf(path)}/${name}` : name };
  }
  const ids = (): { uid: number; gid: number } => ({ uid: hostId(h.path, 'uid', h.uid, uidShift), gid: hostId(h.path, 'gid', h.gid, uidShift) });
  switch (h.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      if (path === '') throw unsafe(h.path, 'a file cannot replace the root directory');
      return { op: 'file', path, mode: keptMode(h.mode ?? 0o644), ...ids() };
    case 'Directory':
      return { op: 'dir', path, mode: keptMode(h.mode ?? 0o755), ...ids() };
    case 'SymbolicLink':
      if (path === '') throw unsafe(h.path, 'a symlink cannot replace the root directory');
      if (!h.linkpath || h.linkpath.includes('\0')) throw unsafe(h.path, 'the symlink has no valid target');
      return { op: 'symlink', path, target: h.linkpath, ...ids() };
    case 'Link': {
      if (path === '') throw unsafe(h.path, 'a hard link cannot replace the root directory');
      const target = entryPath(h.linkpath ?? '');
      if (target === '') throw unsafe(h.path, 'the hard link points at the root or outside it');
      return { op: 'hardlink', path, target };
    }
    case 'CharacterDevice':
    case 'BlockDevice':
      throw unsafe(h.path, `it is a ${h.type === 'BlockDevice' ? 'block' : 'character'} device node (machines get their devices from the sandbox)`);
    case 'FIFO':
      throw unsafe(h.path, 'it is a FIFO (named pipe); Starling unpacks files, directories and links only');
    default:
      throw new StarlingError('ERR_IMAGE_UNPACK', `layer entry ${JSON.stringify(h.path)} has tar type ${h.type}, which Starling does not unpack`, { fault: 'user' });
  }
}

/** An owner from the header, shifted into the app's uid block; refused outside the block. */
export function hostId(entry: string, kind: 'uid' | 'gid', id: number | undefined, uidShift: number): number {
  const v = id ?? 0;
  if (!Number.isInteger(v) || v < 0 || v > MAX_IMAGE_ID) throw unsafe(entry, `its ${kind} ${v} is outside 0-${MAX_IMAGE_ID}`);
  return v + uidShift;
}

/** The header's permission bits, sticky kept, setuid and setgid dropped. */
export function keptMode(mode: number): number {
  return mode & 0o1777;
}

/**
 * A quick-start image's modes, as src/runtime/images.ts gives its cache: readable by all, no
 * group/other write, setuid or setgid; directories o+rx, files o+x where the owner has x.
 */
export function quickStartMode(mode: number, isDir: boolean): number {
  const keep = mode & 0o1755;
  return isDir ? keep | 0o555 : keep | 0o444 | (mode & 0o100 ? 0o111 : 0);
}
