// What the supervisor and pgctl share (docs/postgres.md): where things are, how to run PostgreSQL's
// and repmgr's tools, and how to ask a node a question. Every password reaches libpq through a
// password file (PGPASSFILE), never an argv or a connection string.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BIN = '/usr/lib/postgresql/15/bin';
export const DATA = process.env.PGDATA ?? '/data/pg';
export const app = process.env.FLY_APP_NAME ?? 'pg';
export const region = process.env.FLY_REGION ?? 'local';
export const primaryRegion = process.env.PRIMARY_REGION ?? region;
/** Sockets, the password file, repmgr's config and pid file: the machine's own, never the volume's. */
export const RUN = process.env.PG_RUN_DIR ?? '/tmp';
/** PostgreSQL itself (fly's 5433: this node, whatever its role). */
export const PG_PORT = 5433;
/** The router (fly's 5432: the current primary, from any node). */
export const ROUTER_PORT = 5432;
/** The supervisor's control API (switchover steps), on the private network, the operator's password. */
export const CONTROL_PORT = 5434;
/** The address PostgreSQL, the router and the control API listen on ('*': every address). */
export const LISTEN = process.env.PG_LISTEN ?? '*';
export const REPMGR_CONF = join(RUN, 'repmgr.conf');
export const log = (msg) => console.log(`supervisor: ${msg}`);

// Outside Starling (the tests run three nodes on loopback): PG_HOSTS="lhr=127.0.0.11,mad=…" names
// each region's host; on Starling a region's member is <region>.<app>.internal.
const HOSTS = Object.fromEntries((process.env.PG_HOSTS ?? '').split(',').filter(Boolean).map((kv) => kv.split('=')));
export const hostOf = (r) => HOSTS[r] ?? `${r}.${app}.internal`;
/** How the others reach this node, in repmgr's table: its private address (its name is in the DNS only once it is healthy). */
const selfHost = () => HOSTS[region] ?? process.env.FLY_PRIVATE_IP ?? hostOf(region);

/** A node's repmgr id, from its region's code (one member per region): base 27 of its letters. */
export function nodeId(r) {
  let n = 0;
  for (const c of r.toLowerCase().slice(0, 6)) n = n * 27 + Math.max(0, c.charCodeAt(0) - 96);
  return n || 1;
}

export const conninfo = (host, db = 'repmgr', port = PG_PORT) => `host=${host} port=${port} user=postgres dbname=${db} connect_timeout=2`;

/** The password file every tool and PostgreSQL's own walreceiver read; made at each start from the secrets. */
export function writePassfile() {
  const file = join(RUN, 'pgpass');
  const line = (user, pw) => `*:*:*:${user}:${String(pw ?? '').replaceAll('\\', '\\\\').replaceAll(':', '\\:')}\n`;
  writeFileSync(file, line('postgres', process.env.OPERATOR_PASSWORD) + line('repl', process.env.REPL_PASSWORD), { mode: 0o600 });
  process.env.PGPASSFILE = file;
}

/** Runs a tool to its end, its output to the machine's log; `input` goes to its stdin. */
export function run(cmd, args, input) {
  const r = spawnSync(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'inherit', 'inherit'], input });
  if (r.status !== 0) throw new Error(`${cmd.split('/').at(-1)} ${args[0] ?? ''} exited ${r.status ?? r.signal}`);
}

export const repmgr = (...args) => run(`${BIN}/repmgr`, ['-f', REPMGR_CONF, ...args]);

/**
 * This stopped node follows the primary at `host`. Plainly when its WAL is all in the primary's
 * history (a clean switchover); else with pg_rewind, which undoes what it wrote after the fork
 * (a failed-over primary). pg_rewind where nothing diverged leaves a recovery point the node cannot
 * reach, hence the order. Our settings (starling.conf) are kept through the rewind.
 */
export function rejoin(host) {
  clearStaleLock(); // repmgr starts PostgreSQL itself
  try {
    repmgr('node', 'rejoin', '-d', conninfo(host));
    return;
  } catch {
    // diverged: rewind below
  }
  try {
    repmgr('node', 'rejoin', '-d', conninfo(host), '--force-rewind', '--config-files=starling.conf');
    return;
  } catch (e) {
    // The last resort, which always works and loses nothing a rewind would keep: a fresh copy.
    const tail = existsSync(join(RUN, 'pg-repmgr.log')) ? readFileSync(join(RUN, 'pg-repmgr.log'), 'utf8').split('\n').slice(-15).join('\n') : '';
    log(`the rewind failed (${e.message}); PostgreSQL said:\n${tail}\ncopying the primary afresh`);
  }
  stop();
  rmSync(DATA, { recursive: true, force: true });
  repmgr('-h', host, '-p', String(PG_PORT), '-U', 'postgres', '-d', 'repmgr', 'standby', 'clone', '--fast-checkpoint');
  writeSettings();
  start();
  repmgr('standby', 'register', '--force');
}

/** One SQL answer (unaligned, `|` between columns) from a node: `host` null means this one, over its socket. */
export function sql(host, query, db = 'postgres', port = PG_PORT) {
  const target = host === null ? ['-h', RUN, '-p', String(PG_PORT), '-U', 'postgres', '-d', db] : ['-d', conninfo(host, db, port)];
  return new Promise((resolve, reject) => {
    execFile(`${BIN}/psql`, [...target, '-X', '-tA', '-v', 'ON_ERROR_STOP=1', '-c', query], { timeout: 8000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(stderr.trim().split('\n').at(-1) || err.message));
      else resolve(stdout.trim());
    });
  });
}

