import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertNoTies, computeCatchment, getPreset, loadTopology, presetNames, type Catchment } from '../../src/lab/index.js';
import { isStarlingError } from '../../src/shared/index.js';
import { repoRoot } from '../helpers/paths.js';

const FIXTURES = join(repoRoot(), 'test/fixtures/lab');

/** city → "pop via a→b (length n)", compact enough to compare whole catchments at a glance. */
const summary = (c: Catchment): Record<string, string> =>
  Object.fromEntries(c.cities.map((x) => [x.city, x.pop === null ? 'none' : `${x.pop} via ${x.via.join('→')} (${x.pathLength})`]));

describe('computeCatchment: the default preset', () => {
  // Worked out by hand. ASNs by index: lhr 64601, cdg 64602, fra 64603, mad 64604, waw 64605;
  // links lhr–cdg 1, lhr–fra 2, cdg–fra 2, cdg–mad 3, fra–waw 3. Path length = 1 (the PoP host's
  // [65000]) + the costs crossed.
  //   lhr, fra, mad: their own PoP, length 1 (any neighbour's route is at least 1 + 1).
  //   cdg: lhr 1+1 = 2, fra 1+2 = 3, mad 1+3 = 4 → lhr, path [64601, 65000].
  //   waw: only fra, 1+3 = 4 → fra, path [64603 ×3, 65000].
  const t = getPreset('default');

  it('sends every city to the nearest PoP, with the AS path BIRD will show', () => {
    const c = computeCatchment(t);
    assert.deepEqual(summary(c), {
      lhr: 'lhr via lhr (1)',
      cdg: 'lhr via lhr→cdg (2)',
      fra: 'fra via fra (1)',
      mad: 'mad via mad (1)',
      waw: 'fra via fra→waw (4)',
    });
    assert.deepEqual(c.cities.find((x) => x.city === 'cdg')?.asPath, [64601, 65000]);
    assert.deepEqual(c.cities.find((x) => x.city === 'waw')?.asPath, [64603, 64603, 64603, 65000]);
    assert.deepEqual(c.ties, []);
    assert.doesNotThrow(() => assertNoTies(t));
  });

  it('moves a withdrawn PoP\'s cities to the next nearest', () => {
    // fra down: the fra router hears lhr 1+2 = 3 and cdg (2)+2 = 4 → lhr; waw follows fra: 3+3 = 6.
    assert.deepEqual(summary(computeCatchment(t, { down: ['fra'] })), {
      lhr: 'lhr via lhr (1)',
      cdg: 'lhr via lhr→cdg (2)',
      fra: 'lhr via lhr→fra (3)',
      mad: 'mad via mad (1)',
      waw: 'lhr via lhr→fra→waw (6)',
    });
    // lhr down: cdg hears fra 1+2 = 3, mad 1+3 = 4 → fra; the lhr router hears fra 3, cdg (3)+1 = 4 → fra.
    assert.deepEqual(summary(computeCatchment(t, { down: ['lhr'] })), {
      lhr: 'fra via fra→lhr (3)',
      cdg: 'fra via fra→cdg (3)',
      fra: 'fra via fra (1)',
      mad: 'mad via mad (1)',
      waw: 'fra via fra→waw (4)',
    });
  });

  it('leaves cities without a route when every PoP is down, and refuses a down city that is no PoP', () => {
    const c = computeCatchment(t, { down: ['lhr', 'fra', 'mad'] });
    assert.deepEqual(c.cities.map((x) => [x.city, x.pop, x.pathLength, x.asPath, x.via]), t.cities.map((x) => [x.code, null, 0, [], []]));
    assert.throws(() => computeCatchment(t, { down: ['waw'] }), (e) => isStarlingError(e, 'ERR_LAB_DOWN') && /"waw".*lhr, fra, mad/.test(e.message));
    assert.throws(() => computeCatchment(t, { down: ['xyz'] }), (e) => isStarlingError(e, 'ERR_LAB_DOWN'));
  });
});

