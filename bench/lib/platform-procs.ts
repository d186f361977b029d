/**
 * A Starling platform of real processes, for the benchmarks that measure it from outside: the
 * control plane (`starling control run`, HTTPS with the self-signed certificate it makes at first
 * start) and agents (`starling agent run`: proxy, announcer with its BIRD, no machines —
 * `[runtime] driver = "none"`), each a child process in its own process group (procs.ts), its output
 * in a log file in the benchmark's temp dir. The hosts join as an operator's do: `POST /v1/hosts`
 * gives a join token (which pins the control plane's certificate), the agent trades it at its start.
 * BIRD peers with 192.0.2.1, which never answers: announcing is not what these benchmarks measure.
 * Needs root (BIRD). Unlike test/helpers/platform.ts, nothing runs inside the benchmark's process,
 * so the agents' CPU is their own and they take node flags (`--openssl-config`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { certFingerprint, trustingFetch } from '../../src/shared/index.js';
import { freePort, HOST, waitFor200 } from './net.js';
import { logTail, spawnManaged, stop, type Managed } from './procs.js';
import { BenchError } from './util.js';

/** dist/bench/lib/platform-procs.js → dist/src/cli/main.js */
export const STARLING_CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface ControlProc {
  url: string;
  proc: Managed;
  /** Operator token (api.token): for the API calls, never logged. */
  token: string;
  /** Calls the API with the operator token; throws unless the status is 2xx. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  stop(): Promise<void>;
}

export interface AgentSpec {
  /** Host id suffix: the host is `bench-<name>`; [a-z0-9]{1,12}. */
  name: string;
  region: string;
  /** The plain HTTP port ([proxy] listen); a free one when absent. */
  plainPort?: number;
  /** The HTTPS port ([proxy] tls_listen); a free one when absent. */
  tlsPort?: number;
  /** The routes file's content (JSON); `{ "apps": [] }` when absent. */
  routes?: string;
  /** Node flags before the CLI, e.g. `--openssl-config=FILE`. */
  nodeArgs?: string[];
}

export interface AgentProc {
  name: string;
  hostId: string;
  region: string;
  proc: Managed;
  plainPort: number;
  tlsPort: number;
  routesFile: string;
  stop(): Promise<void>;
}

async function until(what: string, proc: Managed, deadlineMs: number, cond: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (proc.hasExited()) throw new BenchError(`${what}: ${proc.name} exited (${await proc.exited})\n--- ${proc.logFile} ---\n${logTail(proc) || '(empty)'}`);
    if (await cond()) return;
    if (Date.now() > deadline) throw new BenchError(`${what}: not within ${deadlineMs} ms\n--- ${proc.logFile} ---\n${logTail(proc) || '(empty)'}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `starling control run` in `dir/control`, with `extraToml` appended to its control.toml. */
export async function startControl(dir: string, extraToml = ''): Promise<ControlProc> {
  const port = await freePort();
  const url = `https://${HOST}:${port}`;
  const home = join(dir, 'control');
  mkdirSync(home, { recursive: true });
  const toml = join(dir, 'control.toml');
  writeFileSync(toml, `listen = "${HOST}:${port}"\nstate = "${join(home, 'state.db')}"\n${extraToml}`);
  const proc = spawnManaged('control', process.execPath, [STARLING_CLI, 'control', 'run', '--config', toml, '--log-level', 'info'], join(dir, 'control.out'));
  const certFile = join(home, 'tls.crt');
  const tokenFile = join(home, 'api.token');
  await until('the control plane to make its certificate and token', proc, 30_000, () => existsSync(certFile) && existsSync(tokenFile));
  const pinned = trustingFetch({ fingerprint: certFingerprint(readFileSync(certFile, 'utf8')) });
  await until('the control plane to answer /healthz', proc, 30_000, () => pinned(`${url}/healthz`).then((r) => r.ok, () => false));
  const token = readFileSync(tokenFile, 'utf8').trim();
  const api: ControlProc['api'] = async (method, path, body) => {
    const res = await pinned(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const out = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (res.status < 200 || res.status > 299) throw new BenchError(`${method} ${path}: HTTP ${res.status} ${JSON.stringify(out)}`);
    return { status: res.status, body: out };
  };
  return { url, proc, token, api, stop: () => stop(proc) };
}

/**
 * Adds host `bench-<name>` at the control plane and starts its agent in `dir/<name>`; resolves once
 * the host is registered and the proxy's admin port answers /healthz. `index` (1…) keeps BIRD's
 * router id apart from the other agents'.
 */
export async function startAgentProc(control: ControlProc, dir: string, spec: AgentSpec, index: number): Promise<AgentProc> {
  const d = join(dir, spec.name);
  mkdirSync(d, { recursive: true });
  const hostId = `bench-${spec.name}`;
  const [plainPort, tlsPort, proxyAdmin, agentAdmin] = [spec.plainPort ?? (await freePort()), spec.tlsPort ?? (await freePort()), await freePort(), await freePort()];
  const routesFile = join(d, 'routes.json');
  writeFileSync(routesFile, spec.routes ?? '{ "apps": [] }\n');
  const joined = await control.api('POST', '/v1/hosts', { id: hostId, region: spec.region });
  const joinFile = join(d, 'join.token');
  writeFileSync(joinFile, `${String(joined.body.join_token)}\n`, { mode: 0o600 });
  const config = join(d, 'agent.toml');
  writeFileSync(
    config,
    `[agent]\nregion = "${spec.region}"\nstate_dir = "${join(d, 'state')}"\nadmin_listen = "${HOST}:${agentAdmin}"\n` +
      `[proxy]\nlisten = "${HOST}:${plainPort}"\ntls_listen = "${HOST}:${tlsPort}"\nroutes = "${routesFile}"\nadmin = "${HOST}:${proxyAdmin}"\n` +
      `[bgp]\nasn = 65010\nrouter_id = "192.0.2.${10 + index}"\nprefixes = ["198.51.100.0/24"]\n` +
      `[[bgp.peers]]\nname = "up1"\naddress = "192.0.2.1"\nasn = 65001\n` +
      `[runtime]\ndriver = "none"\n` +
      `[control]\nurl = "${control.url}"\njoin_token_file = "${joinFile}"\nhost_id = "${hostId}"\ncapacity = 0\n`,
  );
  const args = [...(spec.nodeArgs ?? []), STARLING_CLI, 'agent', 'run', '--config', config, '--log-level', 'warn'];
  const proc = spawnManaged(`agent-${spec.name}`, process.execPath, args, join(d, 'agent.out'));
  await until(`host ${hostId} to join and register`, proc, 30_000, async () => {
    const hosts = (await control.api('GET', '/v1/hosts')).body.hosts as { id: string }[];
    return hosts.some((h) => h.id === hostId);
  });
  try {
    await waitFor200(`${hostId}'s proxy`, proxyAdmin, '/healthz', { deadlineMs: 20_000, stillRunning: () => !proc.hasExited() });
  } catch (e) {
    throw new BenchError(`${(e as Error).message}\n--- ${proc.logFile} ---\n${logTail(proc) || '(empty)'}`);
  }
  return { name: spec.name, hostId, region: spec.region, proc, plainPort, tlsPort, routesFile, stop: () => stop(proc) };
}
