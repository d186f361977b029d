import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RenewalManager, type RenewalManagerOptions } from '../../src/certs/renewal.js';
import type { CertSource, StoredCertificate } from '../../src/certs/types.js';
import { Logger, ManualClock, StarlingError } from '../../src/shared/index.js';

/** RenewalManager with ManualClock and a fake issuer; the real issuer is tested against Pebble. */

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const HOST = 'app.starling.test';

function cert(hostname: string, notBefore: number, lifetimeMs: number, source: CertSource = 'acme'): StoredCertificate {
  return {
    hostname,
    source,
    certPem: `cert issued at ${notBefore}`,
    keyPem: '-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n',
    names: [hostname],
    notBefore: new Date(notBefore).toISOString(),
    notAfter: new Date(notBefore + lifetimeMs).toISOString(),
  };
}

interface Setup {
  clock: ManualClock;
  certs: Map<string, StoredCertificate>;
  calls: string[];
  logs: Record<string, unknown>[];
  manager: RenewalManager;
  /** Moves the clock to `at` in steps of at most an hour, letting each wake-up finish. */
  advanceTo(at: number): Promise<void>;
}

/** `issue` by default stores a fresh 90-day certificate, as AcmeIssuer does. */
function setup(opts: Partial<RenewalManagerOptions> & { issue?: (host: string, s: Setup) => Promise<StoredCertificate> } = {}): Setup {
  const clock = new ManualClock();
  const certs = new Map<string, StoredCertificate>();
  const calls: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const s = { clock, certs, calls, logs } as Setup;
  s.manager = new RenewalManager({
    store: { get: async (hostname, source) => certs.get(`${source} ${hostname}`) },
    issuer: {
      issue: async (hostname) => {
        calls.push(hostname);
        if (opts.issue) return opts.issue(hostname, s);
        const fresh = cert(hostname, clock.now(), 90 * DAY);
        certs.set(`acme ${hostname}`, fresh);
        return fresh;
      },
    },
    clock,
    logger: new Logger({ write: (l: string) => logs.push(JSON.parse(l) as Record<string, unknown>) }, 'info'),
    random: () => 0.5,
    ...opts,
  });
  s.advanceTo = async (at) => {
    await s.manager.idle();
    while (clock.now() < at) {
      clock.advance(Math.min(HOUR, at - clock.now()));
      await s.manager.idle();
    }
  };
  return s;
}

const put = (s: Setup, c: StoredCertificate) => s.certs.set(`${c.source} ${c.hostname}`, c);
const only = (s: Setup) => {
  const [st] = s.manager.status();
  assert.ok(st);
  return st;
};

