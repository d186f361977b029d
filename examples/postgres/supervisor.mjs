// PostgreSQL 15 on Starling (docs/postgres.md): one machine per region, each on its own volume at
// /data, managed by repmgr. The first member (in PRIMARY_REGION) makes the cluster; every other
// copies the current primary (repmgr standby clone, over the private network) and streams from it.
// repmgrd on each node fails over automatically when the primary goes away (a majority of the
// members must see it gone); a primary that comes back after a failover is fenced and rejoins as a
// replica (lib/boot.mjs). `pgctl.mjs switchover` is the planned switchover, through the control API.
//
// Ports: 5433 PostgreSQL itself, 5432 the router to the current primary, 5434 the control API,
// $PORT the health port (open only while this node serves). The Debian binaries come from the
// host (/usr/lib/postgresql/15/bin). Secrets: OPERATOR_PASSWORD (the superuser's and the control
// API's), REPL_PASSWORD (the repl role's); SYNCHRONOUS=on makes every commit wait for a replica.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { boot, fencedBoot } from './lib/boot.mjs';
import { startControl, startHealth, startRouter } from './lib/net.mjs';
import { BIN, REPMGR_CONF, SYNCHRONOUS, accepts, checkpointLsn, hostOf, log, nodeId, region, repmgr, rejoin, running, sql, start, stop, writePassfile, writeSettings } from './lib/pg.mjs';

writePassfile();
/** Booted in its role ('primary' | 'standby' | 'standby-unregistered'); a failed boot is tried again, then the machine stops (the platform starts it again). */
async function bootOrRetry() {
  for (let attempt = 1; ; attempt++) {
    try {
      return await boot();
    } catch (e) {
      if (attempt === 5) {
        log(`boot failed ${attempt} times (${e.message}): the machine stops`);
        process.exit(1);
      }
      log(`boot failed (${e.message}); trying again in 3 s`);
      await sleep(3000);
    }
  }
}
let role = await bootOrRetry();
/** running: serving in its role; demoted/busy: a switchover step owns PostgreSQL; stopping: SIGTERM. */
let state = 'running';
let up = accepts();
let primary = null; // where the router sends connections
let downSince = null;
let repmgrd = null;
let demotedTimer = null;
let peersAskedAt = 0;

function startRepmgrd() {
  if (repmgrd || state === 'stopping') return;
  repmgrd = spawn(`${BIN}/repmgrd`, ['-f', REPMGR_CONF, '--daemonize=false'], { stdio: 'inherit' });
  repmgrd.on('exit', (code, signal) => {
    repmgrd = null;
    if (state === 'running') {
      log(`repmgrd exited (${code ?? signal}); starting it again`);
      setTimeout(startRepmgrd, 2000);
    }
  });
}
function stopRepmgrd() {
  repmgrd?.kill('SIGTERM');
  repmgrd = null;
}

async function tick() {
  if (state !== 'running') return;
  up = accepts();
  if (!up) {
    downSince ??= Date.now();
    if (primary?.local) primary = null;
    // repmgr restarts PostgreSQL when it follows a new primary; a node down longer than that is started again.
    if (Date.now() - downSince > 20_000 && !running()) {
      log('PostgreSQL is down: starting it');
      try {
        start();
      } catch (e) {
        log(`${e.message}: the machine stops (the platform starts it again)`);
        process.exit(1);
      }
    }
    return;
  }
  downSince = null;
  const recovery = await sql(null, 'SELECT pg_is_in_recovery()').catch(() => null);
  if (recovery === null) return;
  if (recovery === 'f') {
    role = 'primary';
    primary = { local: true };
    // SYNCHRONOUS: on from the moment a replica streams (the first member began without one).
    if (SYNCHRONOUS && (await sql(null, "SELECT current_setting('synchronous_standby_names') = '' AND EXISTS (SELECT FROM pg_stat_replication)").catch(() => 'f')) === 't') {
      writeSettings({ sync: true });
      await sql(null, 'SELECT pg_reload_conf()').catch(() => {});
      log('synchronous replication on: a commit waits until a replica has it');
    }
    if (Date.now() - peersAskedAt > 3000) {
      peersAskedAt = Date.now();
      await stepDownIfReplaced();
    }
    return;
  }
  if (role === 'standby-unregistered') {
    try {
      repmgr('standby', 'register', '--force');
      role = 'standby';
      startRepmgrd();
    } catch {
      // the primary is still away: the next tick asks again
    }
  } else role = 'standby';
  // The primary by repmgr's table here — which lags a switchover by a moment — and confirmed by
  // asking it: the router never sends a connection to a node that is not taking writes.
  const name = await sql(null, "SELECT node_name FROM repmgr.nodes WHERE type = 'primary' AND active", 'repmgr').catch(() => null);
  const host = name ? hostOf(name.split('\n')[0]) : null;
  primary = host !== null && (await sql(host, 'SELECT pg_is_in_recovery()').catch(() => null)) === 'f' ? { host } : null;
}

