/**
 * The lab prober's HTTPS (src/lab/probe-worker.ts), run as the lab runs it — a child process with
 * its options as JSON — against a real TLS server on loopback (HTTP/1.1 and HTTP/2 by ALPN) whose
 * certificate for demo.starling.test is signed by a CA of this test:
 *   - `lab curl`'s fetch checks the chain against the given CA and the name against the Host, and
 *     says which protocol it spoke (HTTP/2 only when asked);
 *   - a certificate from another CA is refused (exit 7, as curl);
 *   - the failover prober's requests are each a fresh TLS connection (no session resumption);
 *   - `get` (the lab's API calls) sends the token from its file and accepts only the pinned certificate;
 *     without a pin (Pebble's management API) it checks the chain against the given CA.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { selfSigned } from '../../src/certs/index.js';
import type { GetLine, ProbeLine, ProbeWorkerOptions } from '../../src/lab/probe.js';

const WORKER = fileURLToPath(new URL('../../src/lab/probe-worker.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'starling-lab-probe-tls-'));
let server: http2.Http2SecureServer;
let base = '';
const seen: Array<{ alpn: string; authorization: string | undefined; reused: boolean }> = [];

function worker(o: ProbeWorkerOptions): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [WORKER, JSON.stringify(o)], { timeout: 20_000 }, (e, stdout, stderr) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr });
    });
  });
}

before(async () => {
  const ca = await selfSigned({ names: [], ca: true, commonName: 'lab probe test CA' });
  const other = await selfSigned({ names: [], ca: true, commonName: 'some other CA' });
  const leaf = await selfSigned({ names: ['demo.starling.test'], issuer: ca });
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  writeFileSync(join(dir, 'other.pem'), other.certPem);
  writeFileSync(join(dir, 'leaf.pem'), leaf.certPem);
  writeFileSync(join(dir, 'token'), 'sekrit-token\n', { mode: 0o600 });
  server = http2.createSecureServer({ cert: leaf.certPem + ca.certPem, key: leaf.keyPem, allowHTTP1: true }, (req, res) => {
    const socket = req.socket as TLSSocket;
    seen.push({ alpn: String(socket.alpnProtocol), authorization: req.headers.authorization, reused: socket.isSessionReused() });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ pop: 'lhr', region: 'lhr', machine: 'm1', version: req.httpVersion }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

after(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('lab prober over TLS', () => {
  it('fetch: HTTP/2 by ALPN when asked, the certificate checked against the CA and the Host', async () => {
    const h2 = await worker({ mode: 'fetch', url: base, host: 'demo.starling.test', caFile: join(dir, 'ca.pem'), http2: true, include: true });
    assert.equal(h2.code, 0, h2.stderr);
    assert.match(h2.stdout, /^\* TLSv1\.[23], ALPN h2; certificate for demo\.starling\.test from lab probe test CA, valid until .*; verified\r\nHTTP\/2 200\r\n/);
    assert.match(h2.stdout, /"version":"2\.0"/);
    const h1 = await worker({ mode: 'fetch', url: base, host: 'demo.starling.test', caFile: join(dir, 'ca.pem'), include: true });
    assert.equal(h1.code, 0, h1.stderr);
    assert.match(h1.stdout, /no ALPN; .*verified\r\nHTTP\/1\.1 200 OK\r\n/);
  });

  it('fetch: a certificate from another CA, or for another name, is refused', async () => {
    const wrongCa = await worker({ mode: 'fetch', url: base, host: 'demo.starling.test', caFile: join(dir, 'other.pem'), http2: true });
    assert.equal(wrongCa.code, 7);
    assert.match(wrongCa.stderr, /lab curl: .*(unable to verify|self.signed|certificate)/i);
    const wrongName = await worker({ mode: 'fetch', url: base, host: 'other.starling.test', caFile: join(dir, 'ca.pem') });
    assert.equal(wrongName.code, 7);
    assert.match(wrongName.stderr, /altnames|does not match|Hostname/i);
  });

  it('once: every request is its own full TLS handshake', async () => {
    seen.length = 0;
    const r = await worker({ mode: 'once', url: base, host: 'demo.starling.test', caFile: join(dir, 'ca.pem'), count: 3 });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as ProbeLine);
    assert.deepEqual(lines.map((l) => [l.ok, l.pop]), [[true, 'lhr'], [true, 'lhr'], [true, 'lhr']]);
    assert.deepEqual(seen.map((s) => s.reused), [false, false, false]);
  });

  it('get: the token from its file, and only the pinned certificate', async () => {
    seen.length = 0;
    const ok = await worker({ mode: 'get', url: base, urls: [base, `${base}x`], pinFile: join(dir, 'leaf.pem'), tokenFile: join(dir, 'token') });
    assert.equal(ok.code, 0, ok.stderr);
    const lines = ok.stdout.trim().split('\n').map((l) => JSON.parse(l) as GetLine);
    assert.deepEqual(lines.map((l) => [l.url, l.status]), [[base, 200], [`${base}x`, 200]], ok.stdout);
    assert.deepEqual(seen.map((s) => s.authorization), ['Bearer sekrit-token', 'Bearer sekrit-token']);
    seen.length = 0;
    const pinned = await worker({ mode: 'get', url: base, urls: [base], pinFile: join(dir, 'ca.pem'), tokenFile: join(dir, 'token') });
    const [line] = pinned.stdout.trim().split('\n').map((l) => JSON.parse(l) as GetLine);
    assert.ok(line?.error !== undefined && line.status === undefined, `a certificate that is not the pinned one fails: ${pinned.stdout}`);
    assert.deepEqual(seen, [], 'no request (and no token) reached the server');
  });

  it('get without a pin: the chain is checked against the given CA, and another CA is refused', async () => {
    seen.length = 0;
    const ok = await worker({ mode: 'get', url: base, urls: [base], host: 'demo.starling.test', caFile: join(dir, 'ca.pem') });
    const [line] = ok.stdout.trim().split('\n').map((l) => JSON.parse(l) as GetLine);
    assert.equal(line?.status, 200, ok.stdout + ok.stderr);
    assert.match(line.body, /"pop":"lhr"/);
    seen.length = 0;
    const other = await worker({ mode: 'get', url: base, urls: [base], host: 'demo.starling.test', caFile: join(dir, 'other.pem') });
    const [refused] = other.stdout.trim().split('\n').map((l) => JSON.parse(l) as GetLine);
    assert.ok(refused?.error !== undefined && refused.status === undefined, `a certificate from another CA fails: ${other.stdout}`);
    assert.deepEqual(seen, [], 'no request reached the server');
  });
});
