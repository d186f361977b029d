/**
 * Where a deploy's image comes from, decided before anything is sent:
 *   1. `--image X` (relative to the current directory) or `[build] image` (relative to the
 *      config's directory): a local path when it exists, ends in .tar.gz/.tgz, or starts with
 *      `/`, `./` or `../` (then it must exist: the usual error); anything else is an image
 *      reference (`python:3.12`, `ghcr.io/org/app@sha256:…`), copied by the control plane.
 *   2. `[build] dockerfile`, or a `Dockerfile` next to the config: built with buildah, the
 *      config's directory as the context, `[build.args]` and `--build-target`/`[build] build-target`.
 *   3. Otherwise the config's directory, as before images (the quick-start form).
 * A path that looks like neither (`--image app` where no ./app exists) is taken as a reference,
 * as docker does; the control plane's answer then names the registry it asked.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { BuildConfig } from '../../../contract/index.js';
import { parseImageRef } from '../../../images/index.js';
import { usageError } from '../../kit/index.js';
import type { BuildSpec } from './image-push.js';

export type ImageSource =
  | { kind: 'local'; path: string; ref: string }
  | { kind: 'remote'; ref: string }
  | { kind: 'build'; build: BuildSpec; ref: string };

const looksLocal = (t: string): boolean => /^(\/|\.\/|\.\.\/|\.$|\.\.$)/.test(t) || /\.(tar\.gz|tgz)$/.test(t);

export function imageSource(flag: string | undefined, buildTarget: string | undefined, configFile: string, build: BuildConfig): ImageSource {
  const dir = dirname(configFile);
  const named = flag ?? build.image;
  if (named !== undefined) {
    const path = flag !== undefined ? resolve(flag) : isAbsolute(named) ? named : join(dir, named);
    if (looksLocal(named) || existsSync(path)) return { kind: 'local', path, ref: named };
    if (buildTarget !== undefined) throw usageError(`--build-target builds a Dockerfile, and ${JSON.stringify(named)} is a prepared image: drop one`);
    try {
      parseImageRef(named); // checked here, before anything is made; the control plane parses it again
    } catch (e) {
      throw usageError(`${(e as Error).message} (and no file or directory ${named} exists)`);
    }
    return { kind: 'remote', ref: named };
  }
  const dockerfile = build.dockerfile !== undefined ? (isAbsolute(build.dockerfile) ? build.dockerfile : join(dir, build.dockerfile)) : join(dir, 'Dockerfile');
  if (build.dockerfile !== undefined && !existsSync(dockerfile)) throw usageError(`[build] dockerfile ${build.dockerfile} does not exist (looked for ${dockerfile})`);
  if (existsSync(dockerfile)) {
    const target = buildTarget ?? build.target;
    const ignorefile = build.ignorefile === undefined ? undefined : isAbsolute(build.ignorefile) ? build.ignorefile : join(dir, build.ignorefile);
    return { kind: 'build', ref: dockerfile, build: { dockerfile, context: dir, target, args: build.args ?? {}, ignorefile } };
  }
  if (buildTarget !== undefined) throw usageError(`--build-target needs a Dockerfile, and there is none next to ${configFile}`);
  return { kind: 'local', path: dir, ref: dir };
}
