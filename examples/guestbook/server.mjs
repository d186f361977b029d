// A guestbook on Starling's global PostgreSQL (docs/postgres.md), fly's pattern unchanged: every
// machine talks to its nearest copy of the database (DATABASE_READ_URL: the replica in its region,
// else the nearest one, else the primary). Reads are answered there. A write sent to a replica
// fails with SQLSTATE 25006 (read-only transaction): the machine answers `fly-replay:
// region=<primary>`, and the edge replays the request to a machine in the primary region, whose
// nearest copy is the primary. The app knows nothing of regions but PRIMARY_REGION.
//
// After a failover PRIMARY_REGION names a replica: a write that is read-only there too (a replayed
// one, or one made in PRIMARY_REGION) goes through DATABASE_URL, port 5432, which reaches the
// current primary wherever it is. A write that meets the switchover's few seconds (the primary
// stopping, the connection cut) is tried again for up to 20 s rather than failed.
//
//   GET  /             the newest entries, and where they were read
//   POST /?text=…      adds one; answers where it was written
import http from 'node:http';
import pg from 'pg';

const region = process.env.FLY_REGION ?? '?';
const primary = process.env.PRIMARY_REGION ?? region;
const db = new pg.Pool({ connectionString: process.env.DATABASE_READ_URL ?? process.env.DATABASE_URL, max: 4, connectionTimeoutMillis: 5000 });
const primaryDb = new pg.Pool({ connectionString: process.env.DATABASE_URL ?? process.env.DATABASE_READ_URL, max: 4, connectionTimeoutMillis: 20000 });
const pools = [db, primaryDb];
for (const p of pools) p.on('error', () => {}); // an idle connection cut by a switchover: the pool makes a new one

/** A failure a switchover causes and a moment cures: the server shutting down or not up yet, the connection gone. */
const passing = (e) => ['57P01', '57P02', '57P03', '25006'].includes(e.code) || /ECONNREFUSED|ECONNRESET|terminated|timeout/i.test(String(e.message));

async function insert(pool, text) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await pool.query(SCHEMA);
      return await pool.query('INSERT INTO entries (text, region) VALUES ($1, $2) RETURNING id', [text, region]);
    } catch (e) {
      if (!passing(e) || (pool === db && e.code === '25006') || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const SCHEMA = 'CREATE TABLE IF NOT EXISTS entries (id bigserial PRIMARY KEY, text text NOT NULL, region text NOT NULL, at timestamptz NOT NULL DEFAULT now())';

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://guestbook');
  if (url.pathname === '/healthz') return void res.end('ok\n');
  if (req.method === 'POST') {
    const text = (url.searchParams.get('text') ?? '').slice(0, 500);
    if (text === '') return send(res, 400, { error: 'say something: POST /?text=…' });
    const replayed = req.headers['fly-replay-src'] !== undefined;
    try {
      let r;
      try {
        r = await insert(db, text);
      } catch (e) {
        // A replica: the write belongs to the primary region — once; replayed already, or in the
        // primary region already (the primary moved), it goes to the primary through DATABASE_URL.
        if (e.code !== '25006') throw e;
        if (!replayed && region !== primary) return send(res, 409, { replay: primary }, { 'fly-replay': `region=${primary}` });
        r = await insert(primaryDb, text);
      }
      return send(res, 201, { id: Number(r.rows[0].id), written_in: region, replayed });
    } catch (e) {
      return send(res, 503, { error: e.message });
    }
  }
  try {
    const r = await db.query('SELECT id, text, region FROM entries ORDER BY id DESC LIMIT 20');
    return send(res, 200, { read_in: region, entries: r.rows.map((x) => ({ id: Number(x.id), text: x.text, written_in: x.region })) });
  } catch (e) {
    // No table yet (nothing written, or not replicated here yet): an empty book.
    if (e.code === '42P01') return send(res, 200, { read_in: region, entries: [] });
    return send(res, 503, { error: e.message });
  }
}

const server = http.createServer((req, res) => void handle(req, res));
server.listen(Number(process.env.PORT ?? 8080), () => console.log(`guestbook in ${region} (primary ${primary})`));
process.on('SIGTERM', () => server.close(() => void Promise.all(pools.map((p) => p.end())).then(() => process.exit(0))));
