/**
 * Which modules a process loads when it imports `entry` and nothing else: a fresh node with a
 * module-loading hook (node:module register) that writes every file URL it loads to stderr, plus
 * the native addons in its report. For tests that a part's entry stays light (the agent does not
 * load the control plane; `starling --help` does not load the lab).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// The hook runs on the loader's own thread, whose stderr writes are lost when the process exits
// (Node 24): it appends to a file instead, named by the environment.
const HOOK = `import { appendFileSync } from 'node:fs'; export async function load(url, context, next) { if (url.startsWith('file:')) appendFileSync(process.env.STARLING_LOADED_LOG, url + '\\n'); return next(url, context); }`;
const REGISTER = `import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOK)}));`;

export interface Loaded {
  /** file: URLs of the ES modules loaded (CommonJS ones required from them do not pass the hook). */
  modules: string[];
  /** Native addons (.node) in the process. */
  addons: string[];
}

export function modulesLoadedBy(entry: string): Loaded {
  const script = `await import(${JSON.stringify(pathToFileURL(entry).href)}); console.log(JSON.stringify(process.report.getReport().sharedObjects.filter((s) => s.endsWith('.node'))));`;
  const dir = mkdtempSync(join(tmpdir(), 'starling-loaded-'));
  const log = join(dir, 'loaded.txt');
  try {
    const env = { ...process.env, STARLING_LOADED_LOG: log };
    const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, '--input-type=module', '-e', script], { encoding: 'utf8', env });
    if (r.status !== 0) throw new Error(`importing ${entry} failed: ${r.stderr}${r.stdout}`);
    return {
      modules: readFileSync(log, 'utf8').split('\n').filter((l) => l !== ''),
      addons: JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '[]') as string[],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
