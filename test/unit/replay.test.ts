import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReplaySrc, parseReplay, type ReplayDirective } from '../../src/proxy/core/index.js';

function ok(value: string): ReplayDirective {
  const r = parseReplay(value);
  if (!r.ok) assert.fail(`"${value}" rejected: ${r.reason}`);
  return r.directive;
}
function rejected(value: string): string {
  const r = parseReplay(value);
  assert.equal(r.ok, false, `"${value}" is rejected`);
  return r.ok ? '' : r.reason;
}

describe('parseReplay', () => {
  it('reads a single region, leaving every other field unset', () => {
    assert.deepEqual(ok('region=iad'), {
      regions: ['iad'],
      instance: undefined,
      preferInstance: undefined,
      app: undefined,
      state: undefined,
      elsewhere: false,
      timeoutMs: undefined,
      fallback: undefined,
    });
  });

  it('reads a region list with spaces and upper case, dropping empty entries', () => {
    assert.deepEqual(ok(' region = IAD , ord,,Sin ').regions, ['iad', 'ord', 'sin']);
  });

  it('reads instance, prefer_instance and app', () => {
    assert.equal(ok('instance=e784079b449483').instance, 'e784079b449483');
    const p = ok('prefer_instance=m-1');
    assert.equal(p.preferInstance, 'm-1');
    assert.equal(p.instance, undefined);
    assert.equal(ok('app=billing').app, 'billing');
  });

  it('reads field names case-insensitively, values as written', () => {
    const d = ok('Region=fra;Instance=Ab-1');
    assert.deepEqual(d.regions, ['fra']);
    assert.equal(d.instance, 'Ab-1');
  });

  it('keeps state whole, even with "=" inside (base64 padding)', () => {
    const d = ok('region=iad;state=eyJ1IjoxfQ==');
    assert.equal(d.state, 'eyJ1IjoxfQ==');
  });

  it('reads elsewhere=true alone as a target; anything else is not true', () => {
    assert.equal(ok('elsewhere=true').elsewhere, true);
    assert.equal(ok('region=iad;elsewhere=false').elsewhere, false);
    assert.equal(ok('region=iad;elsewhere').elsewhere, false);
  });

  it('combines fields, the last one of a name winning', () => {
    const d = ok('region=iad;instance=m-1;state=s;region=ord');
    assert.deepEqual(d.regions, ['ord']);
    assert.equal(d.instance, 'm-1');
    assert.equal(d.state, 's');
  });

  it('ignores unknown fields (future ones)', () => {
    assert.deepEqual(ok('region=iad;x-new=1;flag').regions, ['iad']);
  });

  it("reads fly's timeout (a duration) and fallback (force_self, prefer_self), and refuses bad ones", () => {
    const d = ok('app=worker;timeout=2s;fallback=force_self');
    assert.deepEqual([d.timeoutMs, d.fallback], [2000, 'force_self']);
    assert.deepEqual([ok('region=iad;timeout=800ms').timeoutMs, ok('region=iad;timeout=1.5s;fallback=prefer_self').timeoutMs], [800, 1500]);
    assert.match(rejected('region=iad;timeout=soon'), /bad timeout/);
    assert.match(rejected('region=iad;timeout=0s'), /bad timeout/);
    assert.match(rejected('region=iad;fallback=elsewhere'), /bad fallback/);
  });

  it('rejects a value with no target', () => {
    for (const v of ['', ' ', ';;', 'state=abc', 'timeout=5s', 'elsewhere=false', 'instance=', 'garbage']) {
      assert.match(rejected(v), /no target/, JSON.stringify(v));
    }
  });

  it('rejects an empty region list, even beside another target', () => {
    assert.equal(rejected('region='), 'empty region list');
    assert.equal(rejected('region= , ,'), 'empty region list');
    assert.equal(rejected('instance=m-1;region='), 'empty region list');
  });
});

describe('formatReplaySrc', () => {
  it('names the instance, region and time, then the state when there is one', () => {
    assert.equal(formatReplaySrc('m-1', 'fra', 1700000000123456, undefined), 'instance=m-1;region=fra;t=1700000000123456');
    assert.equal(formatReplaySrc('m-1', 'fra', 42, 'eyJ1IjoxfQ=='), 'instance=m-1;region=fra;t=42;state=eyJ1IjoxfQ==');
  });

  it('keeps an empty state (the app set one) distinct from none', () => {
    assert.equal(formatReplaySrc('m', 'iad', 1, ''), 'instance=m;region=iad;t=1;state=');
  });
});
