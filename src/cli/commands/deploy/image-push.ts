/**
 * Getting a deploy's image into the platform registry (the control plane's /v2/, repository =
 * the app), over the same checked connection as every other call (a pin, or the lab's tunnel):
 *   - a packed directory or .tar.gz: one layer as it is, made an image (images/layer-image.ts);
 *   - a Dockerfile: built here with buildah (rootless-friendly flags: vfs storage in a temporary
 *     root, chroot isolation, no daemon), exported as an OCI layout, pushed blob by blob;
 *   - a reference to another registry: the control plane copies it (POST /v1/apps/{app}/images),
 *     so registry logins stay there.
 * Blobs the registry holds already are not sent again (HEAD first).
 */
import { spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { layerImage, oneLayerImage, parseManifest, pickPlatform, RegistryClient, type Descriptor, type ImageRef, type LayerImage } from '../../../images/index.js';
import { StarlingError } from '../../../shared/index.js';
import { appPath, callControl, type ControlTarget } from '../../control-client.js';
import type { PackedImage } from './image-pack.js';

export interface PushedImage {
  digest: string;
  /** What a release records as what the user named. */
  ref: string;
  size: number;
}

/** A client of the platform registry with the CLI's token (Basic, as registry clients send it). */
function platformRegistry(target: ControlTarget, app: string): { client: RegistryClient; ref: ImageRef } {
  const u = new URL(target.url);
  const client = new RegistryClient({
    fetch: target.fetch,
    credentials: (host) => (host === u.host && target.token ? { username: 'starling', password: target.token } : undefined),
    plainHttp: (host) => host === u.host && u.protocol === 'http:',
  });
  return { client, ref: { registry: u.host, repository: app } };
}

/**
 * The quick-start form: a packed directory is the one layer of an image as it is (image-pack.ts
 * normalised its modes); a .tar.gz the user gave is first unpacked with the layer checks and
 * packed again deterministically with the same modes (images/one-layer.ts).
 */
export async function pushPacked(target: ControlTarget, app: string, packed: PackedImage, ref: string): Promise<PushedImage> {
  const work = packed.packed === undefined ? await mkdtemp(join(tmpdir(), 'starling-layer-')) : undefined;
  try {
    const image = work === undefined ? await layerImage(packed.file) : await oneLayerImage(packed.file, work);
    return await pushLayer(target, app, image, ref);
  } finally {
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  }
}

async function pushLayer(target: ControlTarget, app: string, image: LayerImage, ref: string): Promise<PushedImage> {
  const { client, ref: repo } = platformRegistry(target, app);
  await client.pushBlob(repo, image.layer.digest, image.layer.size, () => createReadStream(image.layer.file));
  await client.pushBlob(repo, image.config.digest, image.config.bytes.length, () => bufferStream(image.config.bytes));
  const digest = await client.pushManifest({ ...repo, digest: image.digest }, image.manifest, image.mediaType);
  return { digest, ref, size: image.layer.size + image.config.bytes.length };
}

/** An image from another registry, copied by the control plane into the app's repository. */
export async function importRemote(target: ControlTarget, app: string, ref: string): Promise<PushedImage> {
  const answer = await callControl<{ digest: string; ref: string; size: number }>(target, 'POST', appPath(app, '/images'), { ref }, { timeoutMs: 30 * 60_000 });
  return { digest: answer.digest, ref: answer.ref, size: answer.size };
}

export interface BuildSpec {
  dockerfile: string;
  context: string;
  target?: string | undefined;
  args: Record<string, string>;
  ignorefile?: string | undefined;
}

/** Builds with buildah, then pushes the OCI layout it exported. `log` gets buildah's output lines. */
export async function buildAndPush(target: ControlTarget, app: string, spec: BuildSpec, log: (line: string) => void): Promise<PushedImage> {
  const buildah = ['/usr/bin/buildah', '/usr/local/bin/buildah'].find((p) => existsSync(p));
  if (!buildah) {
    throw new StarlingError('ERR_BUILD_TOOL', 'building the Dockerfile needs buildah, which is not installed', { fault: 'user', hint: 'apt-get install -y buildah (npm run setup installs it), or deploy a prepared image with --image' });
  }
  const dir = await mkdtemp(join(tmpdir(), 'starling-build-'));
  try {
    const store = ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs'];
    const tag = `localhost/starling-build/${app}:latest`;
    const build = ['bud', '--isolation', 'chroot', '--layers=false', '-f', spec.dockerfile, '-t', tag];
    if (spec.target) build.push('--target', spec.target);
    for (const [k, v] of Object.entries(spec.args)) build.push('--build-arg', `${k}=${v}`);
    if (spec.ignorefile) build.push('--ignorefile', spec.ignorefile);
    await run(buildah, [...store, ...build, spec.context], log, 'building the image');
    const layout = join(dir, 'layout');
    await run(buildah, [...store, 'push', '--quiet', tag, `oci:${layout}:latest`], log, 'exporting the image');
    return await pushLayout(target, app, layout, `${spec.dockerfile} (built)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Pushes the one image of an OCI layout directory (index.json → manifest → config and layers). */
export async function pushLayout(target: ControlTarget, app: string, layout: string, ref: string): Promise<PushedImage> {
  const blob = (d: string): string => join(layout, 'blobs', ...d.split(':'));
  const index = parseManifest(await readFile(join(layout, 'index.json')), '');
  if (index.kind !== 'index') throw new StarlingError('ERR_IMAGE_MEDIA_TYPE', `${layout}/index.json is not an OCI image index`);
  // A layout's index.json names what it holds, usually without a platform: one entry is the image.
  const top: Descriptor = index.manifests.length === 1 ? index.manifests[0]! : pickPlatform(index.manifests);
  let bytes = await readFile(blob(top.digest));
  let parsed = parseManifest(bytes, top.mediaType);
  let desc = top;
  if (parsed.kind === 'index') {
    desc = pickPlatform(parsed.manifests);
    bytes = await readFile(blob(desc.digest));
    parsed = parseManifest(bytes, desc.mediaType);
  }
  if (parsed.kind !== 'manifest') throw new StarlingError('ERR_IMAGE_MEDIA_TYPE', `the built image's layout holds nested indexes, not an image`);
  const { client, ref: repo } = platformRegistry(target, app);
  const blobs = [parsed.manifest.config, ...parsed.manifest.layers];
  for (const d of blobs) await client.pushBlob(repo, d.digest, d.size, () => createReadStream(blob(d.digest)));
  const digest = await client.pushManifest({ ...repo, digest: desc.digest }, bytes, parsed.manifest.mediaType);
  return { digest, ref, size: blobs.reduce((n, d) => n + d.size, 0) };
}

function bufferStream(b: Buffer): NodeJS.ReadableStream {
  return Readable.from([b]);
}

function run(cmd: string, args: string[], log: (line: string) => void, doing: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const take = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        log(line);
        tail.push(line);
        if (tail.length > 20) tail.shift();
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (e) => reject(new StarlingError('ERR_BUILD', `${doing}: cannot run ${cmd}: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new StarlingError('ERR_BUILD', `${doing} failed (buildah exited ${code}):\n${tail.join('\n')}`, { fault: 'user' }));
    });
  });
}
