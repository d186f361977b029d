import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AppConfigError, loadAppConfig, maxUnavailableCount, parseAppConfig, parseDuration, parseSizeMb, type AppConfig, type ConfigIssue } from '../../src/contract/index.js';
import { isStarlingError } from '../../src/shared/index.js';

/** What `fly launch` writes for a Node app (2024), plus the sections people add most often. */
const FLY_TOML = `# fly.toml app configuration file generated for hello-node on 2024-05-02T10:11:12Z
# See https://fly.io/docs/reference/configuration/ for information about how to use this file.

app = 'hello-node'
primary_region = 'ams'
kill_signal = 'SIGTERM'
kill_timeout = '5s'
swap_size_mb = 512

[experimental]
  auto_rollback = true

[build]
  dockerfile = 'Dockerfile'
  [build.args]
    NODE_VERSION = '20.11.1'

[deploy]
  release_command = 'npx prisma migrate deploy'

[env]
  NODE_ENV = 'production'
  PORT = 3000

[http_service]
  internal_port = 3000
  force_https = true
  auto_stop_machines = true
  auto_start_machines = true
  min_machines_running = 0
  processes = ['app']
  [http_service.concurrency]
    type = 'requests'
    hard_limit = 250
    soft_limit = 200
  [[http_service.checks]]
    grace_period = '10s'
    interval = '30s'
    method = 'get'
    timeout = '5s'
    path = '/healthz'

[[vm]]
  memory = '1gb'
  cpu_kind = 'shared'
  cpus = 1
  memory_mb = 1024

[[statics]]
  guest_path = '/app/public'
  url_prefix = '/static/'

[metrics]
  port = 9091
  path = '/metrics'

[mounts]
  source = 'data'
  destination = '/data'
  initial_size = '3gb'
  auto_extend_size_threshold = 80
`;

/** The first TOML example of a markdown file: the docs' examples must stay valid. */
const tomlExample = (file: string): string => {
  const text = readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8');
  const start = text.indexOf('```toml\n', text.indexOf('# App config'));
  return text.slice(start + 8, text.indexOf('```', start + 8));
};

