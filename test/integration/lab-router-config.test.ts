import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { getPreset, loadTopology, planLab, routerBirdConfig } from '../../src/lab/index.js';
import { isStarlingError } from '../../src/shared/index.js';
import { repoRoot } from '../helpers/paths.js';

/**
 * Golden files for the transit routers' bird.conf (default preset), each also parsed by the real
 * BIRD (`bird -p`). After an intended change to the generator, rewrite them and review the diff:
 *   npm run build && UPDATE_GOLDEN=1 node --test dist/test/integration/lab-router-config.test.js
 */

const FIXTURES = join(repoRoot(), 'test/fixtures/lab');
const GOLDEN = join(FIXTURES, 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const BIRD = process.env.BIRD ?? '/usr/sbin/bird';
const tmp = mkdtempSync(join(tmpdir(), 'starling-lab-router-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `bird -p -c file`: parse the config and exit, no daemon, no sockets. */
function assertBirdParses(text: string, name: string): void {
  if (!existsSync(BIRD)) {
    assert.fail(`BIRD 2 not found at ${BIRD}: install it (Debian/Ubuntu: apt-get install bird2; or npm run setup), or set BIRD=/path/to/bird`);
  }
  const file = join(tmp, name);
  writeFileSync(file, text);
  const r = spawnSync(BIRD, ['-p', '-c', file], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, `bird -p rejected ${name}:\n${r.stderr}`);
}

/** The block of `protocol bgp NAME …` or `filter NAME …`, up to its closing brace at column 0. */
function block(text: string, head: string): string {
  const start = text.indexOf(`${head} `);
  assert.ok(start >= 0, `no "${head}" in the config`);
  return text.slice(start, text.indexOf('\n}\n', start) + 2);
}

const plan = planLab(getPreset('default'), { lab: 'gold' });

describe('routerBirdConfig: golden files (default preset)', () => {
  for (const r of plan.routers) {
    it(`${r.city}: matches ${r.city}.conf and parses with bird -p`, () => {
      const text = routerBirdConfig(plan, r.city);
      const golden = join(GOLDEN, `${r.city}.conf`);
      if (UPDATE) {
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(golden, text);
      }
      assert.equal(text, readFileSync(golden, 'utf8'), `${golden} differs; see the comment at the top of this test to update it`);
      assertBirdParses(text, `${r.city}.conf`);
    });
  }
});

describe('routerBirdConfig', () => {
  it('prepends cost - 1 times per link, and BIRD adds the one more itself', () => {
    // cdg has links of cost 1 (lhr), 2 (fra) and 3 (mad).
    const cdg = routerBirdConfig(plan, 'cdg');
    const prepends = (cost: number): number => block(cdg, `filter lab_export_cost${cost}`).split('bgp_path.prepend(64602);').length - 1;
    assert.deepEqual([prepends(1), prepends(2), prepends(3)], [0, 1, 2]);
    assert.match(block(cdg, 'protocol bgp r_mad'), /neighbor 10\.64\.0\.14 as 64604;[\s\S]*export filter lab_export_cost3;/);
    assert.ok(!cdg.includes('filter lab_export_cost4'));
  });

  it('peers with PoP hosts over BFD, taking exactly the anycast prefix and giving nothing', () => {
    const fra = routerBirdConfig(plan, 'fra');
    const session = block(fra, 'protocol bgp p_fra1');
    assert.match(session, /local 10\.64\.0\.25 as 64603;\n\s+neighbor 10\.64\.0\.26 as 65000;\n\s+bfd on;/);
    assert.match(session, /import filter lab_import_pop;\n\s+export none;/);
    assert.match(fra, /define ANYCAST = \[ 10\.200\.0\.0\/24 \];/);
    assert.match(block(fra, 'filter lab_import_pop'), /if net !~ ANYCAST then reject;/);
    assert.match(block(fra, 'protocol bfd lab_bfd'), /interface "p-\*" \{\n\s+min rx interval 100 ms;\n\s+min tx interval 100 ms;\n\s+multiplier 3;/);
  });

  it('dual stack: every session has an IPv6 twin with the same prepends, BFD and filters, over the IPv6 ends of the link', () => {
    const cdg = routerBirdConfig(plan, 'cdg');
    const prepends = (cost: number): number => block(cdg, `filter lab_export6_cost${cost}`).split('bgp_path.prepend(64602);').length - 1;
    assert.deepEqual([prepends(1), prepends(2), prepends(3)], [0, 1, 2]);
    assert.match(block(cdg, 'protocol bgp r6_mad'), /local 2001:db8:64:3::1 as 64602;\n\s+neighbor 2001:db8:64:3::2 as 64604;\n\s+ipv6 \{\n\s+import filter lab_import_router6;\n\s+export filter lab_export6_cost3;/);
    assert.match(block(cdg, 'filter lab_import_router6'), /if net !~ LAB_SPACE6 then reject;\n.*\n\s+if \(65535, 0\) ~ bgp_community then bgp_local_pref = 0;/);
    assert.match(cdg, /define LAB_SPACE6 = \[ 2001:db8::\/32\+ \];/);
    assert.match(block(cdg, 'protocol direct lab_direct'), /ipv4;\n\s+ipv6;/);
    assert.match(block(cdg, 'protocol kernel lab_kernel6'), /ipv6 \{\n\s+import none;\n\s+export where source = RTS_BGP;/);
    const fra = routerBirdConfig(plan, 'fra');
    const pop6 = block(fra, 'protocol bgp p6_fra1');
    assert.match(pop6, /local 2001:db8:64:6::1 as 64603;\n\s+neighbor 2001:db8:64:6::2 as 65000;\n\s+bfd on;/);
    assert.match(pop6, /ipv6 \{\n\s+import filter lab_import_pop6;\n\s+export none;/);
    assert.match(fra, /define ANYCAST6 = \[ 2001:db8:200::\/48 \];/);
    assert.match(block(fra, 'filter lab_import_pop6'), /if net !~ ANYCAST6 then reject;/);
    // One session per family per neighbour, IPv4's first.
    const sessions = [...fra.matchAll(/^protocol bgp (\S+)/gm)].map((m) => m[1]);
    assert.deepEqual(sessions, ['r_lhr', 'r6_lhr', 'r_cdg', 'r6_cdg', 'r_waw', 'r6_waw', 'p_fra1', 'p6_fra1']);
  });

  it('honours graceful shutdown on every import, and leaves BFD out where there is no PoP', () => {
    const waw = routerBirdConfig(plan, 'waw');
    for (const text of [waw, routerBirdConfig(plan, 'lhr')]) {
      for (const f of ['lab_import_router', 'lab_import_router6', ...(text === waw ? [] : ['lab_import_pop', 'lab_import_pop6'])]) {
        assert.match(block(text, `filter ${f}`), /if \(65535, 0\) ~ bgp_community then bgp_local_pref = 0;/);
      }
    }
    assert.ok(!waw.includes('protocol bfd') && !waw.includes('lab_import_pop') && !waw.includes('bfd on'));
    assert.match(waw, /interface "r-fra", "c-waw";/);
    assert.match(block(waw, 'template bgp lab_session'), /hold time 3;\n\s+keepalive time 1;[\s\S]*connect retry time 1;\n\s+error wait time 1, 2;/);
  });

  it('writes the log path, notes the socket, and refuses what BIRD cannot quote', () => {
    const text = routerBirdConfig(plan, 'mad', { logPath: '/run/lab/mad.log', socketPath: '/run/lab/mad.ctl' });
    assert.match(text, /^log "\/run\/lab\/mad\.log" all;$/m);
    assert.match(text, /^# Control socket: \/run\/lab\/mad\.ctl/m);
    assertBirdParses(text, 'mad-options.conf');
    assert.throws(() => routerBirdConfig(plan, 'mad', { logPath: '/tmp/a"b' }), (e) => isStarlingError(e, 'ERR_LAB_PLAN'));
    assert.throws(() => routerBirdConfig(plan, 'ams'), (e) => isStarlingError(e, 'ERR_LAB_PLAN') && /lhr, cdg, fra, mad, waw/.test(e.message));
  });

  it('gives configs BIRD accepts for the other preset and the fixtures (32-bit ASNs, 2 hosts in a PoP)', async () => {
    const plans = [
      planLab(getPreset('us'), { lab: 'us' }),
      planLab(await loadTopology(join(FIXTURES, 'ring.toml')), { lab: 'ring' }),
      planLab(await loadTopology(join(FIXTURES, 'tie.toml')), { lab: 'tie' }),
    ];
    for (const p of plans) for (const r of p.routers) assertBirdParses(routerBirdConfig(p, r.city), `${p.lab}-${r.city}.conf`);
    const iad = routerBirdConfig(plans[0]!, 'iad');
    assert.match(iad, /protocol bgp p_iad1 from lab_session[\s\S]*protocol bgp p_iad2 from lab_session/);
    assert.match(routerBirdConfig(plans[1]!, 'fra'), /bgp_path\.prepend\(4200000006\);/);
  });
});
