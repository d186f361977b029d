import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertFabric, checkTopology, getPreset, loadTopology, MAX_IFNAME, planLab, type FabricSpec, type LabPlan, type Topology } from '../../src/lab/index.js';
import { isStarlingError } from '../../src/shared/index.js';
import { repoRoot } from '../helpers/paths.js';

const FIXTURES = join(repoRoot(), 'test/fixtures/lab');

/** The largest topology the schema allows: 16 cities with 5-letter codes, 4 PoP hosts each, fully meshed. */
function largest(): Topology {
  const codes = Array.from({ length: 16 }, (_, i) => `zz${'abcdefghijklmnop'[i]}zz`);
  const links = codes.flatMap((a, i) => codes.slice(i + 1).map((b) => ({ a, b, cost: 10 })));
  return checkTopology({ cities: codes.map((code, i) => ({ code, name: code, lat: 0, lon: i, pop_hosts: 4 })), links }, 'largest');
}

const ipToInt = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
/** The lab's IPv6 subnets are all /64s: the first four groups, written out, are the subnet. */
const v6Subnet = (ip: string): string => {
  const [head = '', tail = ''] = ip.split('/')[0]!.split('::');
  const groups = [...head.split(':'), ...Array<string>(8).fill('0')].slice(0, 4);
  return tail === '' && !ip.includes('::') ? head.split(':').slice(0, 4).join(':') : groups.join(':');
};
const inSubnet = (ip: string, cidr: string): boolean => {
  if (ip.includes(':')) return cidr.endsWith('/64') && v6Subnet(ip) === v6Subnet(cidr);
  const [net = '', len = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(len));
  return Math.floor(ipToInt(ip) / size) === Math.floor(ipToInt(net) / size);
};

/** The checks every plan must pass, written out here so that a planner bug cannot hide in assertFabric. */
function checkInvariants(plan: LabPlan, what: string): void {
  const { fabric } = plan;
  const names = fabric.namespaces.map((n) => n.name);
  assert.equal(new Set(names).size, names.length, `${what}: namespaces unique`);
  assert.ok(names.every((n) => n.startsWith(`sl-${plan.lab}-`)), `${what}: lab prefix`);
  const ends = fabric.links.flatMap((l) => [l.a, l.b]);
  for (const e of ends) {
    assert.ok(names.includes(e.ns), `${what}: ${e.ns} exists`);
    assert.ok(e.ifname.length <= MAX_IFNAME, `${what}: ${e.ifname} fits`);
  }
  const perNs = ends.map((e) => `${e.ns}/${e.ifname}`);
  assert.equal(new Set(perNs).size, perNs.length, `${what}: interface names unique per namespace`);
  const addresses = [...ends.map((e) => e.address.split('/')[0]), ...plan.routers.map((r) => r.routerId), ...plan.popHosts.map((h) => h.routerId)];
  assert.equal(new Set(addresses).size, addresses.length, `${what}: addresses and router ids unique`);
  for (const l of fabric.links) assert.equal(l.a.address.split('/')[1], l.b.address.split('/')[1], `${what}: both ends share the subnet`);
  // Dual stack: every link end has an IPv6 address too, in the documentation prefix, a /64 per link.
  const v6 = ends.map((e) => e.address6 ?? '');
  assert.equal(new Set(v6).size, v6.length, `${what}: IPv6 addresses unique`);
  for (const a of v6) assert.match(a, /^2001:db8:(64|128)(:[0-9a-f]{1,4})?::[12]\/64$/, `${what}: ${a} is in the lab's IPv6 plan`);
  for (const l of fabric.links) assert.equal(v6Subnet(l.a.address6!), v6Subnet(l.b.address6!), `${what}: both ends share the /64`);
  // Every static route's gateway is on one of the namespace's own links, in its family; one default per family.
  for (const n of fabric.namespaces) {
    for (const r of n.routes) {
      assert.ok(ends.some((e) => e.ns === n.name && inSubnet(r.via, r.via.includes(':') ? e.address6! : e.address)), `${what}: ${n.name} reaches ${r.via}`);
    }
    if (n.routes.length > 0) assert.deepEqual(n.routes.map((r) => [r.to, r.via.includes(':')]), [['default', false], ['default', true]], `${what}: ${n.name}`);
  }
  // Each router↔router session appears on both routers, mirrored.
  for (const r of plan.routers) {
    for (const n of r.neighbours) {
      if (n.kind !== 'router') continue;
      const back = plan.routers.find((x) => x.city === n.city)?.neighbours.find((m) => m.kind === 'router' && m.city === r.city);
      assert.ok(back && back.kind === 'router', `${what}: ${n.city} peers back with ${r.city}`);
      assert.deepEqual([back.localAddress, back.remoteAddress, back.localAsn, back.remoteAsn, back.cost], [n.remoteAddress, n.localAddress, n.remoteAsn, n.localAsn, n.cost]);
      assert.deepEqual([back.localAddress6, back.remoteAddress6, back.subnet6], [n.remoteAddress6, n.localAddress6, n.subnet6]);
    }
  }
}