describe('computeCatchment: other topologies', () => {
  it('ring: the costs decide, not the hop counts', async () => {
    // sin(PoP) ─1─ hkg ─1─ nrt ─5─ sea(PoP) ─2─ iad ─2─ fra ─5─ sin; ASNs 42000000xx.
    //   nrt: sin via hkg 1+1+1 = 3, sea directly 1+5 = 6 → sin, though sea is one hop away.
    //   fra: sea via iad 1+2+2 = 5, sin directly 1+5 = 6 → sea, though sin is one hop away.
    const t = await loadTopology(join(FIXTURES, 'ring.toml'));
    const c = computeCatchment(t);
    assert.deepEqual(summary(c), {
      sin: 'sin via sin (1)',
      hkg: 'sin via sin→hkg (2)',
      nrt: 'sin via sin→hkg→nrt (3)',
      sea: 'sea via sea (1)',
      iad: 'sea via sea→iad (3)',
      fra: 'sea via sea→iad→fra (5)',
    });
    assert.deepEqual(c.cities.find((x) => x.city === 'fra')?.asPath, [4200000005, 4200000005, 4200000004, 4200000004, 4200000100]);
    assert.deepEqual(c.ties, []);

    // sea down: the sea router hears nrt 3+5 = 8 and iad (8)+2 = 10; iad hears fra 6+2 = 8 → all sin.
    assert.deepEqual(summary(computeCatchment(t, { down: ['sea'] })), {
      sin: 'sin via sin (1)',
      hkg: 'sin via sin→hkg (2)',
      nrt: 'sin via sin→hkg→nrt (3)',
      sea: 'sin via sin→hkg→nrt→sea (8)',
      iad: 'sin via sin→fra→iad (8)',
      fra: 'sin via sin→fra (6)',
    });
  });

  it('us: a tie between two routes to the same PoP is no tie', () => {
    // iad down: ord hears sjc directly (1+6 = 7) and through den (4+3 = 7): both lead to sjc, and
    // BIRD takes den's (router id 10.255.2.1 is lower than sjc's 10.255.3.1).
    const c = computeCatchment(getPreset('us'), { down: ['iad'] });
    assert.deepEqual(summary(c), {
      iad: 'sjc via sjc→den→ord→iad (9)',
      ord: 'sjc via sjc→den→ord (7)',
      den: 'sjc via sjc→den (4)',
      sjc: 'sjc via sjc (1)',
    });
    assert.deepEqual(c.ties, []);
  });

  it('every preset is tie-free and every PoP wins at least its own city', () => {
    for (const name of presetNames()) {
      const t = getPreset(name);
      assert.doesNotThrow(() => assertNoTies(t), name);
      const c = computeCatchment(t);
      for (const pop of t.cities.filter((x) => x.pop_hosts > 0)) assert.equal(c.cities.find((x) => x.city === pop.code)?.pop, pop.code, `${name}: ${pop.code}`);
      assert.ok(c.cities.every((x) => x.pop !== null), name);
    }
  });
});

describe('ties', () => {
  it('are reported, with BIRD\'s pick (lowest router id) first', async () => {
    const t = await loadTopology(join(FIXTURES, 'tie.toml'));
    const c = computeCatchment(t);
    assert.deepEqual(c.ties, [
      {
        city: 'lhr',
        candidates: [
          { pop: 'ams', via: ['ams', 'lhr'], pathLength: 2 },
          { pop: 'cdg', via: ['cdg', 'lhr'], pathLength: 2 },
        ],
      },
      {
        city: 'fra',
        candidates: [
          { pop: 'ams', via: ['ams', 'fra'], pathLength: 2 },
          { pop: 'cdg', via: ['cdg', 'fra'], pathLength: 2 },
        ],
      },
    ]);
    // ams is city 0, so its router id (10.255.0.1) is the lowest: BIRD would pick it.
    assert.equal(c.cities.find((x) => x.city === 'lhr')?.pop, 'ams');
  });

  it('are refused, naming every tied city and the tied paths', async () => {
    const t = await loadTopology(join(FIXTURES, 'tie.toml'));
    assert.throws(
      () => assertNoTies(t),
      (e) => {
        assert.ok(isStarlingError(e, 'ERR_LAB_TIE'));
        assert.equal(e.fault, 'user');
        assert.equal(
          e.message,
          [
            'topology "tie" has ties BGP would break by router id:',
            'city lhr: PoP ams via ams→lhr (length 2) ties PoP cdg via cdg→lhr (length 2); change a link cost',
            'city fra: PoP ams via ams→fra (length 2) ties PoP cdg via cdg→fra (length 2); change a link cost',
          ].join('\n'),
        );
        return true;
      },
    );
  });

  it('are gone once a cost breaks them', async () => {
    const t = await loadTopology(join(FIXTURES, 'tie.toml'));
    t.links.find((l) => l.a === 'cdg' && l.b === 'lhr')!.cost = 2;
    t.links.find((l) => l.a === 'ams' && l.b === 'fra')!.cost = 2;
    assert.doesNotThrow(() => assertNoTies(t));
    assert.deepEqual(summary(computeCatchment(t)), {
      ams: 'ams via ams (1)',
      cdg: 'cdg via cdg (1)',
      lhr: 'ams via ams→lhr (2)',
      fra: 'cdg via cdg→fra (2)',
    });
  });
});
