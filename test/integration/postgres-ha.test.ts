/**
 * examples/postgres's high availability, for real (docs/postgres.md, "Failover"): three members —
 * the supervisor, Debian's PostgreSQL 15, repmgr and repmgrd — on loopback addresses of their own,
 * each as an unprivileged user, as in machines. A planned switchover under a steady write load
 * loses no acknowledged write and the old primary follows the new one; killing the primary (every
 * process of it, -9, as a dead host) promotes a replica by itself, with synchronous replication on
 * losing no acknowledged write; and the old primary, started again, is fenced: it never takes a
 * write, and rejoins as a replica of the new primary (pg_rewind). The lab test drives the same
 * through `starling postgres failover` on machines.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const BIN = '/usr/lib/postgresql/15/bin';
const EXAMPLE = fileURLToPath(new URL('../../../examples/postgres', import.meta.url));
const NOBODY = 65534;
const skip = process.getuid?.() !== 0 ? 'needs root (runs the members as another user)' : !existsSync(`${BIN}/repmgrd`) ? 'needs postgresql-15-repmgr (npm run setup)' : false;
const MEMBERS = { lhr: '127.0.83.1', mad: '127.0.83.2', fra: '127.0.83.3' } as const;
type Region = keyof typeof MEMBERS;
const dir = mkdtempSync(join(tmpdir(), 'starling-pg-ha-'));
chmodSync(dir, 0o755);
const procs = new Map<Region, ChildProcess>();
const logs = new Map<Region, string>();

function env(region: Region): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    FLY_APP_NAME: 'pg',
    FLY_REGION: region,
    PRIMARY_REGION: 'lhr',
    PGDATA: join(dir, region, 'data', 'pg'),
    PG_RUN_DIR: join(dir, region, 'run'),
    PG_LISTEN: MEMBERS[region],
    PORT: String(18300 + Object.keys(MEMBERS).indexOf(region)),
    PG_HOSTS: Object.entries(MEMBERS).map(([r, ip]) => `${r}=${ip}`).join(','),
    PG_SEED: `${MEMBERS.lhr}:5432`,
    OPERATOR_PASSWORD: 'operator-pw',
    REPL_PASSWORD: 'repl-pw',
    SYNCHRONOUS: 'on',
  };
}

function startMember(region: Region): void {
  for (const sub of ['data', 'run']) mkdirSync(join(dir, region, sub), { recursive: true });
  for (const p of [join(dir, region), join(dir, region, 'data'), join(dir, region, 'run')]) chownSync(p, NOBODY, NOBODY);
  const child = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', process.execPath, 'supervisor.mjs'], { cwd: EXAMPLE, env: env(region), stdio: ['ignore', 'pipe', 'pipe'] });
  // Kept for failure messages: the last lines, without repmgr's once-a-second ping warnings.
  const keep = (c: Buffer) => logs.set(region, ((logs.get(region) ?? '') + c.toString().split('\n').filter((l) => !/unable to ping|PQping/.test(l)).join('\n')).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  procs.set(region, child);
}

function alive(pid: number): boolean {
  try {
    return process.kill(pid, 0);
  } catch {
    return false; // gone already
  }
}

/** Every process of a member: the supervisor, repmgrd, the postmaster and its children. */
function pidsOf(region: Region): number[] {
  // Pid files come and go as the member works (repmgrd restarts, PostgreSQL stops): a missing one is no process.
  const read = (f: string) => {
    try {
      return Number(readFileSync(f, 'utf8').split('\n')[0]) || 0;
    } catch {
      return 0;
    }
  };
  const postmaster = read(join(dir, region, 'data', 'pg', 'postmaster.pid'));
  const children = postmaster > 0 && alive(postmaster) ? pgrep(['-P', String(postmaster)]) : [];
  return [procs.get(region)?.pid ?? 0, read(join(dir, region, 'run', 'repmgrd.pid')), postmaster, ...children].filter((p) => p > 0 && alive(p));
}

