/**
 * The control plane from its control.toml: the operator's token, the metrics token, the TLS
 * certificate and the secrets key (each made on first start), the state store, then the API server. `starling control
 * run` is this plus signal handling; tests and the lab start it the same way.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { StarlingError, describeError, formatFingerprint, type Clock, type Logger } from '../shared/index.js';
import type { CertificateSettings } from './certs/index.js';
import { Rfc2136Solver } from '../certs/index.js';
import { loadOrCreateControlToken, type ControlConfig } from './api/control-config.js';
import { createSecretsKeyFile, loadSecretsKey } from './secrets/index.js';
import { startControlPlane, type ControlPlane } from './server.js';
import { openStore } from './store/index.js';
import { loadOrCreateControlTls } from './tls.js';

export interface RunningControl {
  plane: ControlPlane;
  /** Stops the server, then closes the store. */
  close(): Promise<void>;
}

/** control.toml's [certificates], [acme] and anycast_addresses, as the control plane takes them. */
function certificateSettings(config: ControlConfig, o: { logger: Logger; clock: Clock }): CertificateSettings {
  const a = config.acme;
  const d = a?.dns01;
  const dns01 = d && new Rfc2136Solver({
    server: d.server,
    ...(d.zone !== undefined ? { zone: d.zone } : {}),
    keyName: d.key_name,
    algorithm: d.algorithm,
    secret: readSecretFile(d.secret_file),
    clock: o.clock,
    logger: o.logger.child({ component: 'dns-01' }),
  });
  return {
    apps: config.certificates.apps,
    anycast: config.anycast_addresses,
    acme: a && {
      directoryUrl: a.directory_url,
      email: a.email,
      caBundlePem: a.ca_file === undefined ? undefined : readCaFile(a.ca_file),
      challenges: a.challenges,
      dns01,
    },
    backoff: a && { baseMs: a.retry_initial, maxMs: a.retry_max },
  };
}

/** The TSIG secret (base64), from a file only the control plane may read: never in control.toml itself. */
function readSecretFile(file: string): string {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch (e) {
    throw new StarlingError('ERR_CONTROL_CONFIG_READ', `cannot read acme.dns01.secret_file ${file}: ${(e as NodeJS.ErrnoException).code ?? describeError(e)}`, { fault: 'user' });
  }
  if ((mode & 0o077) !== 0) {
    throw new StarlingError('ERR_CONTROL_CONFIG_READ', `acme.dns01.secret_file ${file} has mode ${mode.toString(8).padStart(4, '0')}: it must be 0600 or stricter`, { fault: 'user', hint: `chmod 600 ${file}` });
  }
  return readFileSync(file, 'utf8').trim();
}

function readCaFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new StarlingError('ERR_CONTROL_CONFIG_READ', `cannot read acme.ca_file ${file}: ${(e as NodeJS.ErrnoException).code ?? describeError(e)}`, { fault: 'user' });
  }
}

export async function startControlFromConfig(config: ControlConfig, o: { logger: Logger; clock: Clock }): Promise<RunningControl> {
  const logger = o.logger;
  mkdirSync(dirname(config.state), { recursive: true, mode: 0o700 });
  const token = await loadOrCreateControlToken(config.token_file, logger);
  const metricsToken = await loadOrCreateControlToken(config.metrics_token_file, logger);
  const tls = await loadOrCreateControlTls(config, logger);
  if (tls) logger.info('serving HTTPS: clients pin this certificate', { sha256: formatFingerprint(tls.fingerprint), cert: config.tls.cert_file });
  if (!existsSync(config.secrets_key_file)) {
    mkdirSync(dirname(config.secrets_key_file), { recursive: true, mode: 0o700 });
    createSecretsKeyFile(config.secrets_key_file);
    logger.info('secrets key file created', { file: config.secrets_key_file });
  }
  const secretsKey = loadSecretsKey({ file: config.secrets_key_file });
  const store = openStore('sqlite', { path: config.state });
  let plane: ControlPlane;
  try {
    plane = await startControlPlane({
      listen: config.listen,
      store,
      tokens: [token],
      metricsTokens: [metricsToken],
      tls,
      limits: {
        maxConnections: config.limits.max_connections,
        maxConnectionsPerIp: config.limits.max_connections_per_ip,
        requestsPerSecond: config.limits.requests_per_second,
        burst: config.limits.burst,
      },
      imagesDir: config.images_dir,
      maxImageBytes: config.limits.max_image_bytes,
      appsDomain: config.apps_domain,
      privatePrefix: config.network.private_prefix,
      certificates: certificateSettings(config, o),
      hostTimeoutMs: config.host_timeout_s * 1000,
      secretsKey,
      clock: o.clock,
      logger,
    });
  } catch (e) {
    await store.close();
    throw e;
  }
  return {
    plane,
    close: async () => {
      await plane.close();
      await store.close();
    },
  };
}
