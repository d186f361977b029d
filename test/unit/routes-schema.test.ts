import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { APP_NAME_RULE } from '../../src/contract/index.js';
import { isStarlingError } from '../../src/shared/index.js';
import { RouteTable, RoutesInvalidError, parseRoutesSpec, parseRoutesText } from '../../src/proxy/route-table/index.js';

const JSON_FILE = `{
  "apps": [
    {
      "name": "shop",
      "hostnames": ["shop.example.com", "*.shop.example.com"],
      "primary_region": "fra",
      "service": { "internal_port": 3000, "concurrency": { "type": "requests", "soft_limit": 10, "hard_limit": 25 } },
      "machines": [
        { "id": "m-fra-1", "region": "fra", "address": "10.0.0.1" },
        { "id": "m-iad-1", "region": "iad", "address": "fd00::2", "port": 3001, "state": "stopped", "healthy": false }
      ]
    },
    { "name": "blog", "hostnames": ["blog.example.com"], "machines": [] }
  ],
  "rtt": { "fra": { "iad": 92 } }
}`;

const TOML_FILE = `
[[apps]]
name = "shop"
hostnames = ["shop.example.com", "*.shop.example.com"]
primary_region = "fra"

[apps.service]
internal_port = 3000
concurrency = { type = "requests", soft_limit = 10, hard_limit = 25 }

[[apps.machines]]
id = "m-fra-1"
region = "fra"
address = "10.0.0.1"

[[apps.machines]]
id = "m-iad-1"
region = "iad"
address = "fd00::2"
port = 3001
state = "stopped"
healthy = false

[[apps]]
name = "blog"
hostnames = ["blog.example.com"]
machines = []

[rtt.fra]
iad = 92
`;

function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof RoutesInvalidError, `expected RoutesInvalidError, got ${String(e)}`);
    assert.ok(isStarlingError(e, 'ERR_ROUTES_INVALID'));
    assert.equal(e.fault, 'user');
    return e.issues;
  }
  assert.fail('expected the routes file to be rejected');
}

const machine = (id: string, region: string, address = '10.0.0.9') => ({ id, region, address });

describe('routes schema', () => {
  it('applies defaults to a minimal file', () => {
    const spec = parseRoutesSpec(
      { apps: [{ name: 'a', hostnames: ['a.test'], machines: [machine('m1', 'ams')] }] },
      'routes.json',
    );
    const a = spec.apps[0];
    assert.ok(a);
    assert.deepEqual(a.service, {
      internal_port: 8080,
      concurrency: { type: 'connections', soft_limit: 20 },
      auto_start_machines: true,
      auto_stop_machines: 'off',
      min_machines_running: 0,
    });
    assert.equal(a.service.concurrency.hard_limit, undefined);
    assert.deepEqual(a.machines[0], { id: 'm1', region: 'ams', address: '10.0.0.9', state: 'started', healthy: true });
    assert.equal(a.primary_region, undefined);
  });

  it('parses TOML and JSON to the same spec', () => {
    const fromJson = parseRoutesText(JSON_FILE, 'routes.json');
    const fromToml = parseRoutesText(TOML_FILE, '/etc/starling/routes.toml');
    assert.deepEqual(fromToml, fromJson);
    assert.equal(fromJson.apps[1]?.service.internal_port, 8080);
    // The format argument overrides the extension.
    assert.deepEqual(parseRoutesText(TOML_FILE, 'routes.conf', 'toml'), fromJson);
  });

  it('reports every mistake at once, with paths', () => {
    const issues = issuesOf(() =>
      parseRoutesSpec(
        {
          apps: [
            {
              name: 'shop',
              hostnames: ['shop.example.com'],
              service: { concurrency: { soft_limit: 0 } },
              machines: [machine('m1', 'fra', 'not-an-ip'), machine('m2', 'xyz')],
            },
            { name: 'shop2', hostnames: ['shop.example.com'], machines: [] },
          ],
        },
        'routes.json',
      ),
    );
    assert.deepEqual(
      issues.map((i) => i.path),
      [
        'apps[0].service.concurrency.soft_limit',
        'apps[0].machines[0].address',
        'apps[0].machines[1].region',
        'apps[1].hostnames[0]',
      ],
    );
    assert.match(issues[2]?.message ?? '', /unknown region "xyz".*`rtt`.*catalog/);
    assert.match(issues[3]?.message ?? '', /already claimed by app "shop"/);
  });

  it('puts every issue in the error message, one per line, naming the file', () => {
    try {
      parseRoutesSpec({ apps: [{ name: 'Bad_Name', hostnames: [], machines: 3 }] }, 'routes.json');
      assert.fail('expected a rejection');
    } catch (e) {
      assert.ok(e instanceof RoutesInvalidError);
      const lines = e.message.split('\n');
      assert.equal(lines.length, 3);
      for (const l of lines) assert.match(l, /^routes\.json: apps\[0\]\.(name|hostnames|machines): /);
    }
  });

  it("names apps by the contract's rule, as the control plane does (a digit first is refused)", () => {
    const ok = parseRoutesSpec({ apps: [{ name: 'a1-b', hostnames: ['a.test'], machines: [] }] }, 'r.json');
    assert.equal(ok.apps[0]?.name, 'a1-b');
    for (const bad of ['1app', '-app', 'App', 'a.b', 'a'.repeat(64)]) {
      const issues = issuesOf(() => parseRoutesSpec({ apps: [{ name: bad, hostnames: ['a.test'], machines: [] }] }, 'r.json'));
      assert.deepEqual(issues, [{ path: 'apps[0].name', message: APP_NAME_RULE }], bad);
    }
  });

  it('rejects unknown keys with their path', () => {
    const issues = issuesOf(() =>
      parseRoutesSpec({ apps: [{ name: 'a', hostnames: ['a.test'], machines: [{ ...machine('m1', 'fra'), cpu: 2 }] }] }, 'r.json'),
    );
    assert.deepEqual(issues, [{ path: 'apps[0].machines[0]', message: 'unknown key "cpu"' }]);
  });

  it('checks duplicates, limits, hostnames and regions', () => {
    const issues = issuesOf(() =>
      parseRoutesSpec(
        {
          apps: [
            {
              name: 'a',
              hostnames: ['A.test', 'bad_host.test', 'localhost', '127.0.0.1', '::1', '*.ok.test'],
              primary_region: 'zzz',
              service: { internal_port: 70000, concurrency: { soft_limit: 10, hard_limit: 5 } },
              machines: [machine('m1', 'fra'), machine('m1', 'FRA')],
            },
            { name: 'a', hostnames: ['x.test'], machines: [] },
          ],
          rtt: { fra: { iad: -1 } },
        },
        'r.json',
      ),
    );
    const paths = issues.map((i) => i.path).sort();
    assert.deepEqual(paths, [
      'apps[0].hostnames[0]',
      'apps[0].hostnames[1]',
      'apps[0].machines[1].id',
      'apps[0].machines[1].region',
      'apps[0].primary_region',
      'apps[0].service.concurrency.hard_limit',
      'apps[0].service.internal_port',
      'apps[1].name',
      'rtt.fra.iad',
    ]);
  });

  it('accepts a region that is only named in the rtt table', () => {
    const spec = parseRoutesSpec(
      { apps: [{ name: 'a', hostnames: ['a.test'], primary_region: 'lab', machines: [machine('m1', 'lab')] }], rtt: { lab: { fra: 3 } } },
      'r.json',
    );
    assert.equal(spec.apps[0]?.machines[0]?.region, 'lab');
  });

  it('names the file and position on a syntax error', () => {
    const json = issuesOf(() => parseRoutesText('{\n  "apps": [,]\n}', 'conf/routes.json'));
    assert.equal(json.length, 1);
    assert.equal(json[0]?.path, 'line 2, column 12');
    assert.throws(() => parseRoutesText('{\n  "apps": [,]\n}', 'conf/routes.json'), /^RoutesInvalidError: conf\/routes\.json: line 2/);
    assert.throws(() => parseRoutesText('[[apps]]\nname = \n', 'conf/routes.toml'), (e: unknown) => {
      assert.ok(e instanceof RoutesInvalidError);
      assert.match(e.message, /^conf\/routes\.toml: line 2, column \d+: invalid TOML/);
      return true;
    });
  });
});

