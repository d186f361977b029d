/**
 * npm run bench:agent-memory — how much memory one agent process holds, idle, serving N apps
 * (default 10) with one machine each. Everything is a real process from the CLI: the control plane
 * (`starling control run`, HTTPS), one host added and joined (`starling hosts add`), one agent
 * (`starling agent run`: proxy, BIRD, sandboxed machines), and N apps deployed through the API with
 * one machine each on that host. Once every machine is healthy and the agent has been idle for a
 * few seconds, it reports the agent's resident memory (VmRSS, split into anonymous memory and
 * file-backed pages — mostly the node binary, shared with every node process) and its peak (VmHWM)
 * from /proc: the agent process alone, not its machines or its BIRD. Needs root (sandboxed machines, BIRD).
 *
 * Flags: --apps N (10), --idle S (5), --json. Aim (issue 13): ≤ 60 MiB.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certFingerprint, trustingFetch } from '../src/shared/index.js';
import { closedPort } from '../test/helpers/origin.js';
import { waitFor } from '../test/helpers/wait.js';
import { positiveInt } from './lib/args.js';

const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const APP = new URL('../../test/fixtures/apps/hello', import.meta.url).pathname;
const flag = (name: string, dflt: number): number => ((i) => (i >= 0 ? positiveInt(name, process.argv[i + 1] ?? '', 1) : dflt))(process.argv.indexOf(name));
const APPS = flag('--apps', 10);
const IDLE_S = flag('--idle', 5);
const JSON_OUT = process.argv.includes('--json');
const say = (line: string): void => void (JSON_OUT ? undefined : console.log(line));

function status(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) / 1024;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-bench-mem-'));
  chmodSync(dir, 0o711);
  const children: ChildProcess[] = [];
  const start = (args: string[], log: string): ChildProcess => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let text = '';
    c.stderr.on('data', (d: Buffer) => (text += d.toString()));
    c.on('exit', () => writeFileSync(join(dir, log), text));
    children.push(c);
    return c;
  };
  try {
    const [cp, proxy, admin, api] = [await closedPort(), await closedPort(), await closedPort(), await closedPort()];
    const url = `https://127.0.0.1:${cp}`;
    writeFileSync(join(dir, 'control.toml'), `listen = "127.0.0.1:${cp}"\nstate = "${join(dir, 'control', 'state.db')}"\n`);
    start(['control', 'run', '--config', join(dir, 'control.toml')], 'control.log');
    await waitFor(() => existsSync(join(dir, 'control', 'tls.crt')) && existsSync(join(dir, 'control', 'api.token')), 'the control plane', 20_000, 20);
    const fp = certFingerprint(readFileSync(join(dir, 'control', 'tls.crt'), 'utf8'));
    const token = readFileSync(join(dir, 'control', 'api.token'), 'utf8').trim();
    const f = trustingFetch({ fingerprint: fp });
    await waitFor(async () => (await f(`${url}/healthz`).then((r) => r.ok).catch(() => false)), 'healthz', 20_000, 50);
    const call = async (method: string, path: string, body?: unknown, raw?: Buffer): Promise<Record<string, unknown>> => {
      const res = await f(url + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': raw ? 'application/gzip' : 'application/json' }, body: raw ?? (body === undefined ? null : JSON.stringify(body)) });
      const out = (await res.json()) as Record<string, unknown>;
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(out)}`);
      return out;
    };
    execFileSync(process.execPath, [CLI, 'hosts', 'add', 'mem1', '--region', 'fra', '--write', join(dir, 'join.token'), '--control', url, '--fingerprint', fp], { env: { ...process.env, STARLING_TOKEN: token } });
    writeFileSync(join(dir, 'routes.json'), '{ "apps": [] }\n');
    writeFileSync(
      join(dir, 'agent.toml'),
      `[agent]\nregion = "fra"\nstate_dir = "${join(dir, 'agent')}"\nadmin_listen = "127.0.0.1:${api}"\n` +
        `[proxy]\nlisten = "127.0.0.1:${proxy}"\nroutes = "${join(dir, 'routes.json')}"\nadmin = "127.0.0.1:${admin}"\n` +
        `[bgp]\nasn = 65010\nrouter_id = "192.0.2.77"\nprefixes = ["198.51.100.0/24"]\n[[bgp.peers]]\nname = "up1"\naddress = "192.0.2.1"\nasn = 65001\n` +
        `[runtime]\nbridge = "smem"\nnetwork = "172.25.0.0/24"\n` +
        `[control]\nurl = "${url}"\njoin_token_file = "${join(dir, 'join.token')}"\ncapacity = ${APPS + 2}\n`,
    );
    const agent = start(['agent', 'run', '--config', join(dir, 'agent.toml')], 'agent.log');
    await waitFor(async () => ((await call('GET', '/v1/hosts')).hosts as unknown[]).length === 1, 'the agent to join and register', 30_000, 100);

    const tgz = join(dir, 'app.tar.gz');
    execFileSync('tar', ['-czf', tgz, '-C', APP, '.']);
    const bytes = readFileSync(tgz);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await call('PUT', `/v1/images/${digest}`, undefined, bytes);
    const names = Array.from({ length: APPS }, (_, i) => `mem${i + 1}`);
    for (const name of names) {
      await call('POST', '/v1/apps', { name, primary_region: 'fra' });
      const config = { app: name, primary_region: 'fra', experimental: { cmd: ['node', 'server.mjs'] }, http_service: { internal_port: 8080 } };
      await call('POST', `/v1/apps/${name}/releases`, { config, image: { ref: 'hello', digest } });
      await call('POST', `/v1/apps/${name}/deploys`, { strategy: 'immediate' });
    }
    const healthy = async (): Promise<number> => {
      let n = 0;
      for (const name of names) n += ((await call('GET', `/v1/apps/${name}/machines`)).machines as { healthy: boolean }[]).filter((m) => m.healthy).length;
      return n;
    };
    await waitFor(async () => (await healthy()) === APPS, `${APPS} machines healthy`, 120_000, 500);
    const t0 = performance.now();
    await waitFor(() => performance.now() - t0 >= IDLE_S * 1000, 'the idle period', IDLE_S * 1000 + 5000, 250);
    const rss = status(agent.pid!, 'VmRSS');
    const hwm = status(agent.pid!, 'VmHWM');
    const r = (x: number): number => Math.round(x * 10) / 10;
    // RssFile is mostly the node binary's pages, shared with every other node process on the host.
    const out = { apps: APPS, idle_s: IDLE_S, node: process.version, agent_rss_mib: r(rss), agent_anon_mib: r(status(agent.pid!, 'RssAnon')), agent_file_mib: r(status(agent.pid!, 'RssFile')), agent_peak_mib: r(hwm), aim_mib: 60 };
    if (JSON_OUT) console.log(JSON.stringify(out));
    else say(`agent, idle with ${APPS} apps (one machine each): RSS ${out.agent_rss_mib} MiB (${out.agent_anon_mib} anonymous, ${out.agent_file_mib} file-backed), peak ${out.agent_peak_mib} MiB — aim ≤ 60 MiB (Node ${process.version})`);
  } finally {
    for (const c of children.reverse()) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
