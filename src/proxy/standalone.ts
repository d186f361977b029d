import fs from 'node:fs';
import { SystemClock, describeError, isKnownRegion, StarlingError, type Logger } from '../shared/index.js';
import { AdminServer } from './admin.js';
import { ProxyServer } from './listener/index.js';
import { loadRoutesFile, RoutesWatcher } from './routes/index.js';
import type { AccessLogSink } from './observe/index.js';

/** What `starling proxy serve` runs: one proxy with a routes file, an admin port and signals. */
export interface StandaloneOptions {
  routesPath: string;
  region: string;
  listen: { host: string; port: number };
  admin: { host: string; port: number } | undefined;
  /** 'off', '-' (stdout) or a file path to append to. */
  accessLog: string;
  flyHeaders: boolean;
  logger: Logger;
}

export interface RunningProxy {
  proxy: ProxyServer;
  admin: AdminServer | undefined;
  address: { host: string; port: number };
  /** Re-reads the routes file now (SIGHUP); true when the file is valid and in effect. */
  reload(): Promise<boolean>;
  /** Drains, then releases everything; resolves when done. */
  stop(): Promise<void>;
}

export async function startStandalone(o: StandaloneOptions): Promise<RunningProxy> {
  const routes = await loadRoutesFile(o.routesPath);
  const known = isKnownRegion(o.region) || Object.keys(routes.rtt ?? {}).includes(o.region);
  if (!/^[a-z]{3}$/.test(o.region) || !known) {
    throw new StarlingError('ERR_REGION_UNKNOWN', `unknown region "${o.region}"`, {
      fault: 'user',
      hint: 'use a code from the regions catalog (fra, iad, sin, …) or add the region to the routes file\'s rtt table',
    });
  }
  const clock = new SystemClock();
  const accessLog = openAccessLog(o.accessLog);
  const proxy = new ProxyServer({
    region: o.region,
    routes,
    clock,
    logger: o.logger.child({ component: 'proxy' }),
    accessLog,
    limits: { flyHeaders: o.flyHeaders },
  });
  const watcher = new RoutesWatcher({
    path: o.routesPath,
    clock,
    logger: o.logger.child({ component: 'routes' }),
    onChange: (spec) => proxy.setRoutes(spec),
    onError: () => proxy.ctx.metrics.reloadsFailed++,
  });
  const addr = await proxy.listen(o.listen.host, o.listen.port).catch((e: unknown) => {
    proxy.close();
    throw listenError('--listen', o.listen, e);
  });
  let admin: AdminServer | undefined;
  if (o.admin) {
    const at = o.admin;
    admin = new AdminServer({ draining: () => proxy.draining, metrics: async () => proxy.metricsText() });
    await admin.listen(at.host, at.port).catch((e: unknown) => {
      proxy.close();
      throw listenError('--admin', at, e);
    });
  }
  watcher.start();
  o.logger.info('proxy listening', {
    listen: `${addr.address}:${addr.port}`,
    region: o.region,
    apps: proxy.routes.apps.size,
    machines: proxy.routes.machineCount(),
  });
  return {
    proxy,
    admin,
    address: { host: addr.address, port: addr.port },
    async stop() {
      watcher.stop();
      await proxy.drain();
      await admin?.close();
      if (accessLog && accessLog !== process.stdout) (accessLog as fs.WriteStream).end();
    },
    reload: () => watcher.reload(),
  };
}

function listenError(flag: string, at: { host: string; port: number }, e: unknown): StarlingError {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'EADDRINUSE' ? 'the address is already in use' : code === 'EACCES' ? 'permission denied' : describeError(e);
  return new StarlingError('ERR_LISTEN', `cannot listen on ${at.host}:${at.port} (${flag}): ${why}`, {
    fault: 'user',
    cause: e,
    hint: code === 'EADDRINUSE' ? `pick another port with ${flag}, or stop what is using it` : undefined,
  });
}

function openAccessLog(spec: string): AccessLogSink | undefined {
  if (spec === 'off') return undefined;
  if (spec === '-') return process.stdout;
  return fs.createWriteStream(spec, { flags: 'a', mode: 0o640 });
}
