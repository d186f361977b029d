/**
 * The agent's control-plane client against a small loopback server: images are verified against
 * their digest before they are kept, a verified file is reused, errors carry the control plane's
 * codes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ControlClient } from '../../src/sync/control-client.js';
import { SystemClock, isStarlingError } from '../../src/shared/index.js';

const GOOD = Buffer.from('the image bytes');
const GOOD_DIGEST = `sha256:${createHash('sha256').update(GOOD).digest('hex')}`;
const LYING_DIGEST = `sha256:${'c'.repeat(64)}`;
const TOKEN = 'agent-token-for-the-unit-test';

const dir = mkdtempSync(join(tmpdir(), 'starling-control-client-'));
const seen: string[] = [];
let server: http.Server;
let client: ControlClient;

before(async () => {
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization === `Bearer ${TOKEN}` ? 'auth' : 'noauth'}`);
    if (req.url === `/v1/images/${GOOD_DIGEST}`) return void res.writeHead(200, { 'content-type': 'application/gzip' }).end(GOOD);
    // Serves bytes that do not match the digest it is asked for.
    if (req.url === `/v1/images/${LYING_DIGEST}`) return void res.writeHead(200, { 'content-type': 'application/gzip' }).end(GOOD);
    if (req.url?.startsWith('/v1/images/')) return void res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'ERR_IMAGE_NOT_FOUND', message: 'no such image' } }));
    res.writeHead(503).end('not json');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = new ControlClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, token: TOKEN, clock: new SystemClock() });
});
after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('ControlClient', () => {
  it('downloads an image with the agent token, checks its sha256, and reuses a verified file', async () => {
    const file = join(dir, 'downloads', 'good.tar.gz');
    assert.equal(await client.downloadImage(GOOD_DIGEST, file), 'downloaded');
    assert.deepEqual(readFileSync(file), GOOD);
    assert.equal(await client.downloadImage(GOOD_DIGEST, file), 'cached');
    assert.equal(seen.filter((s) => s.includes(GOOD_DIGEST)).length, 1);
    assert.ok(seen.every((s) => s.endsWith(' auth')));
    // A damaged file is replaced by a fresh download.
    writeFileSync(file, 'damaged');
    assert.equal(await client.downloadImage(GOOD_DIGEST, file), 'downloaded');
    assert.deepEqual(readFileSync(file), GOOD);
  });

  it('refuses bytes that do not match the digest and keeps nothing of them', async () => {
    const file = join(dir, 'downloads', 'lying.tar.gz');
    await assert.rejects(client.downloadImage(LYING_DIGEST, file), (e: unknown) => isStarlingError(e, 'ERR_IMAGE_DIGEST'));
    assert.equal(existsSync(file), false);
    assert.deepEqual(readdirSync(join(dir, 'downloads')).filter((f) => f.startsWith('.')), [], 'no temp file left');
    await assert.rejects(client.downloadImage('sha256:nothex', file), (e: unknown) => isStarlingError(e, 'ERR_IMAGE_DIGEST'));
  });

  it("turns answers into the control plane's codes, and a refused connection into ERR_CONTROL_UNREACHABLE", async () => {
    await assert.rejects(client.downloadImage(`sha256:${'d'.repeat(64)}`, join(dir, 'x.tar.gz')), (e: unknown) => isStarlingError(e, 'ERR_IMAGE_NOT_FOUND'));
    await assert.rejects(client.json('GET', '/v1/other'), (e: unknown) => isStarlingError(e, 'ERR_CONTROL_PROTOCOL'));
    const gone = new ControlClient({ url: 'http://127.0.0.1:1', token: TOKEN, clock: new SystemClock() });
    await assert.rejects(gone.json('GET', '/v1/hosts'), (e: unknown) => isStarlingError(e, 'ERR_CONTROL_UNREACHABLE') && !String(e).includes(TOKEN));
  });
});

