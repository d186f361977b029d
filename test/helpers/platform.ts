/**
 * A small Starling on loopback for end-to-end tests and bench:deploy: the control plane as a real
 * child process (`starling control run`, so it can be killed with SIGKILL and started again on the
 * same state), and N agents in this process with real sandboxed machines and real BIRD (whose
 * peers never answer: the announcer is not what these tests are about).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAgentConfig, startAgent, type RunningAgent } from '../../src/agent/index.js';
import { SandboxDriver } from '../../src/runtime/index.js';
import { Logger, SystemClock, certFingerprint, trustingFetch } from '../../src/shared/index.js';
import { runCli, startCli, type CliResult, type CliRun } from './cli.js';
import { writeJoinToken } from './hosts.js';
import { closedPort, send } from './origin.js';
import { waitFor } from './wait.js';

export interface HostSpec {
  /** Host id suffix and BIRD/bridge name part: [a-z0-9]{1,4}. */
  name: string;
  region: string;
  /** The proxy's plain port (default: a free one). */
  proxyPort?: number;
  /** An HTTPS port ([proxy] tls_listen), with the platform's certificates; none when absent. */
  tlsPort?: number;
  /** On the WireGuard mesh ([mesh]): this UDP port, an interface name unique to this run. */
  meshPort?: number;
}

export interface PlatformOptions {
  prefix?: string;
  debug?: boolean;
  /** More of control.toml: top-level keys first, then tables ([acme], [certificates]). */
  controlToml?: string;
}

