/**
 * Test images built offline with buildah and pushed to a test registry (./registry.ts). Storage is
 * vfs under a temp dir of the builder's own (--root/--runroot, never /var/lib/containers), RUN steps
 * use chroot isolation, nothing is pulled: every image is FROM scratch with the host's static
 * busybox (/usr/bin/busybox, busybox-static) or the host's python3 and the files it needs.
 *
 *   const images = await imageBuilder();            // after(() => images.stop())
 *   const img = await images.busybox(registry.host); // { ref, digest, … } in that registry
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { ImageRef } from '../../src/images/index.js';

const run = promisify(execFile);
const BUSYBOX = '/usr/bin/busybox';

export interface BuildOptions {
  /** Default: `FROM scratch` + `COPY . /` (the files, at their paths). */
  dockerfile?: string;
  /** Context files by relative path; ELF and `#!` files are made executable. */
  files?: Record<string, string | Buffer>;
  /** Context symlinks: path → target. */
  symlinks?: Record<string, string>;
  from?: 'scratch';
  /** Image format: 'oci' (default) or 'docker' (v2 schema 2). */
  format?: 'oci' | 'docker';
  compression?: 'gzip' | 'zstd';
  /** One layer per step (`--layers`, never from buildah's cache: it ignores --arch); default true. */
  layers?: boolean;
  arch?: string;
  tag?: string;
  /** Push with these credentials (written to an authfile, never argv). */
  auth?: { username: string; password: string };
}

export interface BuiltImage {
  ref: ImageRef;
  /** The pushed manifest's digest, as buildah reports it. */
  digest: string;
  /** The local name in the builder's storage. */
  local: string;
}

