// How a node comes up (docs/postgres.md, "Failover"): an empty volume makes the cluster (the first
// member, in PRIMARY_REGION) or copies the current primary; a replica starts as one; and a node
// that was the primary is fenced until it knows it still is — the fix for split brain when a
// primary that was failed over comes back.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, DATA, PG_PORT, ROUTER_PORT, RUN, app, hostOf, isStandby, log, nodeId, primaryRegion, region, rejoin, repmgr, run, sql, start, stop, writeRepmgrConf, writeSettings } from './pg.mjs';

/** Where a new member asks which node is the primary: the router of the nearest member (host:port). */
const SEED = process.env.PG_SEED ?? `top1.nearest.of.${app}.internal:${ROUTER_PORT}`;

/** The region of the current primary, asked through a member's router; null when none answers. */
export async function seedPrimary() {
  const at = SEED.lastIndexOf(':');
  return sql(SEED.slice(0, at), 'SHOW cluster_name', 'postgres', Number(SEED.slice(at + 1))).then((r) => r || null, () => null);
}

function makeCluster() {
  const pw = join(DATA, '..', '.initdb-pw');
  writeFileSync(pw, `${process.env.OPERATOR_PASSWORD}\n`, { mode: 0o600 });
  try {
    run(`${BIN}/initdb`, ['-D', DATA, '-U', 'postgres', `--pwfile=${pw}`, '--auth-local=trust', '--auth-host=scram-sha-256']);
  } finally {
    rmSync(pw, { force: true });
  }
  writeFileSync(join(DATA, 'pg_hba.conf'), 'local all all trust\nhost all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\nhost replication repl 0.0.0.0/0 scram-sha-256\nhost replication repl ::/0 scram-sha-256\n');
  writeSettings({ sync: false });
  start();
  // The replication role (its password from the secret, so replicas know it) and repmgr's database.
  const pw2 = String(process.env.REPL_PASSWORD ?? '').replaceAll("'", "''");
  run(`${BIN}/psql`, ['-h', RUN, '-p', String(PG_PORT), '-U', 'postgres', '-q', '-v', 'ON_ERROR_STOP=1'], `CREATE ROLE repl WITH REPLICATION LOGIN PASSWORD '${pw2}';\nCREATE DATABASE repmgr;\n`);
  repmgr('primary', 'register', '--force');
}

/** An empty volume: the first member makes the cluster, every other copies the current primary. */
export async function firstBoot() {
  for (let i = 1; ; i++) {
    const current = await seedPrimary();
    if (current !== null) {
      log(`copying the primary (${current}) into an empty volume`);
      rmSync(DATA, { recursive: true, force: true });
      try {
        repmgr('-h', hostOf(current), '-p', String(PG_PORT), '-U', 'postgres', '-d', 'repmgr', 'standby', 'clone', '--fast-checkpoint');
        writeSettings();
        start();
        return;
      } catch (e) {
        log(`the copy failed (${e.message}); trying again`);
      }
    } else if (region === primaryRegion) {
      // The first member: nobody answered (one try — the platform's check is waiting for this machine).
      log('no member answers: making the cluster (the first primary)');
      rmSync(DATA, { recursive: true, force: true });
      makeCluster();
      return;
    } else log(`no primary answers at ${SEED} yet (attempt ${i})`);
    await sleep(1000);
  }
}

/**
 * A node whose volume says primary, coming back. It starts PostgreSQL on its socket only (no
 * client can reach it), reads the members from repmgr's table, and asks each of them:
 *  - another member is a primary → it was failed over while away: rewind and follow it;
 *  - more than half of the members (itself included) answer as replicas → it is still the primary;
 *  - else it cannot know → it stays fenced (stopped, unhealthy) and asks again.
 * Returns 'primary' or 'standby' (the node then runs as that), never while in doubt.
 */
export async function fencedBoot() {
  for (;;) {
    start("-c listen_addresses=''");
    const rows = await sql(null, `SELECT node_name FROM repmgr.nodes WHERE node_id <> ${nodeId(region)}`, 'repmgr').catch(() => '');
    stop();
    const others = rows.split('\n').filter(Boolean);
    let replicas = 0;
    for (const other of others) {
      const recovery = await sql(hostOf(other), 'SELECT pg_is_in_recovery()').catch(() => null);
      if (recovery === 'f') {
        log(`${other} is the primary now: this node rejoins as its replica (pg_rewind)`);
        rejoin(hostOf(other));
        return 'standby';
      }
      if (recovery === 't') replicas++;
    }
    if ((replicas + 1) * 2 > others.length + 1) {
      log(`still the primary (${replicas} of ${others.length} other members answer as replicas)`);
      return 'primary';
    }
    log(`fenced: ${replicas} of ${others.length} other members answer, not a majority; asking again`);
    await sleep(3000);
  }
}

/** Brings the node up in its role; returns it. */
export async function boot() {
  writeRepmgrConf();
  if (!existsSync(join(DATA, 'PG_VERSION'))) {
    await firstBoot();
  } else if (isStandby()) {
    writeSettings();
    start();
  } else {
    writeSettings();
    if ((await fencedBoot()) === 'primary') start();
  }
  if (isStandby()) {
    // Registered (again) with the primary's metadata; tried again by the loop while the primary is away.
    try {
      repmgr('standby', 'register', '--force');
    } catch (e) {
      log(`standby register: ${e.message} (will retry)`);
      return 'standby-unregistered';
    }
    return 'standby';
  }
  repmgr('primary', 'register', '--force');
  return 'primary';
}
