/**
 * The `.internal` resolver on dns-packet's objects: every name form, org isolation both ways,
 * nearest ordering from the regions catalog's model, NODATA against NXDOMAIN, case and the
 * trailing dot. The wire (flags, truncation, FORMERR/NOTIMP) is private-dns-message.test.ts's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Answer } from 'dns-packet';
import { answer, INTERNAL_TTL_S, parseInternalName, type DnsAsker, type DnsInstance, type DnsView } from '../../src/private-dns/index.js';
import { RttTable } from '../../src/shared/index.js';

const inst = (id: string, app: string, region: string, address: string, more: Partial<DnsInstance> = {}): DnsInstance => ({
  id, app, org: 'acme', region, group: 'app', address, started: true, ...more,
});

const view: DnsView = {
  apps: [
    { name: 'web', org: 'acme' },
    { name: 'api', org: 'acme' },
    { name: 'empty', org: 'acme' },
    { name: 'secret', org: 'globex' },
    { name: 'vault', org: 'globex' },
  ],
  instances: [
    inst('w1', 'web', 'fra', 'fdaa:1::1'),
    inst('w2', 'web', 'ams', 'fdaa:1::2'),
    inst('w3', 'web', 'iad', 'fdaa:2::3', { group: 'worker' }),
    inst('w4', 'web', 'syd', 'FDAA:3:0::4'),
    inst('w5', 'web', 'ams', 'fdaa:1::5', { started: false }),
    inst('w6', 'web', 'lhr', 'fdaa:1::6', { started: false, group: 'cron' }),
    // Ids in the reverse order of their distance from fra: nearest must not be "by id".
    inst('a1', 'api', 'syd', 'fdaa:3::a1'),
    inst('a2', 'api', 'iad', 'fdaa:2::a2'),
    inst('a3', 'api', 'ams', 'fdaa:1::a3'),
    inst('s1', 'secret', 'fra', 'fdaa:9::1', { org: 'globex' }),
    inst('s2', 'secret', 'ams', 'fdaa:9::2', { org: 'globex', group: 'worker' }),
  ],
  services: [
    { app: 'api', org: 'acme', address: 'fdaa:0:1:2:8000::a' },
    { app: 'secret', org: 'globex', address: 'fdaa:0:3:4:8000::b' },
  ],
};

const acmeFra: DnsAsker = { org: 'acme', region: 'fra' };
const globexFra: DnsAsker = { org: 'globex', region: 'fra' };

const ask = (name: string, type = 'AAAA', asker = acmeFra) => answer(view, { name, type, class: 'IN' }, asker);
const data = (answers: Answer[]) => answers.map((a) => (a.type === 'TXT' ? (a.data as Buffer[]).map((b) => b.toString()).join('') : (a as { data: unknown }).data));
const aaaa = (name: string, asker = acmeFra) => {
  const r = ask(name, 'AAAA', asker);
  assert.equal(r.rcode, 'NOERROR', `${name}: ${r.rcode}`);
  return data(r.answers);
};
const txt = (name: string, asker = acmeFra) => {
  const r = ask(name, 'TXT', asker);
  assert.equal(r.rcode, 'NOERROR', `${name}: ${r.rcode}`);
  return data(r.answers);
};

describe('private DNS: the AAAA names', () => {
  it('<app>.internal and global.<app>.internal: every started instance, by id, addresses canonical', () => {
    assert.deepEqual(aaaa('web.internal'), ['fdaa:1::1', 'fdaa:1::2', 'fdaa:2::3', 'fdaa:3::4']);
    assert.deepEqual(aaaa('global.web.internal'), ['fdaa:1::1', 'fdaa:1::2', 'fdaa:2::3', 'fdaa:3::4']);
  });

  it('answers carry the short TTL, class IN, and the name as asked', () => {
    const r = ask('WeB.Internal.', 'AAAA');
    assert.equal(r.answers.length, 4);
    for (const a of r.answers) {
      assert.equal(a.name, 'WeB.Internal');
      assert.equal((a as { ttl?: number }).ttl, INTERNAL_TTL_S);
      assert.equal((a as { class?: string }).class, 'IN');
    }
  });

  it('<region>.<app>.internal: the started instances there', () => {
    assert.deepEqual(aaaa('ams.web.internal'), ['fdaa:1::2']);
    assert.deepEqual(aaaa('syd.web.internal'), ['fdaa:3::4']);
  });

  it('a region where the app has only stopped machines is NODATA; one where it has none is NXDOMAIN', () => {
    assert.deepEqual(aaaa('lhr.web.internal'), []);
    assert.equal(ask('lhr.web.internal').authorities[0]?.type, 'SOA');
    assert.equal(ask('sin.web.internal').rcode, 'NXDOMAIN');
  });

  it('top<N>.nearest.of.<app>.internal: nearest first by the catalog RTT model (fra: ams, iad, syd)', () => {
    assert.deepEqual(aaaa('top1.nearest.of.api.internal'), ['fdaa:1::a3']);
    assert.deepEqual(aaaa('top2.nearest.of.api.internal'), ['fdaa:1::a3', 'fdaa:2::a2']);
    assert.deepEqual(aaaa('top3.nearest.of.api.internal'), ['fdaa:1::a3', 'fdaa:2::a2', 'fdaa:3::a1']);
    assert.deepEqual(aaaa('top9.nearest.of.api.internal'), ['fdaa:1::a3', 'fdaa:2::a2', 'fdaa:3::a1'], 'N beyond the machines: all of them');
    // From Sydney the order turns round.
    assert.deepEqual(aaaa('top2.nearest.of.api.internal', { org: 'acme', region: 'syd' }), ['fdaa:3::a1', 'fdaa:2::a2']);
    // The asker's own region comes first; stopped machines never count.
    assert.deepEqual(aaaa('top2.nearest.of.web.internal'), ['fdaa:1::1', 'fdaa:1::2']);
  });

  it('nearest follows measured RTTs when given them', () => {
    const rtt = new RttTable().withMeasured('fra', 'syd', 1);
    const r = answer(view, { name: 'top1.nearest.of.api.internal', type: 'AAAA' }, acmeFra, { rtt });
    assert.deepEqual(data(r.answers), ['fdaa:3::a1']);
  });

  it('top0 and a malformed top label do not exist', () => {
    assert.equal(ask('top0.nearest.of.api.internal').rcode, 'NXDOMAIN');
    assert.equal(ask('topx.nearest.of.api.internal').rcode, 'NXDOMAIN');
    assert.equal(ask('top01.nearest.of.api.internal').rcode, 'NXDOMAIN');
  });

  it('<id>.vm.<app>.internal: that machine, started or not; an unknown id is NXDOMAIN', () => {
    assert.deepEqual(aaaa('w2.vm.web.internal'), ['fdaa:1::2']);
    assert.deepEqual(aaaa('w5.vm.web.internal'), ['fdaa:1::5'], 'a stopped machine keeps its name');
    assert.equal(ask('w9.vm.web.internal').rcode, 'NXDOMAIN');
    assert.equal(ask('a1.vm.web.internal').rcode, 'NXDOMAIN', 'a machine of another app');
  });

  it('<group>.process.<app>.internal: the started instances of that group', () => {
    assert.deepEqual(aaaa('app.process.web.internal'), ['fdaa:1::1', 'fdaa:1::2', 'fdaa:3::4']);
    assert.deepEqual(aaaa('worker.process.web.internal'), ['fdaa:2::3']);
    assert.deepEqual(aaaa('cron.process.web.internal'), [], 'a group with only stopped machines: NODATA');
    assert.equal(ask('nope.process.web.internal').rcode, 'NXDOMAIN');
  });
});

describe('private DNS: private service addresses (Flycast)', () => {
  it('<app>.flycast and flycast.<app>.internal: the app\'s private service address, to its org only', () => {
    assert.deepEqual(aaaa('api.flycast'), ['fdaa:0:1:2:8000::a']);
    assert.deepEqual(aaaa('FLYCAST.Api.internal.'), ['fdaa:0:1:2:8000::a']);
    const other = ask('secret.flycast');
    assert.equal(other.rcode, 'NXDOMAIN', "another org's app does not exist here");
    assert.equal(other.authorities[0]?.name, 'flycast', "the negative answer carries the flycast zone's SOA");
    assert.deepEqual(aaaa('secret.flycast', globexFra), ['fdaa:0:3:4:8000::b']);
  });

  it('an app without one is NODATA; an unknown app and deeper names are NXDOMAIN; the apex is the SOA', () => {
    const none = ask('web.flycast');
    assert.deepEqual([none.rcode, none.answers.length], ['NOERROR', 0]);
    assert.equal(ask('nope.flycast').rcode, 'NXDOMAIN');
    assert.equal(ask('x.api.flycast').rcode, 'NXDOMAIN');
    assert.equal(ask('flycast', 'SOA').answers[0]?.type, 'SOA');
    assert.deepEqual(parseInternalName('api.flycast'), { kind: 'flycast', app: 'api' });
  });
});

describe('private DNS: the TXT names', () => {
  it('vms.<app>.internal: "<id> <region>" of each started instance, comma-separated', () => {
    assert.deepEqual(txt('vms.web.internal'), ['w1 fra,w2 ams,w3 iad,w4 syd']);
  });
  it('regions.<app>.internal: the regions with a started instance, sorted', () => {
    assert.deepEqual(txt('regions.web.internal'), ['ams,fra,iad,syd']);
  });
  it("_apps.internal: the asker's org's apps, machines or not", () => {
    assert.deepEqual(txt('_apps.internal'), ['api,empty,web']);
    assert.deepEqual(txt('_apps.internal', globexFra), ['secret,vault']);
  });
  it("_instances.internal: one record per started instance of the asker's org", () => {
    assert.deepEqual(txt('_instances.internal'), [
      'instance=a1;app=api;ip=fdaa:3::a1;region=syd',
      'instance=a2;app=api;ip=fdaa:2::a2;region=iad',
      'instance=a3;app=api;ip=fdaa:1::a3;region=ams',
      'instance=w1;app=web;ip=fdaa:1::1;region=fra',
      'instance=w2;app=web;ip=fdaa:1::2;region=ams',
      'instance=w3;app=web;ip=fdaa:2::3;region=iad',
      'instance=w4;app=web;ip=fdaa:3::4;region=syd',
    ]);
    assert.deepEqual(txt('_instances.internal', globexFra), [
      'instance=s1;app=secret;ip=fdaa:9::1;region=fra',
      'instance=s2;app=secret;ip=fdaa:9::2;region=ams',
    ]);
  });
  it('an app without started machines: its lists are NODATA', () => {
    assert.deepEqual(txt('vms.empty.internal'), []);
    assert.deepEqual(txt('regions.empty.internal'), []);
  });
  it('a value over 255 octets is split into character-strings of at most 255', () => {
    const many: DnsView = { apps: [], instances: Array.from({ length: 40 }, (_, i) => inst(`m${String(i).padStart(13, '0')}`, 'big', 'fra', `fdaa::${i + 1}`)) };
    const r = answer(many, { name: 'vms.big.internal', type: 'TXT' }, acmeFra);
    const strings = (r.answers[0] as { data: Buffer[] }).data;
    const whole = many.instances.map((i) => `${i.id} fra`).join(',');
    assert.equal(whole.length, 40 * 19 - 1);
    assert.deepEqual(strings.map((s) => s.length), [255, 255, whole.length - 510]);
    assert.equal(Buffer.concat(strings).toString(), whole);
  });
});

describe('private DNS: existence', () => {
  it('an existing name asked for another type is NODATA (NOERROR, no answers, the SOA)', () => {
    for (const [name, type] of [['web.internal', 'A'], ['web.internal', 'TXT'], ['vms.web.internal', 'AAAA'], ['_apps.internal', 'AAAA'], ['w1.vm.web.internal', 'MX']] as const) {
      const r = ask(name, type);
      assert.equal(r.rcode, 'NOERROR', `${type} ${name}`);
      assert.deepEqual(r.answers, [], `${type} ${name}`);
      assert.equal(r.authorities[0]?.type, 'SOA', `${type} ${name}`);
      assert.equal(r.authorities[0]?.name, 'internal');
    }
  });
  it('an app with no machine exists: NODATA', () => {
    const r = ask('empty.internal');
    assert.equal(r.rcode, 'NOERROR');
    assert.deepEqual(r.answers, []);
  });
  it('names that do not exist are NXDOMAIN with the SOA', () => {
    for (const name of ['nope.internal', 'x.y.web.internal', 'a.b.c.d.e.web.internal', 'foo.nearest.of.web.internal', 'web..internal']) {
      const r = ask(name);
      assert.equal(r.rcode, 'NXDOMAIN', name);
      assert.equal(r.authorities[0]?.type, 'SOA', name);
    }
  });
  it('empty non-terminals exist: vm., process., of., nearest.of. of an app', () => {
    for (const name of ['vm.web.internal', 'process.web.internal', 'of.web.internal', 'nearest.of.web.internal']) assert.equal(ask(name).rcode, 'NOERROR', name);
    assert.equal(ask('vm.empty.internal').rcode, 'NXDOMAIN', 'no machine: nothing below vm.');
  });
  it('the apex holds the SOA', () => {
    const r = ask('internal.', 'SOA');
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.answers[0]?.type, 'SOA');
  });
  it('ANY gives every record at the name', () => {
    assert.deepEqual(data(ask('w1.vm.web.internal', 'ANY').answers), ['fdaa:1::1']);
  });
  it('names compare case-insensitively, with or without the trailing dot', () => {
    assert.deepEqual(aaaa('AMS.Web.INTERNAL.'), ['fdaa:1::2']);
    assert.deepEqual(aaaa('W2.VM.WEB.internal'), ['fdaa:1::2']);
    assert.deepEqual(aaaa('TOP1.Nearest.Of.API.internal'), ['fdaa:1::a3']);
  });
  it('a name outside internal. or a class other than IN is REFUSED', () => {
    assert.equal(ask('example.com').rcode, 'REFUSED');
    assert.equal(answer(view, { name: 'web.internal', type: 'TXT', class: 'CH' }, acmeFra).rcode, 'REFUSED');
    assert.equal(parseInternalName('internal.example.com'), undefined);
  });
  it('an instance whose address is no IPv6 literal is left out, and one address is answered once', () => {
    const v: DnsView = { apps: [], instances: [inst('x1', 'x', 'fra', '10.0.0.1'), inst('x2', 'x', 'fra', 'fdaa::1'), inst('x3', 'x', 'ams', 'fdaa:0::1')] };
    assert.deepEqual(data(answer(v, { name: 'x.internal', type: 'AAAA' }, acmeFra).answers), ['fdaa::1']);
  });
});

describe('private DNS: org isolation', () => {
  it("org A's machine cannot see org B's app: NXDOMAIN, exactly as a name nobody has", () => {
    for (const name of ['secret.internal', 'vault.internal', 'fra.secret.internal', 'top1.nearest.of.secret.internal', 's1.vm.secret.internal', 'worker.process.secret.internal', 'vms.secret.internal', 'regions.secret.internal', 'global.secret.internal']) {
      const theirs = ask(name, 'AAAA');
      const nobodys = ask(name.replace(/secret|vault/, 'nobody'), 'AAAA');
      assert.equal(theirs.rcode, 'NXDOMAIN', name);
      assert.deepEqual(theirs, nobodys, `${name}: the same answer as for a name that does not exist`);
    }
  });
  it("org B's machine cannot see org A's apps either", () => {
    for (const name of ['web.internal', 'api.internal', 'empty.internal', 'ams.web.internal', 'w1.vm.web.internal', 'top1.nearest.of.api.internal']) {
      assert.equal(ask(name, 'AAAA', globexFra).rcode, 'NXDOMAIN', name);
    }
    assert.deepEqual(aaaa('secret.internal', globexFra), ['fdaa:9::1', 'fdaa:9::2']);
  });
  it("the org lists hold only the asker's org", () => {
    assert.ok(!txt('_apps.internal').join().includes('secret'));
    assert.ok(!txt('_instances.internal').join().includes('globex'));
    assert.ok(!txt('_instances.internal').join().includes('fdaa:9'));
  });
  it('an asker of an org with nothing sees an empty zone', () => {
    const nobody = { org: 'initech', region: 'fra' };
    assert.deepEqual(txt('_apps.internal', nobody), []);
    assert.deepEqual(txt('_instances.internal', nobody), []);
    assert.equal(ask('web.internal', 'AAAA', nobody).rcode, 'NXDOMAIN');
  });
});
