import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AgentConfigError, loadAgentConfig, parseAgentConfig, parseHostPort, type AgentConfig } from '../../src/agent/config.js';
import { isStarlingError, type SchemaIssue } from '../../src/shared/index.js';

const MINIMAL = `
[agent]
region = "fra"

[proxy]
routes = "/etc/starling/routes.toml"

[bgp]
asn = 65001
router_id = "192.0.2.1"
prefixes = ["198.51.100.0/24", "2001:DB8:100:0::/48"]

[[bgp.peers]]
name = "transit_a"
address = "192.0.2.254"
asn = 64500

[[bgp.peers]]
name = "transit_b6"
address = "2001:DB8:FFFF:0:0::1"
asn = 4200000000
password = "md5 s3cret!"
multihop = 2
source_address = "2001:db8:ffff::2"
hold_time = 30
bfd = { enabled = true, interval_ms = 300 }
`;

function issuesOf(text: string): SchemaIssue[] {
  try {
    parseAgentConfig(text, 'agent.toml');
  } catch (e) {
    assert.ok(e instanceof AgentConfigError, `expected AgentConfigError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_AGENT_CONFIG');
    assert.equal(e.fault, 'user');
    return e.issues;
  }
  assert.fail('expected the config to be rejected');
}

/** MINIMAL with one line replaced (or, with `to` alone, with lines added to a section). */
const edit = (from: string, to: string): string => {
  assert.ok(MINIMAL.includes(from), `fixture has no ${from}`);
  return MINIMAL.replace(from, to);
};

describe('parseAgentConfig', () => {
  it('applies every default and derives the announcer spec', () => {
    const expected: AgentConfig = {
      agent: { region: 'fra', state_dir: '/var/lib/starling/agent', admin_listen: '127.0.0.1:9190', token_file: '/var/lib/starling/agent/admin.token' },
      proxy: {
        listen: '0.0.0.0:80',
        tls_listen: undefined,
        default_cert: 'refuse',
        routes: '/etc/starling/routes.toml',
        admin: '127.0.0.1:9191',
        max_connections: 50_000,
        max_connections_per_ip: 1000,
        response_idle_timeout: 60_000,
      },
      runtime: {
        driver: 'sandbox',
        data_dir: '/var/lib/starling/agent/machines',
        bridge: 'starling0',
        network: '172.31.0.0/16',
        uid_base: 0x70000000,
        allow_host_root: false,
        image_gc_after_ms: 24 * 3600_000,
        max_image_bytes: 4 * 1024 ** 3,
      },
      announcer: {
        bgp: {
          asn: 65001,
          router_id: '192.0.2.1',
          prefixes: ['198.51.100.0/24', '2001:db8:100::/48'],
          drain_prepend: 3,
          bird: '/usr/sbin/bird',
          peers: [
            {
              name: 'transit_a',
              address: '192.0.2.254',
              asn: 64500,
              hold_time: 9,
              keepalive_time: 3,
              bfd: { enabled: false, interval_ms: 100, multiplier: 3 },
            },
            {
              name: 'transit_b6',
              address: '2001:db8:ffff::1',
              asn: 4200000000,
              password: 'md5 s3cret!',
              multihop: 2,
              source_address: '2001:db8:ffff::2',
              hold_time: 30,
              keepalive_time: 10,
              bfd: { enabled: true, interval_ms: 300, multiplier: 3 },
            },
          ],
        },
        health: { url: 'http://127.0.0.1:9191/healthz', interval_ms: 200, timeout_ms: 150, rise: 2, fall: 2, damping_ms: 5000 },
        drain: { delay_ms: 30000 },
        state_dir: '/var/lib/starling/agent/bird',
      },
    };
    assert.deepEqual(parseAgentConfig(MINIMAL, 'agent.toml'), expected);
  });

  it('derives token_file, the BIRD state dir and the health URL from what is set', () => {
    const c = parseAgentConfig(
      edit('[agent]\n', '[agent]\nstate_dir = "/srv/pop1"\n').replace('[proxy]\n', '[proxy]\nadmin = "[::]:7000"\n'),
      'agent.toml',
    );
    assert.equal(c.agent.token_file, '/srv/pop1/admin.token');
    assert.equal(c.announcer.state_dir, '/srv/pop1/bird');
    assert.equal(c.announcer.health.url, 'http://[::1]:7000/healthz');
  });

  it('reports a bad ASN, overlapping prefixes, an unknown key, a bad peer name and a v6 peer without v6 prefixes, all at once', () => {
    const bad = `
[agent]
region = "fra"
colour = "blue"

[proxy]
routes = "/etc/starling/routes.toml"

[bgp]
asn = 23456
router_id = "192.0.2.1"
prefixes = ["10.0.0.0/8", "10.1.0.0/16"]

[[bgp.peers]]
name = "Upstream-1"
address = "2001:db8::1"
asn = 64500
`;
    const issues = issuesOf(bad);
    const find = (path: string, re: RegExp): void => {
      assert.ok(issues.some((i) => i.path === path && re.test(i.message)), `no issue at ${path} matching ${re}: ${JSON.stringify(issues)}`);
    };
    find('agent', /unknown key "colour"/);
    find('bgp.asn', /AS_TRANS/);
    find('bgp.prefixes[1]', /"10\.1\.0\.0\/16" overlaps "10\.0\.0\.0\/8" \(bgp\.prefixes\[0\]\)/);
    find('bgp.peers[0].name', /a-z, 0-9 and "_"/);
    find('bgp.peers[0].address', /peer Upstream-1 is IPv6 but no IPv6 prefix is configured/);
    assert.equal(issues.length, 5, JSON.stringify(issues, null, 2));
  });

  it('lists every issue in the error message, one per line, with the file name', () => {
    try {
      parseAgentConfig(edit('asn = 64500', 'asn = 0').replace('hold_time = 30', 'hold_time = 2'), '/etc/starling/agent.toml');
      assert.fail('expected a rejection');
    } catch (e) {
      assert.ok(isStarlingError(e, 'ERR_AGENT_CONFIG'));
      assert.match(e.message, /^\/etc\/starling\/agent\.toml: bgp\.peers\[0\]\.asn: .*0 is reserved/m);
      assert.match(e.message, /^\/etc\/starling\/agent\.toml: bgp\.peers\[1\]\.hold_time: must be 0 .* or from 3 to 65535/m);
    }
  });

  it('rejects keepalive_time at or above hold_time, and any keepalive with hold_time 0', () => {
    const atHold = issuesOf(edit('hold_time = 30', 'hold_time = 30\nkeepalive_time = 30'));
    assert.deepEqual(atHold.map((i) => i.path), ['bgp.peers[1].keepalive_time']);
    assert.match(atHold[0]!.message, /less than hold_time \(30\)/);
    const defaultHold = issuesOf(edit('asn = 64500', 'asn = 64500\nkeepalive_time = 9'));
    assert.match(defaultHold[0]!.message, /less than hold_time \(9\)/);
    assert.equal(issuesOf(edit('hold_time = 30', 'hold_time = 0\nkeepalive_time = 1'))[0]?.path, 'bgp.peers[1].keepalive_time');
    const noHold = parseAgentConfig(edit('hold_time = 30', 'hold_time = 0'), 'agent.toml');
    assert.equal(noHold.announcer.bgp.peers[1]?.keepalive_time, 0);
  });

  it('rejects prefixes with host bits set, naming the network', () => {
    const issues = issuesOf(edit('"198.51.100.0/24"', '"198.51.100.7/24"').replace('2001:DB8:100:0::/48', '2001:db8:100::1/48'));
    assert.deepEqual(issues, [
      { path: 'bgp.prefixes[0]', message: '"198.51.100.7/24" has host bits set: the network is 198.51.100.0/24' },
      { path: 'bgp.prefixes[1]', message: '"2001:db8:100::1/48" has host bits set: the network is 2001:db8:100::/48' },
    ]);
  });

  it('rejects duplicate peers, iBGP, BIRD keywords and passwords BIRD cannot quote', () => {
    const issues = issuesOf(
      edit('name = "transit_b6"', 'name = "transit_a"')
        .replace('address = "2001:DB8:FFFF:0:0::1"', 'address = "192.0.2.254"')
        .replace('source_address = "2001:db8:ffff::2"', 'source_address = "192.0.2.1"')
        .replace('asn = 4200000000', 'asn = 65001')
        .replace('password = "md5 s3cret!"', 'password = \'a"b\'')
        .replace('name = "transit_a"', 'name = "out"'),
    );
    const at = (path: string): string[] => issues.filter((i) => i.path === path).map((i) => i.message);
    assert.match(at('bgp.peers[0].name').join(), /"out" is a reserved word in BIRD's config/);
    assert.match(at('bgp.peers[1].address').join(), /already used by bgp\.peers\[0\]/);
    assert.match(at('bgp.peers[1].asn').join(), /iBGP is not supported yet/);
    assert.match(at('bgp.peers[1].password').join(), /must not contain " or \\/);
  });

  it('requires source_address for BFD over multihop and a matching family', () => {
    const missing = issuesOf(edit('source_address = "2001:db8:ffff::2"\n', ''));
    assert.deepEqual(missing.map((i) => i.path), ['bgp.peers[1].source_address']);
    const wrongFamily = issuesOf(edit('source_address = "2001:db8:ffff::2"', 'source_address = "192.0.2.1"'));
    assert.match(wrongFamily[0]!.message, /must be IPv6/);
  });

  it('rejects health.timeout_ms not below interval_ms, saying when the default is the culprit', () => {
    const issues = issuesOf(`${MINIMAL}\n[health]\ninterval_ms = 100\n`);
    assert.deepEqual(issues, [{ path: 'health.timeout_ms', message: 'must be less than interval_ms (100); the default is 150' }]);
  });

  it('reports TOML syntax errors with a line and column', () => {
    const issues = issuesOf('[agent]\nregion = "fra\n');
    assert.equal(issues.length, 1);
    assert.match(issues[0]!.path, /^line 2, column \d+$/);
    assert.match(issues[0]!.message, /^invalid TOML/);
  });
});

describe('[proxy] connection caps and response_idle_timeout', () => {
  const withProxy = (lines: string): string =>
    edit('routes = "/etc/starling/routes.toml"\n', `routes = "/etc/starling/routes.toml"\n${lines}\n`);

  it('takes the caps as whole numbers and the timeout in the Machines API duration grammar (→ ms)', () => {
    const c = parseAgentConfig(withProxy('max_connections = 2000\nmax_connections_per_ip = 2000\nresponse_idle_timeout = "1m30s"'), 'agent.toml');
    assert.deepEqual([c.proxy.max_connections, c.proxy.max_connections_per_ip, c.proxy.response_idle_timeout], [2000, 2000, 90_000]);
    for (const [text, ms] of [['"500ms1s"', 1500], ['"2h"', 7_200_000], ['45', 45_000], ['1.5', 1500]] as const) {
      assert.equal(parseAgentConfig(withProxy(`response_idle_timeout = ${text}`), 'agent.toml').proxy.response_idle_timeout, ms, text);
    }
  });

  it('rejects caps that are not whole numbers of at least 1', () => {
    for (const v of ['0', '-5', '1.5', '"100"']) {
      const issues = issuesOf(withProxy(`max_connections = ${v}\nmax_connections_per_ip = ${v}`));
      assert.deepEqual(issues.map((i) => i.path), ['proxy.max_connections', 'proxy.max_connections_per_ip'], `${v}: ${JSON.stringify(issues)}`);
      assert.ok(issues.every((i) => /whole number|at least 1|expected number/.test(i.message)), JSON.stringify(issues));
    }
  });

  it('rejects a per-address cap above the total, saying when the default is the culprit', () => {
    assert.deepEqual(issuesOf(withProxy('max_connections = 100\nmax_connections_per_ip = 200')), [
      { path: 'proxy.max_connections_per_ip', message: 'must be at most max_connections (100)' },
    ]);
    assert.deepEqual(issuesOf(withProxy('max_connections = 500')), [
      { path: 'proxy.max_connections_per_ip', message: 'must be at most max_connections (500) (its default is 1000: set it too)' },
    ]);
  });

  it('rejects response_idle_timeout outside 1s–24h or not a duration', () => {
    for (const v of ['"0s"', '"999ms"', '"25h"', '"60"', '"soon"', '0', 'true']) {
      const issues = issuesOf(withProxy(`response_idle_timeout = ${v}`));
      assert.deepEqual(issues.map((i) => i.path), ['proxy.response_idle_timeout'], `${v}: ${JSON.stringify(issues)}`);
    }
    assert.match(issuesOf(withProxy('response_idle_timeout = "soon"'))[0]!.message, /duration from 1s to 24h such as "60s"/);
  });
});

describe('[control]', () => {
  const withControl = (lines: string, listen = '10.1.2.3:80'): string =>
    edit('routes = "/etc/starling/routes.toml"\n', `routes = "/etc/starling/routes.toml"\nlisten = "${listen}"\n`) + `\n[control]\n${lines}\n`;

  it('is optional: without it there is no control key at all', () => {
    assert.equal('control' in parseAgentConfig(MINIMAL, 'agent.toml'), false);
  });

  it('defaults everything but the URL from the agent section and proxy.listen', () => {
    const c = parseAgentConfig(withControl('url = "https://10.0.0.1:9300"').replace('[agent]\n', '[agent]\nstate_dir = "/srv/a"\n'), 'agent.toml');
    assert.deepEqual(c.control, {
      url: 'https://10.0.0.1:9300',
      credential_file: '/srv/a/control.credential',
      join_token_file: '/srv/a/join.token',
      fingerprint: undefined,
      insecure: false,
      host_id: undefined,
      capacity: { machines: 8, volume_gb: undefined },
      proxy_address: '10.1.2.3:80',
      apps_domain: 'starling.test',
      cache_file: '/srv/a/control-cache.json',
    });
  });

  it('refuses plain HTTP to a non-loopback control plane unless insecure = true; loopback is fine', () => {
    const issues = issuesOf(withControl('url = "http://10.0.0.1:9300"'));
    assert.deepEqual(issues.map((i) => i.path), ['control.url']);
    assert.match(issues[0]!.message, /plain HTTP to a non-loopback address/);
    assert.equal(parseAgentConfig(withControl('url = "http://10.0.0.1:9300"\ninsecure = true'), 'agent.toml').control?.insecure, true);
    for (const url of ['http://127.0.0.1:9300', 'http://[::1]:9300', 'http://localhost:9300']) assert.equal(parseAgentConfig(withControl(`url = "${url}"`), 'agent.toml').control?.url, url);
  });

  it('says the shared agent token is gone and what replaced it', () => {
    const issues = issuesOf(withControl('url = "https://10.0.0.1:9300"\ntoken_file = "/etc/starling/agent.token"'));
    assert.deepEqual(issues.map((i) => i.path), ['control.token_file']);
    assert.match(issues[0]!.message, /no longer used: a host joins with a one-time join token \(starling hosts add/);
  });

  it('takes every key', () => {
    const c = parseAgentConfig(
      withControl(
        [
          'url = "https://control.example:9300/"',
          'credential_file = "/etc/starling/control.credential"',
          'join_token_file = "/etc/starling/join.token"',
          'fingerprint = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"',
          'host_id = "fra-1"',
          'capacity = 32',
          'volume_capacity_gb = 200',
          'proxy_address = "[2001:db8::7]:8080"',
          'apps_domain = "apps.example.net"',
          'cache_file = "/var/cache/starling/view.json"',
        ].join('\n'),
        '0.0.0.0:80',
      ),
      'agent.toml',
    );
    assert.deepEqual(c.control, {
      url: 'https://control.example:9300/',
      credential_file: '/etc/starling/control.credential',
      join_token_file: '/etc/starling/join.token',
      fingerprint: 'abcdef0123456789'.repeat(4),
      insecure: false,
      host_id: 'fra-1',
      capacity: { machines: 32, volume_gb: 200 },
      proxy_address: '[2001:db8::7]:8080',
      apps_domain: 'apps.example.net',
      cache_file: '/var/cache/starling/view.json',
    });
  });

  it('needs proxy_address when proxy.listen is a wildcard or a hostname', () => {
    for (const listen of ['0.0.0.0:80', '[::]:80', 'localhost:80']) {
      const issues = issuesOf(withControl('url = "https://10.0.0.1:9300"', listen));
      assert.deepEqual(issues.map((i) => i.path), ['control.proxy_address'], listen);
      assert.match(issues[0]!.message, /is required/);
    }
    assert.match(issuesOf(`${MINIMAL}\n[control]\nurl = "https://10.0.0.1:9300"\n`)[0]!.message, /proxy\.listen \(0\.0\.0\.0:80\)/, 'the default listen too');
  });

  it('reports every bad key at once', () => {
    const issues = issuesOf(
      withControl(
        ['url = "ftp://x"', 'credential_file = "rel/cred"', 'join_token_file = "rel/join"', 'fingerprint = "abc"', 'host_id = "Fra_1"', 'capacity = -1', 'proxy_address = "0.0.0.0:80"', 'apps_domain = "Not A Domain"', 'cache_file = "x.json"', 'bogus = 1'].join('\n'),
      ),
    );
    assert.deepEqual(issues.map((i) => i.path).sort(), [
      'control',
      'control.apps_domain',
      'control.cache_file',
      'control.capacity',
      'control.credential_file',
      'control.fingerprint',
      'control.host_id',
      'control.join_token_file',
      'control.proxy_address',
      'control.url',
    ]);
    assert.match(issuesOf(withControl('capacity = 2'))[0]!.message, /is required/, 'url is required');
  });
});

describe('[mesh]', () => {
  const withMesh = (mesh: string, control = true): string =>
    edit('routes = "/etc/starling/routes.toml"\n', 'routes = "/etc/starling/routes.toml"\nlisten = "10.1.2.3:80"\n').replace('[agent]\n', '[agent]\nstate_dir = "/srv/a"\n') +
    (control ? '\n[control]\nurl = "https://10.0.0.1:9300"\n' : '') +
    `\n[mesh]\n${mesh}\n`;

  it('defaults the ports, the key file and the endpoint (proxy_address\'s IP at the port)', () => {
    assert.deepEqual(parseAgentConfig(withMesh('interface = "stm-fra1"'), 'agent.toml').mesh, { interface: 'stm-fra1', listen_port: 51820, endpoint: '10.1.2.3:51820', key_file: '/srv/a/wireguard.key', backhaul_port: 4280, dns_upstream: 'resolv.conf', wireguard: 'auto' });
    assert.equal(parseAgentConfig(withMesh('interface = "wg0"\nbackhaul_port = 9000'), 'agent.toml').mesh?.backhaul_port, 9000);
    for (const up of ['off', '[2001:db8::53]:53', '192.0.2.53:5353']) assert.equal(parseAgentConfig(withMesh(`interface = "wg0"\ndns_upstream = "${up}"`), 'agent.toml').mesh?.dns_upstream, up);
    assert.equal(parseAgentConfig(withMesh('interface = "wg0"\nlisten_port = 5000\nendpoint = "[2001:db8::1]:5000"'), 'agent.toml').mesh?.endpoint, '[2001:db8::1]:5000');
  });

  it('reports a bad interface name, a wildcard endpoint, a bad port and a missing [control] at once', () => {
    const issues = issuesOf(withMesh('interface = "a-name-far-too-long"\nlisten_port = 0\nendpoint = "0.0.0.0:51820"\nbackhaul_port = 70000\ndns_upstream = "8.8.8.8"\nwireguard = "boringtun"\nextra = 1'));
    assert.deepEqual(issues.map((i) => i.path).sort(), ['mesh', 'mesh.backhaul_port', 'mesh.dns_upstream', 'mesh.endpoint', 'mesh.interface', 'mesh.listen_port', 'mesh.wireguard']);
    assert.deepEqual(issuesOf(withMesh('interface = "wg0"', false)).map((i) => [i.path, i.message]), [['mesh', "needs [control]: the mesh's peers are the control plane's hosts"]]);
  });
});

describe('parseHostPort', () => {
  it('takes IPv4, hostnames and bracketed IPv6; refuses the rest', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:9190'), { host: '127.0.0.1', port: 9190 });
    assert.deepEqual(parseHostPort('[::1]:80'), { host: '::1', port: 80 });
    assert.deepEqual(parseHostPort('localhost:1'), { host: 'localhost', port: 1 });
    for (const bad of ['::1:80', '1.2.3.4:0', '1.2.3.4:65536', '1.2.3.4', '[1.2.3.4]:80', 'a b:80']) assert.equal(parseHostPort(bad), undefined, bad);
    // A listener's "any free port" (the CLI's --listen) only when asked for.
    assert.deepEqual(parseHostPort('1.2.3.4:0', { portZero: true }), { host: '1.2.3.4', port: 0 });
    assert.equal(parseHostPort('1.2.3.4:65536', { portZero: true }), undefined);
  });
});

describe('loadAgentConfig', () => {
  it('reads a file, and says which file it could not read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'starling-agent-config-'));
    try {
      writeFileSync(join(dir, 'agent.toml'), MINIMAL);
      assert.equal((await loadAgentConfig(join(dir, 'agent.toml'))).agent.region, 'fra');
      await assert.rejects(loadAgentConfig(join(dir, 'missing.toml')), (e) => isStarlingError(e, 'ERR_AGENT_CONFIG_READ') && e.fault === 'user');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('docs/agent-toml.md', () => {
  it('has a complete example that is valid', () => {
    let root = dirname(fileURLToPath(import.meta.url));
    while (!existsSync(join(root, 'package.json'))) root = dirname(root);
    const doc = readFileSync(join(root, 'docs/agent-toml.md'), 'utf8');
    const example = /```toml\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(example, 'no TOML example in the doc');
    const c = parseAgentConfig(example, 'docs/agent-toml.md');
    assert.equal(c.announcer.bgp.peers.length, 2);
  });
});