/** The processes pgrep finds (none: pgrep exits 1). */
function pgrep(args: string[]): number[] {
  try {
    return execFileSync('pgrep', args, { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A dead host: the supervisor, repmgrd, the postmaster and every child of it, killed -9. */
function killMember(region: Region): void {
  for (const pid of pidsOf(region)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}

/** One statement at `host:port`; resolves its output, rejects with psql's error. */
function psql(host: string, port: number, sql: string, timeoutS = 5): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(`${BIN}/psql`, ['-X', '-tA', '-v', 'ON_ERROR_STOP=1', '-d', `host=${host} port=${port} user=postgres dbname=postgres connect_timeout=${timeoutS}`, '-c', sql], { env: { PGPASSWORD: 'operator-pw' }, timeout: (timeoutS + 20) * 1000 }, (err, out, stderr) => (err ? reject(new Error(stderr.trim() || err.message)) : resolve(out.trim())));
  });
}

const role = (r: Region) => psql(MEMBERS[r], 5433, 'SELECT pg_is_in_recovery()', 2).then((x) => (x === 'f' ? 'primary' : 'replica'), () => 'down');

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${[...logs].map(([r, l]) => `--- ${r}\n${l.slice(-3000)}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Inserts numbered rows through a member's router (port 5432) until stopped; which were acknowledged. */
const writers: { stop: () => Promise<void> }[] = [];
function writer(via: Region, from: number) {
  const acked: number[] = [];
  const failed: string[] = [];
  let stop = false;
  const done = (async () => {
    for (let i = from; !stop; i++) {
      await psql(MEMBERS[via], 5432, `INSERT INTO w VALUES (${i})`, 30).then(() => acked.push(i), (e: Error) => failed.push(e.message));
    }
  })();
  const w = { acked, failed, stop: async () => ((stop = true), await done) };
  writers.push(w);
  return w;
}

after(async () => {
  await Promise.all(writers.map((w) => w.stop()));
  for (const r of procs.keys()) killMember(r);
  // Whatever a member started that the pid files missed (a postmaster, repmgrd) names this directory
  // in its command line; its children end with it. The pipes go too: a process that escaped never
  // keeps this file's run alive.
  for (const pid of pgrep(['-f', dir])) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  for (const child of procs.values()) {
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
  await until('every member process gone', async () => (pgrep(['-f', dir]).length === 0 ? true : undefined), 10_000).catch(() => {});
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
});

describe('PostgreSQL failover (examples/postgres: repmgr)', { skip, timeout: 600_000 }, () => {
  it('three members: the first makes the cluster, the others copy it and stream; every router reaches the primary', async () => {
    startMember('lhr');
    await until('lhr is the primary', async () => ((await role('lhr')) === 'primary' ? true : undefined), 60_000);
    startMember('mad');
    startMember('fra');
    await until('mad and fra are replicas', async () => ((await role('mad')) === 'replica' && (await role('fra')) === 'replica' ? true : undefined), 90_000);
    for (const r of Object.keys(MEMBERS) as Region[]) {
      await until(`${r}'s router (port 5432) reaches lhr`, () => psql(MEMBERS[r], 5432, 'SHOW cluster_name').then((n) => (n === 'lhr' ? true : undefined)), 20_000);
    }
    await psql(MEMBERS.fra, 5432, 'CREATE TABLE w (i int PRIMARY KEY)');
    await until('the table reached mad', () => psql(MEMBERS.mad, 5433, 'SELECT count(*) FROM w').then((n) => (n === '0' ? true : undefined)), 10_000);
    await assert.rejects(psql(MEMBERS.mad, 5433, 'INSERT INTO w VALUES (0)'), /read-only transaction/);
  });

  it('a planned switchover (pgctl switchover on mad) under writes: none acknowledged is lost, lhr follows mad', async () => {
    const w = writer('fra', 1);
    await until('some writes', async () => (w.acked.length > 20 ? true : undefined), 20_000);
    const out = await new Promise<string>((resolve, reject) => {
      const { OPERATOR_PASSWORD, PGDATA, PG_RUN_DIR, PG_HOSTS, FLY_REGION, FLY_APP_NAME, PATH } = env('mad');
      execFile('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', process.execPath, 'pgctl.mjs', 'switchover'], { cwd: EXAMPLE, env: { OPERATOR_PASSWORD, PGDATA, PG_RUN_DIR, PG_HOSTS, FLY_REGION, FLY_APP_NAME, PATH } }, (err, o, e) => (err ? reject(new Error(`${o}\n${e}`)) : resolve(o)));
    });
    assert.match(out, /mad is the primary: writes refused for \d+ ms/);
    const before = w.acked.length;
    await until('writes after the switchover', async () => (w.acked.length > before + 20 ? true : undefined), 30_000);
    await w.stop();
    assert.equal(await role('mad'), 'primary');
    await until('lhr is a replica', async () => ((await role('lhr')) === 'replica' ? true : undefined), 30_000);
    const rows = new Set((await psql(MEMBERS.mad, 5433, 'SELECT i FROM w')).split('\n').map(Number));
    assert.deepEqual(w.acked.filter((i) => !rows.has(i)), [], 'every acknowledged write is at the new primary');
    await until('lhr has them too', () => psql(MEMBERS.lhr, 5433, 'SELECT count(*) FROM w').then((n) => (Number(n) === rows.size ? true : undefined)), 20_000);
  });

  let expected = 0;
  it('the primary killed -9 (a dead host): a replica is promoted by itself within 30 s, no acknowledged write lost (synchronous)', async () => {
    const w = writer('lhr', 100_000);
    await until('some writes', async () => (w.acked.length > 20 ? true : undefined), 20_000);
    const t0 = Date.now();
    killMember('mad');
    const promoted = await until('a new primary', async () => ((await role('lhr')) === 'primary' ? 'lhr' : (await role('fra')) === 'primary' ? 'fra' : undefined), 30_000);
    const tookMs = Date.now() - t0;
    const before = w.acked.length;
    await until('writes through the router again', async () => (w.acked.length > before + 10 ? true : undefined), 30_000);
    await w.stop();
    const rows = new Set((await psql(MEMBERS[promoted], 5433, 'SELECT i FROM w WHERE i >= 100000')).split('\n').map(Number));
    assert.deepEqual(w.acked.filter((i) => !rows.has(i)), [], 'every acknowledged write survived the failover');
    expected = rows.size;
    console.log(`# failover: ${promoted} promoted ${tookMs} ms after the primary was killed`);
  });

  it('the old primary started again is fenced: it never takes a write, and rejoins as a replica of the new one', async () => {
    startMember('mad');
    const attempts: string[] = [];
    let rejoined = false;
    const deadline = Date.now() + 90_000;
    while (!rejoined && Date.now() < deadline) {
      // Straight at mad's PostgreSQL (not the router) all through its boot: a write must never succeed.
      const r = await psql(MEMBERS.mad, 5433, 'INSERT INTO w VALUES (-1)', 1).then(() => 'accepted', (e: Error) => (/read-only/.test(e.message) ? 'read-only' : 'refused'));
      attempts.push(r);
      rejoined = r === 'read-only' && (await role('mad')) === 'replica';
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(!attempts.includes('accepted'), `mad took a write while fenced: ${attempts.join(',')}`);
    assert.ok(rejoined, `mad rejoined as a replica\n${logs.get('mad')?.slice(-8000)}`);
    assert.match(logs.get('mad') ?? '', /is the primary now: this node rejoins as its replica/);
    await until('mad has every write of the new primary', () => psql(MEMBERS.mad, 5433, `SELECT count(*) FROM w WHERE i >= 100000`).then((n) => (Number(n) === expected ? true : undefined)), 30_000);
  });

  it('a primary cut off (its processes stopped) while another is promoted steps down when it is back, and takes no write meanwhile', async () => {
    const [old] = (await Promise.all((Object.keys(MEMBERS) as Region[]).map(async (r) => [r, await role(r)] as const))).find(([, x]) => x === 'primary')!;
    const frozen = pidsOf(old);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    const others = (Object.keys(MEMBERS) as Region[]).filter((r) => r !== old);
    let promoted: Region | undefined;
    try {
      promoted = await until('another member promoted', async () => {
        for (const r of others) if ((await role(r)) === 'primary') return r;
        return undefined;
        // A paused primary is noticed more slowly than a dead one: each of repmgrd's pings waits out its connect_timeout.
      }, 75_000);
      // Cut off means from everyone: the third member streams from the new primary before the old one wakes.
      const third = others.find((r) => r !== promoted)!;
      await until(`${third} follows ${promoted}`, () => psql(MEMBERS[third], 5433, 'SELECT sender_host FROM pg_stat_wal_receiver').then((h) => (h === MEMBERS[promoted!] ? true : undefined)), 40_000);
    } finally {
      for (const pid of frozen) if (alive(pid)) process.kill(pid, 'SIGCONT');
    }
    // Straight at the old primary as it wakes: synchronous, its commit waits for a replica that no longer follows it.
    const write = await psql(MEMBERS[old], 5433, 'INSERT INTO w VALUES (-2)', 5).then(() => 'acknowledged', (e: Error) => e.message);
    assert.notEqual(write, 'acknowledged', 'a write at the cut-off primary is never acknowledged');
    await until(`${old} steps down and follows ${promoted}`, async () => ((await role(old)) === 'replica' ? true : undefined), 60_000);
    assert.match(logs.get(old) ?? '', /is a primary on a newer timeline .* it steps down/);
    assert.equal(await psql(MEMBERS[promoted], 5433, 'SELECT count(*) FROM w WHERE i = -2'), '0');
  });
});
