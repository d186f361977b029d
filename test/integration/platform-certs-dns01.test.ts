/**
 * DNS-01 through the control plane, end to end: a real bind9 holds starling.test and takes RFC 2136
 * updates signed with a TSIG key (its secret in a 0600 file named by control.toml); Pebble resolves
 * through that bind9 and nothing else, so the TXT record it validates is the one the control plane
 * put into that zone. With `[certificates] apps = "wildcard"`, `*.starling.test` is ordered at
 * start and served by both agents for any app. Neither the certificate's key nor the TSIG secret
 * is in the state file, the agents' caches, the logs or the control plane's argv.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBind9, type Bind9 } from '../helpers/bind9.js';
import { closedPort } from '../helpers/origin.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { explainedBy, servedCert } from '../helpers/served-cert.js';
import { waitFor } from '../helpers/wait.js';

let bind: Bind9;
let pebble: Pebble;
let p: Platform;
let root: string;
/** Files this test writes outside the platform's directory, removed at the end. */
const written: string[] = [];
const tlsPorts: Record<string, number> = {};
const serial = async (): Promise<number> => Number((await bind.dig('starling.test', 'SOA'))[0]?.split(' ')[2] ?? NaN);

/** A failed wait says what the control plane, the agents and the daemons logged. */
const explained = <T>(wait: Promise<T>): Promise<T> => explainedBy(p, { pebble, named: bind })(wait);

before(async () => {
  for (const h of ['a', 'b']) tlsPorts[h] = await closedPort();
  bind = await startBind9({ zone: 'starling.test' });
  assert.equal(await serial(), 1);
  // HTTP-01 and TLS-ALPN-01 would find nothing: only DNS-01 can pass.
  pebble = await startPebble({ httpPort: await closedPort(), tlsPort: await closedPort(), dnsServer: bind.server });
  const tmp = process.env.TMPDIR ?? '/tmp';
  const secretFile = join(tmp, `starling-tsig-dns01-${process.pid}.secret`);
  writeFileSync(secretFile, `${bind.secret}\n`, { mode: 0o600 });
  written.push(secretFile);
  assert.equal(statSync(secretFile).mode & 0o777, 0o600);
  p = await startPlatform(
    [
      { name: 'a', region: 'fra', tlsPort: tlsPorts.a! },
      { name: 'b', region: 'iad', tlsPort: tlsPorts.b! },
    ],
    {
      prefix: 'certs-dns01',
      controlToml:
        `[certificates]\napps = "wildcard"\n` +
        pebble.acmeToml({ challenges: ['dns-01'], retryMax: '4s' }) +
        `[acme.dns01]\nserver = "${bind.server}"\nzone = "starling.test"\nkey_name = "${bind.keyName}"\nalgorithm = "${bind.algorithm}"\nsecret_file = "${secretFile}"\n`,
    },
  );
  root = await pebble.issuingRootPem();
});

after(async () => {
  for (const f of written) rmSync(f, { force: true });
  await p?.stop();
  await pebble?.stop();
  await bind?.stop();
});

describe('DNS-01 through the control plane', { timeout: 120_000 }, () => {
  it('*.starling.test is issued by DNS-01: the TXT was in bind9\'s starling.test zone during validation, and gone after', async () => {
    let wild: { hostname: string; challenge?: string; issuer: string; fingerprint256: string } | undefined;
    await explained(waitFor(async () => {
      const list = (await p.api('GET', '/v1/certificates')).body.certificates as (typeof wild & {})[];
      wild = list.find((c) => c.hostname === '*.starling.test');
      return wild !== undefined;
    }, '*.starling.test to be issued', 60_000, 100));
    assert.equal(wild!.challenge, 'dns-01');
    assert.match(wild!.issuer, /Pebble/);
    // The control plane's updates went into the zone Pebble asks: its serial moved on (add, then delete).
    assert.ok((await serial()) >= 3, `starling.test's SOA serial is ${await serial()}`);
    // named's own account of the updates (it logs each one it applies, with the TSIG key that signed
    // it): the TXT was added and then deleted. Sampling the zone with dig could miss a record that
    // lived ~70 ms; the log cannot.
    const updates = bind.output().split('\n').filter((l) => l.includes('/key starling-acme: updating zone \'starling.test/IN\''));
    const added = updates.findIndex((l) => /adding an RR at '_acme-challenge\.starling\.test' TXT "[A-Za-z0-9_-]{43}"/.test(l));
    const deleted = updates.findIndex((l) => l.includes('deleting an RR at _acme-challenge.starling.test TXT'));
    assert.ok(added >= 0, `bind9 applied no TXT at _acme-challenge.starling.test signed with the control plane's key:\n${updates.join('\n')}`);
    assert.ok(deleted > added, `bind9 did not delete the TXT after adding it:\n${updates.join('\n')}`);
    assert.deepEqual(await bind.dig('_acme-challenge.starling.test', 'TXT'), [], 'the TXT record is removed afterwards');
  });

  it("a new app's hostname is served by both agents with the wildcard, with no order of its own", async () => {
    assert.equal((await p.api('POST', '/v1/apps', { name: 'blog', primary_region: 'fra' })).status, 201);
    const wild = ((await p.api('GET', '/v1/certificates')).body.certificates as { hostname: string; fingerprint256: string }[]).find((c) => c.hostname === '*.starling.test')!;
    await explained(waitFor(
      async () => (await Promise.all(Object.values(tlsPorts).map((port) => servedCert(port, 'blog.starling.test', root)))).every((s) => s?.authorized && s.fingerprint256 === wild.fingerprint256),
      'the wildcard served for blog.starling.test at both agents',
      30_000,
      100,
    ));
    const v = (await p.api('GET', '/v1/apps/blog/certificates/blog.starling.test')).body;
    assert.equal(v.state, 'ready', JSON.stringify(v));
    assert.equal(v.certificate.filed_under, '*.starling.test');
    assert.equal(v.certificate.challenge, 'dns-01');
    // One certificate for every app: nothing was ordered for blog.starling.test itself.
    assert.deepEqual(((await p.api('GET', '/v1/certificates')).body.certificates as { hostname: string }[]).map((c) => c.hostname), ['*.starling.test']);
  });

  it('no private key and no TSIG secret in the state file, the caches, the logs or argv', () => {
    const secret = bind.secret;
    const clean = (text: string, where: string): void => {
      assert.doesNotMatch(text, /PRIVATE KEY/, `${where}: no PEM private key`);
      assert.ok(!text.includes(secret), `${where}: no TSIG secret`);
    };
    const stateDir = join(p.dir, 'control');
    const files = readdirSync(stateDir).filter((n) => n.startsWith('state.db'));
    assert.ok(files.includes('state.db'));
    for (const f of files) {
      const bytes = readFileSync(join(stateDir, f)).toString('latin1');
      clean(bytes, `control/${f}`);
    }
    for (const [name, a] of p.agents) {
      const cache = readFileSync(a.config.control!.cache_file, 'utf8');
      assert.match(cache, /\*\.starling\.test/, `agent ${name}'s cache holds the certificate`);
      clean(cache, `agent ${name}'s cache`);
    }
    assert.match(p.controlStderr(), /certificate stored/, 'the log is the one of this issuance');
    clean(p.controlStderr(), "the control plane's log");
    clean(p.lines.join(''), "the agents' log");
    const argv = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(join(p.dir, 'control.toml')));
    assert.equal(argv.length, 1, `the control plane's command line: ${argv.join(' | ')}`);
    clean(argv.join('\n'), "the control plane's argv");
    clean(bind.output(), "named's log");
  });
});
