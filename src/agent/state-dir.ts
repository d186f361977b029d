/**
 * The agent's state directory on a fresh host: the directories missing on the way to it are made
 * 0711 — others may pass through (the machines' unprivileged uids must, to reach their images and
 * volumes under it), never list — while what is inside stays private by its own modes (tokens and
 * credentials 0600, BIRD's files 0700). Directories that already exist are the operator's: left
 * as they are (the sandbox driver names one that machines cannot pass, and the chmod to run).
 */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export function ensureStateDir(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    mkdirSync(d, { mode: 0o711 });
    chmodSync(d, 0o711); // the umask may have taken the x bits
  }
}
