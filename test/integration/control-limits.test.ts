/**
 * What a stranger on the network can cost the control plane and an agent's admin API, on real
 * loopback sockets: nothing of a request body is read before its token is checked (a body over
 * the cap without a token is a 401, not a 413, and answered before it is sent); each token has a
 * request rate (429 with Retry-After) and so has guessing tokens from one address; and 10,000 idle
 * connections from one address leave room for everybody else.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AdminApi, type AnnouncerControl } from '../../src/agent/index.js';
import { MemoryStore, startControlPlane, type ControlLimits, type ControlPlane } from '../../src/control/index.js';
import { ManualClock, silentLogger } from '../../src/shared/index.js';
import { Flood } from '../helpers/flood.js';
import { waitFor } from '../helpers/wait.js';

const OPERATOR = 'operator-token-limits-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'starling-limits-'));
const planes: ControlPlane[] = [];
after(async () => {
  for (const p of planes) await p.close();
  rmSync(dir, { recursive: true, force: true });
});

async function plane(limits: Partial<ControlLimits> = {}, clock = new ManualClock()): Promise<{ port: number; cp: ControlPlane; clock: ManualClock }> {
  const cp = await startControlPlane({ listen: { host: '127.0.0.1', port: 0 }, store: new MemoryStore(), tokens: [OPERATOR], imagesDir: join(dir, 'images'), secretsKey: Buffer.alloc(32, 2), clock, limits, logger: silentLogger });
  planes.push(cp);
  return { port: cp.address.port, cp, clock };
}

/** Sends a request head only (no body) and resolves with the status line and headers the server answers. */
function headOnly(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(head));
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.on('close', () => resolve(got));
  });
}

/** One GET from `localAddress`: its status (0 when refused). */
function getFrom(port: number, localAddress: string, path: string, token?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, localAddress, agent: false, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
  });
}

/**
 * 10,000 idle connections from 127.0.0.1 (opened by a child process, test/helpers/flood.ts): the
 * server keeps `cap` of them and closes the rest as they come.
 */
async function floodKeeps(port: number, cap: number, stats: () => { open: number }): Promise<Flood> {
  const flood = Flood.start();
  const st = await flood.open({ port, count: 10_000, localAddress: '127.0.0.1' });
  assert.equal(st.connected + st.failed, 10_000);
  await waitFor(async () => (await flood.status()).open === cap, `all but ${cap} of the idle connections to be closed`, 30_000, 50);
  assert.equal(stats().open, cap);
  return flood;
}

const BIG = 2 << 20;

