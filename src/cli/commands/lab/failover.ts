/** `starling lab failover POP --mode …`: fail a PoP while its cities keep asking; print the outage. */
import { failover, type FailoverReport } from '../../../lab/index.js';
import type { Command } from '../../args.js';
import { jsonOption } from '../certs/common.js';
import { asLabUser, duration, labFromOpts, nameOption } from './common.js';
import { printJson, table } from '../../output.js';
import { modeFrom, modeOption } from './fail.js';

export const labFailoverCmd: Command = {
  noun: 'lab',
  verb: 'failover',
  args: ['POP'],
  summary: "fail a PoP while its cities' clients make a fresh request every 20 ms; print each city's outage",
  options: {
    ...modeOption,
    'keep-failed': { type: 'boolean', description: 'leave the PoP failed afterwards (default: heal it)' },
    ...jsonOption,
    ...nameOption,
  },
  run: (opts) =>
    asLabUser(opts, async () => {
      const mode = modeFrom(opts);
      const ctx = labFromOpts(opts);
      const report = await failover(ctx, String(opts.pop), mode, { keepFailed: opts['keep-failed'] === true });
      if (opts.json === true) printJson(report);
      else console.log(describeFailover(report));
      return report.cities.every((c) => c.ok) ? 0 : 1;
    }),
};

export function describeFailover(r: FailoverReport): string {
  const lines = [`failover of ${r.pop} (${r.mode}):`, ...r.actions.map((a) => `  ${a}`), ''];
  lines.push(
    table([
      ['city', 'from', 'to', 'expected', 'outage window', 'failed', ''],
      ...r.cities.map((c) => [c.city, c.from, c.to ?? 'none', c.expected ?? 'none', c.windowMs === null ? 'not over' : `${c.windowMs} ms`, `${c.failed} of ${c.requests}`, c.ok ? '✓' : '✗']),
    ]),
  );
  lines.push('', 'outage window: from sending the first request that failed or was answered by another PoP to the first answer from the new PoP');
  lines.push(r.healed ? `healed afterwards in ${duration(r.healMs ?? 0)}` : `left failed: starling lab heal ${r.pop}`);
  return lines.join('\n');
}
