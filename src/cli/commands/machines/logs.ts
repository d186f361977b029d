import { createInterface } from 'node:readline';
import { openAdminApi } from '../../../agent/index.js';
import type { LogEntry } from '../../../runtime/index.js';
import { StarlingError } from '../../../shared/index.js';
import { implement } from '../../kit/index.js';
import { agentOf, appOf, callJson, machinePath } from './common.js';
import { machinesLogs } from './meta.js';

/**
 * `starling machines logs ID --app APP [--follow]`: the machine's stdout and stderr from the agent's
 * log ring, one line each (`TIME STREAM MESSAGE`); `--follow` keeps printing new lines until
 * interrupted (the API streams newline-delimited JSON).
 */
export const runMachinesLogs = implement(machinesLogs, async (opts) => {
  const app = appOf(opts);
  const { id } = opts;
  const query = new URLSearchParams();
  if (opts.tail !== undefined) query.set('tail', String(opts.tail));
  const agent = await agentOf(opts);
  if (!opts.follow) {
    const path = machinePath(app, id, `/logs${query.size > 0 ? `?${query.toString()}` : ''}`);
    const { entries } = await callJson<{ entries: LogEntry[] }>(agent, 'GET', path);
    for (const e of entries) console.log(formatEntry(e));
    return 0;
  }
  query.set('follow', '1');
  const res = await openAdminApi(agent, 'GET', machinePath(app, id, `/logs?${query.toString()}`), { timeoutMs: 0 });
  for await (const line of createInterface({ input: res, crlfDelay: Infinity })) {
    if (line.trim() !== '') console.log(formatEntry(JSON.parse(line) as LogEntry));
  }
  // Only the agent ends a followed stream (it stopped, or the machine was destroyed).
  throw new StarlingError('ERR_LOGS_ENDED', `the agent ended the log stream of machine ${id}`, {
    hint: `is the agent still running? starling machines list --app ${app}`,
  });
});

export function formatEntry(e: LogEntry): string {
  return `${e.time} ${e.stream} ${e.message}`;
}