export interface Platform {
  dir: string;
  controlUrl: string;
  /** Environment for `starling` commands that talk to the control plane. */
  cliEnv: Record<string, string>;
  agents: Map<string, RunningAgent>;
  /** Every log line of the agents (and nothing of the control plane, which logs to its stderr). */
  lines: string[];
  controlStderr(): string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** fetch that trusts the control plane's certificate (pinned), for raw calls such as uploads. */
  fetch: typeof fetch;
  /** GET through a host's proxy, Host `<app>.starling.test`; status 0 when the connection failed. */
  get(host: string, app: string, path?: string): Promise<{ status: number; body: string }>;
  cli(args: string[], timeoutMs?: number): Promise<CliResult>;
  startControl(): Promise<void>;
  /** Stops a host's agent (its machines stop with it) and starts it again on the same state. */
  restartAgent(name: string): Promise<RunningAgent>;
  /** Stops the control plane with `signal` (SIGKILL: a crash) and waits for it to be gone. */
  stopControl(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

export async function startPlatform(hosts: readonly HostSpec[], o: PlatformOptions = {}): Promise<Platform> {
  const dir = mkdtempSync(join(tmpdir(), `starling-${o.prefix ?? 'platform'}-`));
  chmodSync(dir, 0o711); // machines run as unprivileged uids: they must pass through to the agents' data dirs
  const clock = new SystemClock();
  const lines: string[] = [];
  const logger = new Logger({ write: (l: string) => void (lines.push(l), o.debug && process.stderr.write(l)) }, 'debug');
  const port = await closedPort();
  // HTTPS with the self-signed certificate the control plane makes at first start, as in production.
  const controlUrl = `https://127.0.0.1:${port}`;
  const state = join(dir, 'control', 'state.db');
  const controlToml = join(dir, 'control.toml');
  writeFileSync(controlToml, `listen = "127.0.0.1:${port}"\nstate = "${state}"\n${o.controlToml ?? ''}`);
  const tokenFile = join(dir, 'control', 'api.token');
  const certFile = join(dir, 'control', 'tls.crt');
  const cliEnv: Record<string, string> = { STARLING_CONTROL_URL: controlUrl, STARLING_TOKEN_FILE: tokenFile, HOME: dir };
  let pinned: typeof fetch = fetch;

  let control: CliRun | undefined;
  let stderr = '';
  const startControl = async (): Promise<void> => {
    control = startCli(['control', 'run', '--config', controlToml, '--log-level', 'debug'], { timeoutMs: 3_600_000 });
    control.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitFor(() => existsSync(certFile), 'the control plane to make its certificate', 20_000, 20);
    const fingerprint = certFingerprint(readFileSync(certFile, 'utf8'));
    cliEnv.STARLING_CONTROL_FINGERPRINT = fingerprint;
    pinned = trustingFetch({ fingerprint });
    await waitFor(
      async () => (await pinned(`${controlUrl}/healthz`).then((r) => r.ok).catch(() => false)),
      'the control plane to answer /healthz',
      20_000,
      50,
    );
  };
  const stopControl = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const c = control;
    control = undefined;
    if (!c) return;
    c.child.kill(signal);
    await c.done;
  };

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await pinned(controlUrl + path, {
      method,
      headers: { authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`, 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

  const agents = new Map<string, RunningAgent>();
  const drivers: SandboxDriver[] = [];
  const launchers = new Map<string, () => Promise<RunningAgent>>();
  const restartAgent = async (name: string): Promise<RunningAgent> => {
    await agents.get(name)?.stop();
    const agent = await launchers.get(name)!();
    agents.set(name, agent);
    return agent;
  };
  const stop = async (): Promise<void> => {
    for (const a of agents.values()) await a.stop().catch(() => undefined);
    for (const d of drivers) await d.close().catch(() => undefined);
    await stopControl();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await startControl();
    let i = 0;
    for (const h of hosts) {
      i++;
      const d = join(dir, h.name);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'routes.json'), '{ "apps": [] }\n');
      const [proxy, admin, adminApi] = [h.proxyPort ?? (await closedPort()), await closedPort(), await closedPort()];
      const tls = h.tlsPort === undefined ? '' : `tls_listen = "127.0.0.1:${h.tlsPort}"\n`;
      const agentToml =
        `[agent]\nregion = "${h.region}"\nstate_dir = "${join(d, 'state')}"\nadmin_listen = "127.0.0.1:${adminApi}"\n` +
          `[proxy]\nlisten = "127.0.0.1:${proxy}"\n${tls}routes = "${join(d, 'routes.json')}"\nadmin = "127.0.0.1:${admin}"\n` +
          `[bgp]\nasn = 65010\nrouter_id = "192.0.2.${10 + i}"\nprefixes = ["198.51.100.0/24"]\n` +
          `[[bgp.peers]]\nname = "up1"\naddress = "192.0.2.1"\nasn = 65001\n` +
          // A per-run bridge name and network: parallel test files never share one.
          `[runtime]\nbridge = "sp${process.pid % 10000}${h.name}"\nnetwork = "172.29.${(process.pid % 50) * 5 + i}.0/24"\n` +
          `[control]\nurl = "${controlUrl}"\njoin_token_file = "${join(d, 'join.token')}"\nhost_id = "host-${h.name}"\ncapacity = 8\n` +
          (h.meshPort === undefined ? '' : `[mesh]\ninterface = "stp${process.pid % 100000}${h.name}"\nlisten_port = ${h.meshPort}\n`);
      // Written too, for the CLI's `starling agent … --config` (it reaches this agent's admin API).
      writeFileSync(join(d, 'agent.toml'), agentToml);
      const config = parseAgentConfig(agentToml, `${h.name}/agent.toml`);
      // As an operator does: hosts add, the join token to the host; the agent joins at its start.
      await writeJoinToken(controlUrl, readFileSync(tokenFile, 'utf8').trim(), `host-${h.name}`, h.region, join(d, 'join.token'), pinned);
      let driver: SandboxDriver | undefined;
      const launch = async (): Promise<RunningAgent> => {
        const c = config;
        // A restarted agent gets a driver of its own, as a restarted process does.
        await driver?.close();
        driver = new SandboxDriver({
          stateDir: c.runtime.data_dir,
          bridge: { name: c.runtime.bridge, cidr: c.runtime.network },
          publicPorts: [proxy], // as the agent builds it: machines reach their host only at the proxy
          traversable: [c.agent.state_dir],
          clock,
          logger: logger.child({ component: 'sandbox', host: h.name }),
        });
        drivers.push(driver);
        return startAgent(c, { logger: logger.child({ host: h.name }), clock, driver, controlPollTimeoutS: 5 });
      };
      launchers.set(h.name, () => launch());
      agents.set(h.name, await launch());
    }
    await waitFor(async () => ((await api('GET', '/v1/hosts')).body.hosts as unknown[]).length === hosts.length, 'every host registered', 20_000, 50);
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    dir,
    controlUrl,
    cliEnv,
    agents,
    lines,
    controlStderr: () => stderr,
    api,
    fetch: (input, init) => pinned(input, init),
    get: (host, app, path = '/') =>
      send(agents.get(host)!.proxy.address.port, `${app}.starling.test`, { path }).catch(() => ({ status: 0, body: '' })),
    cli: (args, timeoutMs = 120_000) => runCli(args, { env: cliEnv, timeoutMs }),
    startControl,
    stopControl,
    restartAgent,
    stop,
  };
}
