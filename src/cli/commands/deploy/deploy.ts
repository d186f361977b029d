/**
 * `starling deploy`: the app config (starling.toml / fly.toml) + an image → a release → a deploy,
 * followed live until it ends. The app is created on first deploy (primary_region from the config).
 * Exit status: 0 deployed, 1 rolled back or failed (the reason is printed), 2 bad input.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { parse as parseToml } from 'smol-toml';
import { AppConfigError, loadAppConfig } from '../../../control/config/app-config.js';
import { StarlingError, describeError } from '../../../shared/index.js';
import type { Command } from '../../args.js';
import { appPath, callControl, controlOptions, resolveControl, type ControlTarget } from '../../control-client.js';
import { jsonOption } from '../certs/common.js';
import { printJson } from '../../output.js';
import { defaultAppConfigPath } from '../config/validate.js';
import { followDeploy, type DeployJson } from './follow.js';
import { packImage } from './image-pack.js';

export const deploy: Command = {
  noun: 'deploy',
  verb: '',
  summary: 'deploy the app: upload the image, make a release, roll it out and follow it',
  options: {
    config: { type: 'string', value: 'FILE', description: 'the app config (default: starling.toml, or fly.toml when only that exists)' },
    image: { type: 'string', value: 'DIR|TGZ', description: "the app's files: a directory or a .tar.gz (default: [build] image in the config)" },
    strategy: { type: 'string', value: 'NAME', description: 'rolling, canary, bluegreen or immediate (default: [deploy] strategy in the config)' },
    'max-unavailable': { type: 'string', value: 'N', description: 'rolling: machines replaced at once, a count or a fraction below 1 (default: the config)' },
    'wait-timeout': { type: 'string', value: 'SECONDS', description: 'how long a new machine may take to pass its checks before the deploy rolls back (default 120)' },
    detach: { type: 'boolean', description: 'start the deploy and return without following it' },
    ...jsonOption,
    ...controlOptions,
  },
  async run(opts) {
    const file = typeof opts.config === 'string' ? opts.config : defaultAppConfigPath();
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
    const say = (line: string): void => void (opts.json === true ? undefined : console.log(line));
    for (const w of warnings) say(`warning: ${w.path}: ${w.message}`);
    const imageRef = typeof opts.image === 'string' ? opts.image : config.build.image;
    if (!imageRef) throw new StarlingError('ERR_USAGE', 'no image: pass --image DIR|TGZ or set [build] image in the app config', { fault: 'user' });
    const body: Record<string, unknown> = {};
    if (typeof opts.strategy === 'string') body.strategy = opts.strategy;
    if (typeof opts['max-unavailable'] === 'string') body.max_unavailable = numberFlag('--max-unavailable', opts['max-unavailable']);
    if (typeof opts['wait-timeout'] === 'string') body.wait_timeout_s = numberFlag('--wait-timeout', opts['wait-timeout']);

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
    if (opts.detach === true) {
      if (opts.json === true) printJson(started);
      else say(`follow it with: starling status --app ${app}`);
      return 0;
    }
    const end = await followDeploy(target, app, started.id, say);
    if (opts.json === true) printJson(end);
    if (end.state === 'succeeded') {
      say(`release v${end.release} deployed`);
      return 0;
    }
    say(end.state === 'rolled_back' ? `deploy rolled back to v${end.from_release}: ${end.error ?? ''}` : `deploy ${end.state}: ${end.error ?? ''}`);
    if (end.state === 'interrupted') say(`the control plane restarted: starling deploy resume ${end.id} --app ${app} (or rollback)`);
    return 1;
  },
};

function numberFlag(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new StarlingError('ERR_USAGE', `${flag} must be a positive number, got "${v}"`, { fault: 'user' });
  return n;
}

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
    } as RequestInit);
  } catch (e) {
    const cause = e instanceof Error && e.cause !== undefined ? e.cause : e;
    if (cause instanceof StarlingError && cause.code === 'ERR_TLS_UNTRUSTED') throw cause;
    throw new StarlingError('ERR_CONTROL_UNREACHABLE', `uploading the image to ${target.url} failed: ${describeError(cause)}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message;
    } catch {
      /* not JSON: the raw text */
    }
    throw new StarlingError('ERR_CONTROL_API', `uploading the image failed (${res.status}): ${message}`);
  }
}