describe('RenewalManager', () => {
  for (const [random, jitterDays] of [[0.5, 0], [0, -4.5], [0.999999, 4.5]] as const) {
    it(`renews at two-thirds of the lifetime with jitter ${jitterDays} days (random ${random})`, async () => {
      const s = setup({ random: () => random });
      const issued = s.clock.now() - DAY;
      put(s, cert(HOST, issued, 90 * DAY));
      s.manager.manage(HOST);
      s.manager.start();
      await s.manager.idle();
      const renewAt = issued + 60 * DAY + jitterDays * DAY;
      assert.ok(Math.abs(only(s).nextAttemptAt - renewAt) < 1000, `${only(s).nextAttemptAt} vs ${renewAt}`);
      assert.equal(only(s).state, 'valid');
      await s.advanceTo(renewAt - MIN);
      assert.deepEqual(s.calls, [], 'not before the renewal point');
      await s.advanceTo(renewAt + MIN);
      assert.deepEqual(s.calls, [HOST]);
      assert.equal(only(s).state, 'valid');
      assert.equal(only(s).notAfter, new Date(s.clock.now() + 90 * DAY).toISOString());
    });
  }

  it('obtains a missing certificate as soon as it starts', async () => {
    const s = setup();
    s.manager.manage(HOST);
    assert.equal(only(s).state, 'missing');
    s.manager.start();
    await s.manager.idle();
    assert.deepEqual(s.calls, [HOST]);
    assert.equal(only(s).state, 'valid');
  });

  it('backs off 1, 2, 4 … minutes after failures, capped at 6 h, and reports each failure', async () => {
    const s = setup({
      checkIntervalMs: DAY,
      issue: async () => {
        throw new StarlingError('ERR_ACME_CHALLENGE', 'http-01 for app.starling.test failed: connection refused');
      },
    });
    s.manager.manage(HOST);
    s.manager.start();
    await s.manager.idle();
    const waits: number[] = [];
    for (let i = 0; i < 11; i++) {
      const st = only(s);
      assert.equal(st.state, 'failing');
      assert.equal(st.failures, i + 1);
      assert.equal(st.lastError, 'ERR_ACME_CHALLENGE: http-01 for app.starling.test failed: connection refused');
      const wait = st.nextAttemptAt - s.clock.now();
      waits.push(wait / MIN);
      s.clock.advance(wait - 1);
      await s.manager.idle();
      assert.equal(s.calls.length, i + 1, 'no attempt before the backoff ends');
      s.clock.advance(1);
      await s.manager.idle();
    }
    assert.deepEqual(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 360, 360]);
    const warns = s.logs.filter((l) => l.level === 'warn' && l.msg === 'certificate renewal failed');
    assert.equal(warns.length, 12);
    assert.equal(warns[0]?.hostname, HOST);
    assert.equal(warns[0]?.retryInMs, MIN);
    assert.match(String(warns[0]?.error), /connection refused/);
  });

  it('retryNow skips the backoff and resolves when that attempt has ended (or hands back the one under way)', async () => {
    let release: (() => void) | undefined;
    let fail = true;
    const s = setup({
      issue: async (hostname, st) => {
        if (fail) throw new StarlingError('ERR_ACME_CHALLENGE', 'refused');
        await new Promise<void>((r) => (release = r));
        const fresh = cert(hostname, st.clock.now(), 90 * DAY);
        st.certs.set(`acme ${hostname}`, fresh);
        return fresh;
      },
    });
    s.manager.manage(HOST);
    s.manager.start();
    await s.manager.idle();
    assert.equal(only(s).failures, 1);
    assert.ok(only(s).nextAttemptAt > s.clock.now(), 'backing off');
    fail = false;
    let ended = false;
    const attempt = s.manager.retryNow(HOST).then(() => (ended = true));
    // Asked again while the order runs: the same attempt, not a second order.
    const again = s.manager.retryNow(HOST);
    await new Promise((r) => setImmediate(r));
    assert.equal(s.calls.length, 2, 'one new order, at once');
    assert.equal(ended, false, 'not before the order has ended');
    release?.();
    await Promise.all([attempt, again]);
    assert.equal(only(s).state, 'valid');
    assert.equal(s.manager.statusOf(HOST)?.failures, 0);
    assert.equal(s.manager.statusOf('other.example'), undefined);
  });

  it('keeps the old certificate in the store while renewing, until the new one lands', async () => {
    let land: (() => void) | undefined;
    const s = setup({
      issue: (host, s) =>
        new Promise((resolve) => {
          land = () => {
            const fresh = cert(host, s.clock.now(), 90 * DAY);
            put(s, fresh); // the issuer stores over the old one; nobody removes it first
            resolve(fresh);
          };
        }),
    });
    const old = cert(HOST, s.clock.now() - 61 * DAY, 90 * DAY);
    put(s, old);
    s.manager.manage(HOST);
    s.manager.start();
    for (let i = 0; i < 10 && !land; i++) await new Promise((r) => setImmediate(r));
    assert.ok(land, 'renewal started: the certificate is past two-thirds');
    assert.equal(only(s).state, 'renewing');
    assert.equal(only(s).notAfter, old.notAfter);
    assert.equal(s.certs.get(`acme ${HOST}`), old, 'still in service during the renewal');
    land();
    await s.manager.idle();
    assert.notEqual(s.certs.get(`acme ${HOST}`), old);
    assert.equal(only(s).state, 'valid');
    assert.equal(only(s).nextAttemptAt, s.clock.now() + 60 * DAY);
  });

  it('never renews a custom certificate, even an expiring one', async () => {
    const s = setup();
    put(s, cert(HOST, s.clock.now() - 80 * DAY, 90 * DAY, 'custom'));
    s.manager.manage(HOST);
    s.manager.start();
    await s.advanceTo(s.clock.now() + 30 * DAY);
    assert.deepEqual(s.calls, []);
    assert.equal(only(s).source, 'custom');
    assert.equal(only(s).state, 'valid');
  });

  it('notices a certificate renewed by another PoP and stops retrying', async () => {
    const s = setup({ issue: async () => Promise.reject(new Error('CA unreachable')) });
    put(s, cert(HOST, s.clock.now() - 70 * DAY, 90 * DAY));
    s.manager.manage(HOST);
    s.manager.start();
    await s.manager.idle();
    assert.equal(only(s).state, 'failing');
    put(s, cert(HOST, s.clock.now(), 90 * DAY)); // shared store: another PoP got one
    await s.advanceTo(s.clock.now() + 10 * MIN);
    assert.equal(s.calls.length, 1);
    assert.equal(only(s).state, 'valid');
    assert.equal(only(s).failures, 0);
    assert.equal(only(s).lastError, undefined);
  });

  it('stops: unmanage and stop cancel the timers, and never remove a certificate', async () => {
    const s = setup();
    put(s, cert(HOST, s.clock.now(), 90 * DAY));
    put(s, cert('other.starling.test', s.clock.now(), 90 * DAY));
    s.manager.manage(HOST);
    s.manager.manage('other.starling.test');
    s.manager.start();
    await s.manager.idle();
    s.manager.unmanage('other.starling.test');
    assert.deepEqual(s.manager.status().map((x) => x.hostname), [HOST]);
    await s.manager.stop();
    await s.advanceTo(s.clock.now() + 100 * DAY);
    assert.deepEqual(s.calls, []);
    assert.equal(s.certs.size, 2);
  });
});
