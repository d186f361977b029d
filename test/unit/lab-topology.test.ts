import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { getPreset, loadTopology, parseTopology, presetNames, TopologyError, type Topology } from '../../src/lab/index.js';
import { isStarlingError, type SchemaIssue } from '../../src/shared/index.js';
import { repoRoot } from '../helpers/paths.js';

const FIXTURES = join(repoRoot(), 'test/fixtures/lab');
const tmp = mkdtempSync(join(tmpdir(), 'starling-lab-topology-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const VALID = `
name = "trio"

[[cities]]
code = "ams"
name = "Amsterdam"
lat = 52.31
lon = 4.76
pop_hosts = 2

[[cities]]
code = "fra"
name = "Frankfurt"
lat = 50.03
lon = 8.57
asn = 4200000000
clients = false

[[cities]]
code = "waw"
name = "Warsaw"
lat = 52.17
lon = 20.97

[[links]]
a = "ams"
b = "fra"

[[links]]
a = "fra"
b = "waw"
cost = 3
`;

function issuesOf(text: string, format: 'toml' | 'json' = 'toml'): SchemaIssue[] {
  try {
    parseTopology(text, { format, source: 'lab.toml' });
  } catch (e) {
    assert.ok(e instanceof TopologyError, `expected TopologyError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_LAB_TOPOLOGY');
    assert.equal(e.fault, 'user');
    // Every issue is in the message too, one per line, so the CLI shows them all.
    assert.equal(e.message.split('\n').length, e.issues.length);
    return e.issues;
  }
  assert.fail('expected the topology to be rejected');
}

