/**
 * From a release to what a host needs to run one of its machines. The control plane stores the app
 * config as written; each agent turns it into a machine config with this one function, so every
 * host runs a release the same way. The shape is the `config` of the agent's Machines API
 * (src/agent/machines-port.ts) and the runtime's MachineSpec fields.
 */
import { parseAppConfigDocument, type AppConfig, type ServiceConfig } from './app-config.js';

export interface ReleaseMachineConfig {
  /** A local image: the unpacked directory or the downloaded .tar.gz. */
  image: string;
  cmd?: string[];
  env: Record<string, string>;
  secrets: Record<string, string>;
  internal_port: number;
  guest: { cpus: number; memory_mb: number };
  restart: { policy: 'always' | 'never' | 'on-failure'; max_retries: number };
  kill_signal: NodeJS.Signals;
  kill_timeout_ms: number;
  checks: Record<string, { type: 'http' | 'tcp'; port?: number; method?: string; path?: string; grace_period_ms: number; interval_ms: number; timeout_ms: number }>;
}

/** The service the proxy routes HTTP to: [http_service], else the first service with an http handler. */
export function httpServiceOf(config: AppConfig): ServiceConfig | undefined {
  return config.services.find((s) => s.ports.some((p) => p.handlers.includes('http')));
}

/**
 * The machine config for a release. `config` is the release's stored document (validated again
 * here: an agent never runs a config it would reject). Secrets are the values for this machine,
 * fetched by the agent; the app's env wins nothing over them (a name is one or the other).
 */
export function machineConfigFor(config: unknown, opts: { app: string; image: string; secrets: Record<string, string> }): ReleaseMachineConfig {
  const { config: c } = parseAppConfigDocument(config, `release config of app ${opts.app}`);
  const service = httpServiceOf(c) ?? c.services[0];
  const internal_port = service?.internal_port ?? 8080;
  const checks: ReleaseMachineConfig['checks'] = {};
  (service?.checks ?? []).forEach((k, i) => {
    checks[`${k.type}-${i}`] = {
      type: k.type,
      port: k.port,
      ...(k.type === 'http' ? { method: k.method ?? 'GET', path: k.path ?? '/' } : {}),
      grace_period_ms: k.grace_period_ms,
      interval_ms: k.interval_ms,
      timeout_ms: k.timeout_ms,
    };
  });
  const env = { ...c.env };
  for (const name of Object.keys(opts.secrets)) delete env[name];
  return {
    image: opts.image,
    ...(c.cmd ? { cmd: c.cmd } : {}),
    env,
    secrets: opts.secrets,
    internal_port,
    guest: { cpus: c.vm.cpus, memory_mb: c.vm.memory_mb },
    restart: c.restart,
    kill_signal: c.kill_signal,
    kill_timeout_ms: c.kill_timeout_ms,
    checks,
  };
}

