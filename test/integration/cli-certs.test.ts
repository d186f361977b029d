import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileCertStore, selfSigned, type KeyPairPem } from '../../src/certs/index.js';
import { closedPort, startOrigin, type Origin } from '../helpers/origin.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { waitFor } from '../helpers/wait.js';
import { killAllCli, runCli } from '../helpers/cli.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
const JSON_KEYS = ['daysLeft', 'fingerprint256', 'hostname', 'issuer', 'names', 'notAfter', 'notBefore', 'served', 'source'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const cli = (args: string[]): Promise<Run> => runCli(args, { timeoutMs: 60_000 });

/** Fails when any output carries a PEM key or any line of one of `keys`. */
function assertNoKey(runs: readonly Run[], keys: readonly string[]): void {
  const lines = keys.flatMap((k) => k.split('\n').filter((l) => l.length > 0 && !l.startsWith('-----')));
  for (const r of runs) {
    for (const text of [r.stdout, r.stderr]) {
      assert.doesNotMatch(text, /PRIVATE KEY/);
      for (const l of lines) assert.ok(!text.includes(l), `key material in output:\n${text}`);
    }
  }
}

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'starling-cli-certs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

after(() => killAllCli());

describe('starling certs import, list, show, remove', () => {
  let ca: KeyPairPem;
  let leaf: KeyPairPem;
  let stranger: KeyPairPem;
  before(async () => {
    ca = await selfSigned({ names: [], ca: true });
    leaf = await selfSigned({ names: ['a.starling.test', 'b.starling.test'], issuer: ca });
    stranger = await selfSigned({ names: ['a.starling.test'] });
  });

  it('imports a custom certificate, lists and shows it (text and JSON), removes it; keys are never printed', async (t) => {
    const dir = tmp(t);
    const certs = join(dir, 'store');
    writeFileSync(join(dir, 'cert.pem'), leaf.certPem + ca.certPem);
    writeFileSync(join(dir, 'key.pem'), leaf.keyPem);
    const runs: Run[] = [];
    const ok = async (args: string[]): Promise<Run> => {
      const r = await cli([...args, '--certs', certs]);
      runs.push(r);
      assert.equal(r.code, 0, `${args.join(' ')}:\n${r.stdout}${r.stderr}`);
      return r;
    };

    const imported = await ok(['certs', 'import', 'a.starling.test', '--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem')]);
    assert.match(imported.stdout, /imported a custom certificate for a\.starling\.test/);
    assert.match(imported.stdout, /a\.starling\.test, b\.starling\.test/);
    assert.equal(statSync(join(certs, 'certs', 'custom', 'a.starling.test.json')).mode & 0o777, 0o600);

    const list = await ok(['certs', 'list']);
    assert.match(list.stdout, /^HOSTNAME\s+SOURCE\s+NAMES\s+NOT AFTER\s+DAYS LEFT\s+SERVED$/m);
    assert.match(list.stdout, /^a\.starling\.test\s+custom\s+a\.starling\.test,b\.starling\.test\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+(89|90)\s+yes$/m);
    const listed = JSON.parse((await ok(['certs', 'list', '--json'])).stdout) as Record<string, unknown>[];
    assert.equal(listed.length, 1);
    assert.deepEqual(Object.keys(listed[0]!).sort(), JSON_KEYS);
    assert.deepEqual(listed[0], {
      ...listed[0],
      hostname: 'a.starling.test',
      source: 'custom',
      names: ['a.starling.test', 'b.starling.test'],
      issuer: 'CN=Starling Test CA',
      served: true,
    });

    // Importing again replaces it; --json prints the same object as list.
    const again = JSON.parse((await ok(['certs', 'import', 'a.starling.test', '--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem'), '--json'])).stdout) as unknown;
    assert.deepEqual(again, listed[0]);

    // b.starling.test has no file of its own: it is served by the certificate filed under a.
    const shown = await ok(['certs', 'show', 'B.starling.test']);
    assert.match(shown.stdout, /^b\.starling\.test: served with the custom certificate filed under a\.starling\.test$/m);
    assert.match(shown.stdout, /sha-256 +[0-9A-F:]{95}/);
    const shownJson = JSON.parse((await ok(['certs', 'show', 'a.starling.test', '--json'])).stdout) as {
      hostname: string;
      certificates: Record<string, unknown>[];
    };
    assert.equal(shownJson.hostname, 'a.starling.test');
    assert.deepEqual(shownJson.certificates.map((c) => [c.source, c.served]), [['custom', true]]);
    assert.deepEqual(Object.keys(shownJson.certificates[0]!).sort(), JSON_KEYS);

    const removed = await ok(['certs', 'remove', 'a.starling.test']);
    assert.match(removed.stdout, /removed the custom certificate for a\.starling\.test/);
    assert.match((await ok(['certs', 'list'])).stdout, /^no certificates in /);
    assert.deepEqual(JSON.parse((await ok(['certs', 'list', '--json'])).stdout), []);
    const gone = await cli(['certs', 'remove', 'a.starling.test', '--certs', certs]);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /no certificate for a\.starling\.test/);
    assertNoKey([...runs, gone], [leaf.keyPem]);
  });

  it('refuses a wrong key, a key as the certificate and a name the certificate does not cover, with exit 2 and no key text', async (t) => {
    const dir = tmp(t);
    const certs = join(dir, 'store');
    writeFileSync(join(dir, 'cert.pem'), leaf.certPem);
    writeFileSync(join(dir, 'key.pem'), leaf.keyPem);
    writeFileSync(join(dir, 'wrong.pem'), stranger.keyPem);
    const cases: [string[], RegExp][] = [
      [['a.starling.test', '--cert', 'cert.pem', '--key', 'wrong.pem'], /private key does not belong to the certificate/],
      [['a.starling.test', '--cert', 'wrong.pem', '--key', 'key.pem'], /contains a private key/],
      [['a.starling.test', '--cert', 'cert.pem', '--key', 'cert.pem'], /not a PEM private key/],
      [['c.starling.test', '--cert', 'cert.pem', '--key', 'key.pem'], /covers a\.starling\.test, b\.starling\.test, not c\.starling\.test/],
      [['a.starling.test', '--cert', 'cert.pem'], /missing --key FILE/],
      [['a.starling.test', '--cert', 'nope.pem', '--key', 'key.pem'], /cannot read --cert .*nope\.pem/],
    ];
    const runs: Run[] = [];
    for (const [args, message] of cases) {
      const abs = args.map((a) => (a.endsWith('.pem') ? join(dir, a) : a));
      const r = await cli(['certs', 'import', ...abs, '--certs', certs]);
      runs.push(r);
      assert.equal(r.code, 2, `${args.join(' ')}:\n${r.stderr}`);
      assert.match(r.stderr, /^error: /m);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    assertNoKey(runs, [leaf.keyPem, stranger.keyPem]);
    const show = await cli(['certs', 'show', 'a.starling.test', '--certs', certs]);
    assert.equal(show.code, 2, 'nothing was stored');
    assert.match(show.stderr, /no certificate for a\.starling\.test/);
  });

  it('custom beats ACME for the same hostname: list, show and remove --source say which one is served', async (t) => {
    const certs = join(tmp(t), 'store');
    const acme = await selfSigned({ names: ['a.starling.test'], issuer: ca });
    const store = new FileCertStore(certs);
    const base = { hostname: 'a.starling.test', names: [], notBefore: '', notAfter: '' };
    await store.put({ ...base, source: 'acme', ...acme });
    await store.put({ ...base, source: 'custom', ...leaf });
    const listed = JSON.parse((await cli(['certs', 'list', '--json', '--certs', certs])).stdout) as Record<string, unknown>[];
    assert.deepEqual(listed.map((c) => [c.source, c.served]), [['custom', true], ['acme', false]]);
    const shown = await cli(['certs', 'show', 'a.starling.test', '--certs', certs]);
    assert.match(shown.stdout, /acme certificate for a\.starling\.test \(not served: custom certificates take priority over ACME\)/);
    const removed = await cli(['certs', 'remove', 'a.starling.test', '--source', 'custom', '--certs', certs]);
    assert.equal(removed.code, 0);
    assert.match(removed.stdout, /a\.starling\.test is now served with the acme certificate/);
    const bad = await cli(['certs', 'remove', 'a.starling.test', '--source', 'other', '--certs', certs]);
    assert.equal(bad.code, 2);
    assertNoKey([shown, removed, bad], [leaf.keyPem, acme.keyPem]);
  });
});

