/**
 * `starling postgres failover NAME --to REGION` (fly's `fly postgres failover`; docs/postgres.md,
 * "Planned switchover"): the replica in REGION runs examples/postgres's `pgctl.mjs switchover`
 * through the machine exec stream — repmgrd paused, the primary stopped cleanly, the target caught
 * up to its last checkpoint and promoted, the old primary and the other replicas following it.
 */
import { StarlingError } from '../../../shared/index.js';
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { execCollect } from './exec.js';
import { postgresFailover } from './meta.js';

export const runPostgresFailover = implement(postgresFailover, async (opts) => {
  const target = resolveControl(opts);
  const { machines } = await callControl<{ machines: { id: string; region: string; healthy: boolean }[] }>(target, 'GET', appPath(opts.name, '/machines'));
  const to = machines.find((m) => m.region === opts.to && m.healthy);
  if (!to) {
    const regions = [...new Set(machines.filter((m) => m.healthy).map((m) => m.region))];
    throw new StarlingError('ERR_USAGE', `PostgreSQL app ${opts.name} has no healthy member in ${opts.to} (healthy: ${regions.join(', ') || 'none'})`, { fault: 'user', hint: `see starling postgres status ${opts.name}` });
  }
  const r = await execCollect(target, opts.name, to.id, ['node', 'pgctl.mjs', 'switchover'], '');
  process.stdout.write(r.stdout);
  if (r.code !== 0) throw new StarlingError('ERR_MACHINE_EXEC', `the switchover on ${to.id} (${opts.to}) failed: ${r.stderr.trim().split('\n').filter((l) => l.startsWith('pgctl:')).join(' ') || r.stderr.trim().slice(-300)}`);
  return 0;
});
