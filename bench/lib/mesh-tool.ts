/**
 * The small program bench:mesh runs inside the network namespaces (`ip netns exec NS node
 * mesh-tool.js …`) and, for DNS, on 127.0.0.1: a process of its own, so that what it measures is
 * not slowed by the benchmark's own event loop. Imports nothing but Node. Each command prints one
 * JSON line (or, for the long-running ones, a readiness line) on stdout.
 *
 *   serve SINK_PORT ECHO_PORT           on [::]: a sink that answers each connection's end with the
 *                                       byte count (8 bytes, big-endian), and a 1-byte echo
 *   blast HOST PORT SECONDS             write as fast as TCP takes it for SECONDS, half-close, read
 *                                       the sink's count: { bytes, seconds, mb_s, cpu_pct }
 *   pingpong HOST PORT COUNT            1-byte ping-pong over one connection (after a warm-up):
 *                                       { count, p50_us, p99_us, mean_us }
 *   reach HOST PORT TIMEOUT_MS          exit 0 when a TCP connect succeeds within the timeout, else 1
 *   probe HOST PORT INTERVAL_MS         a new connect every INTERVAL_MS (each given up after 1 s)
 *                                       until one succeeds: prints "ready" at the first attempt and
 *                                       "ok" at the first success, then exits
 *   dns HOST PORT SECONDS INFLIGHT HEX ANSWERS
 *                                       UDP queries (the message HEX, a fresh id each) with INFLIGHT
 *                                       in flight for SECONDS; a reply counts when NOERROR, not
 *                                       truncated, with ANSWERS answers: { ok, errors, first_error,
 *                                       seconds, qps, p50_ms, p99_ms, cpu_pct }
 */
import dgram from 'node:dgram';
import net from 'node:net';

const CHUNK = Buffer.alloc(64 * 1024, 0x5a);
const PING_WARMUP = 200;
const PROBE_ATTEMPT_MS = 1000;
/** A blast or ping-pong that has not finished this long after its own length has stalled. */
const STALL_MS = 30_000;

function stallAfter(ms: number, what: string): void {
  setTimeout(() => fail(`${what}: not done after ${Math.round(ms / 1000)} s (stalled)`), ms).unref();
}
const DNS_TIMEOUT_MS = 1000;

function out(o: unknown): void {
  process.stdout.write(`${typeof o === 'string' ? o : JSON.stringify(o)}\n`);
}

function fail(msg: string): never {
  process.stderr.write(`mesh-tool: ${msg}\n`);
  process.exit(1);
}

