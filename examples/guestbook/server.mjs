// A guestbook on Starling's global PostgreSQL (docs/postgres.md), fly's pattern unchanged: every
// machine talks to its nearest copy of the database (DATABASE_READ_URL: the replica in its region,
// else the nearest one, else the primary). Reads are answered there. A write sent to a replica
// fails with SQLSTATE 25006 (read-only transaction): the machine answers `fly-replay:
// region=<primary>`, and the edge replays the request to a machine in the primary region, whose
// nearest copy is the primary. The app knows nothing of regions but PRIMARY_REGION.
//
//   GET  /             the newest entries, and where they were read
//   POST /?text=…      adds one; answers where it was written
import http from 'node:http';
import pg from 'pg';

const region = process.env.FLY_REGION ?? '?';
const primary = process.env.PRIMARY_REGION ?? region;
const db = new pg.Pool({ connectionString: process.env.DATABASE_READ_URL ?? process.env.DATABASE_URL, max: 4, connectionTimeoutMillis: 5000 });

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
    try {
      await db.query(SCHEMA);
      const r = await db.query('INSERT INTO entries (text, region) VALUES ($1, $2) RETURNING id', [text, region]);
      return send(res, 201, { id: Number(r.rows[0].id), written_in: region, replayed: req.headers['fly-replay-src'] !== undefined });
    } catch (e) {
      // A replica: the write belongs to the primary region. (Once replayed, never again: no loop.)
      if (e.code === '25006' && req.headers['fly-replay-src'] === undefined) return send(res, 409, { replay: primary }, { 'fly-replay': `region=${primary}` });
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
process.on('SIGTERM', () => server.close(() => void db.end().then(() => process.exit(0))));
