/**
 * No silent keys: every key the app-config schema accepts is either applied — setting it changes
 * the normalized config the platform runs from, and a named test shows its effect — or reported as
 * a warning naming it when set. A key added to the schema without a row here fails the first test,
 * so a new key cannot be accepted and then quietly ignored.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAppConfig } from '../../src/contract/index.js';
import { leafKeys } from '../helpers/schema-keys.js';

const BASE = 'app = "keys"\n';
const TCP_SERVICE = '[[services]]\ninternal_port = 5432\n[[services.ports]]\nport = 5432\nhandlers = []\n';
const SERVICE = '[[services]]\ninternal_port = 8080\n[[services.ports]]\nport = 80\nhandlers = ["http"]\n';
const HTTP = '[http_service]\n';

type Row = { sample: string; applied: string } | { sample: string; warns: string };
const applied = (sample: string, test: string): Row => ({ sample, applied: test });
const warns = (sample: string, path: string): Row => ({ sample, warns: path });

/** Every leaf key: a config setting it (added to BASE), and the test proving it applied, or the warning's path. */
const KEYS: Record<string, Row> = {
  app: applied('', 'test/integration/deploy-e2e.test.ts'),
  primary_region: applied('primary_region = "fra"\n', 'test/integration/deploy-e2e.test.ts'),
  kill_signal: applied('kill_signal = "SIGTERM"\n', 'test/unit/machine-config-image.test.ts'),
  kill_timeout: applied('kill_timeout = "3s"\n', 'test/integration/deploy-e2e.test.ts'),
  env: applied('[env]\nA = "1"\n', 'test/integration/deploy-e2e.test.ts'),
  'build.image': applied('[build]\nimage = "python:3"\n', 'test/integration/platform-images.test.ts'),
  'build.dockerfile': applied('[build]\ndockerfile = "Dockerfile.x"\n', 'test/unit/cli-image-source.test.ts'),
  'build.ignorefile': applied('[build]\nignorefile = ".ignore"\n', 'test/unit/cli-image-source.test.ts'),
  'build.build-target': applied('[build]\n"build-target" = "prod"\n', 'test/unit/cli-image-source.test.ts'),
  'build.build_target': applied('[build]\nbuild_target = "prod"\n', 'test/unit/cli-image-source.test.ts'),
  'build.args': applied('[build.args]\nA = "1"\n', 'test/integration/platform-images.test.ts'),
  'experimental.cmd': applied('[experimental]\ncmd = ["x"]\n', 'test/unit/machine-config-image.test.ts'),
  'experimental.entrypoint': applied('[experimental]\nentrypoint = ["x"]\n', 'test/unit/machine-config-image.test.ts'),
  processes: applied('[processes]\nweb = "node server.mjs"\n', 'test/integration/deploy-process-groups.test.ts'),
  'http_service.processes': applied(`${HTTP}processes = ["app"]\n`, 'test/integration/deploy-process-groups.test.ts'),
  'http_service.internal_port': applied(`${HTTP}internal_port = 3000\n`, 'test/integration/deploy-e2e.test.ts'),
  'http_service.force_https': applied(`${HTTP}force_https = true\n`, 'test/unit/control-routes.test.ts'),
  'http_service.auto_stop_machines': applied(`${HTTP}auto_stop_machines = "stop"\n`, 'test/unit/control-routes.test.ts'),
  'http_service.auto_start_machines': applied(`${HTTP}auto_start_machines = false\n`, 'test/unit/control-routes.test.ts'),
  'http_service.min_machines_running': applied(`${HTTP}min_machines_running = 2\n`, 'test/unit/control-routes.test.ts'),
  'http_service.http_options.idle_timeout': applied(`${HTTP}[http_service.http_options]\nidle_timeout = 600\n`, 'test/integration/proxy-idle-timeout.test.ts'),
  'http_service.http_options.h2_backend': applied(`${HTTP}[http_service.http_options]\nh2_backend = true\n`, 'test/integration/proxy-grpc.test.ts'),
  'http_service.http_options.response.headers': applied(`${HTTP}[http_service.http_options.response.headers]\nX-Frame-Options = "DENY"\n`, 'test/unit/control-routes.test.ts'),
  'http_service.concurrency.type': applied(`${HTTP}[http_service.concurrency]\ntype = "requests"\n`, 'test/unit/control-routes.test.ts'),
  'http_service.concurrency.soft_limit': applied(`${HTTP}[http_service.concurrency]\nsoft_limit = 5\n`, 'test/unit/control-routes.test.ts'),
  'http_service.concurrency.hard_limit': applied(`${HTTP}[http_service.concurrency]\nhard_limit = 9\n`, 'test/unit/control-routes.test.ts'),
  'http_service.checks[].grace_period': applied(`${HTTP}[[http_service.checks]]\ngrace_period = "9s"\n`, 'test/integration/deploy-e2e.test.ts'),
  'http_service.checks[].interval': applied(`${HTTP}[[http_service.checks]]\ninterval = "9s"\n`, 'test/integration/deploy-e2e.test.ts'),
  'http_service.checks[].timeout': applied(`${HTTP}[[http_service.checks]]\ntimeout = "9s"\n`, 'test/integration/deploy-e2e.test.ts'),
  'http_service.checks[].method': applied(`${HTTP}[[http_service.checks]]\nmethod = "HEAD"\n`, 'test/integration/deploy-failures.test.ts'),
  'http_service.checks[].path': applied(`${HTTP}[[http_service.checks]]\npath = "/up"\n`, 'test/integration/deploy-e2e.test.ts'),
  'services[].protocol': applied('[[services]]\nprotocol = "udp"\ninternal_port = 53\n[[services.ports]]\nport = 53\n', 'test/integration/proxy-udp.test.ts'),
  'services[].processes': applied(SERVICE.replace('[[services.ports]]', 'processes = ["app"]\n[[services.ports]]'), 'test/unit/control-routes.test.ts'),
  'services[].internal_port': applied(SERVICE.replace('8080', '3000'), 'test/unit/control-routes.test.ts'),
  'services[].auto_stop_machines': applied(SERVICE.replace('[[services.ports]]', 'auto_stop_machines = "stop"\n[[services.ports]]'), 'test/unit/control-routes.test.ts'),
  'services[].auto_start_machines': applied(SERVICE.replace('[[services.ports]]', 'auto_start_machines = false\n[[services.ports]]'), 'test/unit/control-routes.test.ts'),
  'services[].min_machines_running': applied(SERVICE.replace('[[services.ports]]', 'min_machines_running = 2\n[[services.ports]]'), 'test/unit/control-routes.test.ts'),
  'services[].concurrency.type': applied(`${SERVICE}[services.concurrency]\ntype = "requests"\n`, 'test/unit/control-routes.test.ts'),
  'services[].concurrency.soft_limit': applied(`${SERVICE}[services.concurrency]\nsoft_limit = 5\n`, 'test/unit/control-routes.test.ts'),
  'services[].concurrency.hard_limit': applied(`${SERVICE}[services.concurrency]\nhard_limit = 9\n`, 'test/unit/control-routes.test.ts'),
  'services[].ports[].port': applied(SERVICE, 'test/unit/control-routes.test.ts'),
  'services[].ports[].start_port': applied(TCP_SERVICE.replace('\nport = 5432', '\nstart_port = 9000\nend_port = 9001'), 'test/unit/control-routes.test.ts'),
  'services[].ports[].end_port': applied(TCP_SERVICE.replace('\nport = 5432', '\nstart_port = 9000\nend_port = 9001'), 'test/unit/control-routes.test.ts'),
  'services[].ports[].handlers': applied(TCP_SERVICE.replace('handlers = []', 'handlers = ["pg_tls"]'), 'test/integration/proxy-tcp-apps.test.ts'),
  'services[].ports[].tls_options.alpn': applied(TCP_SERVICE.replace('handlers = []', 'handlers = ["tls"]\ntls_options = { alpn = ["redis"] }'), 'test/integration/proxy-tcp.test.ts'),
  'services[].ports[].proxy_proto_options.version': applied(TCP_SERVICE.replace('handlers = []', 'handlers = ["proxy_proto"]\nproxy_proto_options = { version = "v2" }'), 'test/integration/proxy-tcp.test.ts'),
  'services[].ports[].force_https': applied(SERVICE.replace('handlers = ["http"]', 'handlers = ["http"]\nforce_https = true'), 'test/unit/control-routes.test.ts'),
  'services[].tcp_checks[].grace_period': applied(`${SERVICE}[[services.tcp_checks]]\ngrace_period = "9s"\n`, 'test/integration/deploy-failures.test.ts'),
  'services[].tcp_checks[].interval': applied(`${SERVICE}[[services.tcp_checks]]\ninterval = "9s"\n`, 'test/integration/deploy-failures.test.ts'),
  'services[].tcp_checks[].timeout': applied(`${SERVICE}[[services.tcp_checks]]\ntimeout = "9s"\n`, 'test/integration/deploy-failures.test.ts'),
  'services[].http_checks[].grace_period': applied(`${SERVICE}[[services.http_checks]]\ngrace_period = "9s"\n`, 'test/integration/deploy-failures.test.ts'),
  'services[].http_checks[].interval': applied(`${SERVICE}[[services.http_checks]]\ninterval = "9s"\n`, 'test/integration/deploy-failures.test.ts'),
  'services[].http_checks[].timeout': applied(`${SERVICE}[[services.http_checks]]\ntimeout = "9s"\n`, 'test/integration/deploy-failures.test.ts'),
  'services[].http_checks[].method': applied(`${SERVICE}[[services.http_checks]]\nmethod = "HEAD"\n`, 'test/integration/deploy-failures.test.ts'),
  'services[].http_checks[].path': applied(`${SERVICE}[[services.http_checks]]\npath = "/up"\n`, 'test/integration/deploy-failures.test.ts'),
  'deploy.strategy': applied('[deploy]\nstrategy = "immediate"\n', 'test/integration/deploy-e2e.test.ts'),
  'deploy.max_unavailable': applied('[deploy]\nmax_unavailable = 2\n', 'test/integration/deploy-e2e.test.ts'),
  'deploy.release_command': applied('[deploy]\nrelease_command = "migrate"\n', 'test/integration/deploy-release-command.test.ts'),
  'deploy.release_command_timeout': applied('[deploy]\nrelease_command_timeout = "9s"\n', 'test/unit/release-command.test.ts'),
  'vm[].memory': applied('[[vm]]\nmemory = "512mb"\n', 'test/integration/sandbox-driver.test.ts'),
  'vm[].memory_mb': applied('[[vm]]\nmemory_mb = 512\n', 'test/integration/sandbox-driver.test.ts'),
  'vm[].cpus': applied('[[vm]]\ncpus = 2\n', 'test/integration/sandbox-driver.test.ts'),
  'vm[].processes': applied('[[vm]]\nprocesses = ["app"]\ncpus = 2\n', 'test/unit/process-groups.test.ts'),
  'vm[].cpu_kind': applied('[[vm]]\ncpu_kind = "performance"\n', 'test/integration/sandbox-driver.test.ts'),
  'mounts[].source': applied('[[mounts]]\nsource = "data"\ndestination = "/data"\n', 'test/integration/platform-volumes.test.ts'),
  'mounts[].destination': applied('[[mounts]]\nsource = "data"\ndestination = "/data"\n', 'test/integration/platform-volumes.test.ts'),
  'mounts[].initial_size': applied('[[mounts]]\nsource = "data"\ndestination = "/data"\ninitial_size = "2gb"\n', 'test/integration/platform-volumes.test.ts'),
  'restart[].policy': applied('[[restart]]\npolicy = "always"\n', 'test/integration/agent-sync.test.ts'),
  'restart[].retries': applied('[[restart]]\nretries = 7\n', 'test/integration/agent-sync.test.ts'),
  'statics[].guest_path': applied('[[statics]]\nguest_path = "/app/public"\nurl_prefix = "/static"\n', 'test/integration/proxy-statics.test.ts'),
  'statics[].url_prefix': applied('[[statics]]\nguest_path = "/app/public"\nurl_prefix = "/static"\n', 'test/integration/platform-images.test.ts'),
  'statics[].index_document': applied('[[statics]]\nguest_path = "/app/public"\nurl_prefix = "/static"\nindex_document = "index.html"\n', 'test/integration/proxy-statics.test.ts'),
  'statics[].tigris_bucket': warns('[[statics]]\nguest_path = "/app/public"\nurl_prefix = "/static"\ntigris_bucket = "b"\n', 'statics[0].tigris_bucket'),
  'files[].guest_path': applied('[[files]]\nguest_path = "/a"\nraw_value = "aGk="\n', 'test/integration/deploy-files.test.ts'),
  'files[].raw_value': applied('[[files]]\nguest_path = "/a"\nraw_value = "aGk="\n', 'test/integration/deploy-files.test.ts'),
  'files[].local_path': applied('[[files]]\nguest_path = "/a"\nlocal_path = "a.txt"\n', 'test/integration/deploy-files.test.ts'),
  'files[].secret_name': applied('[[files]]\nguest_path = "/a"\nsecret_name = "S"\n', 'test/integration/deploy-files.test.ts'),
  'files[].processes': applied('[[files]]\nguest_path = "/a"\nraw_value = "aGk="\nprocesses = ["app"]\n', 'test/unit/app-files.test.ts'),
  'restart[].processes': applied('[[restart]]\nprocesses = ["app"]\npolicy = "always"\n', 'test/unit/process-groups.test.ts'),
};

