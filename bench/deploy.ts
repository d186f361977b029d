/**
 * npm run bench:deploy — the control plane (a real process) and three agents on loopback, one per
 * region (fra, ams, lhr), with real sandboxed machines. An app runs 2 machines in each region; then
 * five rolling deploys of a new release (the config's max_unavailable, 0.33 → 2 at a time), each
 * timed from the API call to the deploy's `succeeded`. Propagation: for every new machine, the
 * time from its checks passing on its host to every other agent's proxy routing to it (both seen
 * in this process: the machine manager's change and the proxy's route table). Needs root.
 *
 * Aims (issue 6): deploy ≤ 10 s; propagation ≤ 200 ms.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPlatform, type Platform } from '../test/helpers/platform.js';
import { waitFor } from '../test/helpers/wait.js';
import { positiveInt } from './lib/args.js';

const FIXTURE = new URL('../../test/fixtures/apps/env-echo/server.mjs', import.meta.url).pathname;
const REGIONS = ['fra', 'ams', 'lhr'] as const;
const ROUNDS = ((i) => (i >= 0 ? positiveInt('--rounds', process.argv[i + 1] ?? '', 1) : 5))(process.argv.indexOf('--rounds'));
const JSON_OUT = process.argv.includes('--json');

const config = (greeting: string): Record<string, unknown> => ({
  app: 'bench',
  primary_region: 'fra',
  kill_signal: 'SIGTERM',
  kill_timeout: '2s',
  env: { GREETING: greeting },
  experimental: { cmd: ['node', 'server.mjs'] },
  http_service: { internal_port: 8080, checks: [{ path: '/healthz', interval: '1s', timeout: '500ms', grace_period: '0s' }] },
});

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const say = (line: string): void => void (JSON_OUT ? undefined : console.log(line));

/** Watches every agent: when a machine's checks first pass on its host, and when each proxy first routes to it. */
function watchPropagation(p: Platform): { samples(): number[] } {
  const healthyAt = new Map<string, number>();
  const routedAt = new Map<string, Map<string, number>>();
  for (const [name, agent] of p.agents) {
    agent.machines!.onChange(() => {
      for (const m of agent.machines!.list('bench')) if (m.checks.passing && !healthyAt.has(m.id)) healthyAt.set(m.id, performance.now());
    });
    const server = agent.proxy.proxy;
    const setRoutes = server.setRoutes.bind(server);
    server.setRoutes = (spec) => {
      setRoutes(spec);
      const app = server.routes.apps.get('bench');
      for (const [id, m] of app?.byId ?? []) {
        const seen = routedAt.get(id) ?? new Map<string, number>();
        if (m.usable && !seen.has(name)) seen.set(name, performance.now());
        routedAt.set(id, seen);
      }
    };
  }
  return {
    samples() {
      const out: number[] = [];
      for (const [id, t0] of healthyAt) {
        const seen = routedAt.get(id);
        // Every agent but the machine's own (which routes to it locally) must have it.
        const others = [...p.agents.keys()].filter((n) => !p.agents.get(n)!.machines!.get('bench', id));
        const times = others.map((n) => seen?.get(n));
        if (times.every((t) => t !== undefined)) out.push(Math.max(...(times)) - t0);
      }
      return out;
    },
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const p = await startPlatform(REGIONS.map((region, i) => ({ name: `h${i + 1}`, region })), { prefix: 'bench-deploy' });
  try {
    const appDir = join(p.dir, 'app');
    mkdirSync(appDir);
    copyFileSync(FIXTURE, join(appDir, 'server.mjs'));
    const tarball = join(p.dir, 'app.tar.gz');
    execFileSync('tar', ['-czf', tarball, '-C', appDir, '.']);
    const bytes = readFileSync(tarball);
    const digest = `sha256:${(await import('node:crypto')).createHash('sha256').update(bytes).digest('hex')}`;
    const token = readFileSync(join(p.dir, 'control', 'api.token'), 'utf8').trim();
    const put = await p.fetch(`${p.controlUrl}/v1/images/${digest}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: bytes });
    if (!put.ok) throw new Error(`image upload: ${put.status}`);
    const image = { ref: 'env-echo', digest };
    say(`platform up in ${((performance.now() - started) / 1000).toFixed(1)} s: control plane + ${REGIONS.length} agents (${REGIONS.join(', ')})`);

    const deployRelease = async (greeting: string): Promise<number> => {
      const rel = await p.api('POST', '/v1/apps/bench/releases', { config: config(greeting), image });
      if (rel.status !== 201) throw new Error(`release: ${JSON.stringify(rel.body)}`);
      const t = performance.now();
      const d = await p.api('POST', '/v1/apps/bench/deploys', { release: (rel.body as { version: number }).version });
      if (d.status !== 201) throw new Error(`deploy: ${JSON.stringify(d.body)}`);
      let state = 'running';
      const id = (d.body as { id: string }).id;
      await waitFor(async () => ((state = ((await p.api('GET', `/v1/apps/bench/deploys/${id}`)).body as { state: string }).state) !== 'running'), 'the deploy', 120_000, 20);
      if (state !== 'succeeded') throw new Error(`deploy ended ${state}`);
      return performance.now() - t;
    };

    await p.api('POST', '/v1/apps', { name: 'bench', primary_region: 'fra' });
    await deployRelease('v0');
    const scaled = await p.api('POST', '/v1/apps/bench/scale', { count: 2, regions: [...REGIONS] });
    if (scaled.status !== 200) throw new Error(`scale: ${JSON.stringify(scaled.body)}`);
    await waitFor(async () => {
      const s = (await p.api('GET', '/v1/apps/bench/status')).body as { machines: { healthy: boolean }[] };
      return s.machines.length === 6 && s.machines.every((m) => m.healthy);
    }, '6 healthy machines', 60_000, 50);

    const watch = watchPropagation(p);
    const times: number[] = [];
    for (let i = 1; i <= ROUNDS; i++) {
      const ms = await deployRelease(`v${i}`);
      times.push(ms);
      say(`  round ${i}: rolling deploy of 6 machines over 3 regions in ${(ms / 1000).toFixed(2)} s`);
    }
    const prop = watch.samples();
    const result = {
      deploy_s: { median: median(times) / 1000, min: Math.min(...times) / 1000, max: Math.max(...times) / 1000, rounds: ROUNDS },
      propagation_ms: { median: median(prop), max: Math.max(...prop), samples: prop.length },
    };
    if (JSON_OUT) console.log(JSON.stringify(result, null, 2));
    else {
      say('');
      say(`rolling deploy, 6 machines / 3 regions: median ${result.deploy_s.median.toFixed(2)} s (min ${result.deploy_s.min.toFixed(2)}, max ${result.deploy_s.max.toFixed(2)}) — aim ≤ 10 s`);
      say(`propagation, healthy on one host → routed by every other proxy: median ${result.propagation_ms.median.toFixed(1)} ms, max ${result.propagation_ms.max.toFixed(1)} ms over ${prop.length} machines — aim ≤ 200 ms`);
    }
  } finally {
    await p.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