/** The q-quantile (0..1) of sorted values: the smallest value with at least q of them at or below. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const now = (): number => performance.now();

function cpuPct(start: NodeJS.CpuUsage, wallMs: number): number {
  const u = process.cpuUsage(start);
  return Math.round(((u.user + u.system) / 1000 / wallMs) * 1000) / 10;
}

function serve(sinkPort: number, echoPort: number): void {
  const sink = net.createServer({ allowHalfOpen: true }, (s) => {
    let bytes = 0;
    s.on('data', (d: Buffer) => (bytes += d.length));
    s.on('end', () => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(bytes));
      s.end(b);
    });
    s.on('error', () => s.destroy());
  });
  const echo = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d: Buffer) => s.write(d));
    s.on('error', () => s.destroy());
  });
  let up = 0;
  const listening = (): void => {
    if (++up === 2) out('listening');
  };
  sink.on('error', (e) => fail(`sink: ${e.message}`));
  echo.on('error', (e) => fail(`echo: ${e.message}`));
  // '::' is dual-stack: the veth's IPv4 address and both tunnels' IPv6 addresses.
  sink.listen(sinkPort, '::', listening);
  echo.listen(echoPort, '::', listening);
}

function blast(host: string, port: number, seconds: number): void {
  stallAfter(seconds * 1000 + STALL_MS, `blast to [${host}]:${port}`);
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const s = net.connect({ host, port, allowHalfOpen: true });
  const until = t0 + seconds * 1000;
  let got = Buffer.alloc(0);
  const pump = (): void => {
    while (now() < until) {
      if (!s.write(CHUNK)) return void s.once('drain', pump);
    }
    s.end();
  };
  s.on('connect', pump);
  s.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
  s.on('end', () => {
    if (got.length < 8) fail('the sink closed without its count');
    const bytes = Number(got.readBigUInt64BE(0));
    const wall = now() - t0;
    out({ bytes, seconds: wall / 1000, mb_s: bytes / 1e6 / (wall / 1000), cpu_pct: cpuPct(cpu0, wall) });
    s.destroy();
  });
  s.on('error', (e) => fail(`blast to [${host}]:${port}: ${e.message}`));
}

function pingpong(host: string, port: number, count: number): void {
  stallAfter(STALL_MS, `pingpong to [${host}]:${port}`);
  const s = net.connect({ host, port, noDelay: true });
  const rtts: number[] = [];
  let sent = 0;
  let t = 0;
  const one = Buffer.from([0x2a]);
  const ping = (): void => {
    t = now();
    sent++;
    s.write(one);
  };
  s.on('connect', ping);
  s.on('data', () => {
    const rtt = (now() - t) * 1000;
    if (sent > PING_WARMUP) rtts.push(rtt);
    if (rtts.length >= count) {
      rtts.sort((a, b) => a - b);
      out({ count: rtts.length, p50_us: quantile(rtts, 0.5), p99_us: quantile(rtts, 0.99), mean_us: rtts.reduce((a, b) => a + b, 0) / rtts.length });
      s.destroy();
      return;
    }
    ping();
  });
  s.on('error', (e) => fail(`pingpong to [${host}]:${port}: ${e.message}`));
}

function reach(host: string, port: number, timeoutMs: number): void {
  const s = net.connect({ host, port });
  const timer = setTimeout(() => process.exit(1), timeoutMs);
  s.on('connect', () => {
    clearTimeout(timer);
    s.destroy();
    process.exit(0);
  });
  s.on('error', () => process.exit(1));
}

function probe(host: string, port: number, intervalMs: number): void {
  const attempts = new Set<net.Socket>();
  let done = false;
  const attempt = (): void => {
    if (done) return;
    const s = net.connect({ host, port });
    attempts.add(s);
    const timer = setTimeout(() => s.destroy(), PROBE_ATTEMPT_MS);
    s.on('connect', () => {
      if (done) return;
      done = true;
      out('ok');
      for (const a of attempts) a.destroy();
      process.exit(0);
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      attempts.delete(s);
    });
  };
  attempt();
  out('ready');
  setInterval(attempt, intervalMs);
}

function dns(host: string, port: number, seconds: number, inflight: number, hex: string, answers: number): void {
  const query = Buffer.from(hex, 'hex');
  const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  const pending = new Map<number, number>();
  const lat: number[] = [];
  let nextId = 1;
  let errors = 0;
  let firstError: string | null = null;
  let stopped = false;
  const cpu0 = process.cpuUsage();
  let t0 = 0;
  const error = (what: string): void => {
    errors++;
    firstError ??= what;
  };
  const send = (): void => {
    if (stopped) return;
    let id = nextId;
    // Skip an id still in flight (only after 65,536 queries, with one lost).
    while (pending.has(id)) id = (id + 1) & 0xffff;
    nextId = (id + 1) & 0xffff;
    const msg = Buffer.from(query);
    msg.writeUInt16BE(id, 0);
    pending.set(id, now());
    sock.send(msg, (e) => e && error(`send: ${e.message}`));
  };
  sock.on('message', (m: Buffer) => {
    if (m.length < 12) return error('a reply shorter than a header');
    const id = m.readUInt16BE(0);
    const start = pending.get(id);
    if (start === undefined) return; // late: its query already timed out
    pending.delete(id);
    const flags = m.readUInt16BE(2);
    const rcode = flags & 0xf;
    const an = m.readUInt16BE(6);
    if (rcode !== 0) error(`rcode ${rcode}`);
    else if ((flags & 0x0200) !== 0) error('truncated (TC)');
    else if (an !== answers) error(`${an} answers, not ${answers}`);
    else lat.push(now() - start);
    send();
  });
  sock.on('error', (e) => fail(`dns socket: ${e.message}`));
  sock.connect(port, host, () => {
    t0 = now();
    for (let i = 0; i < inflight; i++) send();
    const sweep = setInterval(() => {
      const old = now() - DNS_TIMEOUT_MS;
      for (const [id, t] of pending) {
        if (t < old) {
          pending.delete(id);
          error('timeout');
          send();
        }
      }
    }, 100);
    setTimeout(() => {
      stopped = true;
      clearInterval(sweep);
      const wall = now() - t0;
      lat.sort((a, b) => a - b);
      out({ ok: lat.length, errors, first_error: firstError, seconds: wall / 1000, qps: lat.length / (wall / 1000), p50_ms: quantile(lat, 0.5), p99_ms: quantile(lat, 0.99), cpu_pct: cpuPct(cpu0, wall) });
      sock.close();
    }, seconds * 1000);
  });
}

function num(s: string | undefined, what: string): number {
  const n = Number(s);
  if (s === undefined || !Number.isFinite(n)) fail(`${what} wants a number, got ${s ?? 'nothing'}`);
  return n;
}

const [cmd, ...a] = process.argv.slice(2);
switch (cmd) {
  case 'serve':
    serve(num(a[0], 'SINK_PORT'), num(a[1], 'ECHO_PORT'));
    break;
  case 'blast':
    blast(a[0] ?? fail('HOST'), num(a[1], 'PORT'), num(a[2], 'SECONDS'));
    break;
  case 'pingpong':
    pingpong(a[0] ?? fail('HOST'), num(a[1], 'PORT'), num(a[2], 'COUNT'));
    break;
  case 'reach':
    reach(a[0] ?? fail('HOST'), num(a[1], 'PORT'), num(a[2], 'TIMEOUT_MS'));
    break;
  case 'probe':
    probe(a[0] ?? fail('HOST'), num(a[1], 'PORT'), num(a[2], 'INTERVAL_MS'));
    break;
  case 'dns':
    dns(a[0] ?? fail('HOST'), num(a[1], 'PORT'), num(a[2], 'SECONDS'), num(a[3], 'INFLIGHT'), a[4] ?? fail('HEX'), num(a[5], 'ANSWERS'));
    break;
  default:
    fail(`unknown command ${cmd ?? '(none)'}: serve, blast, pingpong, reach, probe, dns`);
}