describe('planLab', () => {
  it('names and numbers the default preset as documented', () => {
    const plan = planLab(getPreset('default'), { lab: 'demo' });
    assert.deepEqual(
      plan.fabric.namespaces.map((n) => n.name),
      [
        ...['lhr', 'cdg', 'fra', 'mad', 'waw'].map((c) => `sl-demo-r-${c}`),
        ...['lhr1', 'fra1', 'mad1'].map((h) => `sl-demo-p-${h}`),
        ...['lhr', 'cdg', 'fra', 'mad', 'waw'].map((c) => `sl-demo-c-${c}`),
        'sl-demo-ctl',
      ],
    );
    // Router links take /30s in file order (lhr–cdg, lhr–fra, cdg–fra, cdg–mad, fra–waw), then the
    // PoP hosts' links city by city; the client links are 10.128.<city index>.0/24.
    assert.deepEqual(
      plan.fabric.links.map((l) => `${l.a.ns}:${l.a.ifname}=${l.a.address} ${l.b.ns}:${l.b.ifname}=${l.b.address}`),
      [
        'sl-demo-r-lhr:r-cdg=10.64.0.1/30 sl-demo-r-cdg:r-lhr=10.64.0.2/30',
        'sl-demo-r-lhr:r-fra=10.64.0.5/30 sl-demo-r-fra:r-lhr=10.64.0.6/30',
        'sl-demo-r-cdg:r-fra=10.64.0.9/30 sl-demo-r-fra:r-cdg=10.64.0.10/30',
        'sl-demo-r-cdg:r-mad=10.64.0.13/30 sl-demo-r-mad:r-cdg=10.64.0.14/30',
        'sl-demo-r-fra:r-waw=10.64.0.17/30 sl-demo-r-waw:r-fra=10.64.0.18/30',
        'sl-demo-r-lhr:p-lhr1=10.64.0.21/30 sl-demo-p-lhr1:r-lhr=10.64.0.22/30',
        'sl-demo-r-fra:p-fra1=10.64.0.25/30 sl-demo-p-fra1:r-fra=10.64.0.26/30',
        'sl-demo-r-mad:p-mad1=10.64.0.29/30 sl-demo-p-mad1:r-mad=10.64.0.30/30',
        'sl-demo-r-lhr:c-lhr=10.128.0.1/24 sl-demo-c-lhr:r-lhr=10.128.0.2/24',
        'sl-demo-r-cdg:c-cdg=10.128.1.1/24 sl-demo-c-cdg:r-cdg=10.128.1.2/24',
        'sl-demo-r-fra:c-fra=10.128.2.1/24 sl-demo-c-fra:r-fra=10.128.2.2/24',
        'sl-demo-r-mad:c-mad=10.128.3.1/24 sl-demo-c-mad:r-mad=10.128.3.2/24',
        'sl-demo-r-waw:c-waw=10.128.4.1/24 sl-demo-c-waw:r-waw=10.128.4.2/24',
        'sl-demo-r-lhr:ctl=10.128.255.1/24 sl-demo-ctl:r-lhr=10.128.255.2/24',
      ],
    );
    // The control plane's namespace hangs off the first city's router, reached lab-wide at .2.
    assert.deepEqual(plan.control, {
      city: 'lhr',
      ns: 'sl-demo-ctl',
      ifname: 'r-lhr',
      routerIfname: 'ctl',
      address: '10.128.255.2',
      gateway: '10.128.255.1',
      address6: '2001:db8:128:ff::2',
      gateway6: '2001:db8:128:ff::1',
      port: 9300,
      url: 'https://10.128.255.2:9300',
    });
    assert.deepEqual(plan.routers[0]?.interfaces.at(-1), { ifname: 'ctl', address: '10.128.255.1/24', address6: '2001:db8:128:ff::1/64' });
    assert.deepEqual(plan.popHosts[1], {
      id: 'fra1',
      city: 'fra',
      index: 1,
      ns: 'sl-demo-p-fra1',
      routerId: '10.254.2.1',
      ifname: 'r-fra',
      address: '10.64.0.26',
      routerAddress: '10.64.0.25',
      address6: '2001:db8:64:6::2',
      routerAddress6: '2001:db8:64:6::1',
      routerAsn: 64603,
      popAsn: 65000,
      anycast: '10.200.0.0/24',
      serviceAddress: '10.200.0.1',
      anycast6: '2001:db8:200::/48',
      serviceAddress6: '2001:db8:200::1',
    });
    assert.deepEqual(plan.fabric.namespaces.find((n) => n.name === 'sl-demo-p-fra1'), {
      name: 'sl-demo-p-fra1',
      loopback: ['10.200.0.1/32', '2001:db8:200::1/128'],
      forwarding: true,
      routes: [{ to: 'default', via: '10.64.0.25' }, { to: 'default', via: '2001:db8:64:6::1' }],
    });
    assert.deepEqual(plan.fabric.namespaces.find((n) => n.name === 'sl-demo-c-waw'), {
      name: 'sl-demo-c-waw',
      loopback: [],
      forwarding: false,
      routes: [{ to: 'default', via: '10.128.4.1' }, { to: 'default', via: '2001:db8:128:4::1' }],
    });
    assert.deepEqual(plan.fabric.namespaces.find((n) => n.name === 'sl-demo-r-waw'), { name: 'sl-demo-r-waw', loopback: [], forwarding: true, routes: [] });
    const fra = plan.routers.find((r) => r.city === 'fra');
    assert.equal(fra?.routerId, '10.255.2.1');
    assert.deepEqual(
      fra?.neighbours.map((n) => `${n.protocol} ${n.localAddress}→${n.remoteAddress} AS${n.remoteAsn}${n.kind === 'router' ? ` cost ${n.cost}` : ''}`),
      ['r_lhr 10.64.0.6→10.64.0.5 AS64601 cost 2', 'r_cdg 10.64.0.10→10.64.0.9 AS64602 cost 2', 'r_waw 10.64.0.17→10.64.0.18 AS64605 cost 3', 'p_fra1 10.64.0.25→10.64.0.26 AS65000'],
    );
    assert.equal(plan.serviceAddress, '10.200.0.1');
    assert.deepEqual(plan.cities.map((c) => [c.code, c.index, c.asn]), [['lhr', 0, 64601], ['cdg', 1, 64602], ['fra', 2, 64603], ['mad', 3, 64604], ['waw', 4, 64605]]);
  });

  it('numbers IPv6 beside IPv4: a /64 per link in 2001:db8:64::/48 by the same block, clients and control in 2001:db8:128::/48, the anycast ::1', () => {
    const plan = planLab(getPreset('default'), { lab: 'demo' });
    assert.deepEqual(
      plan.fabric.links.map((l) => `${l.a.ifname}=${l.a.address6} ${l.b.ifname}=${l.b.address6}`),
      [
        'r-cdg=2001:db8:64::1/64 r-lhr=2001:db8:64::2/64',
        'r-fra=2001:db8:64:1::1/64 r-lhr=2001:db8:64:1::2/64',
        'r-fra=2001:db8:64:2::1/64 r-cdg=2001:db8:64:2::2/64',
        'r-mad=2001:db8:64:3::1/64 r-cdg=2001:db8:64:3::2/64',
        'r-waw=2001:db8:64:4::1/64 r-fra=2001:db8:64:4::2/64',
        'p-lhr1=2001:db8:64:5::1/64 r-lhr=2001:db8:64:5::2/64',
        'p-fra1=2001:db8:64:6::1/64 r-fra=2001:db8:64:6::2/64',
        'p-mad1=2001:db8:64:7::1/64 r-mad=2001:db8:64:7::2/64',
        'c-lhr=2001:db8:128::1/64 r-lhr=2001:db8:128::2/64',
        'c-cdg=2001:db8:128:1::1/64 r-cdg=2001:db8:128:1::2/64',
        'c-fra=2001:db8:128:2::1/64 r-fra=2001:db8:128:2::2/64',
        'c-mad=2001:db8:128:3::1/64 r-mad=2001:db8:128:3::2/64',
        'c-waw=2001:db8:128:4::1/64 r-waw=2001:db8:128:4::2/64',
        'ctl=2001:db8:128:ff::1/64 r-lhr=2001:db8:128:ff::2/64',
      ],
    );
    assert.deepEqual([plan.anycast6, plan.serviceAddress6], ['2001:db8:200::/48', '2001:db8:200::1']);
    assert.deepEqual(plan.clients.find((c) => c.city === 'waw'), { city: 'waw', ns: 'sl-demo-c-waw', ifname: 'r-waw', address: '10.128.4.2', gateway: '10.128.4.1', address6: '2001:db8:128:4::2', gateway6: '2001:db8:128:4::1' });
    // Every session has an IPv6 twin between the link's IPv6 addresses.
    const fra = plan.routers.find((r) => r.city === 'fra');
    assert.deepEqual(
      fra?.neighbours.map((n) => `${n.protocol6} ${n.localAddress6}→${n.remoteAddress6} (${n.subnet6}) AS${n.remoteAsn}`),
      [
        'r6_lhr 2001:db8:64:1::2→2001:db8:64:1::1 (2001:db8:64:1::/64) AS64601',
        'r6_cdg 2001:db8:64:2::2→2001:db8:64:2::1 (2001:db8:64:2::/64) AS64602',
        'r6_waw 2001:db8:64:4::1→2001:db8:64:4::2 (2001:db8:64:4::/64) AS64605',
        'p6_fra1 2001:db8:64:6::1→2001:db8:64:6::2 (2001:db8:64:6::/64) AS65000',
      ],
    );
    assert.deepEqual(fra?.interfaces.map((i) => i.address6), ['2001:db8:64:1::2/64', '2001:db8:64:2::2/64', '2001:db8:64:4::1/64', '2001:db8:64:6::1/64', '2001:db8:128:2::1/64']);
    // A topology's own anycast6 is what the hosts announce and hold.
    const t = getPreset('default');
    const own = planLab({ ...t, anycast6: '2001:db8:abcd::/48' }, { lab: 'demo' });
    assert.deepEqual([own.popHosts[0]?.anycast6, own.popHosts[0]?.serviceAddress6], ['2001:db8:abcd::/48', '2001:db8:abcd::1']);
    assert.ok(own.fabric.namespaces.find((n) => n.name === 'sl-demo-p-lhr1')?.loopback.includes('2001:db8:abcd::1/128'));
  });

  it('keeps every invariant on the presets, the fixtures and the largest allowed topology', async () => {
    const topologies: Array<[string, Topology]> = [
      ['default', getPreset('default')],
      ['us', getPreset('us')],
      ['ring', await loadTopology(join(FIXTURES, 'ring.toml'))],
      ['tie', await loadTopology(join(FIXTURES, 'tie.toml'))],
      ['largest', largest()],
    ];
    for (const [what, t] of topologies) checkInvariants(planLab(t, { lab: 'abcdefgh' }), what);
    const big = planLab(largest(), { lab: 'x' });
    assert.equal(big.fabric.links.length, 120 + 64 + 16 + 1, 'router links, PoP-host links, client links, the control link');
    assert.equal(big.popHosts.at(-1)?.address, '10.64.2.222', '184 /30s from 10.64.0.0');
  });

  it('leaves out the client namespace of a city without clients', async () => {
    const plan = planLab(await loadTopology(join(FIXTURES, 'ring.toml')), { lab: 'r' });
    assert.deepEqual(plan.clients.map((c) => c.city), ['sin', 'hkg', 'nrt', 'iad', 'fra']);
    assert.ok(!plan.fabric.namespaces.some((n) => n.name === 'sl-r-c-sea'));
    assert.equal(plan.serviceAddress, '10.201.0.1');
  });

  it('is deterministic: the same topology and lab id give the same plan', () => {
    const a = planLab(getPreset('us'), { lab: 'one' });
    assert.deepEqual(planLab(getPreset('us'), { lab: 'one' }), a);
    assert.equal(JSON.stringify(planLab(getPreset('us'), { lab: 'one' })), JSON.stringify(a));
    // Another lab id changes the namespace names and nothing else.
    const b = planLab(getPreset('us'), { lab: 'two' });
    assert.equal(JSON.stringify(b).replaceAll('sl-two-', 'sl-one-').replaceAll('"lab":"two"', '"lab":"one"'), JSON.stringify(a));
  });

  it('refuses a lab id that is not 1-8 characters of a-z and 0-9', () => {
    for (const lab of ['', 'UPPER', 'has-dash', 'ninechars']) {
      assert.throws(() => planLab(getPreset('default'), { lab }), (e) => isStarlingError(e, 'ERR_LAB_ID'), JSON.stringify(lab));
    }
  });
});

