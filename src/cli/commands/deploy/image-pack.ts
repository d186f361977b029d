/**
 * What `starling deploy` uploads: a .tar.gz as given, or a directory packed into one. The packing
 * is deterministic (names in sorted order, fixed times and owners, gzip without a timestamp), so
 * the same directory gives the same digest and an unchanged app is not uploaded twice. The
 * directory's .starlingignore (else .dockerignore) leaves files out (ignore.ts; .git always). The
 * control plane's size limit is checked while packing: a directory that packs larger stops at the
 * limit, before anything is uploaded. Every mistake here is the user's (exit 2).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { StarlingError } from '../../../shared/index.js';
import { IGNORE_FILES, parseIgnore, type IgnoreRules } from './ignore.js';

export interface PackedImage {
  /** The .tar.gz to upload. */
  file: string;
  digest: string;
  size: number;
  /** A directory's files and their bytes before packing, and what its ignore file left out (undefined for a .tar.gz). */
  packed?: { files: number; bytes: number; ignoreFile: string | undefined; ignored: number };
  /** Removes a temporary tarball (a no-op for one the user gave). */
  cleanup(): Promise<void>;
}

export interface PackOptions {
  /** The largest image the control plane takes (GET /v1/images). */
  maxBytes: number;
  /** Progress as it goes, rewritten on one line (a TTY's stderr); nothing when absent. */
  progress?: ((line: string) => void) | undefined;
}

/** `12.3 KiB`, `4.5 MiB`. */
export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

function userError(code: 'ERR_IMAGE_NOT_FOUND' | 'ERR_IMAGE_UNSUPPORTED' | 'ERR_IMAGE_TOO_LARGE' | 'ERR_IMAGE_PACK', message: string, hint?: string, cause?: unknown): StarlingError {
  return new StarlingError(code, message, { fault: 'user', hint, cause });
}

function tooLarge(ref: string, what: string, max: number, hint: string): StarlingError {
  return userError('ERR_IMAGE_TOO_LARGE', `image ${ref} is ${what}, above the control plane's limit of ${formatSize(max)} (${max} bytes)`, hint);
}

/** Checks that `source` is a directory or a .tar.gz, before anything else is done (`ref` is how the user named it). */
export async function checkImage(source: string, ref: string): Promise<'dir' | 'tgz'> {
  const st = await stat(source).catch((e: unknown) => {
    throw userError('ERR_IMAGE_NOT_FOUND', `image ${ref} does not exist`, 'give --image a directory holding the app, or a .tar.gz of it', e);
  });
  if (st.isDirectory()) return 'dir';
  if (st.isFile() && /\.(tar\.gz|tgz)$/.test(source)) return 'tgz';
  throw userError('ERR_IMAGE_UNSUPPORTED', `image ${ref} is neither a directory nor a .tar.gz`, 'give --image a directory holding the app, or a .tar.gz of it');
}

