import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AcmeIssuer, FileCertStore } from '../../src/certs/index.js';
import { ProxyServer, StoreTlsContexts, parseRoutesSpec } from '../../src/proxy/index.js';
import { SystemClock, silentLogger } from '../../src/shared/index.js';
import { closedPort, startOrigin, type Origin } from '../helpers/origin.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { waitFor } from '../helpers/wait.js';

/**
 * With anycast the CA's validation reaches whichever PoP is nearest to it, not the one that ordered.
 * Here PoP A orders (its issuer writes the challenge answers into the shared store) and only PoP B's
 * proxy is where the CA connects; B answers from the store, and then both serve the certificate
 * without a restart.
 */
const name = `shop-${randomBytes(4).toString('hex')}.starling.test`;

interface Pop {
  proxy: ProxyServer;
  contexts: StoreTlsContexts;
  httpPort: number;
  tlsPort: number;
}

async function startPop(dir: string, origin: Origin, httpPort: number, tlsPort: number): Promise<Pop> {
  const clock = new SystemClock();
  const store = new FileCertStore(dir, { clock, pollMs: 100 });
  const contexts = await StoreTlsContexts.open(store, { defaultCert: 'refuse', clock, logger: silentLogger });
  const routes = parseRoutesSpec(
    { apps: [{ name: 'shop', hostnames: [name], machines: [{ id: 'm1', region: 'fra', address: '127.0.0.1', port: origin.port }] }] },
    'test',
  );
  const proxy = new ProxyServer({ region: 'fra', routes, clock, acmeHttp: contexts });
  const h = await proxy.listen('127.0.0.1', httpPort);
  const t = await proxy.listenTls('127.0.0.1', tlsPort, contexts);
  return { proxy, contexts, httpPort: h.port, tlsPort: t.port };
}

function handshake(port: number, ca: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: name, ca });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

describe('ACME through the proxies: ordered at one PoP, validated at another', { timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-anycast-'));
  let origin: Origin;
  let pebble: Pebble;
  let a: Pop;
  let b: Pop;
  let root: string;
  const issuer = (priority: ('tls-alpn-01' | 'http-01')[]) =>
    new AcmeIssuer({
      directoryUrl: pebble.directoryUrl,
      store: new FileCertStore(dir), // PoP A's own handle on the shared store
      logger: silentLogger,
      caBundlePem: pebble.caPem,
      pollIntervalMs: 50,
      challengePriority: priority,
    });

  before(async () => {
    origin = await startOrigin('m1');
    const [bHttp, bTls] = [await closedPort(), await closedPort()];
    a = await startPop(dir, origin, 0, 0);
    b = await startPop(dir, origin, bHttp, bTls);
    pebble = await startPebble({ httpPort: bHttp, tlsPort: bTls });
    root = await pebble.issuingRootPem();
  });
  after(async () => {
    for (const p of [a, b]) {
      p?.contexts.close();
      p?.proxy.close();
    }
    await pebble?.stop();
    await origin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses the handshake before a certificate exists', async () => {
    await assert.rejects(handshake(a.tlsPort, root));
  });

  it('TLS-ALPN-01 is answered by PoP B from the shared store; both PoPs then serve the certificate', async () => {
    await issuer(['tls-alpn-01']).issue(name);
    for (const pop of [a, b]) {
      await waitFor(async () => (await handshake(pop.tlsPort, root).then((s) => (s.destroy(), true), () => false)), `PoP on ${pop.tlsPort} to serve the new certificate`, 10_000);
      const s = await handshake(pop.tlsPort, root);
      assert.equal(s.authorized, true);
      s.destroy();
    }
  });

  it('HTTP-01 is answered by PoP B on its plain port before routing; open connections survive the renewal', async () => {
    // A connection made with the current certificate stays usable after the certificate changes.
    const open = await handshake(a.tlsPort, root);
    const cert = await issuer(['http-01']).issue(name);
    assert.equal(cert.source, 'acme');
    const answer = await new Promise<string>((resolve, reject) => {
      let got = '';
      open.on('data', (d: Buffer) => {
        got += d.toString();
        if (got.includes('\r\n\r\n')) resolve(got);
      });
      open.on('error', reject);
      open.write(`GET /after-renewal HTTP/1.1\r\nHost: ${name}\r\n\r\n`);
    });
    assert.match(answer, /^HTTP\/1\.1 200/);
    open.destroy();
    // A request for an unknown token on the plain port gets 404 without reaching the app.
    const seenBefore = origin.seen.length;
    const status = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: b.httpPort, path: '/.well-known/acme-challenge/nope', headers: { host: name } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(status, 404);
    assert.equal(origin.seen.length, seenBefore);
  });
});
