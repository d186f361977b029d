import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { SqliteStore, loadControlConfig, loadOrCreateControlToken, loadOrCreateControlTls, startControlPlane } from '../../../control/index.js';
import { createSecretsKeyFile, loadSecretsKey } from '../../../control/secrets/index.js';
import { SystemClock, formatFingerprint, stderrLogger } from '../../../shared/index.js';
import { implement } from '../../kit/index.js';
import { controlRun } from './meta.js';

/**
 * `starling control run`: the control plane's API server in the foreground. The token, the secrets
 * key and (with TLS on, the default) a self-signed certificate are created on first start. SIGTERM or SIGINT closes the server, then the store.
 */
export const runControlRun = implement(controlRun, async (opts) => {
  const logger = stderrLogger(opts['log-level']).child({ component: 'control' });
  const config = await loadControlConfig(opts.config);
  mkdirSync(dirname(config.state), { recursive: true, mode: 0o700 });
  const token = await loadOrCreateControlToken(config.token_file, logger);
  const tls = await loadOrCreateControlTls(config, logger);
  if (tls) logger.info('serving HTTPS: clients pin this certificate', { sha256: formatFingerprint(tls.fingerprint), cert: config.tls.cert_file });
  if (!existsSync(config.secrets_key_file)) {
    mkdirSync(dirname(config.secrets_key_file), { recursive: true, mode: 0o700 });
    createSecretsKeyFile(config.secrets_key_file);
    logger.info('secrets key file created', { file: config.secrets_key_file });
  }
  const secretsKey = loadSecretsKey({ file: config.secrets_key_file });
  const store = new SqliteStore({ path: config.state });
  let server;
  try {
    server = await startControlPlane({
      listen: config.listen,
      store,
      tokens: [token],
      tls,
      limits: {
        maxConnections: config.limits.max_connections,
        maxConnectionsPerIp: config.limits.max_connections_per_ip,
        requestsPerSecond: config.limits.requests_per_second,
        burst: config.limits.burst,
      },
      imagesDir: config.images_dir,
      hostTimeoutMs: config.host_timeout_s * 1000,
      secretsKey,
      clock: new SystemClock(),
      logger,
    });
  } catch (e) {
    await store.close();
    throw e;
  }
  const running = server;
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      logger.info('signal received: stopping', { signal });
      running
        .close()
        .then(() => store.close())
        .then(
          () => resolve(0),
          () => resolve(1),
        );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
});