describe('[runtime] machine identity', () => {
  it('takes uid_base and allow_host_root', () => {
    const c = parseAgentConfig(`${MINIMAL}\n[runtime]\nuid_base = 0x10000\nallow_host_root = true\n`, 'agent.toml');
    assert.equal(c.runtime.uid_base, 65536);
    assert.equal(c.runtime.allow_host_root, true);
    assert.equal(parseAgentConfig(`${MINIMAL}\n[runtime]\nuid_base = 0xfbff0000\n`, 'agent.toml').runtime.uid_base, 0xfbff0000);
  });

  it('refuses a uid_base that is 0, among the host users, unaligned or without room for the blocks', () => {
    const msg = (v: string): string => {
      const issues = issuesOf(`${MINIMAL}\n[runtime]\nuid_base = ${v}\n`);
      assert.deepEqual(issues.map((i) => i.path), ['runtime.uid_base'], v);
      return issues[0]!.message;
    };
    assert.match(msg('0'), /at least 65536/);
    assert.match(msg('1000'), /at least 65536/);
    assert.match(msg('0x70000001'), /multiple of 65536/);
    assert.match(msg('0xfc000000'), /room for 1024 apps/);
    assert.match(msg('"0x70000000"'), /number/);
    assert.deepEqual(issuesOf(`${MINIMAL}\n[runtime]\nallow_host_root = "yes"\n`).map((i) => i.path), ['runtime.allow_host_root']);
  });
});
