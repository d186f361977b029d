/**
 * fly's process groups on data: `[processes]` and the `processes` lists parsed and checked, each
 * group's machine config (its command after the entrypoint, its [[vm]], [[restart]], its services'
 * port and checks, no default port check for a group no service serves), which service serves
 * which group, `scale count web=2 worker=1` as the CLI reads it and as the scheduler places it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scaleBody } from '../../src/cli/commands/scale/scale.js';
import { AppConfigError, groupOf, machineConfigFor, parseAppConfig, serves, type ImageDefaults } from '../../src/contract/index.js';
import { planScaleGroups, type HostView } from '../../src/control/scheduler/index.js';
import { readToml } from '../../src/shared/index.js';

const FILE = `app = "shop"
primary_region = "fra"
[processes]
  web = "node server.mjs --port 8080"
  worker = "node worker.mjs 'a b'"
  cron = ""
[http_service]
  internal_port = 8080
  processes = ["web"]
  [[http_service.checks]]
    path = "/healthz"
[[services]]
  internal_port = 9000
  processes = ["worker"]
  [[services.ports]]
    port = 9000
  [[services.tcp_checks]]
    interval = "5s"
[[vm]]
  cpus = 2
[[vm]]
  memory = "1gb"
  processes = ["worker"]
[[restart]]
  policy = "always"
  processes = ["worker", "cron"]
`;

const image: ImageDefaults = { base: 'image', entrypoint: ['/entry.sh'], cmd: ['node', 'server.mjs'], env: {}, workdir: '/app', user: '', stopSignal: undefined };
const config = parseAppConfig(FILE, 'fly.toml');
/** The release's config as stored: the document as written. */
const RAW = (() => {
  const t = readToml(FILE);
  if (!t.ok) throw new Error('bad TOML');
  return t.doc;
})();
const machine = (group: string | undefined) => machineConfigFor(RAW, { app: 'shop', image: 'oci:x', secrets: {}, defaults: image, process_group: group });

function issuesOf(text: string): { path: string; message: string }[] {
  try {
    parseAppConfig(text, 'fly.toml');
  } catch (e) {
    if (e instanceof AppConfigError) return e.issues;
    throw e;
  }
  return assert.fail('expected the config to be refused');
}

describe('[processes]', () => {
  it('parses each group: its command split as flyctl splits it, its [[vm]] and [[restart]] by the most specific entry', () => {
    const { config: c, warnings } = config;
    assert.deepEqual(warnings, [], 'every processes key is applied, none warned');
    assert.deepEqual(c.processes, [
      { name: 'cron', vm: { cpu_kind: 'shared', cpus: 2, memory_mb: 256 }, restart: { policy: 'always', max_retries: 3 } },
      { name: 'web', cmd: ['node', 'server.mjs', '--port', '8080'], vm: { cpu_kind: 'shared', cpus: 2, memory_mb: 256 }, restart: { policy: 'on-failure', max_retries: 3 } },
      { name: 'worker', cmd: ['node', 'worker.mjs', 'a b'], vm: { cpu_kind: 'shared', cpus: 1, memory_mb: 1024 }, restart: { policy: 'always', max_retries: 3 } },
    ]);
    assert.deepEqual(c.services.map((s) => s.processes), [['web'], ['worker']]);
    // No `app` group: flyctl's default group is the first by name; the release command runs as it.
    assert.deepEqual([c.vm.cpus, c.restart.policy], [2, 'always']);
  });

  it('without [processes] the app has one group, `app`, running the image command; processes = ["app"] names it', () => {
    const { config: c, warnings } = parseAppConfig('app = "x"\n[http_service]\nprocesses = ["app"]\n[[vm]]\ncpus = 3\n', 'fly.toml');
    assert.deepEqual(warnings, []);
    assert.deepEqual(c.processes, [{ name: 'app', vm: { cpu_kind: 'shared', cpus: 3, memory_mb: 256 }, restart: { policy: 'on-failure', max_retries: 3 } }]);
    assert.deepEqual(parseAppConfig('app = "x"\n[http_service]\nprocesses = []\n', 'fly.toml').config.services[0]?.processes, undefined, 'an empty list is every group');
  });

  it('refuses a processes list naming no group (saying which groups there are), bad names, bad commands, and ambiguous [[vm]] or [[restart]]', () => {
    assert.deepEqual(issuesOf('app = "x"\n[http_service]\nprocesses = ["web"]\n'), [
      { path: 'http_service.processes[0]', message: 'names no process group "web": without [processes] the app\'s one group is "app"' },
    ]);
    const issues = issuesOf(`app = "x"
[processes]
web = "node s.mjs"
Bad_Name = "x"
quote = "node 'open"
[[services]]
internal_port = 1
processes = ["web", "wrker"]
[[vm]]
cpus = 1
[[vm]]
cpus = 2
[[vm]]
processes = ["web"]
[[vm]]
processes = ["web"]
[[restart]]
processes = ["nope"]
`);
    assert.deepEqual(issues.map((i) => i.path), ['processes.Bad_Name', 'processes.quote', 'services[0].processes[1]', 'vm[1]', 'vm[3].processes[0]', 'restart[0].processes[0]']);
    assert.match(issues[2]!.message, /names no process group "wrker": \[processes\] has "web", "Bad_Name", "quote"/);
    assert.match(issues[3]!.message, /second \[\[vm\]\] without processes: only one entry is the default \(vm\[0\]\)/);
    assert.match(issues[4]!.message, /group "web" already has its \[\[vm\]\] in vm\[2\]/);
  });
});