describe('docs/routes-file.md', () => {
  it('has JSON and TOML examples that are valid and say the same thing', () => {
    // Walk up from this file (src or dist) to the repository root.
    let root = dirname(fileURLToPath(import.meta.url));
    while (!existsSync(join(root, 'package.json'))) {
      assert.notEqual(dirname(root), root, 'repository root not found');
      root = dirname(root);
    }
    const doc = readFileSync(join(root, 'docs/routes-file.md'), 'utf8');
    const block = (lang: string): string => {
      const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(doc);
      assert.ok(m?.[1], `no ${lang} example in the doc`);
      return m[1];
    };
    const fromJson = parseRoutesText(block('json'), 'routes.json');
    assert.deepEqual(parseRoutesText(block('toml'), 'routes.toml'), fromJson);
    assert.equal(fromJson.apps.length, 2);
  });
});

describe('route table from a parsed spec', () => {
  const spec = parseRoutesText(JSON_FILE, 'routes.json');

  it('looks up hosts: exact, wildcard, with port, uppercase, trailing dot', () => {
    const t = new RouteTable(spec);
    assert.equal(t.lookupHost('shop.example.com')?.name, 'shop');
    assert.equal(t.lookupHost('eu.shop.example.com')?.name, 'shop');
    assert.equal(t.lookupHost('blog.example.com:8443')?.name, 'blog');
    assert.equal(t.lookupHost('BLOG.Example.COM')?.name, 'blog');
    assert.equal(t.lookupHost('blog.example.com.')?.name, 'blog');
    assert.equal(t.lookupHost('a.b.shop.example.com'), undefined);
    assert.equal(t.lookupHost('nope.example.com'), undefined);
  });

  it('looks up IP literal hostnames, IPv6 in brackets', () => {
    const t = new RouteTable(parseRoutesSpec({ apps: [{ name: 'ip', hostnames: ['::1', '127.0.0.1'], machines: [] }] }, 'r.json'));
    assert.equal(t.lookupHost('[::1]:8080')?.name, 'ip');
    assert.equal(t.lookupHost('127.0.0.1:80')?.name, 'ip');
  });

  it('orders regions nearest first, and measured rtt overrides the model', () => {
    const apps = [
      {
        name: 'g',
        hostnames: ['g.test'],
        machines: ['sin', 'iad', 'ams', 'fra', 'syd'].map((r, i) => machine(`m${i}`, r)),
      },
    ];
    const modelled = new RouteTable(parseRoutesSpec({ apps }, 'r.json'));
    assert.deepEqual(modelled.apps.get('g')?.regionsFrom('fra'), ['fra', 'ams', 'iad', 'sin', 'syd']);
    const measured = new RouteTable(parseRoutesSpec({ apps, rtt: { sin: { fra: 5 } } }, 'r.json'));
    assert.deepEqual(measured.apps.get('g')?.regionsFrom('fra'), ['fra', 'sin', 'ams', 'iad', 'syd']);
  });
});
