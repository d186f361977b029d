/**
 * What `starling deploy` asks the control plane before and after the upload: whether the app
 * exists (an app that does not is refused unless --create: a typo in fly.toml's `app` must not
 * make a new app), how large an image may be, and the URLs the app answers at once deployed.
 */
import { DEFAULT_MAX_IMAGE_BYTES, type AppConfig } from '../../../contract/index.js';
import { StarlingError, closest, isStarlingError } from '../../../shared/index.js';
import { appPath, callControl, type ControlTarget } from '../../control-client.js';

export interface AppAnswer {
  name: string;
  /** `<app>.<apps_domain>` (control planes before it said so leave it out). */
  hostname?: string;
}

/** The app, or undefined when the control plane has none of that name. */
export async function findApp(target: ControlTarget, app: string): Promise<AppAnswer | undefined> {
  try {
    return await callControl<AppAnswer>(target, 'GET', appPath(app));
  } catch (e) {
    if (isStarlingError(e, 'ERR_APP_NOT_FOUND')) return undefined;
    throw e;
  }
}

/** The refusal of a deploy to an app that does not exist: names it, the near ones, and both ways to create it. */
export async function unknownApp(target: ControlTarget, app: string, file: string): Promise<StarlingError> {
  const { apps } = await callControl<{ apps: { name: string }[] }>(target, 'GET', '/v1/apps');
  const names = apps.map((a) => a.name);
  const near = closest(app, names);
  const mean = near === undefined ? '' : `: did you mean ${near}? (fix app = "…" in ${file})`;
  const others = names.length === 0 ? 'there are no apps yet' : `the apps are: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''}`;
  return new StarlingError('ERR_APP_NOT_FOUND', `app ${app} (from ${file}) does not exist${mean}; ${others}`, {
    fault: 'user',
    hint: `to create it, deploy with --create, or first: starling apps create ${app} --primary-region CODE`,
  });
}

/** The largest image the control plane takes: it says so at GET /v1/images (older ones: the default). */
export async function imageLimit(target: ControlTarget): Promise<number> {
  try {
    const { max_bytes } = await callControl<{ max_bytes?: unknown }>(target, 'GET', '/v1/images');
    return typeof max_bytes === 'number' && max_bytes > 0 ? max_bytes : DEFAULT_MAX_IMAGE_BYTES;
  } catch (e) {
    if (e instanceof StarlingError && (e as { status?: number }).status === 404) return DEFAULT_MAX_IMAGE_BYTES;
    throw e;
  }
}

/** `https://web.starling.test`, … : the app's hostname on each public HTTP port of its services. */
export function appUrls(hostname: string, config: Pick<AppConfig, 'services'>): string[] {
  const urls = new Set<string>();
  for (const s of config.services) {
    for (const p of s.ports) {
      if (!p.handlers.includes('http') || p.start_port !== p.end_port) continue;
      const tls = p.handlers.includes('tls');
      const port = p.start_port === (tls ? 443 : 80) ? '' : `:${p.start_port}`;
      urls.add(`${tls ? 'https' : 'http'}://${hostname}${port}`);
    }
  }
  return [...urls];
}
