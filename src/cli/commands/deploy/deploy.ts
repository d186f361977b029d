/**
 * `starling deploy`: the app config (starling.toml / fly.toml) + an image → a release → a deploy,
 * followed live until it ends. The image (image-source.ts): --image, else [build] image, else a
 * Dockerfile build, else the config's own directory; it reaches the platform registry as
 * image-push.ts says, and the release pins its digest. Every
 * check that can fail on the user's input runs before anything is uploaded or written: the
 * config, the flags (at parse time), the image path, the app (refused when it does not exist,
 * unless --create), the image's size against the control plane's limit (while packing).
 * Exit status: 0 deployed, 1 rolled back or failed (the reason is printed), 2 bad input.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseToml } from 'smol-toml';
import { AppConfigError, loadAppConfig } from '../../../contract/index.js';
import { defaultAppConfigPath } from '../../app-from-config.js';
import { appPath, callControl, resolveControl, type ControlTarget } from '../../control-client.js';
import { implement, usageError } from '../../kit/index.js';
import { printJson } from '../../output.js';
import { appUrls, findApp, imageLimit, unknownApp } from './deploy-app.js';
import { followDeploy, type DeployJson } from './follow.js';
import { checkImage, formatSize, packImage, type PackedImage } from './image-pack.js';
import { buildAndPush, importRemote, pushPacked, type PushedImage } from './image-push.js';
import { imageSource, type ImageSource } from './image-source.js';
import { deploy } from './meta.js';
import { inlineLocalFiles } from './release-files.js';

export const runDeploy = implement(deploy, async (opts) => {
  const file = opts.config ?? defaultAppConfigPath();
  let loaded;
  try {
    loaded = await loadAppConfig(file);
  } catch (e) {
    if (e instanceof AppConfigError) {
      console.error(e.message);
      console.error('fix these, then deploy again (starling config validate lists them too)');
      return 2;
    }
    throw e;
  }
  const { config, warnings } = loaded;
  const say = (line: string): void => void (opts.json ? undefined : console.log(line));
  for (const w of warnings) say(`warning: ${w.path}: ${w.message}`);
  // The config as written (TOML → JSON): the control plane validates it again and keeps it; a
  // [[files]] local_path is read now (release-files.ts), before any image is pushed.
  const written = await inlineLocalFiles(parseToml(await readFile(file, 'utf8')), file);
  const source = imageSource(opts.image, opts['build-target'], file, config.build);
  if (source.kind === 'local') await checkImage(source.path, source.ref);
  const body: Record<string, unknown> = {};
  if (opts.strategy !== undefined) body.strategy = opts.strategy;
  if (opts['max-unavailable'] !== undefined) body.max_unavailable = opts['max-unavailable'];
  if (opts['wait-timeout'] !== undefined) body.wait_timeout_s = opts['wait-timeout'];

  const target = resolveControl(opts);
  const app = config.app;
  const existing = await findApp(target, app);
  if (!existing && !opts.create) throw await unknownApp(target, app, file);
  if (!existing && !config.primary_region) throw usageError(`app ${app} does not exist yet: set primary_region in ${file} (or starling apps create ${app} --primary-region CODE)`);

  const progress = progressLine(opts.json);
  const packed = source.kind === 'local' ? await packImage(source.path, source.ref, { maxBytes: await imageLimit(target), progress: progress?.show }).finally(() => progress?.clear()) : undefined;
  let image: PushedImage;
  try {
    if (!existing) {
      await callControl(target, 'POST', '/v1/apps', { name: app, primary_region: config.primary_region });
      say(`app ${app} created (primary region ${config.primary_region ?? ''})`);
    }
    image = await toRegistry(target, app, source, packed, say);
  } finally {
    await packed?.cleanup();
  }
  const release = await callControl<{ version: number }>(target, 'POST', appPath(app, '/releases'), { config: written, image: { ref: image.ref, digest: image.digest, kind: 'oci' } });
  say(`release v${release.version} created`);
  const started = await callControl<DeployJson>(target, 'POST', appPath(app, '/deploys'), { release: release.version, ...body });
  say(`deploy ${started.id}: ${started.strategy}, from v${started.from_release} to v${started.release}`);
  if (opts.detach) {
    if (opts.json) printJson(started);
    else say(`follow it with: starling status --app ${app}`);
    return 0;
  }
  const end = await followDeploy(target, app, started.id, say);
  if (opts.json) printJson(end);
  if (end.state === 'succeeded') {
    say(`release v${end.release} deployed`);
    const hostname = (existing ?? (await findApp(target, app)))?.hostname;
    const urls = hostname === undefined ? [] : appUrls(hostname, config);
    if (urls.length > 0) say(`the app answers at: ${urls.join('  ')}`);
    return 0;
  }
  say(end.state === 'rolled_back' ? `deploy rolled back to v${end.from_release}: ${end.error ?? ''}` : `deploy ${end.state}: ${end.error ?? ''}`);
  if (end.state === 'interrupted') say(`the control plane restarted: starling deploy resume ${end.id} --app ${app} (or rollback)`);
  return 1;
});

/** The deploy's image into the platform registry, as its source says (image-push.ts), with a line saying how. */
async function toRegistry(target: ControlTarget, app: string, source: ImageSource, packed: PackedImage | undefined, say: (line: string) => void): Promise<PushedImage> {
  if (packed) {
    const image = await pushPacked(target, app, packed, source.ref);
    say(imageSummary(source.ref, packed, image.digest));
    return image;
  }
  if (source.kind === 'build') {
    say(`building ${source.build.dockerfile} with buildah`);
    const image = await buildAndPush(target, app, source.build, (line) => say(`  ${line}`));
    say(`image built: ${image.digest} (${formatSize(image.size)})`);
    return image;
  }
  say(`image ${source.ref}: copying it into the platform registry`);
  const image = await importRemote(target, app, source.ref);
  say(`image ${image.ref}: ${image.digest} (${formatSize(image.size)})`);
  return image;
}

/** On a terminal, progress rewritten on one stderr line (cleared when done); elsewhere (CI, logs, --json) none. */
function progressLine(json: boolean): { show: (line: string) => void; clear: () => void } | undefined {
  if (json || !process.stderr.isTTY) return undefined;
  let shown = false;
  return {
    show: (line) => void ((shown = true), process.stderr.write(`\r\x1b[K${line}`)),
    clear: () => void (shown && process.stderr.write('\r\x1b[K')),
  };
}

function imageSummary(ref: string, image: PackedImage, digest: string): string {
  const p = image.packed;
  const packed = p === undefined ? '' : `${p.files} files, ${formatSize(p.bytes)} packed into `;
  const ignored = p?.ignoreFile === undefined ? '' : `; ${p.ignored} left out by ${p.ignoreFile}`;
  return `image ${ref}: ${digest} (${packed}${formatSize(image.size)}${ignored})`;
}
