/**
 * `--app` when it is not given: the `app` of the app config, as flyctl reads it from fly.toml —
 * the file given with the command's own `-c/--config` (deploy, config validate), else starling.toml
 * or fly.toml in the current directory. Only the `app` key is read (a config that would fail
 * validation still names its app); the file is read only when `--app` is missing, so a broken
 * config next to you never blocks `--app X`. Kept light: help loads flags.ts, which loads this.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StarlingError, describeError, readToml } from '../shared/index.js';

/** The app config in `dir`: starling.toml, else fly.toml when only that exists (fly users keep theirs). */
export function defaultAppConfigPath(dir = '.'): string {
  const starling = join(dir, 'starling.toml');
  const fly = join(dir, 'fly.toml');
  return !existsSync(starling) && existsSync(fly) ? fly : starling;
}

const REQUIRED = '--app APP is required (or run it next to a starling.toml/fly.toml with app = …)';

function usage(message: string, hint: string): StarlingError {
  return new StarlingError('ERR_USAGE', message, { fault: 'user', hint });
}

/**
 * The app named by `file` (given with -c), or by the config in the current directory; a usage
 * error that names both ways when there is none. `hint` is the command's own (`starling apps list`).
 */
export async function appFromConfig(file: string | undefined, hint: string): Promise<string> {
  const path = file ?? defaultAppConfigPath();
  if (file === undefined && !existsSync(path)) throw usage(REQUIRED, hint);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw usage(`--app APP is required: cannot read the app config ${path}: ${describeError(e)}`, hint);
  }
  const toml = readToml(text);
  if (!toml.ok) throw usage(`--app APP is required: cannot read the app from ${path}: ${toml.issue.path}: ${toml.issue.message}`, `fix ${path} (starling config validate), or pass --app APP`);
  const app = (toml.doc as { app?: unknown }).app;
  if (typeof app !== 'string' || app === '') throw usage(`--app APP is required: ${path} has no app = "…"`, `add app = "NAME" to ${path}, or pass --app APP; ${hint}`);
  return app;
}