export async function packImage(source: string, ref: string, o: PackOptions): Promise<PackedImage> {
  if ((await checkImage(source, ref)) === 'tgz') {
    const { size } = await stat(source);
    if (size > o.maxBytes) throw tooLarge(ref, formatSize(size), o.maxBytes, 'make the .tar.gz smaller, or give --image the directory with a .starlingignore');
    return { file: source, ...(await hashFile(source)), cleanup: async () => undefined };
  }
  const { rules, ignoreFile } = await ignoreRules(source);
  const list = await walk(source, rules, o.progress);
  const dir = await mkdtemp(join(tmpdir(), 'starling-image-'));
  const file = join(dir, 'image.tar.gz');
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  const largest = [...list.top]
    .filter(([, b]) => b >= list.bytes / 20)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([n, b]) => `${n} ${formatSize(b)}`).join(', ');
  const hint = `leave out what the app does not need with ${ignoreFile ?? '.starlingignore'} in ${ref} (gitignore patterns, see docs/app-config.md)${largest === '' ? '' : `; the largest: ${largest}`}`;
  try {
    await tarGzip(source, list.entries, file, list.bytes, o, () => tooLarge(ref, `over ${formatSize(o.maxBytes)} packed (${list.files} files, ${formatSize(list.bytes)})`, o.maxBytes, hint));
    return { file, ...(await hashFile(file)), packed: { files: list.files, bytes: list.bytes, ignoreFile, ignored: list.ignored }, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

async function ignoreRules(source: string): Promise<{ rules: IgnoreRules; ignoreFile: string | undefined }> {
  for (const name of IGNORE_FILES) {
    const text = await readFile(join(source, name), 'utf8').catch(() => undefined);
    if (text !== undefined) return { rules: parseIgnore(text), ignoreFile: name };
  }
  return { rules: parseIgnore(''), ignoreFile: undefined };
}

interface Listing {
  /** `./a`, `./a/b`, … in the order tar --sort=name would give (the root `.` first). */
  entries: string[];
  files: number;
  bytes: number;
  ignored: number;
  /** Bytes under each top-level name, for the too-large message. */
  top: Map<string, number>;
}

/** The paths to pack, depth first in name order, without the ignored ones. */
async function walk(root: string, rules: IgnoreRules, progress: PackOptions['progress']): Promise<Listing> {
  const out: Listing = { entries: ['.'], files: 0, bytes: 0, ignored: 0, top: new Map() };
  const visit = async (rel: string, parentIgnored: boolean): Promise<void> => {
    const names = (await readdir(rel === '' ? root : join(root, rel))).sort();
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(root, path));
      const isDir = st.isDirectory();
      const ignored = rules.ignored(path, isDir, parentIgnored);
      if (!ignored) out.entries.push(`./${path}`);
      else out.ignored++;
      if (isDir) {
        // A left-out directory is looked into only when a `!` pattern may take something back.
        if (!ignored || rules.negates) await visit(path, ignored);
      } else if (!ignored) {
        out.files++;
        out.bytes += st.size;
        const top = path.split('/')[0]! + (path.includes('/') ? '/' : '');
        out.top.set(top, (out.top.get(top) ?? 0) + st.size);
        if (out.files % 500 === 0) progress?.(`scanning ${counts(out)}`);
      }
    }
  };
  await visit('', false);
  return out;
}

const counts = (l: Pick<Listing, 'files' | 'bytes'>): string => `${l.files} files, ${formatSize(l.bytes)}`;

async function hashFile(file: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return { digest: `sha256:${hash.digest('hex')}`, size: (await stat(file)).size };
}

/**
 * tar of `entries` | gzip (no name, no time) > out, modes made readable by all with no group/other
 * write, setuid or setgid (machines read their files through /app as an unprivileged uid); stops
 * with `over()` once the output passes o.maxBytes.
 */
async function tarGzip(source: string, entries: string[], out: string, total: number, o: PackOptions, over: () => StarlingError): Promise<void> {
  const tar = spawn('tar', ['-cf', '-', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--mode=a+rX,go-w,ug-s', '--no-recursion', '--null', '-C', source, '-T', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
  tar.stdin.end(entries.map((e) => `${e}\0`).join(''));
  const exited = new Promise<number | null>((resolve, reject) => tar.on('error', reject).on('close', resolve));
  let read = 0;
  let written = 0;
  let shown = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      read += chunk.length;
      // One progress line per 1% (and not for a small app).
      if (o.progress && total > 4 << 20 && read - shown > total / 100) {
        shown = read;
        o.progress(`packing ${formatSize(Math.min(read, total))} of ${formatSize(total)} (${Math.min(100, Math.round((100 * read) / total))}%)`);
      }
      cb(null, chunk);
    },
  });
  const limit = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      written += chunk.length;
      if (written > o.maxBytes) return cb(over());
      cb(null, chunk);
    },
  });
  try {
    await pipeline(tar.stdout, counted, createGzip({ level: 6 }), limit, createWriteStream(out, { mode: 0o600 }));
  } catch (e) {
    tar.kill();
    await exited.catch(() => undefined);
    if (e instanceof StarlingError) throw e;
    throw userError('ERR_IMAGE_PACK', `packing the image failed: ${(err.trim() || String(e)).slice(0, 500)}`);
  }
  const code = await exited.catch((e: unknown) => {
    throw userError('ERR_IMAGE_PACK', `packing the image failed: cannot run tar: ${String(e)}`);
  });
  if (code !== 0) throw userError('ERR_IMAGE_PACK', `packing the image failed: ${err.trim().slice(0, 500)}`);
}
