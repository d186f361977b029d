/**
 * Which modules a process loads when it imports `entry` and nothing else: a fresh node with a
 * module-loading hook (node:module register) that writes every file URL it loads to stderr, plus
 * the native addons in its report. For tests that a part's entry stays light (the agent does not
 * load the control plane; `starling --help` does not load the lab).
 */
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

const HOOK = `export async function load(url, context, next) { if (url.startsWith('file:')) process.stderr.write('LOADED ' + url + '\\n'); return next(url, context); }`;
const REGISTER = `import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOK)}));`;

export interface Loaded {
  /** file: URLs of the ES modules loaded (CommonJS ones required from them do not pass the hook). */
  modules: string[];
  /** Native addons (.node) in the process. */
  addons: string[];
}

export function modulesLoadedBy(entry: string): Loaded {
  const script = `await import(${JSON.stringify(pathToFileURL(entry).href)}); console.log(JSON.stringify(process.report.getReport().sharedObjects.filter((s) => s.endsWith('.node'))));`;
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, '--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`importing ${entry} failed: ${r.stderr}${r.stdout}`);
  return {
    modules: r.stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice('LOADED '.length)),
    addons: JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '[]') as string[],
  };
}
