/**
 * Real HTTP from inside the lab: starts probe-worker.js in a namespace (`ip netns exec NS node …`)
 * and collects what it reports. Probes are children of the command that runs them, with stdin a
 * pipe: when that command goes, the pipe closes and the worker stops; nothing is recorded in the
 * lab's state because nothing can outlive its caller.
 */
import { spawn } from 'node:child_process';
import { StarlingError, type Clock } from '../shared/index.js';
import { labEnv, PROBE_WORKER, type LabContext } from './lab-context.js';
import type { GetLine, ProbeLine, ProbeWorkerOptions } from './probe-worker.js';
import { computeCatchment } from './catchment.js';
import { urlHost } from './lab-addresses.js';

export type { GetLine, ProbeLine, ProbeWorkerOptions } from './probe-worker.js';

/** A running worker: its reports so far, and stop() to end it and wait for its last ones. */
export interface ProbeRun {
  lines: ProbeLine[];
  /** Resolves with the worker's exit code once it has exited (after every report). */
  exited: Promise<number>;
  stop(): Promise<number>;
  stderr(): string;
}

/** Starts a prober in `ns`. With `output: 'inherit'` (lab curl) its output goes straight to ours. */
export function startProbe(ns: string, o: ProbeWorkerOptions, onLine?: (l: ProbeLine) => void, io: { output?: 'inherit' } = {}): ProbeRun {
  const out = io.output === 'inherit' ? 'inherit' : 'pipe';
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, PROBE_WORKER, JSON.stringify(o)], {
    stdio: ['pipe', out, out],
    env: labEnv(),
  });
  const lines: ProbeLine[] = [];
  let buf = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const line = JSON.parse(text) as ProbeLine;
        lines.push(line);
        onLine?.(line);
      } catch {
        err += `${text}\n`;
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<number>((resolve) => {
    child.on('error', (e) => {
      err += e.message;
      resolve(127);
    });
    child.on('close', (code) => resolve(code ?? 1));
  });
  return {
    lines,
    exited,
    stop: () => {
      child.stdin?.end();
      return exited;
    },
    stderr: () => err.trim(),
  };
}

/** `count` requests from `ns`, one after the other. */
export async function probeOnce(ns: string, o: Omit<ProbeWorkerOptions, 'mode'>): Promise<ProbeLine[]> {
  const run = startProbe(ns, { ...o, mode: 'once' });
  const code = await run.exited;
  if (code !== 0 && run.lines.length === 0) {
    throw new StarlingError('ERR_LAB_PROBE', `the prober in ${ns} failed (exit ${code}): ${run.stderr() || 'no output'}`);
  }
  return run.lines;
}

/** One GET per URL from inside `ns` (an API call: see the worker's `get` mode), in order. */
export async function getInLab(ns: string, urls: string[], o: Pick<ProbeWorkerOptions, 'caFile' | 'pinFile' | 'tokenFile' | 'timeoutMs'> = {}): Promise<GetLine[]> {
  const run = startProbe(ns, { ...o, mode: 'get', url: urls[0] ?? '', urls });
  const code = await run.exited;
  if (code !== 0) throw new StarlingError('ERR_LAB_PROBE', `the prober in ${ns} failed (exit ${code}): ${run.stderr() || 'no output'}`);
  return run.lines as unknown as GetLine[];
}

/** Requests from `ns` until one is answered 2xx (by a machine in `region`, when given). */
export async function waitHttp(ns: string, o: Omit<ProbeWorkerOptions, 'mode'>, what: string): Promise<ProbeLine> {
  const run = startProbe(ns, { everyMs: 100, ...o, mode: 'wait' });
  const code = await run.exited;
  const last = run.lines.at(-1);
  if (code !== 0 || !last) {
    throw new StarlingError('ERR_LAB_TIMEOUT', `timed out after ${o.deadlineMs ?? 10_000} ms waiting for ${what}: ${last?.error ?? (last ? `answered by ${last.region ?? '?'}` : run.stderr() || 'no attempt')}`, {
      hint: 'the logs are in the lab directory (starling lab status shows it)',
    });
  }
  return last;
}

export interface CatchmentRow {
  city: string;
  /** The PoP (its city code) whose proxy answered, or null when no request was answered. */
  measured: string | null;
  /** The same over IPv6, at the IPv6 service address. */
  measured6: string | null;
  /** What BGP should choose (computeCatchment), with the PoPs in `down` withdrawn: for both families. */
  expected: string | null;
  /** Every answer, IPv4 and IPv6, came from the expected PoP. */
  ok: boolean;
  machine: string | undefined;
  /** Region of the machine that served the request. */
  region: string | undefined;
  /** Time of the (last) request, ms. */
  ms: number | undefined;
  error: string | undefined;
}

/**
 * Measures where each client city's requests land: `count` fresh requests from each client namespace
 * (all cities at once) to the service address, then as many to the IPv6 service address (one prober
 * per city does both), with the demo app's Host. `measured` (`measured6`) is the PoP of the last
 * answer over IPv4 (IPv6); a city is ok when every answer of both families came from the expected
 * PoP: the IPv6 catchment must be the IPv4 one.
 */
export async function measureCatchment(ctx: LabContext, o: { down?: string[]; count?: number; timeoutMs?: number } = {}): Promise<CatchmentRow[]> {
  const expected = new Map(computeCatchment(ctx.topology, { down: o.down ?? [] }).cities.map((c) => [c.city, c.pop]));
  const [url4, url6] = [`http://${ctx.plan.serviceAddress}/`, `http://${urlHost(ctx.plan.serviceAddress6)}/`];
  return Promise.all(
    ctx.plan.clients.map(async (c): Promise<CatchmentRow> => {
      const lines = await probeOnce(c.ns, { url: url4, urls: [url4, url6], host: ctx.appHost, count: o.count ?? 2, timeoutMs: o.timeoutMs ?? 2000 });
      const want = expected.get(c.city) ?? null;
      const [v4, v6] = [lines.filter((l) => l.url === url4), lines.filter((l) => l.url === url6)];
      const answered = lines.filter((l) => l.ok);
      const last = v4.filter((l) => l.ok).at(-1);
      const ok = answered.length === lines.length && v4.length > 0 && v6.length > 0 && answered.every((l) => l.pop === want);
      const failed = lines.find((l) => !l.ok);
      const error = failed?.error === undefined ? undefined : `${failed.url === url6 ? 'IPv6: ' : ''}${failed.error}`;
      const measured6 = v6.filter((l) => l.ok).at(-1)?.pop ?? null;
      return { city: c.city, measured: last?.pop ?? null, measured6, expected: want, ok, machine: last?.machine, region: last?.region, ms: last ? Math.round(last.done - last.sent) : undefined, error };
    }),
  );
}

/** Polls `cond` every `everyMs` on `clock` until it holds; ERR_LAB_TIMEOUT naming `what` after `timeoutMs`. */
export async function until(clock: Clock, cond: () => boolean | Promise<boolean>, what: string, timeoutMs: number, everyMs = 50, detail?: () => string): Promise<void> {
  const deadline = clock.monotonic() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (clock.monotonic() >= deadline) {
      const more = detail?.();
      throw new StarlingError('ERR_LAB_TIMEOUT', `timed out after ${timeoutMs} ms waiting for ${what}${more ? `:\n${more}` : ''}`, {
        hint: 'the logs are in the lab directory; starling lab status shows what is up',
      });
    }
    await clock.sleep(everyMs);
  }
}
