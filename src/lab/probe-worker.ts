/**
 * The lab's HTTP prober, run INSIDE a lab namespace (`ip netns exec NS node probe-worker.js JSON`):
 * a process can only make connections from its own network namespace, so the lab starts one of
 * these per namespace it measures from. It imports nothing but node builtins, so it starts fast.
 *
 * Every request is fresh (its own TCP connection, no keep-alive), asks for JSON and is answered by
 * one JSON line on stdout: { i, sent, done, ok, status?, pop?, region?, machine?, error? }, with
 * `sent`/`done` in epoch milliseconds (fractional: performance.timeOrigin + performance.now(), so
 * times from several workers and the parent compare to well under a millisecond).
 *
 * Modes:
 *   once    `count` requests one after the other, then exit
 *   stream  a new request every `everyMs` (not waiting for the previous one) until stdin closes
 *   wait    a request every `everyMs` until one is answered 2xx (and, with `region`, by a machine
 *           in that region) or `deadlineMs` passes; prints every attempt; exit 0 on success, 1 not
 *   fetch   one request as curl makes it (`accept: *\/*`): prints the body as it is (with
 *           `include`, the status line and headers first); exit 0 on a 2xx, 22 otherwise (curl -f)
 * Whatever the mode, stdin closing (the parent went away) ends the worker after its in-flight
 * requests (each bounded by `timeoutMs`), so no prober outlives the lab command that started it.
 */
import http from 'node:http';
import https from 'node:https';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

export interface ProbeWorkerOptions {
  mode: 'once' | 'stream' | 'wait' | 'fetch';
  /** e.g. http://10.200.0.1/ */
  url: string;
  /** The Host header (the URL's host when absent). */
  host?: string;
  count?: number;
  everyMs?: number;
  timeoutMs?: number;
  deadlineMs?: number;
  region?: string | undefined;
  /** fetch: print the status line and the headers too. */
  include?: boolean;
}

export interface ProbeLine {
  i: number;
  sent: number;
  done: number;
  ok: boolean;
  status?: number;
  pop?: string | undefined;
  region?: string | undefined;
  machine?: string | undefined;
  error?: string;
}

const now = (): number => performance.timeOrigin + performance.now();

function probe(o: ProbeWorkerOptions, i: number): Promise<ProbeLine> {
  const sent = now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (line: Omit<ProbeLine, 'i' | 'sent' | 'done'>): void => {
      if (settled) return;
      settled = true;
      resolve({ i, sent, done: now(), ...line });
    };
    // https: the control plane's /healthz, which carries no secret either way: a liveness probe
    // needs no certificate check (the CLI and the agents pin it).
    const req = (o.url.startsWith('https:') ? https : http).request(o.url, {
      agent: false,
      rejectUnauthorized: false,
      headers: { accept: 'application/json', connection: 'close', ...(o.host ? { host: o.host } : {}) },
      timeout: o.timeoutMs ?? 1000,
    });
    req.on('timeout', () => {
      finish({ ok: false, error: `no answer within ${o.timeoutMs ?? 1000} ms` });
      req.destroy();
    });
    req.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, error: e.code ?? e.message }));
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body = (body + d).slice(0, 4096)));
      res.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, error: e.code ?? e.message }));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        let doc: Record<string, unknown> = {};
        try {
          doc = JSON.parse(body) as Record<string, unknown>;
        } catch {
          /* not the demo app: status alone */
        }
        const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
        const ok = status >= 200 && status < 300;
        finish({ ok, status, pop: str(doc.pop), region: str(doc.region), machine: str(doc.machine), ...(ok ? {} : { error: `HTTP ${status}: ${body.trim().slice(0, 200)}` }) });
      });
    });
    req.end();
  });
}

const emit = (line: ProbeLine): void => void process.stdout.write(JSON.stringify(line) + '\n');

/** One request, printed as it came (the `fetch` mode of `lab curl`). */
function fetchOnce(o: ProbeWorkerOptions): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(o.url, { agent: false, headers: { accept: '*/*', ...(o.host ? { host: o.host } : {}) }, timeout: o.timeoutMs ?? 5000 });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs ?? 5000} ms`)));
    req.on('error', (e) => {
      process.stderr.write(`lab curl: ${o.url}: ${e.message}\n`);
      resolve(7);
    });
    req.on('response', (res) => {
      if (o.include) {
        process.stdout.write(`HTTP/${res.httpVersion} ${res.statusCode ?? 0} ${res.statusMessage ?? ''}\r\n`);
        for (let i = 0; i < res.rawHeaders.length; i += 2) process.stdout.write(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`);
        process.stdout.write('\r\n');
      }
      res.pipe(process.stdout, { end: false });
      res.on('end', () => resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300 ? 0 : 22));
      res.on('error', () => resolve(56));
    });
    req.end();
  });
}

async function main(o: ProbeWorkerOptions): Promise<number> {
  if (o.mode === 'fetch') return fetchOnce(o);
  let stopped = false;
  process.stdin.on('end', () => (stopped = true)).on('error', () => (stopped = true));
  process.stdin.resume();
  const every = o.everyMs ?? 20;
  if (o.mode === 'once') {
    for (let i = 0; i < (o.count ?? 1) && !stopped; i++) emit(await probe(o, i));
    return 0;
  }
  if (o.mode === 'wait') {
    const deadline = now() + (o.deadlineMs ?? 10_000);
    for (let i = 0; !stopped; i++) {
      const line = await probe(o, i);
      emit(line);
      if (line.ok && (o.region === undefined || line.region === o.region)) return 0;
      if (now() >= deadline) return 1;
      await new Promise((r) => setTimeout(r, every));
    }
    return 1;
  }
  // stream: one request every `every` ms on a fixed schedule (a slow answer does not delay the next).
  const inflight = new Set<Promise<void>>();
  const start = now();
  for (let i = 0; !stopped; i++) {
    const p = probe(o, i).then(emit);
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    const wait = start + (i + 1) * every - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inflight);
  return 0;
}

const arg = process.argv[2];
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && arg !== undefined) {
  let opts: ProbeWorkerOptions;
  try {
    opts = JSON.parse(arg) as ProbeWorkerOptions;
  } catch {
    process.stderr.write('probe-worker: the argument must be the options as JSON\n');
    process.exit(2);
  }
  main(opts).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`probe-worker: ${String(e)}\n`);
      process.exit(1);
    },
  );
}
