// The supervisor's three listeners besides PostgreSQL (docs/postgres.md):
//  - the router on 5432 (fly's port for writes): every connection goes to the current primary,
//    wherever it is, so DATABASE_URL stays right across failovers; while there is none (a
//    switchover's few seconds) a new connection waits for one, up to 15 s;
//  - the health port ($PORT): open only while this node serves in its role;
//  - the control API on 5434: the steps of a planned switchover, for the operator's password only.
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CONTROL_PORT, LISTEN, PG_PORT, ROUTER_PORT, RUN, log } from './pg.mjs';

const bindHost = LISTEN === '*' ? '::' : LISTEN;

/** `target()` → { local: true } | { host } | null (no primary known now). */
export function startRouter(target) {
  const server = net.createServer(async (client) => {
    client.pause();
    client.on('error', () => {});
    const deadline = Date.now() + 15_000;
    while (!client.destroyed) {
      const t = target();
      const upstream = t === null ? null : await connect(t).catch(() => null);
      if (upstream) {
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.pipe(upstream).pipe(client);
        client.resume();
        return;
      }
      if (Date.now() > deadline) return void client.destroy();
      await sleep(200);
    }
  });
  server.listen(ROUTER_PORT, bindHost);
  return server;
}

function connect(t) {
  return new Promise((resolve, reject) => {
    const s = t.local ? net.connect(join(RUN, `.s.PGSQL.${PG_PORT}`)) : net.connect({ host: t.host, port: PG_PORT });
    s.setTimeout(3000, () => s.destroy(new Error('timeout')));
    s.once('connect', () => {
      s.setTimeout(0);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** The health port, open while `healthy()`; checked every `everyMs`. */
export function startHealth(port, healthy, everyMs = 500) {
  let server = null;
  const tick = () => {
    const ok = healthy();
    if (ok && server === null) {
      server = net.createServer((s) => s.end()).listen(port, bindHost);
      server.on('error', (e) => log(`health port: ${e.message}`));
    } else if (!ok && server !== null) {
      server.close();
      server = null;
    }
  };
  tick();
  return setInterval(tick, everyMs);
}

const authorized = (header) => {
  const want = Buffer.from(`Bearer ${process.env.OPERATOR_PASSWORD ?? ''}`);
  const got = Buffer.from(header ?? '');
  return process.env.OPERATOR_PASSWORD !== undefined && got.length === want.length && timingSafeEqual(got, want);
};

/** `handlers` maps a path to an async (body) → answer; an error answers 500 with its message. */
export function startControl(handlers) {
  const server = http.createServer((req, res) => {
    const reply = (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (!authorized(req.headers.authorization)) return reply(401, { error: 'the operator password is required' });
    const handler = req.method === 'POST' ? handlers[req.url ?? ''] : undefined;
    if (!handler) return reply(404, { error: `no ${req.method} ${req.url}` });
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      Promise.resolve()
        .then(() => handler(body ? JSON.parse(body) : {}))
        .then((answer) => reply(200, answer ?? {}), (e) => reply(500, { error: e.message }));
    });
  });
  server.listen(CONTROL_PORT, bindHost);
  return server;
}

/** Calls a member's control API. */
export async function callMember(host, path, body = {}, timeoutMs = 180_000) {
  const res = await fetch(`http://${host.includes(':') ? `[${host}]` : host}:${CONTROL_PORT}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${process.env.OPERATOR_PASSWORD ?? ''}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${host} ${path}: ${answer.error ?? res.status}`);
  return answer;
}
