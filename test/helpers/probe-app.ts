/**
 * A machine that probes its own sandbox on request, for the isolation and firewall tests: runs a
 * command, scans TCP ports, sends UDP. Plain Node, no dependencies; answers JSON on $PORT.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareImage, type DriverMachine, type MachineSpec, type RuntimeDriver } from '../../src/runtime/index.js';
import { getJson } from '../conformance/runtime-driver.js';
import { waitFor } from './wait.js';

export const PROBE_MJS = `import http from 'node:http';
import net from 'node:net';
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
const json = (res, body) => { res.writeHead(200, { 'content-type': 'application/json', connection: 'close' }); res.end(JSON.stringify(body)); };
const connect = (host, port, ms = 2000) => new Promise((resolve) => {
  const s = net.connect({ host, port });
  const done = (r) => { clearTimeout(t); s.destroy(); resolve(r); };
  const t = setTimeout(() => done({ ok: false, code: 'TIMEOUT' }), ms);
  s.once('connect', () => done({ ok: true }));
  s.once('error', (e) => done({ ok: false, code: e.code }));
});
async function scan(host, from, to) {
  const open = [], timeouts = [];
  let next = from;
  const worker = async () => {
    for (let p = next++; p <= to; p = next++) {
      const r = await connect(host, p, 3000);
      if (r.ok) open.push(p); else if (r.code === 'TIMEOUT') timeouts.push(p);
    }
  };
  await Promise.all(Array.from({ length: 256 }, worker));
  return { open: open.sort((a, b) => a - b), timeouts: timeouts.length };
}
function udp(host, port, count) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const errors = [];
    s.on('error', (e) => errors.push(e.code));
    s.connect(port, host, () => {
      let left = count;
      for (let i = 0; i < count; i++) s.send('probe ' + i, (err) => { if (err) errors.push(err.code); if (--left === 0) setTimeout(() => { s.close(); resolve({ sent: count, errors }); }, 100); });
    });
  });
}
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://machine');
  const q = (k) => url.searchParams.get(k) ?? '';
  if (url.pathname === '/exec') {
    const argv = JSON.parse(q('argv'));
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 10000 });
    return json(res, { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, error: r.error?.code });
  }
  if (url.pathname === '/connect') return json(res, await connect(q('host'), Number(q('port'))));
  if (url.pathname === '/scan') return json(res, await scan(q('host'), Number(q('from')), Number(q('to'))));
  if (url.pathname === '/udp') return json(res, await udp(q('host'), Number(q('port')), Number(q('count'))));
  json(res, { id: process.env.FLY_MACHINE_ID, uid: process.getuid(), gid: process.getgid() });
});
server.listen(Number(process.env.PORT), '0.0.0.0');
// On its private IPv6 too, when it has one (a second server: '::' would take IPv4's port as well).
const six = process.env.FLY_PRIVATE_IP ?? '';
if (six.includes(':')) http.createServer(server.listeners('request')[0]).listen(Number(process.env.PORT), six);
`;

/** A work dir machines can walk through (0711) holding the probe app as a prepared image. */
export async function probeImage(prefix: string): Promise<{ workDir: string; image: MachineSpec['image'] }> {
  const workDir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(workDir, 0o711);
  const src = join(workDir, 'probe');
  mkdirSync(src);
  writeFileSync(join(src, 'probe.mjs'), PROBE_MJS);
  return { workDir, image: await prepareImage(src, join(workDir, 'images')) };
}

let seq = 0;
export function probeSpec(image: MachineSpec['image'], app: string, over: Partial<MachineSpec> = {}): MachineSpec {
  return {
    id: `pr${process.pid.toString(16)}${seq++}`,
    app,
    region: 'ams',
    image,
    cmd: ['node', 'probe.mjs'],
    env: {},
    secrets: {},
    internal_port: 8080,
    guest: { memory_mb: 128, cpus: 1, pids: 64 },
    mounts: [],
    restart: { policy: 'never', max_retries: 0 },
    kill_signal: 'SIGTERM',
    kill_timeout_ms: 2000,
    checks: [],
    ...over,
  };
}

/** prepare + start, then wait until the probe answers. */
export async function runProbe(driver: RuntimeDriver, spec: MachineSpec, stderr?: string[]): Promise<DriverMachine> {
  const m = await driver.prepare(spec);
  await driver.start(m, spec, { stdout: () => undefined, stderr: (c) => stderr?.push(c.toString()), exit: () => undefined });
  await waitFor(() => getJson(m.address, '/', 8080, 1000).then(() => true, () => false), `probe ${spec.id} answering`, 15_000, 5);
  return m;
}

/** Runs argv inside the machine. */
export async function execIn(m: DriverMachine, argv: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return (await getJson(m.address, `/exec?argv=${encodeURIComponent(JSON.stringify(argv))}`, 8080, 15_000)) as { status: number | null; stdout: string; stderr: string };
}