describe('assertFabric', () => {
  const good = (): FabricSpec => structuredClone(planLab(getPreset('default'), { lab: 'demo' }).fabric);

  it('accepts a planned fabric and rejects each kind of broken one', () => {
    assert.doesNotThrow(() => assertFabric(good()));
    const cases: Array<[string, (f: FabricSpec) => void, RegExp]> = [
      ['long name', (f) => (f.links[0]!.a.ifname = 'r-abcdefghijklmn'), /longer than 15/],
      ['same name twice', (f) => (f.links[1]!.a.ifname = f.links[0]!.a.ifname), /appears twice in sl-demo-r-lhr/],
      ['missing namespace', (f) => f.namespaces.splice(0, 1), /ends in sl-demo-r-lhr, which is not planned/],
      ['address reused', (f) => (f.links[1]!.b.address = f.links[0]!.a.address), /address 10\.64\.0\.1 is used twice/],
      ['IPv6 address reused', (f) => (f.links[2]!.b.address6 = f.links[0]!.a.address6), /address 2001:db8:64::1 is used twice/],
      ['foreign namespace', (f) => (f.links[0]!.a.ns = 'other-ns'), /other-ns lacks the lab prefix/],
    ];
    for (const [what, breakIt, message] of cases) {
      const f = good();
      breakIt(f);
      assert.throws(() => assertFabric(f), (e) => isStarlingError(e, 'ERR_LAB_PLAN') && message.test(e.message), what);
    }
  });
});
