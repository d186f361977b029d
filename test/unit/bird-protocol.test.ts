import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ReplyCode, ReplyParser, parseReplies, replyCodeName, type BirdReply } from '../../src/announcer/bird/protocol.js';
import { parseProtocols, parseRoutes } from '../../src/announcer/bird/show.js';
import { isStarlingError } from '../../src/shared/index.js';

/**
 * The control-protocol parser on bytes captured from a real BIRD 2.0.12: each file under
 * test/fixtures/bird/ is one reply exactly as BIRD wrote it. How they were captured (raw node:net
 * client, configs, commands): test/fixtures/bird/README.md.
 */
const DIR = new URL('../../../test/fixtures/bird/', import.meta.url);
const names = readdirSync(DIR).filter((f) => f.endsWith('.raw')).map((f) => f.slice(0, -4)).sort();
const bytes = (name: string): Buffer => readFileSync(new URL(`${name}.raw`, DIR));
const reply = (name: string): BirdReply => {
  const replies = parseReplies(bytes(name));
  assert.equal(replies.length, 1, `${name} holds one reply`);
  return replies[0] as BirdReply;
};
const only = <T>(xs: T[], what: string): T => {
  assert.equal(xs.length, 1, what);
  return xs[0] as T;
};

describe('ReplyParser on captured bytes', () => {
  it('has the captures', () => assert.ok(names.length >= 20, names.join(' ')));

  for (const name of names) {
    it(`${name}: one reply, the same when split at every byte boundary or fed byte by byte`, () => {
      const b = bytes(name);
      const whole = reply(name);
      for (let i = 1; i < b.length; i++) {
        const p = new ReplyParser();
        const got = [...p.push(b.subarray(0, i)), ...p.push(b.subarray(i))];
        assert.deepEqual(got, [whole], `split at ${i}`);
        assert.equal(p.pending, false);
      }
      const p = new ReplyParser();
      const got: BirdReply[] = [];
      for (let i = 0; i < b.length; i++) got.push(...p.push(b.subarray(i, i + 1)));
      assert.deepEqual(got, [whole]);
    });
  }

  it('a whole session in one stream gives the replies in order', () => {
    const got = new ReplyParser().push(Buffer.concat(names.map(bytes)));
    assert.deepEqual(got, names.map(reply));
  });

  it('the greeting is a reply', () => {
    assert.deepEqual(reply('greeting'), { code: 1, ok: true, lines: [{ code: 1, text: 'BIRD 2.0.12 ready.' }] });
  });

  it('continuation lines take the code of the line before', () => {
    const r = reply('show-status');
    assert.equal(r.code, ReplyCode.STATUS_REPORT);
    assert.deepEqual(r.lines.map((l) => l.code), [1000, 1011, 1011, 1011, 1011, 1011, 13]);
    assert.equal(r.lines[2]?.text, 'Hostname is vm');
    assert.equal(reply('show-route-count').code, ReplyCode.ROUTE_COUNT);
  });

  it('enable/disable answer on the first line and end with 0000', () => {
    const cases: [string, number, string][] = [
      ['disable-s4', ReplyCode.DISABLED, 's4: disabled'],
      ['disable-s4-again', ReplyCode.ALREADY_DISABLED, 's4: already disabled'],
      ['enable-s4', ReplyCode.ENABLED, 's4: enabled'],
      ['enable-s4-again', ReplyCode.ALREADY_ENABLED, 's4: already enabled'],
    ];
    for (const [name, code, text] of cases) {
      assert.deepEqual(reply(name), { code: 0, ok: true, lines: [{ code, text }, { code: 0, text: '' }] }, name);
    }
  });

  it('configure: reading, then reconfigured / in progress / OK', () => {
    assert.deepEqual(reply('configure').lines, [
      { code: ReplyCode.READING_CONFIGURATION, text: 'Reading configuration from bird.conf' },
      { code: ReplyCode.RECONFIGURED, text: 'Reconfigured' },
    ]);
    assert.equal(reply('configure-in-progress').code, ReplyCode.RECONFIGURATION_IN_PROGRESS);
    assert.equal(reply('configure-check').code, ReplyCode.CONFIGURATION_OK);
  });

  it('errors: 8xxx run-time and 9xxx parse-time replies are not ok', () => {
    const broken = reply('configure-broken');
    assert.equal(broken.code, ReplyCode.CONFIGURATION_FILE_ERROR);
    assert.equal(broken.ok, false);
    assert.equal(broken.lines.at(-1)?.text, 'broken.conf:2:47 Invalid prefix length 33');
    assert.equal(reply('no-protocols-match').code, ReplyCode.NO_PROTOCOLS_MATCH);
    const syntax = reply('error-syntax');
    assert.equal(syntax.code, ReplyCode.PARSE_ERROR);
    assert.equal(syntax.ok, false);
    assert.match(syntax.lines[0]?.text ?? '', /^syntax error, unexpected CF_SYM_UNDEFINED/);
    assert.equal(replyCodeName(8002), 'configuration file error');
    assert.equal(replyCodeName(8099), 'run-time error');
  });
});