export interface ImageBuilder {
  buildImage(name: string, o: BuildOptions, registryHost: string): Promise<BuiltImage>;
  busybox(registryHost: string, o?: Partial<BuildOptions> & { name?: string }): Promise<BuiltImage>;
  /** Three layers; the last deletes /data/gone.txt (a whiteout), /data/kept.txt stays. */
  multiLayer(registryHost: string): Promise<BuiltImage>;
  /** USER 1000:1000, /home/app owned by 1000:1000. */
  nonRoot(registryHost: string): Promise<BuiltImage>;
  /** busybox pushed with zstd-compressed layers (OCI). */
  zstd(registryHost: string): Promise<BuiltImage>;
  /** The host's python3 with its libraries and the stdlib modules a small HTTP server needs; no host /usr. */
  python(registryHost: string, o?: Partial<BuildOptions>): Promise<BuiltImage>;
  /** An index of busybox for linux/amd64 and linux/arm64 (the same binary; nothing runs it). */
  index(registryHost: string, name?: string, auth?: { username: string; password: string }): Promise<BuiltImage & { platforms: Record<string, BuiltImage> }>;
  /** A containers-auth.json for `host` in the builder's dir (buildah/skopeo --authfile: no password in argv). */
  authfile(host: string, auth: { username: string; password: string }): string;
  /** buildah with this builder's storage flags. */
  buildah(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function imageBuilder(): Promise<ImageBuilder> {
  if (spawnSync('buildah', ['--version']).status !== 0) throw new Error('buildah is needed for this test: apt-get install -y buildah');
  const dir = mkdtempSync(join(tmpdir(), 'starling-buildah-'));
  const storage = ['--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--storage-driver', 'vfs'];
  const env = { ...process.env, BUILDAH_ISOLATION: 'chroot', STORAGE_DRIVER: 'vfs' };
  let n = 0;
  const buildah = async (args: string[]): Promise<string> => {
    try {
      return (await run('buildah', [...storage, ...args], { env, maxBuffer: 64 << 20 })).stdout;
    } catch (e) {
      const x = e as { stderr?: string; message: string };
      throw new Error(`buildah ${args[0]} failed: ${x.stderr || x.message}`);
    }
  };
  const authfile = (host: string, auth: { username: string; password: string }): string => {
    const file = join(dir, `auth-${++n}.json`);
    writeFileSync(file, JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64') } } }), { mode: 0o600 });
    return file;
  };

  async function buildImage(name: string, o: BuildOptions, registryHost: string): Promise<BuiltImage> {
    const tag = o.tag ?? 'latest';
    const ctx = join(dir, `ctx-${++n}`);
    mkdirSync(ctx, { recursive: true });
    for (const [path, content] of Object.entries(o.files ?? {})) {
      const p = join(ctx, path);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
      const head = Buffer.from(content).subarray(0, 4);
      if (head.toString('latin1') === '\x7fELF' || head.subarray(0, 2).toString() === '#!') chmodSync(p, 0o755);
    }
    for (const [path, target] of Object.entries(o.symlinks ?? {})) {
      mkdirSync(dirname(join(ctx, path)), { recursive: true });
      symlinkSync(target, join(ctx, path));
    }
    const dockerfile = join(dir, `Dockerfile-${n}`);
    writeFileSync(dockerfile, o.dockerfile ?? 'FROM scratch\nCOPY . /\n');
    const local = `localhost/${name.replace(/[^a-z0-9._/-]/g, '-')}-${n}:${tag}`;
    await buildah([
      'bud', '--isolation', 'chroot', '--format', o.format ?? 'oci', ...(o.layers === false ? [] : ['--layers', '--no-cache']),
      ...(o.arch ? ['--arch', o.arch] : []), '-f', dockerfile, '-t', local, ctx,
    ]);
    const digestFile = join(dir, `digest-${n}`);
    await buildah([
      'push', '--tls-verify=false', '--digestfile', digestFile, ...(o.auth ? ['--authfile', authfile(registryHost, o.auth)] : []),
      ...(o.compression ? ['--compression-format', o.compression] : []), local, `docker://${registryHost}/${name}:${tag}`,
    ]);
    return { ref: { registry: registryHost, repository: name, tag }, digest: readFileSync(digestFile, 'utf8').trim(), local };
  }

  const busyboxFile = { 'usr/bin/busybox': readFileSync(BUSYBOX) };
  const busybox: ImageBuilder['busybox'] = (host, o = {}) =>
    buildImage(o.name ?? 'busybox', {
      files: busyboxFile,
      dockerfile:
        `FROM scratch\nCOPY ${o.files ? '. /' : 'usr/bin/busybox /usr/bin/busybox'}\nENV GREETING=hello PATH=/usr/bin\nWORKDIR /srv\nEXPOSE 8080\n` +
        'LABEL org.example.test=busybox\nSTOPSIGNAL SIGINT\nCMD ["/usr/bin/busybox", "echo", "hello from busybox"]\n',
      ...o,
    }, host);

  return {
    buildImage,
    busybox,
    buildah,
    authfile,
    multiLayer: (host) =>
      buildImage('multi-layer', {
        files: { ...busyboxFile, 'gone.txt': 'deleted in a later layer\n', 'kept.txt': 'kept\n' },
        dockerfile:
          'FROM scratch\nCOPY usr/bin/busybox /bin/sh\nCOPY usr/bin/busybox /bin/busybox\nCOPY gone.txt kept.txt /data/\n' +
          'RUN /bin/busybox rm /data/gone.txt\nCMD ["/bin/busybox", "cat", "/data/kept.txt"]\n',
      }, host),
    nonRoot: (host) =>
      buildImage('non-root', {
        files: { ...busyboxFile, 'app.txt': 'owned by 1000\n' },
        dockerfile: 'FROM scratch\nCOPY usr/bin/busybox /usr/bin/busybox\nCOPY --chown=1000:1000 app.txt /home/app/app.txt\nUSER 1000:1000\nCMD ["/usr/bin/busybox", "id", "-u"]\n',
      }, host),
    // One layer of its own: containers/image would reuse a gzip blob of the same content already in the registry.
    zstd: (host) =>
      busybox(host, { name: 'busybox-zstd', compression: 'zstd', layers: false, files: { ...busyboxFile, 'etc/unique': randomBytes(16).toString('hex') } }),
    python: (host, o = {}) => buildImage('python', { ...pythonFiles(), dockerfile: 'FROM scratch\nCOPY . /\nCMD ["/usr/bin/python3", "-c", "print(\'hello from python\')"]\n', ...o }, host),
    async index(host, name = 'busybox-multi', auth) {
      const amd64 = await busybox(host, { name, tag: 'amd64', arch: 'amd64', ...(auth ? { auth } : {}) });
      const arm64 = await busybox(host, { name, tag: 'arm64', arch: 'arm64', ...(auth ? { auth } : {}) });
      const list = `localhost/${name}-list-${++n}`;
      await buildah(['manifest', 'create', list]);
      for (const img of [arm64, amd64]) await buildah(['manifest', 'add', list, `containers-storage:${img.local}`]);
      const digestFile = join(dir, `digest-${n}`);
      const creds = auth ? ['--authfile', authfile(host, auth)] : [];
      await buildah(['manifest', 'push', '--all', '--tls-verify=false', ...creds, '--digestfile', digestFile, list, `docker://${host}/${name}:latest`]);
      const digest = readFileSync(digestFile, 'utf8').trim();
      return { ref: { registry: host, repository: name, tag: 'latest' }, digest, local: list, platforms: { amd64, arm64 } };
    },
    async stop() {
      await buildah(['rm', '--all']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The host's /usr/bin/python3, the libraries ldd names for it and for the extension modules it
 * loads, and the stdlib files a probe run imports (json, http.server, socket, signal,
 * urllib). Libraries go under /usr/lib{,64} with /lib and /lib64 as symlinks (merged /usr, as the
 * host): the loader finds them in its built-in paths without an ld.so.cache.
 */
function pythonFiles(): { files: Record<string, Buffer>; symlinks: Record<string, string> } {
  const probe = spawnSync('/usr/bin/python3', ['-c',
    'import sys, json, http.server, socketserver, signal, time, os, urllib.request, encodings.idna\n' +
    'print("\\n".join(sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})))'], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(`the host's /usr/bin/python3 cannot run the probe: ${probe.stderr}`);
  const modules = probe.stdout.trim().split('\n').filter((p) => p.startsWith('/usr/lib/python3'));
  const files: Record<string, Buffer> = { 'usr/bin/python3': readFileSync('/usr/bin/python3') };
  const libs = new Set<string>();
  for (const bin of ['/usr/bin/python3', ...modules.filter((m) => m.endsWith('.so'))]) {
    const ldd = spawnSync('ldd', [bin], { encoding: 'utf8' });
    for (const m of ldd.stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) libs.add(m[1]!);
  }
  for (const lib of libs) files[`usr${lib.replace(/^\/usr/, '')}`] = readFileSync(lib);
  for (const m of modules) files[m.slice(1)] = readFileSync(m);
  // Python finds its prefix by the landmark lib/python3.X/os.py, and lib-dynload's existence.
  return { files, symlinks: { lib: 'usr/lib', lib64: 'usr/lib64', bin: 'usr/bin' } };
}
