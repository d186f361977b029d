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
 *   once    `count` requests one after the other (to each of `urls` in turn, when given), then exit
 *   stream  a new request every `everyMs` (not waiting for the previous one) until stdin closes
 *   wait    a request every `everyMs` until one is answered 2xx (and, with `region`, by a machine
 *           in that region) or `deadlineMs` passes; prints every attempt; exit 0 on success, 1 not
 *   fetch   one request as curl makes it (`accept: *\/*`): prints the body as it is (with
 *           `include`, the TLS connection, the status line and headers first); exit 0 on a 2xx,
 *           22 otherwise (curl -f); `http2`: HTTP/2 over TLS, chosen by ALPN
 *   get     one GET per URL of `urls` (an API call: `tokenFile` is sent as a bearer token, the
 *           server's certificate must be the one in `pinFile`); prints { url, status, body } each
 *
 * HTTPS: with `caFile` the server's chain must lead to that CA and its certificate name
 * `servername` (default: the Host), which is also the SNI; without one nothing is checked (the
 * control plane's /healthz, which carries no secret either way).
 * Whatever the mode, stdin closing (the parent went away) ends the worker after its in-flight
 * requests (each bounded by `timeoutMs`), so no prober outlives the lab command that started it.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import process from 'node:process';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { pathToFileURL } from 'node:url';

export interface ProbeWorkerOptions {
  mode: 'once' | 'stream' | 'wait' | 'fetch' | 'get';
  /** e.g. http://10.200.0.1/ */
  url: string;
  /** The Host header (the URL's host when absent). */
  host?: string;
  count?: number;
  everyMs?: number;
  timeoutMs?: number;
  deadlineMs?: number;
  region?: string | undefined;
  /** fetch: print the TLS connection, the status line and the headers too. */
  include?: boolean;
  /** https: trust this CA (a PEM file) and check the certificate's name. */
  caFile?: string;
  /** https: the SNI and the name the certificate must have (default: the Host's name). */
  servername?: string;
  /** fetch: HTTP/2 (over TLS, by ALPN). */
  http2?: boolean;
  /** get: the URLs; once: each gets `count` requests, in order. */
  urls?: string[];
  /** get: the server's certificate must be this one (a PEM file): a pin. */
  pinFile?: string;
  /** get: a file holding the bearer token to send (never the token itself: argv is visible). */
  tokenFile?: string;
}

/** What `get` prints per URL. */
export interface GetLine {
  url: string;
  status?: number;
  body: string;
  error?: string;
}

export interface ProbeLine {
  i: number;
  /** once with `urls`: the URL this request went to. */
  url?: string;
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

let caPem: string | undefined;
/**
 * TLS options of a request: with a CA, its chain and name are checked (SNI and name: `servername`,
 * else the Host's name); without one, nothing is (a liveness probe of the control plane's /healthz:
 * the CLI and the agents pin its certificate).
 */
function tlsOptions(o: ProbeWorkerOptions): { rejectUnauthorized: boolean; ca?: string; servername?: string } {
  if (o.caFile === undefined) return { rejectUnauthorized: false };
  caPem ??= readFileSync(o.caFile, 'utf8');
  const name = o.servername ?? o.host?.replace(/:\d+$/, '');
  return { rejectUnauthorized: true, ca: caPem, ...(name ? { servername: name } : {}) };
}

function probe(o: ProbeWorkerOptions, i: number): Promise<ProbeLine> {
  const sent = now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (line: Omit<ProbeLine, 'i' | 'sent' | 'done'>): void => {
      if (settled) return;
      settled = true;
      resolve({ i, sent, done: now(), ...line });
    };
    const req = (o.url.startsWith('https:') ? https : http).request(o.url, {
      agent: false,
      ...tlsOptions(o),
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
  if (o.http2) return fetchHttp2(o);
  return new Promise((resolve) => {
    const secure = o.url.startsWith('https:');
    const req = (secure ? https : http).request(o.url, { agent: false, ...(secure ? tlsOptions(o) : {}), headers: { accept: '*/*', ...(o.host ? { host: o.host } : {}) }, timeout: o.timeoutMs ?? 5000 });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs ?? 5000} ms`)));
    req.on('error', (e) => {
      process.stderr.write(`lab curl: ${o.url}: ${e.message}\n`);
      resolve(7);
    });
    req.on('response', (res) => {
      if (o.include) {
        if (secure) process.stdout.write(describeTls(res.socket as TLSSocket));
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

/** `fetch` over HTTP/2: a TLS connection offering only h2 by ALPN, one stream. */
function fetchHttp2(o: ProbeWorkerOptions): Promise<number> {
  return new Promise((resolve) => {
    const u = new URL(o.url);
    let connected = false;
    let done = false;
    // Before the connection is up it is curl's 7 (could not connect, TLS refused), after it 56.
    const fail = (e: Error, code: number): void => {
      if (done) return;
      done = true;
      process.stderr.write(`lab curl: ${o.url}: ${e.message}\n`);
      session.destroy();
      resolve(connected ? code : 7);
    };
    const session = http2.connect(u.origin, { ...tlsOptions(o), ALPNProtocols: ['h2'] });
    session.once('connect', () => (connected = true));
    session.on('error', (e: Error) => fail(e, 7));
    session.setTimeout(o.timeoutMs ?? 5000, () => fail(new Error(`no answer within ${o.timeoutMs ?? 5000} ms`), 28));
    const req = session.request({ ':method': 'GET', ':path': `${u.pathname}${u.search}`, ':authority': o.host ?? u.host, accept: '*/*' });
    req.on('error', (e: Error) => fail(e, 56));
    req.on('response', (headers) => {
      const status = Number(headers[':status'] ?? 0);
      if (o.include) {
        process.stdout.write(describeTls(session.socket as TLSSocket));
        process.stdout.write(`HTTP/2 ${status}\r\n`);
        for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':')) process.stdout.write(`${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}\r\n`);
        process.stdout.write('\r\n');
      }
      req.pipe(process.stdout, { end: false });
      req.on('end', () => {
        session.close();
        resolve(status >= 200 && status < 300 ? 0 : 22);
      });
    });
    req.end();
  });
}

/** `* TLSv1.3, ALPN h2; certificate CN=… (issuer CN=…), valid until …; trusted`, as curl -v says it. */
function describeTls(s: TLSSocket): string {
  const c: PeerCertificate = s.getPeerCertificate();
  const alpn = s.alpnProtocol === false || s.alpnProtocol === null ? 'no ALPN' : `ALPN ${s.alpnProtocol}`;
  const cn = (v: string | string[] | undefined): string => (Array.isArray(v) ? v.join(', ') : (v ?? '?'));
  const subject = c.subjectaltname?.replace(/DNS:/g, '') ?? cn(c.subject?.CN);
  return `* ${s.getProtocol() ?? 'TLS'}, ${alpn}; certificate for ${subject} from ${cn(c.issuer?.CN)}, valid until ${c.valid_to ?? '?'}; ${s.authorized ? 'verified' : `NOT verified (${String(s.authorizationError)})`}\r\n`;
}

/**
 * One GET per URL, each answered by a JSON line (the `get` mode: API calls from inside the lab).
 * With a pin, the shared pinned fetch (shared/tls-trust.ts, what the CLI and the agents use)
 * checks the certificate before the request, and so the token, is written; without one, the
 * certificate must come from `caFile`'s CA (Pebble's management API) — never unchecked when a
 * CA is given. Loaded only here: the other modes stay on node: modules alone.
 */
async function getAll(o: ProbeWorkerOptions): Promise<number> {
  const { certFingerprint, trustingFetch } = await import('../shared/index.js');
  const pin = o.pinFile === undefined ? undefined : certFingerprint(readFileSync(o.pinFile, 'utf8'));
  const token = o.tokenFile === undefined ? undefined : readFileSync(o.tokenFile, 'utf8').trim();
  const headers = { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const timeout = o.timeoutMs ?? 5000;
  const pinned = pin === undefined ? undefined : trustingFetch({ fingerprint: pin });
  for (const url of o.urls ?? []) {
    const answer = pinned
      ? pinned(url, { headers, signal: AbortSignal.timeout(timeout) }).then(async (r): Promise<GetLine> => ({ url, status: r.status, body: await r.text() }))
      : getWithCa(url, o, headers, timeout);
    const line = await answer.catch((e: Error & { code?: string; cause?: { code?: string } }): GetLine => ({ url, body: '', error: e.code ?? e.cause?.code ?? e.message }));
    process.stdout.write(JSON.stringify(line) + '\n');
  }
  return 0;
}

/** One GET checked against `caFile` (or, with none, plain HTTP or an unchecked certificate). */
function getWithCa(url: string, o: ProbeWorkerOptions, headers: Record<string, string>, timeout: number): Promise<GetLine> {
  return new Promise<GetLine>((resolve, reject) => {
    const req = (url.startsWith('https:') ? https : http).request(url, { agent: false, ...tlsOptions(o), headers, timeout });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeout} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ url, status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.end();
  });
}

async function main(o: ProbeWorkerOptions): Promise<number> {
  // Whoever reads our output went away (lab curl … | head): nothing is left to do.
  process.stdout.on('error', () => process.exit(0));
  if (o.mode === 'fetch') return fetchOnce(o);
  if (o.mode === 'get') return getAll(o);
  let stopped = false;
  process.stdin.on('end', () => (stopped = true)).on('error', () => (stopped = true));
  process.stdin.resume();
  const every = o.everyMs ?? 20;
  if (o.mode === 'once') {
    let i = 0;
    for (const url of o.urls ?? [o.url]) {
      for (let k = 0; k < (o.count ?? 1) && !stopped; k++) emit({ ...(await probe({ ...o, url }, i++)), ...(o.urls ? { url } : {}) });
    }
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
