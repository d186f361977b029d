import { createInterface } from 'node:readline';
import { openAdminApi } from '../../../agent/index.js';
import type { LogEntry } from '../../../runtime/index.js';
import { StarlingError } from '../../../shared/index.js';
import type { Command } from '../../args.js';
import { agentOf, appOf, callJson, machinePath, machinesOptions, usage } from './common.js';

/**
 * `starling machines logs ID --app APP [--follow]`: the machine's stdout and stderr from the agent's
 * log ring, one line each (`TIME STREAM MESSAGE`); `--follow` keeps printing new lines until
 * interrupted (the API streams newline-delimited JSON).
 */
export const machinesLogs: Command = {
  noun: 'machines',
  verb: 'logs',
  summary: "a machine's stdout and stderr; --follow to keep printing",
  args: ['ID'],
  options: {
    ...machinesOptions,
    tail: { type: 'string', value: 'N', description: 'only the last N lines (then new ones with --follow)' },
    follow: { type: 'boolean', description: 'keep printing new lines until interrupted (Ctrl-C)' },
  },
  async run(opts) {
    const app = appOf(opts);
    const id = String(opts.id);
    const query = new URLSearchParams();
    if (typeof opts.tail === 'string') {
      if (!/^[1-9]\d{0,5}$/.test(opts.tail)) throw usage(`--tail must be a number of lines from 1 to 999999, got "${opts.tail}"`);
      query.set('tail', opts.tail);
    }
    const agent = await agentOf(opts);
    if (opts.follow !== true) {
      const path = machinePath(app, id, `/logs${query.size > 0 ? `?${query}` : ''}`);
      const { entries } = await callJson<{ entries: LogEntry[] }>(agent, 'GET', path);
      for (const e of entries) console.log(formatEntry(e));
      return 0;
    }
    query.set('follow', '1');
    const res = await openAdminApi(agent, 'GET', machinePath(app, id, `/logs?${query}`), { timeoutMs: 0 });
    for await (const line of createInterface({ input: res, crlfDelay: Infinity })) {
      if (line.trim() !== '') console.log(formatEntry(JSON.parse(line) as LogEntry));
    }
    // Only the agent ends a followed stream (it stopped, or the machine was destroyed).
    throw new StarlingError('ERR_LOGS_ENDED', `the agent ended the log stream of machine ${id}`, {
      hint: `is the agent still running? starling machines list --app ${app}`,
    });
  },
};

export function formatEntry(e: LogEntry): string {
  return `${e.time} ${e.stream} ${e.message}`;
}