/** The timeline a primary writes on (a promotion starts a new one), from its current WAL file's name. */
const TIMELINE = "CASE WHEN pg_is_in_recovery() THEN 0 ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END";

/**
 * A primary that was cut off (its host partitioned, not dead) while the others promoted one of
 * theirs: when it can see a primary on a newer timeline, it stops and rejoins it, as at boot.
 */
async function stepDownIfReplaced() {
  const mine = Number(await sql(null, `SELECT ${TIMELINE}`).catch(() => 0));
  const others = (await sql(null, `SELECT node_name FROM repmgr.nodes WHERE node_name <> '${region}'`, 'repmgr').catch(() => '')).split('\n').filter(Boolean);
  for (const other of others) {
    const theirs = Number(await sql(hostOf(other), `SELECT ${TIMELINE}`).catch(() => 0));
    if (mine > 0 && theirs > mine) {
      log(`${other} is a primary on a newer timeline (${theirs} > ${mine}): this one was failed over while cut off; it steps down`);
      state = 'busy';
      primary = null;
      stopRepmgrd();
      stop();
      if ((await fencedBoot()) === 'primary') start();
      state = 'running';
      startRepmgrd();
      return;
    }
  }
}

/** After a demote that no switchover finished (the caller died): what the boot check decides. */
async function recoverDemoted() {
  if (state !== 'demoted') return;
  log('demoted and not rejoined in 120 s: deciding again, as at boot');
  state = 'busy';
  if ((await fencedBoot()) === 'primary') start();
  state = 'running';
  startRepmgrd();
}

startControl({
  '/status': async () => ({ region, role, state, up }),
  // Step 1 of a switchover, on the primary: stop taking writes; every committed write is in the WAL
  // up to the shutdown checkpoint, which the target replays before it is promoted.
  '/demote': async () => {
    if (role !== 'primary' || state !== 'running') throw new Error(`${region} is not a running primary (${role}, ${state})`);
    state = 'demoted';
    primary = null;
    stopRepmgrd();
    stop();
    demotedTimer = setTimeout(() => void recoverDemoted(), 120_000);
    return { lsn: checkpointLsn() };
  },
  // The switchover gave up before promoting: the old primary takes writes again.
  '/resume': async () => {
    if (state !== 'demoted') throw new Error(`${region} is not demoted`);
    clearTimeout(demotedTimer);
    start();
    state = 'running';
    startRepmgrd();
  },
  // Last step on the old primary: follow the new one (pg_rewind where the histories diverged).
  '/rejoin': async ({ primary: to }) => {
    if (state !== 'demoted') throw new Error(`${region} is not demoted`);
    clearTimeout(demotedTimer);
    state = 'busy';
    try {
      rejoin(hostOf(to));
      role = 'standby';
    } finally {
      state = 'running';
      startRepmgrd();
    }
  },
  // On every other replica: stream from the new primary.
  '/follow': async ({ primary: to }) => {
    if (role === 'primary') throw new Error(`${region} is a primary`);
    state = 'busy';
    try {
      repmgr('standby', 'follow', `--upstream-node-id=${nodeId(to)}`);
    } finally {
      state = 'running';
    }
  },
});
startRouter(() => primary);
startHealth(Number(process.env.PORT ?? 8080), () => up && state === 'running');
if (role !== 'standby-unregistered') startRepmgrd();
await tick();
setInterval(() => void tick(), 1000);
log(`ready: ${role} in ${region}`);

for (const s of ['SIGTERM', 'SIGINT']) {
  process.on(s, () => {
    state = 'stopping';
    stopRepmgrd();
    try {
      stop(); // a fast shutdown: sessions end, nothing committed is lost
    } finally {
      process.exit(0);
    }
  });
}
