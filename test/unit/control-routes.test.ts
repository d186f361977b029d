import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { controlRoutes, deployedRelease, mergeControlRoutes, splitAddress } from '../../src/sync/control-routes.js';
import type { SyncView } from '../../src/sync/sync.js';
import type { AppDoc, HostDoc, MachineDoc, MachineStateDoc, ReleaseDoc } from '../../src/contract/index.js';
import type { MachineSpec, RoutesSpec } from '../../src/proxy/index.js';

const T = '2025-01-01T00:00:00.000Z';
const app = (name: string, o: Partial<AppDoc> = {}): AppDoc => ({ name, primary_region: 'fra', created_at: T, release_version: 1, deployed_release: 1, secrets_version: 0, ...o });
const release = (a: string, version: number, config: Record<string, unknown>): ReleaseDoc => ({
  app: a,
  version,
  config,
  image: { ref: 'img', digest: `sha256:${'a'.repeat(64)}` },
  secrets_version: 0,
  created_at: T,
});
const host = (id: string, region: string, proxy?: string): HostDoc => ({ id, region, capacity: { machines: 8 }, agent_url: 'http://127.0.0.1:1', ...(proxy ? { proxy } : {}), registered_at: T, updated_at: T });
const machine = (a: string, id: string, h: string, rel = 1): MachineDoc => ({ id, app: a, region: 'fra', host: h, release: rel, deploy: null, created_at: T });
const state = (a: string, id: string, h: string, o: Partial<MachineStateDoc> = {}): MachineStateDoc => ({
  id,
  app: a,
  host: h,
  region: 'ams',
  release: 1,
  state: 'started',
  healthy: true,
  updated_at: T,
  ...o,
});

const WEB = {
  app: 'web',
  primary_region: 'fra',
  http_service: {
    internal_port: 3000,
    auto_stop_machines: 'stop',
    auto_start_machines: true,
    min_machines_running: 1,
    concurrency: { type: 'requests', soft_limit: 10, hard_limit: 20 },
  },
};

function view(docs: { apps?: AppDoc[]; releases?: ReleaseDoc[]; machines?: MachineDoc[]; machine_states?: MachineStateDoc[]; hosts?: HostDoc[] }): SyncView {
  const keyed = <T>(list: T[] | undefined, key: (d: T) => string): Map<string, unknown> => new Map((list ?? []).map((d) => [key(d), d]));
  return {
    revision: 7,
    documents: new Map<string, Map<string, unknown>>([
      ['apps', keyed(docs.apps, (a) => a.name)],
      ['releases', keyed(docs.releases, (r) => `${r.app}.${String(r.version).padStart(8, '0')}`)],
      ['machines', keyed(docs.machines, (m) => `${m.app}.${m.id}`)],
      ['machine_states', keyed(docs.machine_states, (s) => `${s.app}.${s.id}`)],
      ['hosts', keyed(docs.hosts, (h) => h.id)],
    ]),
  };
}

/** A view's documents back as lists (to change one collection of a view). */
function docsOf(v: SyncView): Parameters<typeof view>[0] {
  const list = <T>(c: string): T[] => [...(v.documents.get(c)?.values() ?? [])] as T[];
  return { apps: list('apps'), releases: list('releases'), machines: list('machines'), machine_states: list('machine_states'), hosts: list('hosts') };
}

const LOCAL: MachineSpec = { id: 'local1', region: 'fra', address: '172.31.0.2', port: 3000, state: 'started', healthy: true };
const localOf = (app: string): MachineSpec[] => (app === 'web' ? [LOCAL] : []);

