/**
 * `starling postgres create|attach` (fly's `fly postgres`; docs/postgres.md): a PostgreSQL app made
 * of examples/postgres — the primary in one region, a streaming replica in each other, each machine
 * on a volume — and an app's own database on it, handed over as DATABASE_URL (port 5432, which
 * every member routes to the current primary: writes) and DATABASE_READ_URL (port 5433 of
 * top1.nearest.of: the nearest copy) secrets. Passwords are
 * made here, sent as secrets or on psql's stdin, and shown once (the operator's, at create).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StarlingError } from '../../../shared/index.js';
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { runDeploy } from '../deploy/deploy.js';
import { execCollect } from './exec.js';
import { postgresAttach, postgresCreate } from './meta.js';
import { PSQL_LOCAL, findPrimary } from './status.js';

/** The app's files, as the package ships them. */
const IMAGE = fileURLToPath(new URL('../../../../../examples/postgres', import.meta.url));
const secret = (): string => randomBytes(24).toString('base64url');

/** The app config of a PostgreSQL app: examples/postgres/fly.toml's, for this name, region and size. */
export function postgresConfig(name: string, region: string, sizeGb: number, sync = false): string {
  return [
    `app = "${name}"`,
    `primary_region = "${region}"`,
    'kill_signal = "SIGTERM"',
    'kill_timeout = "30s"',
    '[experimental]',
    '  cmd = ["node", "supervisor.mjs"]',
    '[env]',
    `  PRIMARY_REGION = "${region}"`,
    '  PGDATA = "/data/pg"',
    ...(sync ? ['  SYNCHRONOUS = "on"'] : []),
    '[mounts]',
    '  source = "pg_data"',
    '  destination = "/data"',
    `  initial_size = "${sizeGb}gb"`,
    '',
  ].join('\n');
}

export const runPostgresCreate = implement(postgresCreate, async (opts) => {
  const target = resolveControl(opts);
  const control = { control: opts.control, lab: opts.lab, 'token-file': opts['token-file'], fingerprint: opts.fingerprint, insecure: opts.insecure };
  await callControl(target, 'POST', '/v1/apps', { name: opts.name, primary_region: opts.region, ...(opts.org !== undefined ? { org: opts.org } : {}) });
  const operator = secret();
  await callControl(target, 'PUT', appPath(opts.name, '/secrets?stage=true'), { OPERATOR_PASSWORD: operator, REPL_PASSWORD: secret() });
  const dir = mkdtempSync(join(tmpdir(), 'starling-postgres-'));
  try {
    const config = join(dir, 'fly.toml');
    writeFileSync(config, postgresConfig(opts.name, opts.region, opts['size-gb'], opts.sync));
    const code = await runDeploy.run({ config, image: IMAGE, create: false, json: false, ...control });
    if (code !== 0) return code;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const replicas = (opts.replicas ?? []).filter((r) => r !== opts.region);
  if (replicas.length > 0) await callControl(target, 'POST', appPath(opts.name, '/scale'), { count: 1, regions: [opts.region, ...replicas] });
  console.log(`\nPostgreSQL app ${opts.name}: the primary in ${opts.region}${replicas.length ? `, a replica in ${replicas.join(', ')} (copying the primary now: starling postgres status ${opts.name})` : ''}${opts.sync ? '; synchronous replication' : ''}`);
  if (replicas.length < 2) console.log('automatic failover needs 3 members or more (a majority must see the primary gone); with fewer, move the primary with starling postgres failover');
  console.log(`its superuser, inside the org's private network (shown this once; port 5432 reaches the primary wherever it is):\n\n  postgres://postgres:${operator}@top1.nearest.of.${opts.name}.internal:5432/postgres\n`);
  console.log(`give an app its own database: starling postgres attach ${opts.name} --app APP`);
  return 0;
});

export const runPostgresAttach = implement(postgresAttach, async (opts) => {
  const target = resolveControl(opts);
  const primary = await findPrimary(target, opts.name);
  // A PostgreSQL name of the app's: letters, digits and _ (app names have -).
  const user = opts.app.replaceAll('-', '_');
  const password = secret();
  const sql = [
    `SELECT format('CREATE ROLE %I LOGIN', '${user}') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${user}') \\gexec`,
    `ALTER ROLE "${user}" WITH LOGIN PASSWORD '${password}';`,
    `SELECT format('CREATE DATABASE %I OWNER %I', '${user}', '${user}') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${user}') \\gexec`,
    '',
  ].join('\n');
  const r = await execCollect(target, opts.name, primary.id, [...PSQL_LOCAL, '-q'], sql);
  if (r.code !== 0) throw new StarlingError('ERR_MACHINE_EXEC', `psql on ${opts.name}'s primary ${primary.id} exited ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
  const url = (port: number): string => `postgres://${user}:${password}@top1.nearest.of.${opts.name}.internal:${port}/${user}`;
  await callControl(target, 'PUT', appPath(opts.app, '/secrets'), { DATABASE_URL: url(5432), DATABASE_READ_URL: url(5433) });
  console.log(`app ${opts.app} has database ${user} on ${opts.name}: DATABASE_URL (port 5432: the primary, now in ${primary.region}, for writes) and DATABASE_READ_URL (port 5433: the nearest copy) are set as its secrets`);
  return 0;
});
