/** `starling scale count N [--region a,b] --app APP`: N machines in each listed region (default: primary). */
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement, usageError } from '../../kit/index.js';
import { printJson } from '../../output.js';
import { scaleCount } from './meta.js';

interface ScaleJson {
  created: { id: string; region: string; host: string }[];
  destroyed: string[];
}

export const runScaleCount = implement(scaleCount, async (opts) => {
  const { app, n } = opts;
  if (!/^\d{1,4}$/.test(n)) throw usageError(`N must be a whole number of machines, got "${n}"`);
  const regions = opts.region !== undefined ? opts.region.split(',').map((r) => r.trim()).filter((r) => r !== '') : undefined;
  const out = await callControl<ScaleJson>(resolveControl(opts), 'POST', appPath(app, '/scale'), { count: Number(n), ...(regions ? { regions } : {}) });
  if (opts.json) printJson(out);
  else {
    for (const m of out.created) console.log(`+ machine ${m.id} in ${m.region} on ${m.host}`);
    for (const id of out.destroyed) console.log(`- machine ${id}`);
    if (out.created.length + out.destroyed.length === 0) console.log('nothing to do: already at that count');
    else console.log(`follow the machines with: starling status --app ${app}`);
  }
  return 0;
});
