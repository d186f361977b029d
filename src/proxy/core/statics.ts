import { lstat, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RequestHead } from '../codec/index.js';
import type { AppRoute, MachineRoute, StaticMount } from '../route-table/index.js';

/**
 * fly's `[[statics]]`: a GET or HEAD under a mapping's `url_prefix` is answered with the file at
 * the same place under its `guest_path` in the machine's image, if there is one, without the app
 * seeing the request; anything else goes to the app as usual. fly runs a file server inside the
 * machine; here the machine's host proxy reads the image it unpacked for the machine (the files
 * the image shipped, not what the app wrote since), so a statics request still needs a started
 * machine, autostarts one and is counted as the machine's — as fly's are.
 *
 * Paths are resolved inside the image, never on the host: every component is looked up with
 * lstat from the image's root, a symbolic link is followed as the machine would see it (an
 * absolute target starts again at the image's root, `..` stops there), and the file must end up
 * under `guest_path` — a link out of it is not followed out. Only regular files readable by anyone
 * are served (a file the image keeps private stays private).
 */

/** The host's view of one machine's image: the directory the machine sees at `at` (`/`, or `/app`). */
export interface ImageRoot {
  readonly dir: string;
  readonly at: string;
}

/** How the proxy finds a machine's image (the agent's runtime); stand-alone there is none. */
export interface StaticRoots {
  rootOf(app: string, machineId: string): ImageRoot | undefined;
}

export interface StaticFile {
  readonly path: string;
  readonly size: number;
  /** 0 when the image keeps no times (a quick-start image is stored with none): no Last-Modified then. */
  readonly mtimeMs: number;
  /** Changes with the file: a new image's copy is a new inode even when size and time are the same. */
  readonly tag: string;
  readonly type: string;
}

const MAX_LINKS = 40;

/**
 * A request the statics may answer — a GET or HEAD under a mapping, for a machine of this host —
 * looked up in the machine's image: the file (never rejects), or undefined at once when it is not one.
 */
export function askStatic(roots: StaticRoots | undefined, app: AppRoute, head: RequestHead, machine: MachineRoute): Promise<StaticFile | undefined> | undefined {
  if (!roots || machine.peer || (head.method !== 'GET' && head.method !== 'HEAD') || head.upgrade !== undefined) return undefined;
  const match = staticMatch(app, head.target);
  const root = match && roots.rootOf(app.name, machine.id);
  if (!match || !root) return undefined;
  return findStatic(root, match.mount, match.rest).catch(() => undefined);
}

/** The mapping a request target falls under, and the path below it (still percent-encoded). */
export function staticMatch(app: AppRoute, target: string): { mount: StaticMount; rest: string } | undefined {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  for (const mount of app.statics) {
    const p = mount.urlPrefix;
    if (!path.startsWith(p)) continue;
    if (path.length === p.length || path[p.length] === '/' || p.endsWith('/')) return { mount, rest: path.slice(p.length) };
  }
  return undefined;
}

/** The file a request under `mount` names in the image at `root`, or undefined: the app answers. */
export async function findStatic(root: ImageRoot, mount: StaticMount, rest: string): Promise<StaticFile | undefined> {
  const below = decodeParts(rest);
  const base = inImage(root, mount.guestPath);
  if (below === undefined || base === undefined) return undefined;
  const home = await resolve(root.dir, base);
  if (home === undefined) return undefined;
  let found = await resolve(root.dir, [...home, ...below]);
  if (found === undefined || !within(found, home)) return undefined;
  let st = await stat(join(root.dir, ...found)).catch(() => undefined);
  if (st?.isDirectory() && mount.indexDocument !== undefined) {
    found = await resolve(root.dir, [...found, mount.indexDocument]);
    if (found === undefined || !within(found, home)) return undefined;
    st = await stat(join(root.dir, ...found)).catch(() => undefined);
  }
  if (!st?.isFile() || (st.mode & 0o004) === 0) return undefined;
  const name = found.at(-1) ?? '';
  const tag = `"${st.dev.toString(36)}-${st.ino.toString(36)}-${st.size.toString(36)}-${Math.floor(st.mtimeMs).toString(36)}"`;
  return { path: join(root.dir, ...found), size: st.size, mtimeMs: Math.max(0, st.mtimeMs), tag, type: contentType(name) };
}

/** The components of a path below a prefix, decoded; undefined when it tries to climb or hides bytes. */
function decodeParts(rest: string): string[] | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rest);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const parts = decoded.split('/').filter((s) => s !== '' && s !== '.');
  return parts.includes('..') ? undefined : parts;
}

/** `guest_path` as components of the host directory `root.dir`; undefined when the machine sees it elsewhere. */
function inImage(root: ImageRoot, guestPath: string): string[] | undefined {
  const g = guestPath.split('/').filter((s) => s !== '');
  const at = root.at.split('/').filter((s) => s !== '');
  if (at.some((s, i) => g[i] !== s)) return undefined;
  return g.slice(at.length);
}

function within(path: readonly string[], home: readonly string[]): boolean {
  return home.every((s, i) => path[i] === s);
}

/**
 * Follows `parts` from the image's root as the machine would: returns the real components (no
 * links left), or undefined if one is missing, is not a directory where one must be, or the links
 * go round.
 */
async function resolve(dir: string, parts: readonly string[]): Promise<string[] | undefined> {
  const done: string[] = [];
  const todo = [...parts];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    if (part === '.' || part === '') continue;
    const st = await lstat(join(dir, ...done, part)).catch(() => undefined);
    if (!st) return undefined;
    if (!st.isSymbolicLink()) {
      if (todo.length > 0 && !st.isDirectory()) return undefined;
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) return undefined;
    const target = await readlink(join(dir, ...done, part)).catch(() => undefined);
    if (target === undefined) return undefined;
    if (target.startsWith('/')) done.length = 0;
    todo.unshift(...target.split('/'));
  }
  return done;
}

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  json: 'application/json',
  map: 'application/json',
  webmanifest: 'application/manifest+json',
  txt: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  xml: 'application/xml',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  ico: 'image/x-icon',
  woff: 'font/woff',
  woff2: 'font/woff2',
  ttf: 'font/ttf',
  otf: 'font/otf',
  wasm: 'application/wasm',
  pdf: 'application/pdf',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  wav: 'audio/wav',
  zip: 'application/zip',
  gz: 'application/gzip',
};

/** By the file name's extension; anything else is bytes. */
export function contentType(name: string): string {
  const dot = name.lastIndexOf('.');
  return (dot < 0 ? undefined : TYPES[name.slice(dot + 1).toLowerCase()]) ?? 'application/octet-stream';
}
