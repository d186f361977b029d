import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { birdConfig, isBirdReservedWord, redactedBirdConfig, type AnnounceState } from '../../src/announcer/bird-config.js';
import type { AnnouncerSpec, PeerSpec } from '../../src/announcer/types.js';
import { isStarlingError } from '../../src/shared/index.js';
import { repoRoot } from '../helpers/paths.js';

/**
 * Golden files for the generated bird.conf, each also parsed by the real BIRD (`bird -p`).
 * After an intended change to the generator, rewrite them and review the diff:
 *   npm run build && UPDATE_GOLDEN=1 node --test dist/test/integration/bird-config.test.js
 */

const GOLDEN = join(repoRoot(), 'test/fixtures/bird/golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const BIRD = process.env.BIRD ?? '/usr/sbin/bird';
/** Runs `bird -p -c file`: parse the config and exit, no daemon, no sockets. */
function birdParse(file: string): { status: number | null; stderr: string } {
  if (!existsSync(BIRD)) {
    assert.fail(`BIRD 2 not found at ${BIRD}: install it (Debian/Ubuntu: apt-get install bird2; or npm run setup), or set BIRD=/path/to/bird`);
  }
  const r = spawnSync(BIRD, ['-p', '-c', file], { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stderr: r.stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'starling-bird-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
function birdParseText(text: string, name: string): { status: number | null; stderr: string } {
  const file = join(tmp, name);
  writeFileSync(file, text);
  return birdParse(file);
}

const peer = (p: Partial<PeerSpec> & Pick<PeerSpec, 'name' | 'address' | 'asn'>): PeerSpec => ({
  hold_time: 9,
  keepalive_time: 3,
  bfd: { enabled: false, interval_ms: 100, multiplier: 3 },
  ...p,
});

function spec(prefixes: string[], peers: PeerSpec[]): AnnouncerSpec {
  return {
    bgp: { asn: 65001, router_id: '192.0.2.1', prefixes, peers, drain_prepend: 3, bird: BIRD },
    health: { url: 'http://127.0.0.1:9191/healthz', interval_ms: 200, timeout_ms: 150, rise: 2, fall: 2, damping_ms: 5000 },
    drain: { delay_ms: 30000 },
    state_dir: '/var/lib/starling/agent/bird',
  };
}

const v4Only = spec(['198.51.100.0/24'], [peer({ name: 'upstream1', address: '192.0.2.254', asn: 65000 })]);
const dualStack = spec(
  ['198.51.100.0/24', '203.0.113.0/24', '2001:db8:100::/48'],
  [
    peer({ name: 'transit_a', address: '192.0.2.254', asn: 64500, bfd: { enabled: true, interval_ms: 100, multiplier: 3 } }),
    peer({
      name: 'transit_b6',
      address: '2001:db8:ffff::1',
      asn: 4200000000,
      password: 'md5 s3cret!',
      multihop: 2,
      source_address: '2001:db8:ffff::2',
      hold_time: 30,
      keepalive_time: 10,
      bfd: { enabled: true, interval_ms: 300, multiplier: 5 },
    }),
  ],
);

const cases: { file: string; spec: AnnouncerSpec; state: AnnounceState }[] = [
  { file: 'v4-minimal.conf', spec: v4Only, state: { announce: true, drained: false } },
  { file: 'dual-stack-bfd-multihop-password.conf', spec: dualStack, state: { announce: true, drained: false } },
  { file: 'drained.conf', spec: dualStack, state: { announce: true, drained: true } },
  { file: 'not-announced.conf', spec: dualStack, state: { announce: false, drained: false } },
];

describe('birdConfig golden files', () => {
  if (UPDATE) mkdirSync(GOLDEN, { recursive: true });
  for (const c of cases) {
    it(`${c.file} matches and parses with bird -p`, () => {
      const text = birdConfig(c.spec, c.state);
      const file = join(GOLDEN, c.file);
      if (UPDATE) writeFileSync(file, text);
      assert.ok(existsSync(file), `${file} is missing: run with UPDATE_GOLDEN=1 to create it`);
      assert.equal(text, readFileSync(file, 'utf8'), `${c.file} differs; if intended, rerun with UPDATE_GOLDEN=1 and review the diff`);
      const r = birdParse(file);
      assert.equal(r.status, 0, `bird -p rejected ${c.file}:\n${r.stderr}`);
    });
  }

  it('bird -p does fail on a broken config (the check can fail)', () => {
    // A peer named with a BIRD keyword: exactly what isBirdReservedWord exists to prevent.
    assert.ok(isBirdReservedWord('out'));
    const broken = birdConfig(v4Only, { announce: true, drained: false }).replace('protocol bgp upstream1', 'protocol bgp out');
    const r = birdParseText(broken, 'broken.conf');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /syntax error/);
  });
});

describe('birdConfig', () => {
  it('is deterministic', () => {
    assert.equal(birdConfig(dualStack, { announce: true, drained: true }), birdConfig(dualStack, { announce: true, drained: true }));
  });

  it('exports only the configured prefixes of each family, only from the static protocol', () => {
    const text = birdConfig(dualStack, { announce: true, drained: false });
    assert.match(text, /filter starling_export4 \{\n {2}if proto != "starling4" then reject;\n {2}if net !~ \[ 198\.51\.100\.0\/24, 203\.0\.113\.0\/24 \] then reject;/);
    assert.match(text, /filter starling_export6 \{\n {2}if proto != "starling6" then reject;\n {2}if net !~ \[ 2001:db8:100::\/48 \] then reject;/);
    assert.match(text, /ipv4 \{\n {4}import none;\n {4}export filter starling_export4;/);
    assert.match(text, /ipv6 \{\n {4}import none;\n {4}export filter starling_export6;/);
  });

  it('leaves out the IPv6 parts when only IPv4 prefixes are configured', () => {
    const text = birdConfig(v4Only, { announce: true, drained: false });
    assert.doesNotMatch(text, /starling6|starling_export6|protocol bfd/);
  });

  it('drained: GRACEFUL_SHUTDOWN and drain_prepend copies of the local AS', () => {
    const text = birdConfig({ ...v4Only, bgp: { ...v4Only.bgp, drain_prepend: 2 } }, { announce: true, drained: true });
    assert.match(text, /bgp_community\.add\(\(65535, 0\)\);\n {2}bgp_path\.prepend\(65001\);\n {2}bgp_path\.prepend\(65001\);\n {2}accept;/);
  });

  it('a peer whose BFD settings differ from the shared block gets its own, and BIRD accepts it', () => {
    const s = spec(
      ['198.51.100.0/24'],
      [
        peer({ name: 'a', address: '192.0.2.254', asn: 64500, bfd: { enabled: true, interval_ms: 100, multiplier: 3 } }),
        peer({ name: 'b', address: '192.0.2.253', asn: 64501, bfd: { enabled: true, interval_ms: 50, multiplier: 4 } }),
      ],
    );
    const text = birdConfig(s, { announce: true, drained: false });
    assert.match(text, /protocol bgp a \{[^}]*bfd on;/);
    assert.match(text, /bfd \{ min rx interval 50 ms; min tx interval 50 ms; multiplier 4; \};/);
    const r = birdParseText(text, 'bfd-override.conf');
    assert.equal(r.status, 0, r.stderr);
  });

  it('hold time 0 writes no keepalive time (BIRD refuses keepalive 0)', () => {
    const s = spec(['198.51.100.0/24'], [peer({ name: 'nohold', address: '192.0.2.254', asn: 64500, hold_time: 0, keepalive_time: 0 })]);
    const text = birdConfig(s, { announce: true, drained: false });
    assert.match(text, /hold time 0;/);
    assert.doesNotMatch(text, /keepalive time/);
    assert.equal(birdParseText(text, 'hold0.conf').status, 0);
  });

  it('logs to a file when given one', () => {
    assert.match(birdConfig(v4Only, { announce: true, drained: false }, { log: '/tmp/bird.log' }), /^log "\/tmp\/bird\.log" all;$/m);
  });

  it('refuses values it cannot quote or name safely, even if validation was skipped', () => {
    for (const bad of [
      spec(['198.51.100.0/24'], [peer({ name: 'x', address: '192.0.2.254', asn: 1, password: 'a"b' })]),
      spec(['198.51.100.0/24'], [peer({ name: 'x', address: '192.0.2.254', asn: 1, password: 'a\\b' })]),
      spec(['198.51.100.0/24'], [peer({ name: 'out', address: '192.0.2.254', asn: 1 })]),
    ]) {
      assert.throws(() => birdConfig(bad, { announce: true, drained: false }), (e) => isStarlingError(e, 'ERR_BIRD_CONFIG'));
    }
  });
});

describe('redactedBirdConfig', () => {
  it('hides every password and nothing else', () => {
    const text = birdConfig(dualStack, { announce: true, drained: false });
    const red = redactedBirdConfig(text);
    assert.ok(text.includes('md5 s3cret!'));
    assert.ok(!red.includes('s3cret'));
    assert.match(red, /password "\[redacted\]";/);
    assert.equal(red.replace('"[redacted]"', '"md5 s3cret!"'), text);
  });
});
