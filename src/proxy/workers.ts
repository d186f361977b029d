import cluster, { type Worker } from 'node:cluster';
import { describeError, type Logger } from '../shared/index.js';
import { sumExpositions } from '../shared/index.js';
import { AdminServer } from './admin.js';
import { startStandalone, type RunningProxy, type StandaloneOptions } from './standalone.js';

/**
 * `--workers N`: one proxy process per core behind one shared listening socket. The primary forks
 * the workers with SCHED_NONE, so the kernel hands each accepted connection to a worker directly
 * (no round-robin hop through the primary). The primary serves the admin port: /metrics sums the
 * workers' metrics, /healthz reports draining. SIGTERM drains every worker; SIGHUP reloads routes.
 *
 * The connection caps are per worker: each enforces --max-connections and --max-connections-per-ip
 * on the connections the kernel handed it, so N workers hold up to N times either. That is what
 * the caps protect: the descriptor limit is per process, and an address still gets at most the same
 * share of every worker's slots. Exact caps across workers would need the primary on every accept
 * (the round-robin hop SCHED_NONE avoids) or shared counters, and the kernel's spread over the
 * workers is uneven, so dividing the caps by N would refuse early on the busiest worker.
 */
type ToWorker = { cmd: 'drain' } | { cmd: 'reload' } | { cmd: 'metrics'; id: number };
type FromWorker = { cmd: 'ready' } | { cmd: 'metrics'; id: number; text: string };

/** A worker that does not answer a metrics request in this time is left out of that scrape. */
const METRICS_WAIT_MS = 2000;

export async function runPrimary(o: StandaloneOptions, workers: number): Promise<void> {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: process.argv[1]!, args: process.argv.slice(2), silent: false });
  const log = o.logger.child({ component: 'primary' });
  const clock = o.clock;
  let draining = false;
  const live = new Set<Worker>();
  /** Workers that finished starting: only these are asked for metrics. */
  const ready = new Set<Worker>();
  const pending = new Map<number, { want: number; texts: string[]; done: (t: string[]) => void }>();
  let nextId = 1;

  const fork = (): void => {
    const w = cluster.fork();
    live.add(w);
    w.on('message', (m: FromWorker) => {
      if (m.cmd === 'ready') {
        ready.add(w);
        return;
      }
      const p = pending.get(m.id);
      if (!p) return;
      p.texts.push(m.text);
      if (p.texts.length >= p.want) {
        pending.delete(m.id);
        p.done(p.texts);
      }
    });
    w.on('exit', (code, signal) => {
      live.delete(w);
      ready.delete(w);
      if (draining) {
        if (live.size === 0) exit();
        return;
      }
      log.error('worker exited; starting another', { code, signal });
      fork();
    });
  };
  for (let i = 0; i < workers; i++) fork();

  const admin = o.admin
    ? new AdminServer({
        draining: () => draining,
        metrics: () =>
          new Promise((resolve) => {
            const id = nextId++;
            const timer = clock.setTimeout(() => {
              const p = pending.get(id);
              pending.delete(id);
              resolve(sumExpositions(p?.texts ?? []));
            }, METRICS_WAIT_MS);
            const done = (t: string[]): void => {
              timer.cancel();
              resolve(sumExpositions(t));
            };
            if (ready.size === 0) return done([]);
            pending.set(id, { want: ready.size, texts: [], done });
            for (const w of ready) w.send({ cmd: 'metrics', id } satisfies ToWorker);
          }),
      }, log)
    : undefined;
  if (admin && o.admin) await admin.listen(o.admin.host, o.admin.port);
  log.info('proxy primary started', { workers });

  process.on('SIGHUP', () => {
    for (const w of live) w.send({ cmd: 'reload' } satisfies ToWorker);
  });
  // The primary exits once the last worker has: each 'exit' event checks (no polling timer).
  const exit = (): void => {
    if (admin) void admin.close().then(() => process.exit(0));
    else process.exit(0);
  };
  const stop = (): void => {
    if (draining) return;
    draining = true;
    if (live.size === 0) return exit();
    for (const w of live) w.send({ cmd: 'drain' } satisfies ToWorker);
    // Workers drain within their own drain timeout; one that has not exited well after it is killed.
    // (A clock timer never keeps the process alive; the workers' IPC channels do until they exit.)
    clock.setTimeout(() => {
      for (const w of live) w.process.kill('SIGKILL');
    }, 40_000);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export async function runWorker(o: StandaloneOptions, logger: Logger): Promise<void> {
  const w: { running?: RunningProxy; stopping: boolean } = { stopping: false };
  const stop = (): void => {
    const running = w.running;
    if (w.stopping || !running) {
      w.stopping = true; // a drain asked for during start-up runs once the proxy is up
      return;
    }
    w.stopping = true;
    running.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        logger.error('drain failed', { error: describeError(e) });
        process.exit(1);
      },
    );
  };
  // Listen for the primary before starting, so a drain sent while this worker starts is not lost.
  process.on('message', (m: ToWorker) => {
    if (m.cmd === 'drain') stop();
    else if (m.cmd === 'reload') void w.running?.reload();
    else if (m.cmd === 'metrics' && w.running) {
      process.send?.({ cmd: 'metrics', id: m.id, text: w.running.proxy.metricsText() } satisfies FromWorker);
    }
  });
  // The primary handles signals for the group; a worker only follows its messages (or a direct TERM).
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', stop);
  w.running = await startStandalone({ ...o, admin: undefined });
  if (w.stopping) {
    w.stopping = false;
    return stop();
  }
  process.send?.({ cmd: 'ready' } satisfies FromWorker);
}
