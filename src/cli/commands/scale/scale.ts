/**
 * `starling scale count N [--region a,b] --app APP`: N machines in each listed region (default:
 * primary), of the app's only process group; `scale count web=2 worker=1`: so many of each group.
 */
import { PROCESS_GROUP_RE } from '../../../contract/index.js';
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement, usageError } from '../../kit/index.js';
import { printJson } from '../../output.js';
import { scaleCount } from './meta.js';

interface ScaleJson {
  created: { id: string; region: string; host: string; process_group?: string }[];
  destroyed: string[];
}

/** `N` → { count }; `web=2 worker=1` → { groups }; anything else is a usage error naming the word. */
export function scaleBody(words: readonly string[]): { count: number } | { groups: Record<string, number> } {
  const n = /^\d{1,4}$/;
  if (words.length === 1 && n.test(words[0]!)) return { count: Number(words[0]) };
  const groups: Record<string, number> = {};
  for (const w of words) {
    const eq = w.indexOf('=');
    const [group, count] = eq < 0 ? [w, undefined] : [w.slice(0, eq), w.slice(eq + 1)];
    if (count === undefined) {
      throw usageError(words.length === 1 ? `N must be a whole number of machines, got "${w}"` : `"${w}": with several counts, write each as GROUP=N (web=2 worker=1)`);
    }
    if (!PROCESS_GROUP_RE.test(group)) throw usageError(`"${w}": "${group}" is not a process group name (lower-case letters, digits, - and _)`);
    if (!n.test(count)) throw usageError(`"${w}": the count must be a whole number of machines, got "${count}"`);
    if (group in groups) throw usageError(`"${w}": group ${group} is given twice`);
    groups[group] = Number(count);
  }
  return { groups };
}

export const runScaleCount = implement(scaleCount, async (opts) => {
  const { app } = opts;
  const body = scaleBody(opts.count);
  const regions = opts.region !== undefined ? opts.region.split(',').map((r) => r.trim()).filter((r) => r !== '') : undefined;
  const out = await callControl<ScaleJson>(resolveControl(opts), 'POST', appPath(app, '/scale'), { ...body, ...(regions ? { regions } : {}) });
  if (opts.json) printJson(out);
  else {
    for (const m of out.created) console.log(`+ machine ${m.id}${m.process_group ? ` (${m.process_group})` : ''} in ${m.region} on ${m.host}`);
    for (const id of out.destroyed) console.log(`- machine ${id}`);
    if (out.created.length + out.destroyed.length === 0) console.log('nothing to do: already at that count');
    else console.log(`follow the machines with: starling status --app ${app}`);
  }
  return 0;
});