describe('no silent keys in the app config', () => {
  it('every key the schema accepts has a row: applied, or warned', () => {
    const keys = leafKeys();
    assert.ok(keys.length > 50, `the walk found the schema's keys (${keys.length})`);
    assert.deepEqual(keys.filter((k) => !(k in KEYS)), [], 'keys without a row: apply them (with a test) or warn');
    assert.deepEqual(Object.keys(KEYS).filter((k) => !keys.includes(k)), [], 'rows for keys the schema no longer has');
  });

  it('an applied key changes the normalized config, and the test named for it exists; a warned key is warned', () => {
    const base = JSON.stringify(parseAppConfig(BASE, 's.toml').config);
    for (const [key, row] of Object.entries(KEYS)) {
      const { config, warnings } = parseAppConfig(BASE + row.sample, 's.toml');
      if ('warns' in row) {
        assert.ok(warnings.some((w) => w.path === row.warns && /ignored$/.test(w.message)), `${key}: a warning at ${row.warns}, got ${JSON.stringify(warnings)}`);
      } else {
        assert.deepEqual(warnings, [], `${key}: applied keys are not warned`);
        if (key !== 'app') assert.notEqual(JSON.stringify(config), base, `${key}: setting it changes the normalized config`);
        assert.ok(existsSync(new URL(`../../../${row.applied}`, import.meta.url)), `${key}: ${row.applied} exists`);
      }
    }
  });
});
