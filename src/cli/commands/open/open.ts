/**
 * `starling open [PATH] --app APP`, as `fly open`: the app's URL, printed, and opened in a browser
 * when stdout is a terminal and this computer has an opener (xdg-open, or macOS's open). Every
 * proxy serves an app at `<app>.<apps_domain>` (agent.toml [control] apps_domain, default
 * `starling.test`). The control plane is asked for the app (so a typo is an error, not a URL that
 * answers 404) and for its URLs when its answer carries them (`urls`); otherwise the domain is
 * STARLING_APPS_DOMAIN, or the platform's default.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement, usageError } from '../../kit/index.js';
import { openCmd } from './meta.js';

/** agent.toml's default apps_domain. */
export const DEFAULT_APPS_DOMAIN = 'starling.test';

export const runOpen = implement(openCmd, async (opts) => {
  const path = (opts.path ?? '').replace(/^\/+/, '');
  if (/\s/.test(path)) throw usageError(`PATH must be a URL path like /healthz (no spaces), got "${path.slice(0, 60)}"`);
  const app = await callControl<{ name: string; urls?: unknown }>(resolveControl(opts), 'GET', appPath(opts.app));
  const listed = Array.isArray(app.urls) ? app.urls.find((u): u is string => typeof u === 'string' && /^https?:\/\//.test(u)) : undefined;
  const domain = process.env.STARLING_APPS_DOMAIN?.trim() || DEFAULT_APPS_DOMAIN;
  const base = (listed ?? `http://${app.name}.${domain}`).replace(/\/+$/, '');
  const url = `${base}/${path}`;
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
