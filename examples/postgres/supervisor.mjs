// PostgreSQL 15 on Starling (docs/postgres.md): one machine per region, each on its own volume at
// /data. The machine in PRIMARY_REGION is the primary: it makes the cluster the first time
// (initdb) and takes writes. Every other machine is a streaming replica: the first time it copies
// the primary (pg_basebackup from <primary region>.<app>.internal, over the private network) and
// then follows it. The Debian binaries come from the host (/usr/lib/postgresql/15/bin).
//
// Health: this supervisor answers on $PORT (the machine's internal port, which the platform's
// default check connects to) only while PostgreSQL accepts connections, so a machine is healthy —
// and in the .internal names — exactly when its database is up.
//
// Secrets: OPERATOR_PASSWORD (the postgres superuser's) and REPL_PASSWORD (the repl role's).
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const BIN = '/usr/lib/postgresql/15/bin';
const DATA = process.env.PGDATA ?? '/data/pg';
const app = process.env.FLY_APP_NAME;
const region = process.env.FLY_REGION;
const primaryRegion = process.env.PRIMARY_REGION;
const primary = region === primaryRegion;
const log = (msg) => console.log(`supervisor: ${msg}`);

/** Runs a command to its end; `input` (SQL with a password) goes to its stdin, never its argv. */
function run(cmd, args, input) {
  const r = spawnSync(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'inherit', 'inherit'], input });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
}


async function makePrimary() {
  const pw = '/tmp/pw';
  writeFileSync(pw, `${process.env.OPERATOR_PASSWORD}\n`, { mode: 0o600 });
  try {
    run(`${BIN}/initdb`, ['-D', DATA, '-U', 'postgres', `--pwfile=${pw}`, '--auth-local=trust', '--auth-host=scram-sha-256']);
  } finally {
    rmSync(pw, { force: true });
  }
  appendFileSync(`${DATA}/pg_hba.conf`, 'host all all ::/0 scram-sha-256\nhost replication repl ::/0 scram-sha-256\n');
  appendFileSync(`${DATA}/postgresql.conf`, "listen_addresses = '*'\nwal_level = replica\nmax_wal_senders = 10\nwal_keep_size = '256MB'\nhot_standby = on\nunix_socket_directories = '/tmp'\n");
}

async function makeReplica() {
  const host = `${primaryRegion}.${app}.internal`;
  for (let i = 0; ; i++) {
    const r = spawnSync(`${BIN}/pg_basebackup`, ['-h', host, '-U', 'repl', '-D', DATA, '-R', '-X', 'stream', '-c', 'fast'], { stdio: 'inherit', env: { ...process.env, PGPASSWORD: process.env.REPL_PASSWORD } });
    if (r.status === 0) return;
    log(`the primary at ${host} is not there yet (attempt ${i + 1}); trying again`);
    spawnSync('rm', ['-rf', DATA]);
    await sleep(1000);
  }
}

function accepts() {
  return spawnSync(`${BIN}/pg_isready`, ['-h', '/tmp', '-U', 'postgres', '-q']).status === 0;
}

if (!existsSync(`${DATA}/PG_VERSION`)) {
  log(primary ? 'making the cluster (primary)' : `copying the primary of ${primaryRegion} (replica)`);
  if (primary) await makePrimary();
  else await makeReplica();
}
const pg = spawn(`${BIN}/postgres`, ['-D', DATA], { stdio: 'inherit' });
pg.on('exit', (code, signal) => {
  log(`postgres exited (${code ?? signal})`);
  process.exit(code ?? 1);
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => pg.kill('SIGINT')); // a fast shutdown: sessions end, nothing committed is lost
while (!accepts()) await sleep(200);
if (primary) {
  // The replication role, once (its password from the secret, so replicas know it).
  const sql = `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'repl') THEN CREATE ROLE repl WITH REPLICATION LOGIN PASSWORD '${process.env.REPL_PASSWORD?.replaceAll("'", "''")}'; END IF; END $$;`;
  run(`${BIN}/psql`, ['-h', '/tmp', '-U', 'postgres', '-q', '-v', 'ON_ERROR_STOP=1'], sql);
}
net.createServer((s) => s.end()).listen(Number(process.env.PORT ?? 8080), () => log(`ready: ${primary ? 'primary' : 'replica'} in ${region}`));