/**
 * PostgreSQL refuses to start while its lock file names a live process. A postmaster killed with
 * its host (kill -9, a crash) leaves the file behind, and its PID may still exist: unreaped (a
 * zombie, where the machine's init does not reap) or reused by another program. Such a lock is
 * stale: it goes, with a log line. A live postgres keeps it (pg_ctl then says so).
 */
export function clearStaleLock() {
  const lock = join(DATA, 'postmaster.pid');
  let pid;
  try {
    pid = Number(readFileSync(lock, 'utf8').split('\n')[0]);
  } catch {
    return; // no lock file: nothing to clear
  }
  let stat = null;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    // gone
  }
  // "pid (comm) state …": comm may hold spaces or parentheses, the state follows the last ')'.
  const comm = stat?.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const state = stat?.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  // A postgres process works in its data directory: one elsewhere (a PID reused by another server) is not ours.
  let cwd = DATA;
  try {
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    // not ours to read: trust the name
  }
  const ours = cwd === realpathSync(DATA);
  if (pid > 0 && stat !== null && state !== 'Z' && comm === 'postgres' && ours) return;
  const why = stat === null ? 'is gone' : state === 'Z' ? 'is a zombie (exited, not reaped)' : comm !== 'postgres' ? `is not PostgreSQL (${comm})` : `serves another directory (${cwd})`;
  log(`removing a stale postmaster.pid: its process ${pid} ${why}`);
  rmSync(lock, { force: true });
}

export const accepts = () => spawnSync(`${BIN}/pg_isready`, ['-h', RUN, '-p', String(PG_PORT), '-U', 'postgres', '-d', 'postgres', '-q']).status === 0;
export const running = () => (clearStaleLock(), spawnSync(`${BIN}/pg_ctl`, ['-D', DATA, 'status'], { stdio: 'ignore' }).status === 0);
export const isStandby = () => existsSync(join(DATA, 'standby.signal'));

/** Starts PostgreSQL detached (pg_ctl: repmgr restarts it the same way); `opts` are extra settings. */
export function start(opts = '') {
  clearStaleLock();
  run(`${BIN}/pg_ctl`, ['-D', DATA, '-w', '-t', '120', '-o', opts, 'start']);
}

/** A fast shutdown: sessions end, every committed write is on disk and sent to the connected replicas. */
export function stop() {
  if (running()) run(`${BIN}/pg_ctl`, ['-D', DATA, '-w', '-t', '120', '-m', 'fast', 'stop']);
}

/** Where a cleanly stopped cluster's last checkpoint is: a replica that replayed past it has every write. */
export function checkpointLsn() {
  const out = spawnSync(`${BIN}/pg_controldata`, [DATA], { encoding: 'utf8' }).stdout ?? '';
  return /Latest checkpoint location:\s+(\S+)/.exec(out)?.[1] ?? null;
}

/**
 * The settings this supervisor owns, rewritten at every start (postgresql.conf includes the file):
 * the port and address, repmgr's library, what pg_rewind and replicas need, and — with SYNCHRONOUS
 * — a commit waits for one replica, so a failover loses no committed write. (The first member
 * starts without: it has no replica to wait for; the supervisor turns it on when one streams.)
 */
export const SYNCHRONOUS = /^(on|true|1|yes)$/i.test(process.env.SYNCHRONOUS ?? '');
export function writeSettings({ sync = SYNCHRONOUS } = {}) {
  const lines = [
    `listen_addresses = '${LISTEN}'`,
    `port = ${PG_PORT}`,
    `unix_socket_directories = '${RUN}'`,
    `cluster_name = '${region}'`,
    "shared_preload_libraries = 'repmgr'",
    'wal_level = replica',
    'wal_log_hints = on',
    'max_wal_senders = 10',
    "wal_keep_size = '256MB'",
    'hot_standby = on',
    `synchronous_standby_names = '${sync ? 'ANY 1 (*)' : ''}'`,
  ];
  writeFileSync(join(DATA, 'starling.conf'), `${lines.join('\n')}\n`);
  const conf = join(DATA, 'postgresql.conf');
  if (!readFileSync(conf, 'utf8').includes("include_if_exists = 'starling.conf'")) writeFileSync(conf, `${readFileSync(conf, 'utf8')}\ninclude_if_exists = 'starling.conf'\n`);
}

/** repmgr's view of this node: who it is, how others reach it, what repmgrd does when the primary goes. */
export function writeRepmgrConf() {
  const q = (s) => `'${s}'`;
  const me = `${BIN}/repmgr -f ${REPMGR_CONF}`;
  const conf = {
    node_id: nodeId(region),
    node_name: q(region),
    conninfo: q(conninfo(selfHost())),
    data_directory: q(DATA),
    pg_bindir: q(BIN),
    replication_user: q('repl'),
    location: q('starling'),
    failover: q('automatic'),
    promote_command: q(`${me} standby promote --log-to-file`),
    follow_command: q(`${me} standby follow --log-to-file --upstream-node-id=%n`),
    // A standby promotes itself only when it sees more than half of the members (itself included):
    // the side of a partition with the majority. Two members: no automatic failover (docs/postgres.md).
    failover_validation_command: q('/bin/sh -c "test $((%v * 2)) -gt %t"'),
    election_rerun_interval: 5,
    primary_visibility_consensus: 'true',
    monitor_interval_secs: 1,
    reconnect_attempts: 5,
    reconnect_interval: 2,
    standby_disconnect_on_failover: 'false',
    repmgrd_pid_file: q(join(RUN, 'repmgrd.pid')),
    pg_ctl_options: q(`-t 120 -l ${join(RUN, 'pg-repmgr.log')}`),
    log_level: q('NOTICE'),
  };
  writeFileSync(REPMGR_CONF, Object.entries(conf).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
}