describe('controlRoutes', () => {
  it("never routes nor wakes a deploy's release command machine, local or remote, and does not take its release for the app's", () => {
    const v = view({
      apps: [app('web', { deployed_release: 0 })],
      releases: [release('web', 1, WEB), release('web', 2, WEB)],
      hosts: [host('a', 'fra', '10.0.0.1:80'), host('b', 'ams', '10.0.0.2:80')],
      machines: [machine('web', 'm1', 'b', 1), { ...machine('web', 'rcb', 'b', 2), role: 'release_command' }, { ...machine('web', 'local1', 'a', 2), role: 'release_command' }],
      machine_states: [state('web', 'm1', 'b'), state('web', 'rcb', 'b', { state: 'stopped', healthy: false }), state('web', 'gone', 'b', { role: 'release_command' })],
    });
    assert.equal(deployedRelease(v, app('web', { deployed_release: 0 }))?.version, 1, 'release 2 has only a release command machine');
    const [web] = controlRoutes({ view: v, hostId: 'a', appsDomain: 'x.test', local: localOf }).apps;
    assert.deepEqual(web?.machines.map((m) => m.id), ['m1']);
  });

  it('between hosts on the mesh, another host\'s machines are at its mesh address and backhaul port; else at its proxy on the underlay', () => {
    const onMesh = (h: HostDoc, n: number, backhaul?: number): HostDoc => ({
      ...h,
      mesh: { public_key: `${'k'.repeat(42)}${n}=`, endpoint: `10.0.0.${n}:51820`, number: n, address: `fdaa:${n}::1/16`, subnet: `fdaa:${n}::/32`, ...(backhaul ? { backhaul_port: backhaul } : {}) },
    });
    const hosts = [onMesh(host('a', 'fra', '10.0.0.1:80'), 1, 4280), onMesh(host('b', 'ams', '10.0.0.2:80'), 2, 4281), onMesh(host('c', 'sin', '10.0.0.3:80'), 3), host('d', 'iad', '10.0.0.4:80')];
    const states = [state('web', 'rb', 'b'), state('web', 'rc', 'c'), state('web', 'rd', 'd')];
    const at = (self: string, list: HostDoc[]): string[] =>
      controlRoutes({ view: view({ apps: [app('web')], releases: [release('web', 1, WEB)], hosts: list, machine_states: states }), hostId: self, appsDomain: 't', local: () => [] })
        .apps[0]!.machines.map((m) => `${m.id}@${m.address}:${m.port}`);
    // b is on the mesh with a backhaul port; c registered before the backhaul moved; d is not on the mesh.
    assert.deepEqual(at('a', hosts), ['rb@fdaa:2::1:4281', 'rc@10.0.0.3:80', 'rd@10.0.0.4:80']);
    // A host that is not on the mesh itself reaches everyone on the underlay.
    assert.deepEqual(at('a', [host('a', 'fra', '10.0.0.1:80'), ...hosts.slice(1)]), ['rb@10.0.0.2:80', 'rc@10.0.0.3:80', 'rd@10.0.0.4:80']);
  });

  it('serves a deployed app at <app>.<apps_domain> with its service settings, local machines first, then healthy remote ones at their proxies', () => {
    const v = view({
      apps: [app('web')],
      releases: [release('web', 1, WEB)],
      hosts: [host('a', 'fra', '10.0.0.1:80'), host('b', 'ams', '10.0.0.2:8080'), host('c', 'sin', '[2001:db8::3]:80'), host('d', 'iad'), { ...host('e', 'ams', '10.0.0.5:80'), healthy: false }],
      machine_states: [
        state('web', 'own', 'a'), // this host's own report: the MachineManager knows better
        state('web', 'rb1', 'b'),
        state('web', 'rc1', 'c', { region: 'sin' }),
        state('web', 'sick', 'b', { healthy: false }),
        state('web', 'stopped', 'b', { state: 'stopped', healthy: false }),
        state('web', 'noproxy', 'd'),
        state('web', 'nohost', 'zz'),
        state('web', 'down1', 'e'), // healthy by its last report, but its host was marked down
        state('other', 'x1', 'b'),
      ],
    });
    const { apps, problems } = controlRoutes({ view: v, hostId: 'a', appsDomain: 'starling.test', local: localOf });
    assert.deepEqual(problems, []);
    assert.deepEqual(apps, [
      {
        name: 'web',
        hostnames: ['web.starling.test'],
        primary_region: 'fra',
        force_https: false,
        service: {
          internal_port: 3000,
          concurrency: { type: 'requests', soft_limit: 10, hard_limit: 20 },
          auto_start_machines: true,
          auto_stop_machines: 'stop',
          min_machines_running: 1,
        },
        machines: [
          LOCAL,
          { id: 'rb1', region: 'ams', address: '10.0.0.2', port: 8080, state: 'started', healthy: true, peer: true },
          { id: 'rc1', region: 'sin', address: '2001:db8::3', port: 80, state: 'started', healthy: true, peer: true },
          // Not usable, but there for autostart: a request that finds no started machine goes to its host.
          { id: 'stopped', region: 'ams', address: '10.0.0.2', port: 8080, state: 'stopped', healthy: false, peer: true },
        ],
      },
    ]);
    const noAutostart = controlRoutes({ view: view({ ...docsOf(v), releases: [release('web', 1, { ...WEB, http_service: { ...WEB.http_service, auto_start_machines: false } })] }), hostId: 'a', appsDomain: 'starling.test', local: localOf });
    assert.deepEqual(noAutostart.apps[0]?.machines.map((m) => m.id), ['local1', 'rb1', 'rc1'], "without autostart, another host's stopped machine is of no use here");
  });

  it('routes a service to the machines of the process groups it serves only, local and remote, by their placements', () => {
    const groups = {
      app: 'pg',
      primary_region: 'fra',
      processes: { web: 'node server.mjs', worker: 'node worker.mjs', db: 'postgres' },
      http_service: { internal_port: 3000, processes: ['web'] },
      services: [
        { internal_port: 5432, processes: ['db'], ports: [{ port: 5432 }] },
        { internal_port: 53, protocol: 'udp', processes: ['worker'], ports: [{ port: 53 }] },
      ],
    };
    const placed = (id: string, h: string, group?: string): MachineDoc => ({ ...machine('pg', id, h), ...(group ? { process_group: group } : {}) });
    const v = view({
      apps: [app('pg')],
      releases: [release('pg', 1, groups)],
      hosts: [host('a', 'fra', '10.0.0.1:80'), host('b', 'ams', '10.0.0.2:80')],
      machines: [placed('lweb', 'a', 'web'), placed('lwork', 'a', 'worker'), placed('rweb', 'b', 'web'), placed('rwork', 'b', 'worker'), placed('rdb', 'b', 'db'), placed('rnone', 'b')],
      machine_states: ['rweb', 'rwork', 'rdb', 'rnone'].map((id) => state('pg', id, 'b')),
    });
    const local = (a: string): MachineSpec[] => (a === 'pg' ? ['lweb', 'lwork', 'unplaced'].map((id) => ({ ...LOCAL, id })) : []);
    const { apps, tcp } = controlRoutes({ view: v, hostId: 'a', appsDomain: 'x.test', local });
    assert.deepEqual(apps[0]?.machines.map((m) => m.id), ['lweb', 'rweb'], 'HTTP to web only: no worker, no db, no machine of the group `app` (rnone, unplaced)');
    assert.deepEqual(tcp.map((t) => [t.protocol ?? 'tcp', t.machines.map((m) => m.id).join(',')]), [['tcp', 'rdb'], ['udp', 'lwork,rwork']], 'the TCP service to db only, the UDP one to worker only');
    // Without `processes`, a service serves every group.
    const all = controlRoutes({ view: view({ ...docsOf(v), releases: [release('pg', 1, { ...groups, http_service: { internal_port: 3000 } })] }), hostId: 'a', appsDomain: 'x.test', local });
    assert.deepEqual(all.apps[0]?.machines.map((m) => m.id), ['lweb', 'lwork', 'unplaced', 'rdb', 'rnone', 'rweb', 'rwork']);
  });

  it("serves an app's [[services]] ports without an http handler as TCP services (handlers, ALPN, PROXY version, ranges) and its udp services as UDP ones, the same machines at internal_port", () => {
    const db = {
      app: 'db',
      primary_region: 'fra',
      services: [
        {
          internal_port: 5432,
          protocol: 'tcp',
          auto_start_machines: false,
          concurrency: { type: 'connections', hard_limit: 50 },
          ports: [
            { port: 5432, handlers: ['pg_tls'] },
            { port: 6380, handlers: ['tls', 'proxy_proto'], tls_options: { alpn: ['redis'] }, proxy_proto_options: { version: 'v2' } },
            { start_port: 7000, end_port: 7002 },
          ],
        },
        { internal_port: 9999, protocol: 'udp', ports: [{ port: 53 }] },
      ],
    };
    const v = view({
      apps: [app('db')],
      releases: [release('db', 1, db)],
      hosts: [host('a', 'fra', '10.0.0.1:80'), host('b', 'ams', '10.0.0.2:8080')],
      machine_states: [state('db', 'rb1', 'b'), state('db', 'stopped', 'b', { state: 'stopped', healthy: false })],
    });
    const { apps, tcp } = controlRoutes({ view: v, hostId: 'a', appsDomain: 'starling.test', local: (a) => (a === 'db' ? [LOCAL] : []) });
    assert.deepEqual(apps, [], 'no HTTP service: no HTTP route');
    assert.deepEqual(tcp, [
      {
        app: 'db',
        primary_region: 'fra',
        ports: [
          { start_port: 5432, end_port: 5432, handlers: ['pg_tls'] },
          { start_port: 6380, end_port: 6380, handlers: ['tls', 'proxy_proto'], proxy_proto_version: 'v2', alpn: ['redis'] },
          { start_port: 7000, end_port: 7002, handlers: [] },
        ],
        service: { internal_port: 5432, concurrency: { type: 'connections', soft_limit: 20, hard_limit: 50 }, auto_start_machines: false, auto_stop_machines: 'off', min_machines_running: 0 },
        // The local machine's own port is its HTTP port: the TCP service uses internal_port.
        machines: [{ ...LOCAL, port: undefined }, { id: 'rb1', region: 'ams', address: '10.0.0.2', port: 8080, state: 'started', healthy: true, peer: true }],
      },
      {
        // The UDP service: datagrams at port 53, the same machines (it autostarts: the stopped one too).
        app: 'db',
        protocol: 'udp',
        primary_region: 'fra',
        ports: [{ start_port: 53, end_port: 53, handlers: [] }],
        service: { internal_port: 9999, concurrency: { type: 'connections', soft_limit: 20 }, auto_start_machines: true, auto_stop_machines: 'off', min_machines_running: 0 },
        machines: [
          { ...LOCAL, port: undefined },
          { id: 'rb1', region: 'ams', address: '10.0.0.2', port: 8080, state: 'started', healthy: true, peer: true },
          { id: 'stopped', region: 'ams', address: '10.0.0.2', port: 8080, state: 'stopped', healthy: false, peer: true },
        ],
      },
    ]);
    const merged = mergeControlRoutes({ apps: [], tcp_services: [{ ...tcp[0]!, app: 'file', ports: [{ start_port: 7001, end_port: 7001, handlers: [] }] }] }, apps, tcp);
    assert.deepEqual(merged.tcp_services?.map((t) => [t.app, t.protocol ?? 'tcp']), [['file', 'tcp'], ['db', 'udp']], "the routes file's service wins a TCP port clash; the UDP service clashes with nothing");
  });

  it('leaves a cordoned machine out on every host, its own too, while it runs; uncordoned it is routed again', () => {
    const docs = {
      apps: [app('web')],
      releases: [release('web', 1, WEB)],
      hosts: [host('a', 'fra', '10.0.0.1:80'), host('b', 'ams', '10.0.0.2:8080')],
      machines: [{ ...machine('web', 'local1', 'a'), cordoned: true }, { ...machine('web', 'rb1', 'b'), cordoned: true }, machine('web', 'rb2', 'b')],
      machine_states: [state('web', 'rb1', 'b'), state('web', 'rb2', 'b'), state('web', 'rb3', 'b', { state: 'stopped', healthy: false })],
    };
    const ids = (d: Parameters<typeof view>[0]): string[] | undefined => controlRoutes({ view: view(d), hostId: 'a', appsDomain: 'starling.test', local: localOf }).apps[0]?.machines.map((m) => m.id);
    assert.deepEqual(ids(docs), ['rb2', 'rb3']);
    const stoppedCordoned = { ...docs, machines: [...docs.machines, { ...machine('web', 'rb3', 'b'), cordoned: true }] };
    assert.deepEqual(ids(stoppedCordoned), ['rb2'], 'a cordoned stopped machine is not there for autostart either');
    assert.deepEqual(ids({ ...docs, machines: docs.machines.map((m) => ({ ...m, cordoned: false })) }), ['local1', 'rb1', 'rb2', 'rb3']);
  });

  it('leaves out apps without a release, without an HTTP service, and (as a problem) with an invalid config', () => {
    const tcp = { app: 'db', services: [{ internal_port: 5432, protocol: 'tcp', ports: [{ port: 5432 }] }] };
    const v = view({
      apps: [app('fresh', { release_version: 0, deployed_release: 0 }), app('db'), app('bad'), app('web')],
      releases: [release('db', 1, tcp), release('bad', 1, { app: 'bad', bogus: true }), release('web', 1, WEB)],
    });
    const { apps, problems } = controlRoutes({ view: v, hostId: 'a', appsDomain: 'apps.example', local: () => [] });
    assert.deepEqual(apps.map((a) => [a.name, a.hostnames, a.machines.length]), [['web', ['web.apps.example'], 0]]);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.app, 'bad');
    assert.match(problems[0]?.message ?? '', /bogus/);
  });

  it('routes by the deployed release, or before a first deploy succeeds by the newest placed one', () => {
    const v2 = { ...WEB, http_service: { ...WEB.http_service, internal_port: 4000, force_https: true } };
    const releases = [release('web', 1, WEB), release('web', 2, v2)];
    const deployed = view({ apps: [app('web', { release_version: 2, deployed_release: 1 })], releases, machines: [machine('web', 'm2', 'b', 2)] });
    assert.equal(deployedRelease(deployed, app('web', { release_version: 2, deployed_release: 1 }))?.version, 1);
    assert.equal(controlRoutes({ view: deployed, hostId: 'a', appsDomain: 'd.test', local: () => [] }).apps[0]?.service.internal_port, 3000);

    const { deployed_release: _, ...first } = app('web', { release_version: 2 });
    const placing = view({ apps: [first], releases, machines: [machine('web', 'm1', 'a', 1), machine('web', 'm2', 'b', 2)] });
    const routed = controlRoutes({ view: placing, hostId: 'a', appsDomain: 'd.test', local: () => [] }).apps[0];
    assert.equal(routed?.service.internal_port, 4000);
    assert.equal(routed?.force_https, true);
    assert.equal(routed?.response_headers, undefined, 'none set: none routed');
    const v3 = { ...WEB, http_service: { ...WEB.http_service, http_options: { response: { headers: { 'X-Frame-Options': 'DENY', 'X-Powered-By': false } } } } };
    const withHeaders = view({ apps: [first], releases: [release('web', 1, v3)], machines: [machine('web', 'm1', 'a', 1)] });
    assert.deepEqual(controlRoutes({ view: withHeaders, hostId: 'a', appsDomain: 'd.test', local: () => [] }).apps[0]?.response_headers, { 'x-frame-options': 'DENY', 'x-powered-by': null });
    assert.equal(routed?.idle_timeout, undefined, 'no idle_timeout: the proxy keeps its own');
    const v4 = { ...WEB, http_service: { ...WEB.http_service, http_options: { idle_timeout: 600 } } };
    const idle = view({ apps: [first], releases: [release('web', 1, v4)], machines: [machine('web', 'm1', 'a', 1)] });
    assert.equal(controlRoutes({ view: idle, hostId: 'a', appsDomain: 'd.test', local: () => [] }).apps[0]?.idle_timeout, 600, "fly's seconds, to the proxy (proxy-idle-timeout.test.ts)");
    assert.equal(controlRoutes({ view: view({ apps: [first], releases }), hostId: 'a', appsDomain: 'd.test', local: () => [] }).apps.length, 0);
  });
});

