/**
 * `starling deploy`: the app config (starling.toml / fly.toml) + an image → a release → a deploy,
 * followed live until it ends. The app is created on first deploy (primary_region from the config).
 * Exit status: 0 deployed, 1 rolled back or failed (the reason is printed), 2 bad input.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { parse as parseToml } from 'smol-toml';
import { AppConfigError, loadAppConfig } from '../../../contract/index.js';
import { StarlingError, describeError } from '../../../shared/index.js';
import { appPath, callControl, controlAnswerError, resolveControl, type ControlTarget } from '../../control-client.js';
import { implement, usageError } from '../../kit/index.js';
import { printJson } from '../../output.js';
import { defaultAppConfigPath } from '../../app-from-config.js';
import { followDeploy, type DeployJson } from './follow.js';
import { packImage } from './image-pack.js';
import { deploy } from './meta.js';

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
  const imageRef = opts.image ?? config.build.image;
  if (!imageRef) throw usageError('no image: pass --image DIR|TGZ or set [build] image in the app config');
  const body: Record<string, unknown> = {};
  if (opts.strategy !== undefined) body.strategy = opts.strategy;
  if (opts['max-unavailable'] !== undefined) body.max_unavailable = opts['max-unavailable'];
  if (opts['wait-timeout'] !== undefined) body.wait_timeout_s = opts['wait-timeout'];

  const target = resolveControl(opts);
  const app = config.app;
  await ensureApp(target, app, config.primary_region, say);

  const image = await packImage(imageRef);
  try {
    say(`image ${imageRef}: ${image.digest} (${(image.size / 1024).toFixed(1)} KiB)`);
    await upload(target, image.file, image.digest, image.size);
  } finally {
    await image.cleanup();
  }
  // The config as written (TOML → JSON): the control plane validates it again and keeps it.
  const written = parseToml(await readFile(file, 'utf8'));
  const release = await callControl<{ version: number }>(target, 'POST', appPath(app, '/releases'), { config: written, image: { ref: imageRef, digest: image.digest } });
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
    return 0;
  }
  say(end.state === 'rolled_back' ? `deploy rolled back to v${end.from_release}: ${end.error ?? ''}` : `deploy ${end.state}: ${end.error ?? ''}`);
  if (end.state === 'interrupted') say(`the control plane restarted: starling deploy resume ${end.id} --app ${app} (or rollback)`);
  return 1;
});

async function ensureApp(target: ControlTarget, app: string, primary: string | undefined, say: (l: string) => void): Promise<void> {
  try {
    await callControl(target, 'GET', appPath(app));
    return;
  } catch (e) {
    if (!(e instanceof StarlingError) || e.code !== 'ERR_APP_NOT_FOUND') throw e;
  }
  if (!primary) throw new StarlingError('ERR_USAGE', `app ${app} does not exist yet: set primary_region in the app config (or starling apps create ${app} --region CODE)`, { fault: 'user' });
  await callControl(target, 'POST', '/v1/apps', { name: app, primary_region: primary });
  say(`app ${app} created (primary region ${primary})`);
}

async function upload(target: ControlTarget, file: string, digest: string, size: number): Promise<void> {
  let res: Response;
  try {
    res = await target.fetch(`${target.url}/v1/images/${digest}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/gzip', 'content-length': String(size) },
      body: Readable.toWeb(createReadStream(file)) as ReadableStream,
      duplex: 'half',
    });
  } catch (e) {
    const cause = e instanceof Error && e.cause !== undefined ? e.cause : e;
    if (cause instanceof StarlingError && cause.code === 'ERR_TLS_UNTRUSTED') throw cause;
    throw new StarlingError('ERR_CONTROL_UNREACHABLE', `uploading the image to ${target.url} failed: ${describeError(cause)}`);
  }
  const text = await res.text();
  if (!res.ok) throw controlAnswerError(res.status, text, 'uploading the image');
}