function errorsOf(text: string): ConfigIssue[] {
  try {
    parseAppConfig(text, 'starling.toml');
  } catch (e) {
    assert.ok(e instanceof AppConfigError, `expected AppConfigError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_APP_CONFIG');
    assert.equal(e.fault, 'user');
    return e.issues;
  }
  assert.fail('expected the config to be rejected');
}
const paths = (issues: readonly ConfigIssue[]): string[] => issues.map((i) => i.path);

describe('parseAppConfig', () => {
  it('applies every default to a minimal config', () => {
    const expected: AppConfig = {
      app: 'hello', kill_signal: 'SIGINT', kill_signal_set: false, kill_timeout_ms: 5000, env: {}, build: {}, overrides: {}, services: [], mounts: [],
      deploy: { strategy: 'rolling', max_unavailable: 0.33, release_command_timeout_ms: 300_000 }, vm: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 }, restart: { policy: 'on-failure', max_retries: 3 },
      processes: [{ name: 'app', vm: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 }, restart: { policy: 'on-failure', max_retries: 3 } }], files: [], statics: [],
    };
    assert.deepEqual(parseAppConfig('app = "hello"\n', 'starling.toml'), { config: expected, warnings: [] });
    const [svc] = parseAppConfig('app = "hello"\n[http_service]\n', 'starling.toml').config.services;
    assert.deepEqual(svc, {
      source: 'http_service', protocol: 'tcp', internal_port: 8080,
      ports: [
        { start_port: 80, end_port: 80, handlers: ['http'], force_https: false },
        { start_port: 443, end_port: 443, handlers: ['http', 'tls'], force_https: false },
      ],
      concurrency: { type: 'connections', soft_limit: 20 },
      auto_stop_machines: 'off', auto_start_machines: true, min_machines_running: 0, checks: [],
    });
  });

  it('normalizes the full example of docs/app-config.md (and the README one)', () => {
    const { config: c, warnings } = parseAppConfig(tomlExample('docs/app-config.md'), 'starling.toml');
    // Accepted keys nothing applies yet are warnings, never silence (docs/app-config.md lists them).
    // The [[services]] ports without http are TCP services at the edge now, and [mounts] volumes: applied, not warned.
    assert.deepEqual(paths(warnings), []);
    for (const w of warnings) assert.match(w.message, /ignored$/);
    assert.equal(c.kill_timeout_ms, 10_000);
    assert.equal(c.kill_signal, 'SIGTERM');
    assert.deepEqual(c.build, { image: 'registry.example.com/hello:1.4.2' });
    assert.deepEqual(c.env, { LOG_LEVEL: 'info', WORKERS: '4', PRIMARY_REGION: 'fra' });
    assert.deepEqual(c.services.map((s) => s.source), ['http_service', 'services[0]']);
    const [web, db] = c.services;
    assert.deepEqual(web?.concurrency, { type: 'requests', soft_limit: 20, hard_limit: 25 });
    assert.deepEqual([web?.auto_stop_machines, web?.min_machines_running, web?.ports[0]?.force_https], ['stop', 1, true]);
    assert.deepEqual(web?.checks, [{ type: 'http', port: 8080, method: 'GET', path: '/healthz', grace_period_ms: 5000, interval_ms: 15_000, timeout_ms: 2000 }]);
    assert.deepEqual(db?.ports, [
      { start_port: 5432, end_port: 5432, handlers: ['tls'], force_https: false },
      { start_port: 10000, end_port: 10010, handlers: [], force_https: false },
    ]);
    assert.deepEqual(db?.checks, [{ type: 'tcp', port: 5432, grace_period_ms: 1000, interval_ms: 10_000, timeout_ms: 2000 }]);
    assert.deepEqual(c.deploy, { strategy: 'bluegreen', max_unavailable: 0.33, release_command: ['node', 'migrate.js'], release_command_timeout_ms: 300_000 });
    assert.deepEqual(c.vm, { cpu_kind: 'shared', cpus: 2, memory_mb: 1024 });
    assert.deepEqual(c.mounts, [{ source: 'data', destination: '/data', initial_size_gb: 10 }]);
    assert.deepEqual(c.restart, { policy: 'on-failure', max_retries: 5 });
    assert.deepEqual(parseAppConfig(tomlExample('README.md'), 'starling.toml').warnings, []);
  });

  it('takes one table or many, fly spellings and fractional CPUs', () => {
    const { config: c } = parseAppConfig(`app = "x"
env = { N = 4, DEBUG = false }
services = { protocol = "udp", internal_port = 53, ports = { port = 53 } }
vm = { memory = 512, cpus = 0.5, cpu_kind = "performance" }
mounts = [{ source = "b", destination = "/b", initial_size = 3 }]
restart = { policy = "no" }
`, 's.toml');
    assert.deepEqual(c.env, { N: '4', DEBUG: 'false' });
    assert.deepEqual(c.services[0]?.ports, [{ start_port: 53, end_port: 53, handlers: [], force_https: false }]);
    assert.deepEqual([c.vm, c.restart], [{ cpu_kind: 'performance', cpus: 0.5, memory_mb: 512 }, { policy: 'never', max_retries: 3 }]);
    assert.deepEqual(c.mounts.map((m) => m.initial_size_gb), [3]);
    // One [mounts] table: its issues say mounts.x; a second [[mounts]] entry (a machine mounts one volume, as on fly): mounts[1].
    assert.deepEqual(paths(errorsOf('app = "x"\n[mounts]\nsource = "A"\ndestination = "/a"\n')), ['mounts.source']);
    assert.deepEqual(paths(errorsOf('app = "x"\n[[mounts]]\nsource = "a"\ndestination = "/a"\n[[mounts]]\nsource = "b"\ndestination = "/a"\n')), ['mounts[1].destination', 'mounts[1]']);
    // Further [[vm]] and [[restart]] entries are for process groups (test/unit/process-groups.test.ts): two defaults are an error.
    assert.deepEqual(paths(errorsOf('app = "x"\n[[vm]]\ncpus = 2\n[[vm]]\ncpus = 1\n[[restart]]\npolicy = "always"\n[[restart]]\n')), ['vm[1]', 'restart[1]']);
  });

  it("takes the machines' command from experimental.entrypoint + experimental.cmd, as fly does", () => {
    const { config: c } = parseAppConfig('app = "x"\n[experimental]\nentrypoint = ["node"]\ncmd = ["server.mjs", "--quiet"]\n', 's.toml');
    assert.deepEqual(c.cmd, ['node', 'server.mjs', '--quiet']);
    assert.deepEqual(c.overrides, { entrypoint: ['node'], cmd: ['server.mjs', '--quiet'] });
    assert.equal(parseAppConfig('app = "x"\n', 's.toml').config.cmd, undefined);
    assert.deepEqual(paths(errorsOf('app = "x"\n[experimental]\ncmd = []\n')), ['experimental.cmd']);
  });

  it('accepts a real fly.toml as it is, with a warning for exactly each unsupported key', () => {
    const { config: c, warnings } = parseAppConfig(FLY_TOML, 'fly.toml');
    assert.deepEqual(paths(warnings), [
      'swap_size_mb', 'experimental.auto_rollback', 'metrics', 'mounts.auto_extend_size_threshold',
    ]);
    for (const w of warnings) assert.match(w.message, /ignored$/);
    assert.deepEqual([c.app, c.primary_region, c.kill_signal, c.kill_signal_set, c.kill_timeout_ms], ['hello-node', 'ams', 'SIGTERM', true, 5000]);
    assert.deepEqual(c.statics, [{ guest_path: '/app/public', url_prefix: '/static/' }], 'fly\'s [[statics]] is applied');
    assert.deepEqual(c.build, { dockerfile: 'Dockerfile', args: { NODE_VERSION: '20.11.1' } }, 'a Dockerfile build is taken, with its arguments');
    assert.deepEqual(c.env, { NODE_ENV: 'production', PORT: '3000', PRIMARY_REGION: 'ams' });
    assert.deepEqual(c.deploy, { strategy: 'rolling', max_unavailable: 0.33, release_command: ['npx', 'prisma', 'migrate', 'deploy'], release_command_timeout_ms: 300_000 });
    assert.equal(c.services[0]?.auto_stop_machines, 'stop');
    assert.deepEqual(c.services[0]?.concurrency, { type: 'requests', soft_limit: 200, hard_limit: 250 });
    assert.deepEqual(c.services[0]?.checks, [{ type: 'http', port: 3000, method: 'GET', path: '/healthz', grace_period_ms: 10_000, interval_ms: 30_000, timeout_ms: 5000 }]);
    assert.deepEqual(c.vm, { cpu_kind: 'shared', cpus: 1, memory_mb: 1024 });
    assert.deepEqual(c.mounts, [{ source: 'data', destination: '/data', initial_size_gb: 3 }]);
  });

  it('takes [[statics]] (a Tigris mapping warned and left out) and refuses bad paths, a prefix mapped twice and more than 10', () => {
    const { config: c, warnings } = parseAppConfig(
      'app = "x"\n[http_service]\n[[statics]]\nguest_path = "/app/public"\nurl_prefix = "/public"\n[[statics]]\nguest_path = "/app/docs"\nurl_prefix = "/docs/"\nindex_document = "index.html"\n[[statics]]\nguest_path = "/b"\nurl_prefix = "/b"\ntigris_bucket = "bucket"\n',
      's.toml',
    );
    assert.deepEqual(c.statics, [
      { guest_path: '/app/public', url_prefix: '/public' },
      { guest_path: '/app/docs', url_prefix: '/docs/', index_document: 'index.html' },
    ]);
    assert.deepEqual(paths(warnings), ['statics[2].tigris_bucket']);
    const bad = errorsOf(
      'app = "x"\n[[statics]]\nguest_path = "app"\nurl_prefix = "/a"\n[[statics]]\nguest_path = "/a/../etc"\nurl_prefix = "a"\n[[statics]]\nguest_path = "/a"\nurl_prefix = "/a/"\nindex_document = "x/y"\n',
    );
    assert.deepEqual(paths(bad), ['statics[0].guest_path', 'statics[1].guest_path', 'statics[1].url_prefix', 'statics[2].index_document', 'statics[2].url_prefix']);
    assert.match(bad.at(-1)!.message, /"\/a\/" is mapped already by entry 0/);
    const many = Array.from({ length: 11 }, (_, i) => `[[statics]]\nguest_path = "/s"\nurl_prefix = "/s${i}"\n`).join('');
    assert.match(errorsOf(`app = "x"\n${many}`)[0]!.message, /at most 10 mappings/);
  });

  it("takes fly's response headers (a value sets, false removes) and refuses the proxy's own fields and CR/LF", () => {
    const { config: c, warnings } = parseAppConfig('app = "x"\n[http_service]\n[http_service.http_options]\nh2_backend = true\n[http_service.http_options.response.headers]\nX-Frame-Options = "DENY"\nX-Powered-By = false\n', 's.toml');
    assert.deepEqual(c.services[0]?.response_headers, { 'x-frame-options': 'DENY', 'x-powered-by': null });
    assert.equal(c.services[0]?.h2_backend, true);
    assert.deepEqual(paths(warnings), [], 'h2_backend is applied');
    const issues = errorsOf('app = "x"\n[http_service.http_options.response.headers]\nContent-Length = "1"\nX-A = "a\\r\\nset-cookie: x=1"\n');
    assert.equal(issues.length, 2, JSON.stringify(issues));
  });

  it('reports unknown keys as errors with their paths, and suggests the key meant', () => {
    const issues = errorsOf(`app = "x"\ncolour = "red"\n[http_service]\ninternal_prot = 80\n[[services]]\ninternal_port = 1\n[[services.ports]]\nport = 9\nhandler = ["http"]\n[[vm]]\nram = 1\n`);
    assert.deepEqual(paths(issues), ['colour', 'http_service.internal_prot', 'services[0].ports[0].handler', 'vm[0].ram']);
    assert.match(issues[1]!.message, /unknown key.*did you mean "internal_port"/);
    assert.match(issues[2]!.message, /did you mean "handlers"/);
    assert.doesNotMatch(issues[0]!.message, /did you mean/);
  });

  it('reports several mistakes at once, in file order, schema and cross-checks together', async () => {
    const issues = errorsOf(`
app = "Bad_Name"
kill_signal = "SIGSTOP"
kill_timeout = "soon"
env = { 9LIVES = "x" }
[http_service]
auto_stop_machines = "maybe"
concurrency = { soft_limit = 30, hard_limit = 10 }
[[services]]
protocol = "sctp"
internal_port = 70000
ports = [{ port = 443, handlers = ["smtp"] }, { start_port = 9000 }]
[mounts]
source = "data"
destination = "data"
`);
    assert.deepEqual(paths(issues), [
      'app', 'kill_signal', 'kill_timeout', 'env.9LIVES', 'http_service.auto_stop_machines', 'http_service.concurrency.hard_limit',
      'services[0].protocol', 'services[0].internal_port', 'services[0].ports[0].handlers[0]', 'services[0].ports[0]', 'services[0].ports[1].end_port',
      'mounts.destination',
    ]);
    assert.match(issues[9]!.message, /port 443 \(tcp\) is already used by http_service/);
    const err = (() => { try { parseAppConfig('app = "X"\nbogus = 1\n', 'app.toml'); } catch (e) { return e; } })();
    assert.ok(isStarlingError(err, 'ERR_APP_CONFIG'));
    assert.match(err.message, /^app\.toml: app: .*\napp\.toml: bogus: unknown key/);
    assert.deepEqual(paths(errorsOf('app = "x"\n[http_service\n')), ['line 2, column 14']);
    await assert.rejects(loadAppConfig('/nonexistent/starling.toml'), (e: unknown) => isStarlingError(e, 'ERR_APP_CONFIG_READ') && e.fault === 'user');
  });

  it('refuses bluegreen without a health check (top-level [checks] do not count)', () => {
    const bg = 'app = "x"\n[deploy]\nstrategy = "bluegreen"\n[http_service]\n';
    const issues = errorsOf(`${bg}[checks.alive]\ntype = "http"\nport = 8080\n`);
    assert.deepEqual(paths(issues), ['deploy.strategy']);
    assert.match(issues[0]!.message, /bluegreen needs a health check/);
    assert.equal(parseAppConfig(`${bg}[[http_service.checks]]\npath = "/up"\n`, 's.toml').config.deploy.strategy, 'bluegreen');
    const tcp = 'app = "x"\n[deploy]\nstrategy = "bluegreen"\n[[services]]\ninternal_port = 9\n[[services.tcp_checks]]\n';
    assert.equal(parseAppConfig(tcp, 's.toml').config.deploy.strategy, 'bluegreen');
  });

  it('parses durations and sizes as fly writes them', () => {
    const durations: [unknown, number][] = [['5s', 5000], ['1m30s', 90_000], ['10m0s', 600_000], ['500ms', 500], ['1.5h', 5_400_000], [7, 7000], ['0', 0]];
    for (const [text, ms] of durations) assert.equal(parseDuration(text), ms, String(text));
    for (const bad of ['5', '5 s', '-1s', 's', '', true, -3]) assert.equal(parseDuration(bad), undefined, String(bad));
    const sizes: [unknown, 'mb' | 'gb', number][] = [['256mb', 'mb', 256], ['1gb', 'mb', 1024], ['2GB', 'mb', 2048], ['1536MiB', 'mb', 1536], [512, 'mb', 512], [10, 'gb', 10_240]];
    for (const [text, bare, mb] of sizes) assert.equal(parseSizeMb(text, bare), mb, String(text));
    for (const bad of ['lots', '1 zb', '-1gb', 0]) assert.equal(parseSizeMb(bad, 'mb'), undefined, String(bad));
    const c = parseAppConfig('app = "x"\nkill_timeout = 12\n[[vm]]\nmemory = "2gb"\n[[mounts]]\nsource = "d"\ndestination = "/d"\ninitial_size = "2048mb"\n', 's.toml').config;
    assert.deepEqual([c.kill_timeout_ms, c.vm.memory_mb, c.mounts[0]?.initial_size_gb], [12_000, 2048, 2]);
    assert.deepEqual(paths(errorsOf('app = "x"\n[[vm]]\nmemory = "1gb"\nmemory_mb = 512\n')), ['vm[0].memory_mb']);
    assert.deepEqual(paths(errorsOf('app = "x"\n[mounts]\nsource = "d"\ndestination = "/d"\ninitial_size = "1.5gb"\n')), ['mounts.initial_size']);
  });

  it('checks ports across services and counts max_unavailable as flyctl does', () => {
    const issues = errorsOf(`app = "x"
[[services]]
internal_port = 1
ports = [{ start_port = 100, end_port = 200 }, { port = 300, start_port = 1 }, { start_port = 9, end_port = 8 }, {}]
[[services]]
internal_port = 2
ports = [{ port = 150 }]
[[services]]
protocol = "udp"
internal_port = 3
ports = [{ port = 150 }, { port = 53, handlers = ["tls"] }]
`);
    assert.deepEqual(paths(issues), ['services[0].ports[1]', 'services[0].ports[2].end_port', 'services[0].ports[3]', 'services[1].ports[0]', 'services[2].ports[1].handlers']);
    assert.match(issues[3]!.message, /port 150 \(tcp\) is already used by services\[0\]\.ports\[0\]/);
    assert.deepEqual([maxUnavailableCount(0.33, 6), maxUnavailableCount(0.33, 1), maxUnavailableCount(3, 10)], [2, 1, 3]);
    assert.deepEqual(paths(errorsOf('app = "x"\n[deploy]\nmax_unavailable = 1.5\n')), ['deploy.max_unavailable']);
  });

});

describe('starling config validate', () => {
  const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
  const dir = mkdtempSync(join(tmpdir(), 'starling-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[], cwd = dir) => spawnSync(process.execPath, [CLI, 'config', 'validate', ...args], { cwd, encoding: 'utf8', timeout: 30_000 });

  it('reads fly.toml when there is no starling.toml, prints its warnings and exits 0', () => {
    writeFileSync(join(dir, 'fly.toml'), FLY_TOML);
    const r = run([]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^fly\.toml: warning: swap_size_mb: /m);
    assert.match(r.stdout, /^fly\.toml: warning: mounts\.auto_extend_size_threshold: /m);
    assert.match(r.stdout, /^fly\.toml: valid: app "hello-node", primary region ams, public ports 80, 443, rolling deploys, release command "npx prisma migrate deploy" first; 4 warnings/m);
  });

  it('lists every error with its path and exits 2', () => {
    writeFileSync(join(dir, 'bad.toml'), 'app = "x"\nbogus = 1\nswap_size_mb = 1\n[deploy]\nstrategy = "bluegreen"\n');
    const r = run(['--config', join(dir, 'bad.toml')]);
    assert.equal(r.status, 2);
    assert.match(r.stdout, /bad\.toml: error: bogus: unknown key/);
    assert.match(r.stdout, /bad\.toml: error: deploy\.strategy: bluegreen needs a health check/);
    assert.match(r.stdout, /bad\.toml: warning: swap_size_mb: /);
    assert.match(r.stdout, /2 errors, 1 warning/);
  });

  it('says a string left unclosed is unclosed, with its line and column (not "control characters")', () => {
    writeFileSync(join(dir, 'unclosed.toml'), 'app = "web\nprimary_region = "fra"\n');
    const r = run(['--config', join(dir, 'unclosed.toml')]);
    assert.equal(r.status, 2);
    assert.match(r.stdout, /unclosed\.toml: error: line 1, column 11: invalid TOML: unclosed string: the line ends before its closing quote/);
    // A real control character inside a string keeps the parser's words.
    writeFileSync(join(dir, 'ctrl.toml'), 'app = "we\u0001b"\n');
    assert.match(run(['--config', join(dir, 'ctrl.toml')]).stdout, /control characters are not allowed/);
  });

  it('prints { ok, errors, warnings, config } with --json', () => {
    const good = run(['--json', '--config', join(dir, 'fly.toml')]);
    assert.equal(good.status, 0, good.stderr);
    const g = JSON.parse(good.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(g), ['ok', 'errors', 'warnings', 'config']);
    assert.deepEqual(g, { ok: true, errors: [], ...parseAppConfig(FLY_TOML, 'fly.toml') });

    const bad = run(['--json', '--config', join(dir, 'bad.toml')]);
    assert.equal(bad.status, 2);
    const b = JSON.parse(bad.stdout) as { ok: boolean; errors: ConfigIssue[]; warnings: ConfigIssue[]; config: null };
    assert.deepEqual({ ...b, errors: paths(b.errors), warnings: paths(b.warnings) }, { ok: false, errors: ['bogus', 'deploy.strategy'], warnings: ['swap_size_mb'], config: null });

    const missing = run(['--json', '--config', join(dir, 'nope.toml')]);
    assert.equal(missing.status, 2);
    assert.match((JSON.parse(missing.stdout) as { errors: ConfigIssue[] }).errors[0]!.message, /cannot read app config/);
    const missingText = run(['--config', join(dir, 'nope.toml')]);
    assert.equal(missingText.status, 2);
    assert.match(missingText.stderr, /error: cannot read app config .*nope\.toml/);
  });
});
