/** `starling scale count N [--region a,b] --app APP`: N machines in each listed region (default: primary). */
import { StarlingError } from '../../../shared/index.js';
import type { Command } from '../../args.js';
import { appOption, appPath, callControl, controlOptions, requireApp, resolveControl } from '../../control-client.js';
import { jsonOption } from '../certs/common.js';
import { printJson } from '../../output.js';

interface ScaleJson {
  created: { id: string; region: string; host: string }[];
  destroyed: string[];
}

export const scaleCount: Command = {
  noun: 'scale',
  verb: 'count',
  args: ['N'],
  summary: 'run N machines of the deployed release in each listed region (default: the primary region)',
  options: {
    region: { type: 'string', value: 'A,B', description: 'comma-separated region codes; regions not listed keep their machines' },
    ...appOption,
    ...jsonOption,
    ...controlOptions,
  },
  async run(opts) {
    const app = requireApp(opts);
    const n = String(opts.n ?? '');
    if (!/^\d{1,4}$/.test(n)) throw new StarlingError('ERR_USAGE', `N must be a whole number of machines, got "${n}"`, { fault: 'user' });
    const regions = typeof opts.region === 'string' ? opts.region.split(',').map((r) => r.trim()).filter((r) => r !== '') : undefined;
    const out = await callControl<ScaleJson>(resolveControl(opts), 'POST', appPath(app, '/scale'), { count: Number(n), ...(regions ? { regions } : {}) });
    if (opts.json === true) printJson(out);
    else {
      for (const m of out.created) console.log(`+ machine ${m.id} in ${m.region} on ${m.host}`);
      for (const id of out.destroyed) console.log(`- machine ${id}`);
      if (out.created.length + out.destroyed.length === 0) console.log('nothing to do: already at that count');
      else console.log(`follow the machines with: starling status --app ${app}`);
    }
    return 0;
  },
};
