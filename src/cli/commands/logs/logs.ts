/** `starling logs --app APP [--region R]`: the newest lines of the app's machines, gathered by the control plane. */
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson } from '../../output.js';
import { logs } from './meta.js';

interface LogsJson {
  lines: { time: string; machine: string; region: string; host: string; stream: string; message: string }[];
  unreachable: { host: string; error: string }[];
}

export const runLogs = implement(logs, async (opts) => {
  const { app } = opts;
  const q = new URLSearchParams();
  if (opts.region !== undefined) q.set('region', opts.region);
  if (opts.tail !== undefined) q.set('tail', String(opts.tail));
  const query = q.size > 0 ? `?${q.toString()}` : '';
  const out = await callControl<LogsJson>(resolveControl(opts), 'GET', appPath(app, `/logs${query}`));
  if (opts.json) printJson(out);
  else {
    for (const l of out.lines) console.log(`${l.time} ${l.region} ${l.machine} ${l.stream === 'stderr' ? '!' : ' '} ${l.message}`);
    if (out.lines.length === 0) console.log('no log lines (no machines, or they have not written any)');
  }
  for (const u of out.unreachable) console.error(`warning: host ${u.host} did not answer: ${u.error}`);
  return 0;
});
