/** `starling logs --app APP [--region R]`: the newest lines of the app's machines, gathered by the control plane. */
import type { Command } from '../../args.js';
import { appOption, appPath, callControl, controlOptions, requireApp, resolveControl } from '../../control-client.js';
import { StarlingError } from '../../../shared/index.js';
import { jsonOption } from '../certs/common.js';
import { printJson } from '../../output.js';

interface LogsJson {
  lines: { time: string; machine: string; region: string; host: string; stream: string; message: string }[];
  unreachable: { host: string; error: string }[];
}

export const logs: Command = {
  noun: 'logs',
  verb: '',
  summary: "the newest log lines of an app's machines (all regions, or one)",
  options: {
    region: { type: 'string', value: 'CODE', description: "only this region's machines" },
    tail: { type: 'string', value: 'N', description: 'lines at most (default 100)' },
    ...appOption,
    ...jsonOption,
    ...controlOptions,
  },
  async run(opts) {
    const app = requireApp(opts);
    const q = new URLSearchParams();
    if (typeof opts.region === 'string') q.set('region', opts.region);
    if (typeof opts.tail === 'string') {
      if (!/^\d{1,4}$/.test(opts.tail) || Number(opts.tail) < 1) throw new StarlingError('ERR_USAGE', `--tail must be a whole number from 1 to 9999, got "${opts.tail}"`, { fault: 'user' });
      q.set('tail', opts.tail);
    }
    const query = q.size > 0 ? `?${q.toString()}` : '';
    const out = await callControl<LogsJson>(resolveControl(opts), 'GET', appPath(app, `/logs${query}`));
    if (opts.json === true) printJson(out);
    else {
      for (const l of out.lines) console.log(`${l.time} ${l.region} ${l.machine} ${l.stream === 'stderr' ? '!' : ' '} ${l.message}`);
      if (out.lines.length === 0) console.log('no log lines (no machines, or they have not written any)');
    }
    for (const u of out.unreachable) console.error(`warning: host ${u.host} did not answer: ${u.error}`);
    return 0;
  },
};
