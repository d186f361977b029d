/**
 * `starling postgres status|connect NAME` (docs/postgres.md): what each member of a PostgreSQL app
 * is — asked of PostgreSQL itself, in each machine, through the exec stream — and psql on the
 * primary. Lag: the bytes of WAL the primary has written that a replica has not replayed yet
 * (pg_wal_lsn_diff), and the age of the last transaction it replayed (0 when it is caught up).
 */
import { StarlingError } from '../../../shared/index.js';
import { appPath, callControl, resolveControl, type ControlTarget } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { runSshConsole } from '../ssh/console.js';
import { execCollect } from './exec.js';
import { postgresConnect, postgresStatus } from './meta.js';

/** psql as the superuser on the member's own PostgreSQL (its socket; port 5433, as fly's). */
export const PSQL_LOCAL = ['/usr/lib/postgresql/15/bin/psql', '-h', '/tmp', '-p', '5433', '-U', 'postgres', '-X', '-v', 'ON_ERROR_STOP=1'];
const PSQL = [...PSQL_LOCAL, '-tA', '-F', '|'];
type Machine = { id: string; region: string; healthy: boolean; volume: string | null };

export interface MemberJson {
  machine: string;
  region: string;
  healthy: boolean;
  role: 'primary' | 'replica' | 'unknown';
  /** The WAL position it has written (primary) or replayed (replica). */
  lsn: string | null;
  lag_bytes: number | null;
  lag_seconds: number | null;
  volume: { used_bytes: number | null; total_bytes: number | null } | null;
  error: string | null;
}

async function ask(target: ControlTarget, app: string, id: string, sql: string): Promise<string[]> {
  const r = await execCollect(target, app, id, PSQL, sql);
  if (r.code !== 0) throw new Error(r.stderr.trim().split('\n').at(-1) ?? `psql exited ${r.code}`);
  return r.stdout.trim().split('|');
}

/**
 * The member that is the primary now — asked of each healthy one, since a failover moves it
 * without telling the platform; an error naming what was found when none is.
 */
export async function findPrimary(target: ControlTarget, app: string): Promise<Machine> {
  const { machines } = await callControl<{ machines: Machine[] }>(target, 'GET', appPath(app, '/machines'));
  const answers = await Promise.all(machines.filter((m) => m.healthy).map(async (m) => ({ m, recovery: await ask(target, app, m.id, 'SELECT pg_is_in_recovery()').then(([r]) => r, () => null) })));
  const primary = answers.find((a) => a.recovery === 'f')?.m;
  if (primary) return primary;
  throw new StarlingError('ERR_USAGE', `PostgreSQL app ${app} has no primary that answers (${machines.length} machines, ${answers.length} healthy)`, { fault: 'user', hint: `see starling postgres status ${app}; a failover takes up to 30 s` });
}

export const runPostgresStatus = implement(postgresStatus, async (opts) => {
  const target = resolveControl(opts);
  const { machines } = await callControl<{ machines: Machine[] }>(target, 'GET', appPath(opts.name, '/machines'));
  const { volumes } = await callControl<{ volumes: { id: string; used_bytes: number | null; total_bytes: number | null }[] }>(target, 'GET', appPath(opts.name, '/volumes'));
  const members: MemberJson[] = await Promise.all(
    machines.map(async (m): Promise<MemberJson> => {
      const v = volumes.find((x) => x.id === m.volume);
      const base = { machine: m.id, region: m.region, healthy: m.healthy, volume: v ? { used_bytes: v.used_bytes, total_bytes: v.total_bytes } : null };
      try {
        const [recovery, lsn, age] = await ask(target, opts.name, m.id, 'SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)');
        return { ...base, role: recovery === 't' ? 'replica' : 'primary', lsn: lsn ?? null, lag_bytes: null, lag_seconds: recovery === 't' ? Math.max(0, Number(age)) : 0, error: null };
      } catch (e) {
        return { ...base, role: 'unknown', lsn: null, lag_bytes: null, lag_seconds: null, error: (e as Error).message };
      }
    }),
  );
  // Bytes behind: against the primary's written position, computed by the primary.
  const primary = members.find((m) => m.role === 'primary');
  for (const m of members) {
    if (m.role === 'primary') m.lag_bytes = 0;
    else if (m.role === 'replica' && primary?.lsn && m.lsn) {
      const [diff] = await ask(target, opts.name, primary.machine, `SELECT pg_wal_lsn_diff('${primary.lsn}', '${m.lsn}')`).catch(() => [undefined]);
      m.lag_bytes = diff === undefined ? null : Math.max(0, Number(diff));
      // Caught up: nothing to replay, however old the last transaction is.
      if (m.lag_bytes === 0) m.lag_seconds = 0;
    }
  }
  if (opts.json) printJson(members);
  else {
    const gb = (n: number | null | undefined): string => (n === null || n === undefined ? '-' : (n / 1e9).toFixed(2));
    console.log(table([['MACHINE', 'REGION', 'ROLE', 'HEALTHY', 'LAG BYTES', 'LAG S', 'VOLUME GB'], ...members.map((m) => [m.machine, m.region, m.error ? `${m.role}: ${m.error}` : m.role, m.healthy ? 'yes' : 'no', m.lag_bytes === null ? '-' : String(m.lag_bytes), m.lag_seconds === null ? '-' : m.lag_seconds.toFixed(1), m.volume ? `${gb(m.volume.used_bytes)} / ${gb(m.volume.total_bytes)}` : '-'])]));
  }
  return 0;
});

export const runPostgresConnect = implement(postgresConnect, async (opts) => {
  const target = resolveControl(opts);
  const primary = await findPrimary(target, opts.name);
  const sql = opts.command === undefined ? '' : ` -c '${opts.command.replaceAll("'", "'\\''")}'`;
  return runSshConsole.run({ app: opts.name, machine: primary.id, command: `/usr/lib/postgresql/15/bin/psql -h /tmp -p 5433 -U postgres${sql}`, pty: opts.command === undefined, control: opts.control, lab: opts.lab, 'token-file': opts['token-file'], fingerprint: opts.fingerprint, insecure: opts.insecure });
});