/** One HTTPS request to 127.0.0.1:port for `host`, trusting only `root`. */
function httpsGet(port: number, host: string, root: string): Promise<{ status: number; authorized: boolean; machine: unknown }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, servername: host, headers: { host }, ca: root, agent: false }, (res) => {
      res.resume();
      const authorized = (res.socket as import('node:tls').TLSSocket).authorized;
      res.on('end', () => resolve({ status: res.statusCode ?? 0, authorized, machine: res.headers['x-machine'] }));
    });
    req.on('error', reject);
  });
}

describe('starling certs add against Pebble, answered by a real proxy', { timeout: 120_000 }, () => {
  const name = (label: string) => `${label}-${randomBytes(4).toString('hex')}.starling.test`;
  const names = { alpn: name('alpn'), http: name('http'), fallback: name('fallback'), failing: name('failing') };
  let dir: string;
  let pebble: Pebble;
  let root: string;
  let origin: Origin;
  let proxy: ChildProcess | undefined;
  let proxyLog = '';
  let httpPort: number;
  let tlsPort: number;
  const pebbles: Pebble[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'starling-cli-acme-'));
    [httpPort, tlsPort] = [await closedPort(), await closedPort()];
    origin = await startOrigin('m1');
    pebble = await startPebble({ httpPort, tlsPort });
    pebbles.push(pebble);
    root = await pebble.issuingRootPem();
    writeFileSync(join(dir, 'pebble-ca.pem'), pebble.caPem);
    const machines = [{ id: 'm1', region: 'fra', address: '127.0.0.1', port: origin.port }];
    writeFileSync(join(dir, 'routes.json'), JSON.stringify({ apps: [{ name: 'web', hostnames: Object.values(names), machines }] }));
    const admin = await closedPort();
    proxy = spawn(process.execPath, [CLI, 'proxy', 'serve', '--routes', join(dir, 'routes.json'), '--region', 'fra',
      '--listen', `127.0.0.1:${httpPort}`, '--tls-listen', `127.0.0.1:${tlsPort}`, '--certs', join(dir, 'certs'),
      '--admin', `127.0.0.1:${admin}`, '--access-log', 'off', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    proxy.stderr!.on('data', (d: Buffer) => (proxyLog += d.toString()));
    await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/healthz`).catch(() => undefined))?.status === 200, `proxy healthz: ${proxyLog}`, 15_000);
  });
  after(async () => {
    proxy?.kill('SIGKILL');
    await Promise.all(pebbles.map((p) => p.stop()));
    await origin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const add = (host: string, extra: string[] = [], p = pebble, caFile = 'pebble-ca.pem'): Promise<Run> =>
    cli(['certs', 'add', host, '--certs', join(dir, 'certs'), '--acme-directory', p.directoryUrl,
      '--acme-ca', join(dir, caFile), '--acme-email', 'ops@starling.test', ...extra]);

  /** The certificate is in the store, and the running proxy serves it, trusted by Pebble's root. */
  async function issuedAndServed(host: string, r: Run, challenge: string): Promise<void> {
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}\n--- pebble:\n${pebble.output().slice(-3000)}\n--- proxy:\n${proxyLog}`);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual<Record<string, unknown>>(out, { ...out, hostname: host, source: 'acme', names: [host], served: true, challenge });
    const stored = await new FileCertStore(join(dir, 'certs')).get(host, 'acme');
    assert.ok(stored, 'the certificate is in the store');
    assert.equal(new X509Certificate(stored.certPem).fingerprint256, out.fingerprint256);
    assertNoKey([r], [stored.keyPem]);
    let last: unknown;
    await waitFor(async () => {
      last = await httpsGet(tlsPort, host, root).catch((e: unknown) => e);
      return (last as { status?: number }).status === 200;
    }, `HTTPS for ${host} (last: ${String((last as Error)?.message ?? JSON.stringify(last))})`, 10_000);
    assert.deepEqual(last, { status: 200, authorized: true, machine: 'm1' });
  }

  it('orders by TLS-ALPN-01; the proxy answers the CA from the shared store and serves the certificate without a restart', async () => {
    await issuedAndServed(names.alpn, await add(names.alpn, ['--json']), 'tls-alpn-01');
  });

  it('orders by HTTP-01 with --challenge http-01 (answered on the proxy\'s plain port)', async () => {
    await issuedAndServed(names.http, await add(names.http, ['--json', '--challenge', 'http-01']), 'http-01');
  });

  it('falls back to HTTP-01 when TLS-ALPN-01 fails, and explains a failure that has no fallback', async () => {
    // A second CA whose TLS-ALPN-01 validation goes to a port where nothing listens.
    const deaf = await startPebble({ httpPort, tlsPort: await closedPort() });
    pebbles.push(deaf);
    writeFileSync(join(dir, 'deaf-ca.pem'), deaf.caPem);
    const r = await add(names.fallback, ['--json'], deaf, 'deaf-ca.pem');
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}\n--- pebble:\n${deaf.output().slice(-3000)}`);
    assert.match(r.stderr, /tls-alpn-01 did not work: tls-alpn-01 for fallback-/);
    assert.equal((JSON.parse(r.stdout) as { challenge: string }).challenge, 'http-01');

    const failed = await add(names.failing, ['--challenge', 'tls-alpn-01'], deaf, 'deaf-ca.pem');
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /^error: cannot get a certificate for failing-[0-9a-f]+\.starling\.test: tls-alpn-01 for .+ failed: /m);
    assert.match(failed.stderr, /^hint: is a proxy running with --tls-listen on port 443 \(or the CA's tlsPort\) sharing --certs .+, and does failing-.+ resolve to it\?$/m);
    assert.doesNotMatch(failed.stderr, /PRIVATE KEY|\n\s+at /);
    assert.equal(await new FileCertStore(join(dir, 'certs')).get(names.failing, 'acme'), undefined);
  });
});
