/**
 * Layers for image-store tests: tar archives written header by header with node-tar's Header
 * (so a test can hold what no well-behaved tool writes: `..`, device nodes, links out), an image
 * made by buildah (chroot isolation, vfs storage under a temp root) exported as an OCI layout,
 * and putting layers into an ImageStore.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { Header } from 'tar';
import type { Descriptor, ImageStore } from '../../src/images/index.js';

export const TAR = 'application/vnd.oci.image.layer.v1.tar';
export const TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const TAR_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

export interface EntrySpec {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  body?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkpath?: string;
}

/** An uncompressed tar of exactly these entries, in this order. */
export function tarOf(entries: EntrySpec[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? (e.path.endsWith('/') ? 'Directory' : 'File');
    const body = Buffer.from(e.body ?? '');
    const h = new Header({
      path: e.path,
      type,
      size: type === 'File' ? body.length : 0,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: new Date(1_700_000_000_000),
      ...(e.linkpath !== undefined ? { linkpath: e.linkpath } : {}),
    });
    if (h.encode()) throw new Error(`test entry ${e.path} needs a pax header; keep names short`);
    blocks.push(h.block!);
    if (type === 'File' && body.length > 0) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export const gz = (tar: Buffer): Buffer => gzipSync(tar);
export const zst = (tar: Buffer): Buffer => zstdCompressSync(tar);
export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Puts a layer's bytes into the store and returns its descriptor. */
export async function putLayer(store: ImageStore, bytes: Buffer, mediaType = TAR_GZIP): Promise<Descriptor> {
  const digest = sha256(bytes);
  await store.putBlob(digest, Readable.from([bytes]), { size: bytes.length });
  return { mediaType, digest, size: bytes.length };
}

/** Puts every blob of an OCI layout's one image into the store: its manifest digest and layers. */
export async function putOciLayout(store: ImageStore, dir: string): Promise<{ manifest: string; layers: Descriptor[]; config: string }> {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const manifest = index.manifests[0]!.digest;
  const blob = (d: string): string => join(dir, 'blobs', 'sha256', d.slice('sha256:'.length));
  const m = JSON.parse(readFileSync(blob(manifest), 'utf8')) as { config: Descriptor; layers: Descriptor[] };
  for (const d of [{ digest: manifest, size: index.manifests[0]!.size }, m.config, ...m.layers]) {
    await store.putBlob(d.digest, createReadStream(blob(d.digest)), { size: d.size });
  }
  return { manifest, layers: m.layers, config: m.config.digest };
}

/** Runs a command; rejects with its stderr when it fails. */
export function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`))));
  });
}

/**
 * buildah with its own storage under `root` (never /var/lib/containers). The image built: busybox,
 * then a RUN making /etc/data/a, /gone and /home/app (owned 1000:1000), then a RUN deleting
 * /gone and /etc/data/a and adding /etc/data/c: one layer per step (`--layers`), whiteouts real.
 */
export async function buildahImage(root: string, tag: string): Promise<(...args: string[]) => Promise<string>> {
  const buildah = (...args: string[]): Promise<string> => run('buildah', ['--storage-driver', 'vfs', '--root', join(root, 'storage'), '--runroot', join(root, 'run'), ...args]);
  const ctx = join(root, 'ctx');
  mkdirSync(ctx, { recursive: true });
  copyFileSync('/usr/bin/busybox', join(ctx, 'busybox'));
  const sh = (script: string): string => `RUN ["/bin/busybox", "sh", "-c", ${JSON.stringify(script)}]`;
  const containerfile = [
    'FROM scratch',
    'COPY busybox /bin/busybox',
    sh('B=/bin/busybox; $B mkdir -p /etc/data /home/app && echo a > /etc/data/a && echo g > /gone && $B chown 1000:1000 /home/app'),
    sh('B=/bin/busybox; $B rm /gone /etc/data/a && echo c > /etc/data/c'),
  ].join('\n');
  writeFileSync(join(ctx, 'Containerfile'), containerfile + '\n');
  await buildah('bud', '--layers', '--isolation', 'chroot', '-t', tag, ctx);
  return buildah;
}