describe('ReplyParser on edge cases', () => {
  const throwsProtocol = (input: string) =>
    assert.throws(() => new ReplyParser().push(input), (e) => isStarlingError(e, 'ERR_BIRD_PROTOCOL'), input);

  it('"+" lines are spontaneous printouts, outside any reply', () => {
    const async: string[] = [];
    const p = new ReplyParser({ onAsync: (t) => async.push(t) });
    const got = p.push('1002-a\n+2024-01-01 log line\n b\n0000 \n');
    assert.deepEqual(got, [{ code: 0, ok: true, lines: [{ code: 1002, text: 'a' }, { code: 1002, text: 'b' }, { code: 0, text: '' }] }]);
    assert.deepEqual(async, ['2024-01-01 log line']);
  });

  it('a UTF-8 character split between chunks, and CRLF, survive', () => {
    const b = Buffer.from('0001 BIRD héllo\r\n');
    const at = b.indexOf(0xc3) + 1;
    const p = new ReplyParser();
    assert.deepEqual([...p.push(b.subarray(0, at)), ...p.push(b.subarray(at))], [
      { code: 1, ok: true, lines: [{ code: 1, text: 'BIRD héllo' }] },
    ]);
  });

  it('rejects malformed lines and endless lines', () => {
    throwsProtocol(' continuation first\n');
    throwsProtocol('hello\n');
    throwsProtocol('0001\n');
    throwsProtocol('01 short\n');
    assert.throws(() => new ReplyParser({ maxLineBytes: 10 }).push('1002-' + 'x'.repeat(20)), (e) =>
      isStarlingError(e, 'ERR_BIRD_PROTOCOL'),
    );
    assert.throws(() => parseReplies('1002-unfinished\n'), (e) => isStarlingError(e, 'ERR_BIRD_PROTOCOL'));
  });
});

describe('parseProtocols', () => {
  it('show protocols: the summary table', () => {
    const ps = parseProtocols(reply('show-protocols'));
    assert.deepEqual(
      ps.map((p) => [p.name, p.proto, p.table, p.state, p.since, p.info]),
      [
        ['device1', 'Device', '---', 'up', '21:04:08.649', ''],
        ['s4', 'Static', 'master4', 'up', '21:04:08.649', ''],
        ['up1', 'BGP', '---', 'start', '21:04:08.649', 'Active        Socket: No route to host'],
      ],
    );
    assert.ok(ps.every((p) => p.bgp === undefined && p.channels.length === 0));
  });

  it('show protocols all up1: a BGP session that never came up', () => {
    const up1 = only(parseProtocols(reply('show-protocols-all-up1')), 'one protocol');
    assert.deepEqual(up1.bgp, {
      state: 'Active',
      neighborAddress: '192.0.2.254',
      neighborAs: 65000,
      localAs: 65001,
      neighborId: undefined,
      sourceAddress: undefined,
      lastError: 'Socket: No route to host',
      holdTimer: undefined,
      keepaliveTimer: undefined,
    });
    assert.equal(up1.details['Connect delay'], '3.939/5');
    const ch = only(up1.channels, 'one channel');
    assert.deepEqual(ch, {
      name: 'ipv4',
      state: 'DOWN',
      table: 'master4',
      preference: 100,
      inputFilter: 'REJECT',
      outputFilter: 'ACCEPT',
      routes: undefined,
    });
  });

  it('show protocols all: every protocol, with channel route counts', () => {
    const ps = parseProtocols(reply('show-protocols-all'));
    assert.deepEqual(ps.map((p) => p.name), ['device1', 's4', 'up1']);
    assert.deepEqual(ps[1]?.channels[0]?.routes, { imported: 1, exported: 0, preferred: 1, filtered: 0 });
    assert.equal(ps[2]?.bgp?.lastError, 'Socket: No route to host');
  });

  it('an established session: neighbor id, timers, exported routes', () => {
    const up1 = only(parseProtocols(reply('established-show-protocols-all-up1')), 'one protocol');
    assert.equal(up1.state, 'up');
    assert.equal(up1.info, 'Established');
    assert.equal(up1.bgp?.state, 'Established');
    assert.equal(up1.bgp?.neighborId, '192.0.2.254');
    assert.equal(up1.bgp?.sourceAddress, '127.0.0.1');
    assert.equal(up1.bgp?.holdTimer?.total, 240);
    assert.ok((up1.bgp?.holdTimer?.remaining ?? 0) > 0);
    assert.equal(up1.bgp?.keepaliveTimer?.total, 80);
    assert.equal(up1.bgp?.lastError, undefined);
    assert.deepEqual(up1.channels[0]?.routes, { imported: 0, exported: 2, preferred: 0, filtered: 0 });
    assert.equal(up1.details['Session'], 'external multihop AS4');
    const down1 = only(parseProtocols(reply('established-show-protocols-all-down1')), 'one protocol');
    assert.deepEqual(down1.channels[0]?.routes, { imported: 2, exported: 0, preferred: 1, filtered: 0 });
  });
});

