// hello: Starling's sample app. Plain node:http, no dependencies, so it runs anywhere Node 20 does.
//
// It behaves like a small fly.io app with a primary region:
//   GET  /        who answered: {machine, region, edge, client}; `?wait=MS` (up to 5000) answers
//                 after MS milliseconds, to have requests in flight at the same time
//   GET  /notes   the notes this machine holds
//   POST /notes   (also PUT and PATCH) store a note: only in PRIMARY_REGION; a machine elsewhere
//                 answers with `fly-replay: region=<PRIMARY_REGION>` and the proxy replays the
//                 request there, as fly apps do to send writes to the primary database
//   DELETE /notes clear the notes (also only in PRIMARY_REGION)
//
// Environment (the names fly sets in every machine; Starling sets them too, with STARLING_* twins):
//   PORT                              port to listen on (default 8080, the default internal_port)
//   HOST                              address to listen on (default 127.0.0.1)
//   FLY_MACHINE_ID / STARLING_MACHINE_ID
//   FLY_REGION / STARLING_REGION      where this machine runs
//   PRIMARY_REGION                    where writes are accepted; unset: everywhere
//
// Run it alone:  PORT=3000 FLY_MACHINE_ID=m1 FLY_REGION=fra PRIMARY_REGION=iad node examples/hello/server.mjs
import { Buffer } from 'node:buffer';
import http from 'node:http';
import os from 'node:os';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { URL } from 'node:url';

const env = process.env;
const machine = env.FLY_MACHINE_ID ?? env.STARLING_MACHINE_ID ?? os.hostname();
const region = env.FLY_REGION ?? env.STARLING_REGION ?? 'local';
const primary = env.PRIMARY_REGION || undefined;
const host = env.HOST ?? '127.0.0.1';
const port = Number(env.PORT ?? 8080);
const MAX_BODY = 64 * 1024;
const MAX_WAIT_MS = 5000;

if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`hello: PORT must be a port number, got "${env.PORT}"\n`);
  process.exit(2);
}

// The notes live in this process's memory only: each machine has its own list, nothing is shared
// or persisted. GET /notes therefore shows what the machine that answers has stored, which is why
// writes go to the primary region (in a real app that is where the writable database is).
/** @type {{id: number, text: string, stored_by: string, replayed_from: string | null, at: string}[]} */
const notes = [];
let nextId = 1;

/** The one value of a request header, or null. */
function header(req, name) {
  const v = req.headers[name];
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
}

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A note's text: the `text` field of a JSON body, or the body itself. */
function noteText(body) {
  try {
    const v = JSON.parse(body);
    if (v && typeof v === 'object' && typeof v.text === 'string') return v.text;
  } catch {
    // not JSON: the body is the note
  }
  return body;
}

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const reading = method === 'GET' || method === 'HEAD';

  if (path === '/') {
    if (!reading) return send(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
    const wait = Math.min(Math.max(Number(url.searchParams.get('wait') ?? 0) || 0, 0), MAX_WAIT_MS);
    if (wait > 0) await sleep(wait);
    return send(res, 200, {
      machine,
      region,
      // Where the request entered the platform (the edge proxy's region), and who sent it.
      edge: header(req, 'starling-region') ?? header(req, 'fly-region'),
      client: header(req, 'starling-client-ip') ?? header(req, 'fly-client-ip'),
    });
  }

  if (path === '/notes') {
    if (reading) return send(res, 200, { machine, region, notes });
    if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) {
      return send(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE' });
    }
    if (primary !== undefined && region !== primary) {
      // Not the primary: ask the proxy to replay this request in the primary region. The proxy
      // discards this response; a client talking to the machine directly sees it as is.
      req.resume();
      return send(res, 409, { error: `writes go to ${primary}`, machine, region }, { 'fly-replay': `region=${primary}` });
    }
    let body;
    try {
      body = await readBody(req);
    } catch {
      return send(res, 413, { error: `body larger than ${MAX_BODY} bytes` }, { connection: 'close' });
    }
    const replayedFrom = header(req, 'starling-replay-src') ?? header(req, 'fly-replay-src');
    if (method === 'DELETE') {
      const deleted = notes.length;
      notes.length = 0;
      return send(res, 200, { deleted, stored_by: machine, region, replayed_from: replayedFrom });
    }
    const note = { id: nextId++, text: noteText(body), stored_by: machine, replayed_from: replayedFrom, at: new Date().toISOString() };
    notes.push(note);
    return send(res, 201, { id: note.id, stored_by: machine, region, replayed_from: replayedFrom });
  }

  return send(res, 404, { error: 'not found: try / or /notes' });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    process.stderr.write(`hello: ${err instanceof Error ? err.stack : String(err)}\n`);
    if (!res.headersSent) send(res, 500, { error: 'internal error' });
    else res.destroy();
  });
});

server.on('error', (err) => {
  process.stderr.write(`hello: cannot listen on ${host}:${port}: ${err.message}\n`);
  process.exit(1);
});

server.listen(port, host, () => {
  const addr = server.address();
  const where = typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : `${host}:${port}`;
  process.stdout.write(`hello: machine ${machine} (region ${region}, primary ${primary ?? 'none'}) listening on ${where}\n`);
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Started by a supervisor with an IPC channel (as the demo does): exit when it goes away, so a
// supervisor that dies without cleaning up leaves no machine behind.
if (process.send) process.on('disconnect', stop);
