/**
 * `starling logs --app APP [--region R] [--machine ID] [-f]`: the newest lines of the app's
 * machines, gathered by the control plane. With --follow it polls the control plane with the
 * previous answer's cursor (GET …/logs?since=), so each line is printed once, until Ctrl-C.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { isStarlingError } from '../../../shared/index.js';
import { printJson } from '../../output.js';
import { logs } from './meta.js';

interface LogsJson {
  lines: { time: string; machine: string; region: string; host: string; stream: string; message: string }[];
  unreachable: { host: string; error: string }[];
  cursor?: string;
}

/** How often --follow asks: a second is what a person watching needs, and light on the hosts. */
const FOLLOW_POLL_MS = 1000;

export const runLogs = implement(logs, async (opts) => {
  const { app } = opts;
  const target = resolveControl(opts);
  const fetchLines = (since: string | undefined): Promise<LogsJson> => {
    const q = new URLSearchParams();
    if (opts.region !== undefined) q.set('region', opts.region);
    if (opts.tail !== undefined) q.set('tail', String(opts.tail));
    if (opts.machine !== undefined) q.set('machine', opts.machine);
    if (since !== undefined) q.set('since', since);
    const query = q.size > 0 ? `?${q.toString()}` : '';
    return callControl<LogsJson>(target, 'GET', appPath(app, `/logs${query}`));
  };
  const warned = new Set<string>();
  const show = (out: LogsJson): void => {
    // --json: the whole answer; with --follow, one JSON line per log line (a stream, not a document).
    if (opts.json && !opts.follow) printJson(out);
    else if (opts.json) for (const l of out.lines) console.log(JSON.stringify(l));
    else for (const l of out.lines) console.log(`${l.time} ${l.region} ${l.machine} ${l.stream === 'stderr' ? '!' : ' '} ${l.message}`);
    for (const u of out.unreachable) {
      // Followed, a host that stays silent is said once, not every second.
      if (warned.has(u.host)) continue;
      if (opts.follow) warned.add(u.host);
      console.error(`warning: host ${u.host} did not answer: ${u.error}`);
    }
  };
  const first = await fetchLines(undefined);
  show(first);
  if (!opts.follow) {
    if (!opts.json && first.lines.length === 0) console.log('no log lines (no machines, or they have not written any)');
    return 0;
  }
  let cursor = first.cursor;
  let away = false;
  for (;;) {
    await sleep(FOLLOW_POLL_MS);
    let out: LogsJson;
    try {
      out = await fetchLines(cursor);
    } catch (e) {
      // A control plane restarting is a pause, not the end: say so once and keep asking.
      if (!isStarlingError(e, 'ERR_CONTROL_UNREACHABLE')) throw e;
      if (!away) console.error(`warning: ${e.message}; still trying (Ctrl-C to stop)`);
      away = true;
      continue;
    }
    away = false;
    show(out);
    cursor = out.cursor ?? cursor;
  }
});