describe('parseRoutes', () => {
  it('show route / show route all / show route for: a static blackhole', () => {
    const plain = only(parseRoutes(reply('show-route')), 'one route');
    assert.deepEqual(plain, {
      table: 'master4',
      prefix: '198.51.100.0/24',
      type: 'blackhole',
      nextHops: [],
      protocol: 's4',
      since: '21:04:08.649',
      from: undefined,
      primary: true,
      preference: 200,
      info: '',
      attributes: {},
      asPath: undefined,
      communities: undefined,
    });
    assert.deepEqual(only(parseRoutes(reply('show-route-all')), 'one route').attributes, { Type: 'static univ' });
    assert.deepEqual(parseRoutes(reply('show-route-for')), [plain]);
  });

  it('an empty table prints nothing', () => {
    assert.deepEqual(parseRoutes(reply('show-route-empty')), []);
  });

  it('BGP routes: second route of a prefix, next hops, AS path, communities', () => {
    const rs = parseRoutes(reply('established-show-route-all'));
    assert.deepEqual(rs.map((r) => [r.prefix, r.type, r.protocol, r.primary, r.preference]), [
      ['198.51.100.0/24', 'unicast', 'b4', true, 200],
      ['198.51.100.0/24', 'unreachable', 'down1', false, 100],
      ['203.0.113.0/24', 'unreachable', 'down1', true, 100],
    ]);
    const [stat, bgp1, bgp2] = rs;
    assert.deepEqual(stat?.nextHops, [{ via: '192.0.2.1', iface: 'eth0', weight: undefined }]);
    assert.equal(bgp1?.from, '127.0.0.1');
    assert.equal(bgp1?.info, '[AS65001i]');
    assert.deepEqual(bgp1?.asPath, [65001]);
    assert.deepEqual(bgp1?.communities, [[65001, 100]]);
    assert.equal(bgp1?.attributes['BGP.next_hop'], '127.0.0.1');
    assert.deepEqual(bgp2?.asPath, [65001, 65001, 65001]);
    assert.deepEqual(bgp2?.communities, [[65001, 100], [65535, 0]]);
    assert.equal(bgp2?.attributes['BGP.large_community'], '(65001, 1, 2)');
    assert.deepEqual(parseRoutes(reply('established-show-route')).map((r) => r.prefix), rs.map((r) => r.prefix));
  });

  it('a community list BIRD wraps onto a second line is read whole', () => {
    const r = only(parseRoutes(reply('established-show-route-long-community')), 'one route');
    assert.equal(r.communities?.length, 81);
    assert.deepEqual(r.communities?.slice(42, 44), [[65001, 43], [65001, 44]]);
    assert.deepEqual(r.communities?.at(-1), [65001, 100]);
  });
});
