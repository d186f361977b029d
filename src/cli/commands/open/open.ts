/**
 * `starling open [PATH] --app APP`, as `fly open`: the app's URL, printed, and opened in a browser
 * when stdout is a terminal and this computer has an opener (xdg-open, or macOS's open). Every
 * proxy serves an app at `<app>.<apps_domain>`; the control plane says which (GET /v1/apps/{app}
 * answers its `hostname`, from control.toml apps_domain), so a typo is an error, not a URL that
 * answers 404. The URL is https:// once the app's certificate is ready, http:// until then.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement, usageError } from '../../kit/index.js';
import { openCmd } from './meta.js';

export const runOpen = implement(openCmd, async (opts) => {
  const path = (opts.path ?? '').replace(/^\/+/, '');
  if (/\s/.test(path)) throw usageError(`PATH must be a URL path like /healthz (no spaces), got "${path.slice(0, 60)}"`);
  const target = resolveControl(opts);
  const app = await callControl<{ name: string; hostname: string }>(target, 'GET', appPath(opts.app));
  // https:// once the app's certificate is served (every PoP has it); plain http before that.
  const cert = await callControl<{ state: string }>(target, 'GET', appPath(opts.app, `/certificates/${encodeURIComponent(app.hostname)}`)).catch(() => undefined);
  const scheme = cert?.state === 'ready' || cert?.state === 'failing' ? 'https' : 'http';
  const url = `${scheme}://${app.hostname}/${path}`;
  console.log(url);
  const opener = process.stdout.isTTY ? findOpener() : undefined;
  if (opener) spawn(opener, [url], { stdio: 'ignore', detached: true }).on('error', () => undefined).unref();
  return 0;
});

/** xdg-open, or macOS's open (Debian's `open` is openvt: never that). */
function findOpener(): string | undefined {
  const name = process.platform === 'darwin' ? 'open' : 'xdg-open';
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) if (existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}
