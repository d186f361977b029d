/**
 * validateFabricSpec with both families (pure: buildFabric runs it before it makes anything, and
 * test/integration/lab-fabric.test.ts builds the fabrics it accepts): the planner's dual-stack
 * fabrics pass, and every kind of broken IPv6 address, link or route is named, all at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getPreset, planLab, type FabricSpec } from '../../src/lab/index.js';
import { validateFabricSpec } from '../../src/lab/fabric-spec.js';

const planned = (): FabricSpec => structuredClone(planLab(getPreset('default'), { lab: 'demo' }).fabric);

describe('validateFabricSpec: IPv6', () => {
  it("accepts the planner's dual-stack fabrics, and an IPv4-only one", () => {
    assert.deepEqual(validateFabricSpec(planned()), []);
    assert.deepEqual(validateFabricSpec(structuredClone(planLab(getPreset('us'), { lab: 'us' }).fabric)), []);
    const v4only = planned();
    for (const l of v4only.links) [l.a.address6, l.b.address6] = [undefined, undefined];
    for (const n of v4only.namespaces) n.routes = n.routes.filter((r) => !r.via.includes(':'));
    assert.deepEqual(validateFabricSpec(v4only), []);
  });

  it('names every broken IPv6 address, link and route at once', () => {
    const f = planned();
    const [l0, l1, l2, l3, l4] = f.links;
    l0!.a.address6 = '2001:db8:64::1'; // no prefix length
    l1!.b.address6 = '2001:db8:65:1::2/64'; // another /64 than its other end
    l2!.b.address6 = undefined; // only one end
    l3!.a.address6 = 'fdaa:0:1::1/64'; // the private network's range
    l3!.b.address6 = 'fdaa:0:1::2/64';
    l4!.b.address6 = l4!.a.address6; // the same address at both ends
    const pop = f.namespaces.find((n) => n.name === 'sl-demo-p-lhr1')!;
    pop.routes.push({ to: '2001:db8:1::1/48', via: '2001:db8:99::1' }); // host bits, gateway on no link
    pop.routes.push({ to: '10.0.0.0/8', via: '2001:db8:64:5::1' }); // an IPv4 prefix via an IPv6 gateway
    pop.routes.push({ to: 'default', via: '2001:db8:64:5::1' }); // a second IPv6 default
    pop.loopback.push('2001:db8:200::1/129');
    const problems = validateFabricSpec(f);
    const wants = [
      '"2001:db8:64::1" is not an IPv6 address with a prefix length',
      'link 2: 2001:db8:64:1::1/64 and 2001:db8:65:1::2/64 are not two addresses of one subnet',
      'link 3: only one end has an IPv6 address',
      'fdaa:0:1::1/64 is in fc00::/7, where the private network lives',
      'fdaa:0:1::2/64 is in fc00::/7, where the private network lives',
      'link 5: 2001:db8:64:4::1/64 and 2001:db8:64:4::1/64 are not two addresses of one subnet',
      'route to 2001:db8:1::1/48 via 2001:db8:99::1: "2001:db8:1::1/48" has host bits set',
      'route to 2001:db8:1::1/48 via 2001:db8:99::1: the gateway is on none of its links',
      'route to 10.0.0.0/8 via 2001:db8:64:5::1: "10.0.0.0/8" is neither "default" nor an IPv6 prefix',
      'route to default via 2001:db8:64:5::1: a second route to the same prefix',
      'loopback address "2001:db8:200::1/129" is not an address',
    ];
    for (const want of wants) assert.ok(problems.some((p) => p.includes(want)), `expected a problem like ${want} in:\n${problems.join('\n')}`);
    assert.equal(problems.length, wants.length, problems.join('\n'));
  });

  it('keeps the IPv4 default and the IPv6 default apart: one of each is not a duplicate', () => {
    const f = planned();
    const client = f.namespaces.find((n) => n.name === 'sl-demo-c-cdg')!;
    assert.deepEqual(client.routes, [{ to: 'default', via: '10.128.1.1' }, { to: 'default', via: '2001:db8:128:1::1' }]);
    assert.deepEqual(validateFabricSpec(f), []);
    client.routes.push({ to: 'default', via: '10.128.1.1' });
    assert.deepEqual(validateFabricSpec(f), ['sl-demo-c-cdg: route to default via 10.128.1.1: a second route to the same prefix']);
  });
});