describe('parseTopology', () => {
  it('applies the defaults: anycast, pop_asn, city ASNs by index, no PoP, clients, link cost 1', () => {
    const expected: Topology = {
      name: 'trio',
      anycast: '10.200.0.0/24',
      anycast6: '2001:db8:200::/48',
      pop_asn: 65000,
      cities: [
        { code: 'ams', name: 'Amsterdam', lat: 52.31, lon: 4.76, asn: 64601, pop_hosts: 2, clients: true },
        { code: 'fra', name: 'Frankfurt', lat: 50.03, lon: 8.57, asn: 4200000000, pop_hosts: 0, clients: false },
        { code: 'waw', name: 'Warsaw', lat: 52.17, lon: 20.97, asn: 64603, pop_hosts: 0, clients: true },
      ],
      links: [
        { a: 'ams', b: 'fra', cost: 1 },
        { a: 'fra', b: 'waw', cost: 3 },
      ],
    };
    assert.deepEqual(parseTopology(VALID, { format: 'toml', source: 'trio.toml' }), expected);
  });

  it('reads the same document as JSON', () => {
    const toml = parseTopology(VALID, { format: 'toml', source: 'trio.toml' });
    const json = JSON.stringify({
      name: 'trio',
      cities: [
        { code: 'ams', name: 'Amsterdam', lat: 52.31, lon: 4.76, pop_hosts: 2 },
        { code: 'fra', name: 'Frankfurt', lat: 50.03, lon: 8.57, asn: 4200000000, clients: false },
        { code: 'waw', name: 'Warsaw', lat: 52.17, lon: 20.97 },
      ],
      links: [{ a: 'ams', b: 'fra' }, { a: 'fra', b: 'waw', cost: 3 }],
    });
    assert.deepEqual(parseTopology(json, { format: 'json', source: 'trio.json' }), toml);
  });

  it('reports every problem at once, each with its path, in document order', () => {
    const bad = `
name = "Bad Name"
anycast = "10.64.1.0/24"
pop_asn = 3320
colour = "blue"

[[cities]]
code = "ams"
name = "Amsterdam"
lat = 52.31
lon = 4.76
asn = 64602
pop_hosts = 5
population = 1

[[cities]]
code = "ams"
name = "Amster\\"dam"
lat = 95
lon = 4.76

[[cities]]
code = "Lhr1"
name = "London"
lat = 51.47
lon = -0.45

[[links]]
a = "ams"
b = "xyz"

[[links]]
a = "ams"
b = "ams"
cost = 0

[[links]]
a = "ams"
b = "Lhr1"

[[links]]
a = "Lhr1"
b = "ams"
cost = 11
weight = 2
`;
    const issues = issuesOf(bad);
    const expected: Array<[string, RegExp]> = [
      ['(top level)', /^unknown key "colour"$/],
      ['name', /a-z, 0-9/],
      ['anycast', /overlaps 10\.64\.0\.0\/16/],
      ['pop_asn', /private AS number/],
      ['cities[0].pop_hosts', /from 0 to 4/],
      ['cities[0]', /^unknown key "population"$/],
      ['cities[1].name', /must not contain "/],
      ['cities[1].lat', /latitude/],
      ['cities[1].code', /"ams" is already used by cities\[0\]/],
      // cities[1] has no asn: its default (64601 + 1) collides with the one cities[0] chose.
      ['cities[1]', /default AS number 64602 .* already used by cities\[0\] \(ams\); set asn explicitly/],
      ['cities[2].code', /2-5 lowercase letters/],
      ['links[0].b', /^unknown city "xyz"$/],
      ['links[1].cost', /from 1 to 10/],
      ['links[1]', /links ams to itself/],
      ['links[2].b', /2-5 lowercase letters/],
      ['links[3].a', /2-5 lowercase letters/],
      ['links[3].cost', /from 1 to 10/],
      ['links[3]', /^unknown key "weight"$/],
      ['links[3]', /duplicate of links\[2\]/],
    ];
    assert.deepEqual(
      issues.map((i) => i.path),
      expected.map(([p]) => p),
    );
    issues.forEach((issue, n) => assert.match(issue.message, expected[n]![1], `issue ${n} (${issue.path})`));
  });

  it('checks the whole graph: connected, at least one PoP and one client city, ASN clashes with pop_asn', () => {
    const doc = {
      pop_asn: 64601,
      cities: [
        { code: 'ab', name: 'A', lat: 1, lon: 1, clients: false },
        { code: 'cd', name: 'C', lat: 1, lon: 2, clients: false },
        { code: 'ef', name: 'E', lat: 1, lon: 3, clients: false, asn: 64601 },
      ],
      links: [{ a: 'ab', b: 'cd' }],
    };
    const issues = issuesOf(JSON.stringify(doc), 'json');
    assert.deepEqual(
      issues.map((i) => [i.path, i.message]),
      [
        ['cities', 'no city has a PoP: set pop_hosts = 1 (or more) on at least one city'],
        ['cities', 'no city has a client namespace: leave clients = true on at least one city'],
        ['cities[0]', "its default AS number 64601 (64601 + index) equals pop_asn: the router would drop its own PoP's routes as a loop"],
        ['cities[2].asn', 'AS 64601 is already used by cities[0] (ab)'],
        ['cities[2].asn', "AS 64601 equals pop_asn: the router would drop its own PoP's routes as a loop"],
        ['links', 'the cities are not all connected: ef cannot reach ab; add links'],
      ],
    );
  });

  it('refuses more than 16 cities, missing keys, anycast outside 10/8 or with host bits', () => {
    const cities = Array.from({ length: 17 }, (_, i) => ({ code: `c${'abcdefghijklmnopq'[i]}`, name: `C${i}`, lat: 0, lon: i, pop_hosts: 1 }));
    const links = cities.slice(1).map((c) => ({ a: 'ca', b: c.code }));
    assert.deepEqual(
      issuesOf(JSON.stringify({ cities, links }), 'json').map((i) => [i.path, i.message]),
      [['cities', 'at most 16 cities (there are 17): the lab numbers them into its address plan']],
    );
    const issues = issuesOf('anycast = "192.0.2.0/24"\n[[cities]]\ncode = "ams"\nlat = 1\npop_hosts = 1\n[[links]]\na = "ams"');
    assert.deepEqual(
      issues.map((i) => [i.path, i.message]),
      [
        ['anycast', 'must lie inside 10.0.0.0/8: the lab routers accept nothing else'],
        ['cities[0].name', 'is required'],
        ['cities[0].lon', 'is required'],
        ['links[0].b', 'is required'],
      ],
    );
    assert.match(issuesOf(VALID.replace('name = "trio"', 'anycast = "10.200.0.1/24"'))[0]!.message, /host bits set: the network is 10\.200\.0\.0\/24/);
  });

  it('takes an IPv6 anycast prefix inside 2001:db8::/32, canonical, and refuses one it cannot route or that clashes', () => {
    const withV6 = (v: string): string => VALID.replace('name = "trio"', `name = "trio"\nanycast6 = "${v}"`);
    assert.equal(parseTopology(withV6('2001:DB8:300:0::/48'), { format: 'toml', source: 't' }).anycast6, '2001:db8:300::/48');
    const cases: Array<[string, RegExp]> = [
      ['10.200.0.0/24', /is not an IPv6 prefix like 2001:db8:200::\/48/],
      ['fdaa:1::/48', /must lie inside 2001:db8::\/32/],
      ['2001:db9::/48', /must lie inside 2001:db8::\/32/],
      ['2000::/3', /must lie inside 2001:db8::\/32/],
      ['2001:db8:200::1/48', /host bits set: the network is 2001:db8:200::\/48/],
      ['2001:db8:200::/128', /must be \/127 or shorter/],
      ['2001:db8:64:7::/64', /overlaps 2001:db8:64::\/48, which the lab uses for the links of routers and PoP hosts/],
      ['2001:db8:100::/40', /overlaps 2001:db8:128::\/48/],
    ];
    for (const [v, message] of cases) {
      const issues = issuesOf(withV6(v));
      assert.deepEqual(issues.map((i) => i.path), ['anycast6'], v);
      assert.match(issues[0]!.message, message, v);
    }
  });

  it('names the line of a TOML syntax error and the problem of a JSON one', () => {
    assert.match(issuesOf('name = [')[0]!.path, /^line 1, column \d+$/);
    assert.match(issuesOf('{"cities": [', 'json')[0]!.message, /^invalid JSON: /);
  });
});

describe('loadTopology', () => {
  it('reads TOML files, and JSON files by their extension', async () => {
    const ring = await loadTopology(join(FIXTURES, 'ring.toml'));
    assert.equal(ring.name, 'ring');
    const file = join(tmp, 'ring.json');
    writeFileSync(file, JSON.stringify(ring));
    assert.deepEqual(await loadTopology(file), ring);
  });

  it('says which file it could not read', async () => {
    const missing = join(tmp, 'nope.toml');
    await assert.rejects(loadTopology(missing), (e) => isStarlingError(e, 'ERR_LAB_TOPOLOGY_READ') && e.message.includes(missing));
  });
});

describe('presets', () => {
  it('has default and us, and names them when asked for another', () => {
    assert.deepEqual(presetNames(), ['default', 'us']);
    for (const name of presetNames()) assert.equal(getPreset(name).name, name);
    assert.throws(() => getPreset('mars'), (e) => isStarlingError(e, 'ERR_LAB_PRESET') && /"mars".*default, us/.test(e.message));
    assert.throws(() => getPreset('toString'), (e) => isStarlingError(e, 'ERR_LAB_PRESET'));
  });

  it('hands out copies, so a caller cannot change the preset', () => {
    getPreset('default').cities[0]!.pop_hosts = 4;
    assert.equal(getPreset('default').cities[0]!.pop_hosts, 1);
  });

  it('default: 5 cities, 3 PoPs of one host each, a client city without a PoP', () => {
    const t = getPreset('default');
    assert.equal(t.cities.length, 5);
    assert.deepEqual(
      t.cities.filter((c) => c.pop_hosts > 0).map((c) => [c.code, c.pop_hosts]),
      [['lhr', 1], ['fra', 1], ['mad', 1]],
    );
    assert.ok(t.cities.some((c) => c.clients && c.pop_hosts === 0));
  });
});