describe("a process group's machine config", () => {
  it("runs the group's command after the entrypoint, with its size, restart policy, and the port and checks of the service serving it", () => {
    const web = machine('web');
    assert.deepEqual(web.cmd, ['/entry.sh', 'node', 'server.mjs', '--port', '8080']);
    assert.deepEqual([web.process_group, web.internal_port, Object.keys(web.checks), web.guest, web.restart.policy, web.default_check], ['web', 8080, ['http-0'], { cpus: 2, memory_mb: 256, cpu_kind: 'shared' }, 'on-failure', true]);
    const worker = machine('worker');
    assert.deepEqual(worker.cmd, ['/entry.sh', 'node', 'worker.mjs', 'a b']);
    assert.deepEqual([worker.internal_port, Object.values(worker.checks).map((k) => `${k.type}:${k.port}`), worker.guest.memory_mb, worker.restart.policy], [9000, ['tcp:9000'], 1024, 'always']);
  });

  it('a group no service serves gets no checks and no default port check; "" runs the image CMD', () => {
    const cron = machine('cron');
    assert.deepEqual([cron.cmd, cron.checks, cron.default_check], [['/entry.sh', 'node', 'server.mjs'], {}, false]);
    // An app without services keeps the runtime's default port check, as before groups.
    assert.equal(machineConfigFor({ app: 'x' }, { app: 'x', image: 'i', secrets: {} }).default_check, true);
  });

  it('a machine of a group the release does not have is refused (ERR_PROCESS_GROUP, naming the groups); no group is `app`', () => {
    assert.throws(() => machine('app'), (e: Error & { code?: string }) => e.code === 'ERR_PROCESS_GROUP' && /no process group "app" \(its groups: cron, web, worker\)/.test(e.message));
    assert.equal(machineConfigFor({ app: 'x' }, { app: 'x', image: 'i', secrets: {} }).process_group, 'app');
  });

  it('serves and groupOf: no processes is every group; a placement without a group is in `app`', () => {
    assert.equal(serves({}, 'worker'), true);
    assert.equal(serves({ processes: ['web'] }, 'worker'), false);
    assert.deepEqual([groupOf({}), groupOf({ process_group: 'web' })], ['app', 'web']);
  });
});

describe('scale count by group', () => {
  it('reads N, or GROUP=N for each group, and says what is wrong with anything else', () => {
    assert.deepEqual(scaleBody(['3']), { count: 3 });
    assert.deepEqual(scaleBody(['web=2', 'worker=0']), { groups: { web: 2, worker: 0 } });
    assert.throws(() => scaleBody(['web=2', '3']), /"3": with several counts, write each as GROUP=N/);
    assert.throws(() => scaleBody(['Web=2']), /"Web" is not a process group name/);
    assert.throws(() => scaleBody(['web=x']), /the count must be a whole number/);
    assert.throws(() => scaleBody(['web=1', 'web=2']), /given twice/);
    assert.throws(() => scaleBody(['three']), /N must be a whole number of machines, got "three"/);
  });

  const host = (id: string, region: string, capacity: number, used: number): HostView => ({ id, region, capacity: { machines: capacity }, used, healthy: true });

  it('places each group on its own spread, on the hosts as the groups before it left them, and leaves other groups alone', () => {
    const machines = [
      { id: 'w1', region: 'fra', host: 'f1', group: 'web' },
      { id: 'k1', region: 'fra', host: 'f1', group: 'worker' },
      { id: 'c1', region: 'fra', host: 'f2', group: 'cron' },
    ];
    const plan = planScaleGroups([host('f1', 'fra', 4, 2), host('f2', 'fra', 2, 1)], machines, { counts: { web: 3, worker: 0 }, primaryRegion: 'fra' });
    assert.deepEqual(plan.create, [{ region: 'fra', host: 'f2', group: 'web' }, { region: 'fra', host: 'f1', group: 'web' }]);
    assert.deepEqual(plan.destroy, ['k1'], 'cron is not named: its machine stays');
  });

  it('is all or nothing: a group short of room is named with its region', () => {
    assert.throws(
      () => planScaleGroups([host('f1', 'fra', 2, 0)], [], { counts: { web: 1, worker: 2 }, primaryRegion: 'fra' }),
      (e: Error & { code?: string }) => e.code === 'ERR_NO_CAPACITY' && /group worker: region fra: 2 machines needed, only 1 could be placed/.test(e.message),
    );
  });
});