describe('control plane limits', () => {
  it('checks the token before it reads a byte of the body: 401 for a 2 MiB body without one, 413 with one', async () => {
    const { port } = await plane();
    const anon = await headOnly(port, `POST /v1/apps HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${BIG}\r\n\r\n`);
    assert.match(anon, /^HTTP\/1\.1 401 /, 'answered while the body has not been sent');
    assert.match(anon, /\r\nconnection: close\r\n/i);
    const authed = await headOnly(port, `POST /v1/apps HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${OPERATOR}\r\ncontent-type: application/json\r\ncontent-length: ${BIG}\r\n\r\n`);
    assert.match(authed, /^HTTP\/1\.1 413 /);
  });

  it('limits each token to its rate with 429 and Retry-After; other tokens are not slowed', async () => {
    const { port, clock } = await plane({ requestsPerSecond: 1, burst: 3 });
    const other = await (await fetch(`http://127.0.0.1:${port}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
      body: JSON.stringify({ org: 'personal', scope: 'read' }),
    })).json() as { token: string };
    const get = (t: string): Promise<Response> => fetch(`http://127.0.0.1:${port}/v1/apps`, { headers: { authorization: `Bearer ${t}` } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await get(OPERATOR)).status);
    assert.deepEqual(statuses, [200, 200, 429], 'the operator made one request for the token, then two: the third is over the burst');
    const limited = await get(OPERATOR);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '1');
    assert.equal(((await limited.json()) as { error: { code: string } }).error.code, 'ERR_RATE_LIMITED');
    assert.equal((await get(other.token)).status, 200, 'another token has its own bucket');
    clock.advance(1000);
    assert.equal((await get(OPERATOR)).status, 200, 'one more a second later');
  });

  it('slows down guessing tokens from one address', async () => {
    const { port } = await plane({ failedAuthPerSecond: 1, failedAuthBurst: 5 });
    const tries: number[] = [];
    for (let i = 0; i < 7; i++) tries.push(await getFrom(port, '127.0.0.1', '/v1/apps', `guess-${i}-0123456789abcdef`));
    assert.deepEqual(tries, [401, 401, 401, 401, 401, 429, 429]);
    assert.equal(await getFrom(port, '127.0.0.3', '/v1/apps', OPERATOR), 200, 'another address, with the right token');
    assert.equal(await getFrom(port, '127.0.0.1', '/healthz'), 200, '/healthz is never limited');
  });

  it('10,000 idle connections from one address do not lock anybody else out', async () => {
    const { port, cp } = await plane();
    const flood = await floodKeeps(port, cp.gate.limits.maxPerAddress, () => cp.gate.stats());
    try {
      assert.equal(await getFrom(port, '127.0.0.2', '/v1/apps', OPERATOR), 200, 'a client from another address is served');
    } finally {
      await flood.close();
    }
  });
});

class QuietAnnouncer implements AnnouncerControl {
  drainState: 'serving' | 'draining' | 'drained' = 'serving';
  drain(): void {}
  undrain(): void {}
  async status(): Promise<never> {
    throw new Error('not used');
  }
  async metricsText(): Promise<string> {
    return 'ok 1\n';
  }
}

describe('agent admin API limits', () => {
  const TOKEN = 'admin-token-limits-0123456789ab';
  async function admin(limits = {}, clock = new ManualClock()): Promise<{ api: AdminApi; port: number; clock: ManualClock }> {
    const api = new AdminApi({ announcer: new QuietAnnouncer(), token: TOKEN, drain: { prepend: 3, delay_ms: 0 }, logger: silentLogger, limits, clock });
    const at = await api.listen('127.0.0.1', 0);
    after(() => api.close());
    return { api, port: at.port, clock };
  }

  it('checks the token before the body, and caps the body', async () => {
    const { port } = await admin();
    assert.match(await headOnly(port, `POST /v1/drain HTTP/1.1\r\nhost: x\r\ncontent-length: ${BIG}\r\n\r\n`), /^HTTP\/1\.1 401 /);
    assert.match(await headOnly(port, `POST /v1/drain HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\ncontent-length: ${BIG}\r\n\r\n`), /^HTTP\/1\.1 413 /);
  });

  it('limits the rate per token and of wrong tokens', async () => {
    const { port, clock } = await admin({ requestsPerSecond: 1, burst: 2 });
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await getFrom(port, '127.0.0.1', '/metrics', TOKEN));
    assert.deepEqual(got, [200, 200, 429]);
    clock.advance(1000);
    assert.equal(await getFrom(port, '127.0.0.1', '/metrics', TOKEN), 200);
    const wrong = [];
    for (let i = 0; i < 22; i++) wrong.push(await getFrom(port, '127.0.0.1', '/metrics', 'nope-0123456789abcdef'));
    assert.deepEqual([wrong[0], wrong.at(-1)], [401, 429]);
  });

  it('10,000 idle connections from one address do not lock the operator out', async () => {
    const { api, port } = await admin();
    const flood = await floodKeeps(port, api.gate.limits.maxPerAddress, () => api.gate.stats());
    try {
      assert.equal(await getFrom(port, '127.0.0.2', '/metrics', TOKEN), 200);
    } finally {
      await flood.close();
    }
  });
});
