/** `starling lab failover POP --mode …`: fail a PoP while its cities keep asking; print the outage. */
import { failover, type FailoverReport } from '../../../lab/index.js';
import { asLabUser, duration, labFromOpts } from './common.js';
import { printJson, table } from '../../output.js';
import { implement } from '../../kit/index.js';
import { labFailoverCmd } from './meta.js';

export const runLabFailoverCmd = implement(labFailoverCmd, (opts) =>
  asLabUser(opts, async () => {
    const ctx = labFromOpts(opts);
    const report = await failover(ctx, opts.pop, opts.mode, { keepFailed: opts['keep-failed'], https: opts.https });
    if (opts.json) printJson(report);
    else console.log(describeFailover(report));
    return report.cities.every((c) => c.ok) ? 0 : 1;
  }),
);

export function describeFailover(r: FailoverReport): string {
  const lines = [`failover of ${r.pop} (${r.mode}, ${r.https ? 'HTTPS clients: a fresh TLS connection per request' : 'HTTP clients: a fresh TCP connection per request'}):`, ...r.actions.map((a) => `  ${a}`), ''];
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