describe('mergeControlRoutes', () => {
  it("adds the control plane's apps; the routes file wins a name or hostname clash and keeps its rtt", () => {
    const file: RoutesSpec = {
      apps: [{ name: 'web', hostnames: ['example.com'], service: { internal_port: 80, concurrency: { type: 'connections', soft_limit: 5 } }, machines: [] }],
      rtt: { fra: { ams: 9 } },
    };
    const service = { internal_port: 8080, concurrency: { type: 'requests' as const, soft_limit: 20 } };
    const control = [
      { name: 'web', hostnames: ['web.starling.test'], service, machines: [] },
      { name: 'shop', hostnames: ['example.com'], service, machines: [] },
      { name: 'api', hostnames: ['api.starling.test'], service, machines: [] },
    ];
    const merged = mergeControlRoutes(file, control);
    assert.deepEqual(merged.apps.map((a) => `${a.name}:${a.hostnames.join()}`), ['web:example.com', 'api:api.starling.test']);
    assert.deepEqual(merged.rtt, { fra: { ams: 9 } });
  });

  it('splits IP:PORT addresses', () => {
    assert.deepEqual(splitAddress('10.0.0.1:80'), { address: '10.0.0.1', port: 80 });
    assert.deepEqual(splitAddress('[::1]:8080'), { address: '::1', port: 8080 });
    for (const bad of [undefined, '', 'host:80', '10.0.0.1', '10.0.0.1:0', '10.0.0.1:70000']) assert.equal(splitAddress(bad), undefined, String(bad));
  });
});
