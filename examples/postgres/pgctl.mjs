// Operations run inside a member through the machine exec stream (`starling postgres failover`
// runs `node pgctl.mjs switchover` on the target). docs/postgres.md, "Planned switchover".
//
// switchover: this replica becomes the primary with no committed write lost —
//   1. repmgrd is paused on every member (no automatic failover races the switchover);
//   2. the primary stops taking writes: a fast shutdown, whose last checkpoint holds every commit;
//   3. this node replays up to that checkpoint (else: the old primary resumes, nothing changed);
//   4. it is promoted (repmgr standby promote);
//   5. the old primary rejoins as its replica, every other replica follows it; repmgrd resumes.
// Writes are refused from step 2 to step 4; the routers (port 5432) hold new connections meanwhile.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { callMember } from './lib/net.mjs';
import { RUN, hostOf, region, repmgr, sql } from './lib/pg.mjs';

const say = (msg) => console.log(msg);
const fail = (msg) => {
  console.error(`pgctl: ${msg}`);
  process.exit(1);
};
if (existsSync(join(RUN, 'pgpass'))) process.env.PGPASSFILE = join(RUN, 'pgpass');

async function switchover() {
  if ((await sql(null, 'SELECT pg_is_in_recovery()')) === 'f') return say(`${region} is already the primary: nothing to do`);
  const members = (await sql(null, "SELECT node_name, type, active FROM repmgr.nodes ORDER BY node_name", 'repmgr')).split('\n').map((l) => l.split('|'));
  const old = members.find(([, type, active]) => type === 'primary' && active === 't')?.[0];
  if (!old) fail('repmgr knows no active primary: see starling postgres status');
  const lag = Number(await sql(hostOf(old), `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '${await sql(null, 'SELECT pg_last_wal_replay_lsn()')}')`).catch((e) => fail(`the primary ${old} does not answer (${e.message})`)));
  if (lag > 64 * 1024 * 1024) fail(`${region} is ${lag} bytes behind ${old}: too far to switch over now (see starling postgres status)`);
  const siblings = members.filter(([name, type, active]) => name !== region && name !== old && type === 'standby' && active === 't').map(([name]) => name);
  say(`switchover: ${old} → ${region} (${lag} bytes to replay; replicas that follow: ${siblings.join(', ') || 'none'})`);
  repmgr('service', 'pause');
  let t0 = 0;
  try {
    t0 = Date.now();
    const { lsn } = await callMember(hostOf(old), '/demote');
    say(`${old} stopped taking writes at ${lsn}`);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const behind = Number(await sql(null, `SELECT pg_wal_lsn_diff('${lsn}', pg_last_wal_replay_lsn())`));
      if (behind <= 0) break;
      if (Date.now() > deadline) {
        await callMember(hostOf(old), '/resume');
        fail(`${region} did not replay up to ${lsn} in 30 s: ${old} is the primary again, nothing changed`);
      }
      await sleep(50);
    }
    repmgr('standby', 'promote');
    say(`${region} is the primary: writes refused for ${Date.now() - t0} ms`);
    await callMember(hostOf(old), '/rejoin', { primary: region });
    say(`${old} follows ${region}`);
    for (const s of siblings) {
      await callMember(hostOf(s), '/follow', { primary: region }).then(() => say(`${s} follows ${region}`), (e) => say(`${s} could not follow yet (${e.message}); repmgrd will`));
    }
  } finally {
    try {
      repmgr('service', 'unpause');
    } catch (e) {
      say(`repmgrd could not be resumed everywhere (${e.message}): repmgr service unpause, on any member`);
    }
  }
  say(`switchover done in ${Date.now() - t0} ms`);
}

const [verb] = process.argv.slice(2);
if (verb === 'switchover') await switchover().catch((e) => fail(e.message));
else fail(`usage: node pgctl.mjs switchover (got ${verb ?? 'nothing'})`);
