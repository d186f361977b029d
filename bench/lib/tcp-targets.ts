/**
 * What bench:tcp measures through: the echo servers (the machine, plain and PROXY-header-reading),
 * Starling's edge (`starling proxy serve` with a routes file of two tcp_services) and HAProxy in
 * TCP mode. Each proxy is a child process in its own group (procs.ts), ready once an echo goes
 * through each of its ports. Everything is on 127.0.0.1; configs and logs go in the temp dir.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, HOST, waitFor200 } from './net.js';
import { logTail, spawnManaged, type Managed } from './procs.js';
import { BenchError } from './util.js';

/** dist/bench/lib/tcp-targets.js → dist/src/cli/main.js */
export const STARLING_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Echo {
  proc: Managed;
  port: number;
}

/** The machine's two services: plain echo, and echo after a PROXY header (which it drops). */
export interface Machine {
  plain: Echo;
  proxyProto: Echo;
}

/** A way to reach the machine: its plain port and its PROXY-protocol port. */
export interface Reach {
  /** undefined for `direct`: nothing runs but the machine. */
  proc: Managed | undefined;
  plainPort: number;
  proxyProtoPort: number;
  /** direct: the client writes the PROXY header itself. */
  clientSendsHeader: boolean;
}


/** One echo of `ping` on a fresh connection, true when it came back whole within 1 s. */
function echoOnce(port: number, header: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    const want = Buffer.from('ping');
    let got = Buffer.alloc(0);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1000);
    s.once('connect', () => {
      if (header) s.write(`PROXY TCP4 127.0.0.1 127.0.0.1 ${s.localPort ?? 0} ${port}\r\n`);
      s.write(want);
    });
    s.on('data', (b: Buffer) => {
      got = Buffer.concat([got, b]);
      if (got.length >= want.length) done(got.equals(want));
    });
    s.once('error', () => done(false));
    s.once('close', () => done(false));
  });
}

async function waitForEcho(what: string, proc: Managed | undefined, port: number, header: boolean, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (proc?.hasExited()) throw new BenchError(`${what} exited before it was ready (${await proc.exited})\n--- ${proc.logFile} ---\n${logTail(proc) || '(empty)'}`);
    if (await echoOnce(port, header)) return;
    if (Date.now() > deadline) {
      const tail = proc ? `\n--- ${proc.logFile} ---\n${logTail(proc) || '(empty)'}` : '';
      throw new BenchError(`${what}: no echo through ${HOST}:${port} within ${deadlineMs} ms${tail}`);
    }
    await sleep(100);
  }
}

export async function startMachine(echoBin: string, dir: string): Promise<Machine> {
  const start = async (name: string, extra: string[], header: boolean): Promise<Echo> => {
    const port = await freePort();
    const proc = spawnManaged(name, echoBin, [String(port), ...extra], join(dir, `${name}.out`));
    await waitForEcho(name, proc, port, header);
    return { proc, port };
  };
  return { plain: await start('echo', [], false), proxyProto: await start('echo-proxy', ['proxy'], true) };
}

export function directReach(m: Machine): Reach {
  return { proc: undefined, plainPort: m.plain.port, proxyProtoPort: m.proxyProto.port, clientSendsHeader: true };
}

/** The routes file: two TCP services of one machine each (127.0.0.1, internal_port = the echo's). */
function starlingTcpRoutes(m: Machine, plainPort: number, proxyProtoPort: number): string {
  const service = (internalPort: number) => ({ internal_port: internalPort, concurrency: { type: 'connections', soft_limit: 10_000 } });
  const routes = {
    apps: [],
    tcp_services: [
      { app: 'echo', ports: [{ port: plainPort }], service: service(m.plain.port), machines: [{ id: 'echo1', region: 'fra', address: HOST }] },
      {
        app: 'echo-pp',
        ports: [{ port: proxyProtoPort, handlers: ['proxy_proto'] }],
        service: service(m.proxyProto.port),
        machines: [{ id: 'echo-pp1', region: 'fra', address: HOST }],
      },
    ],
  };
  return `${JSON.stringify(routes, null, 2)}\n`;
}

/** `starling proxy serve`, one worker, as a user runs it; TCP services on the --listen host. */
export async function startStarling(m: Machine, dir: string, tag: string): Promise<Reach> {
  const [http, admin, plainPort, proxyProtoPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const routesFile = join(dir, `${tag}-routes.json`);
  writeFileSync(routesFile, starlingTcpRoutes(m, plainPort, proxyProtoPort));
  const args = [
    STARLING_MAIN, 'proxy', 'serve',
    '--routes', routesFile,
    '--region', 'fra',
    '--listen', `${HOST}:${http}`,
    '--admin', `${HOST}:${admin}`,
    '--access-log', 'off',
    '--workers', '1',
  ];
  const proc = spawnManaged(tag, process.execPath, args, join(dir, `${tag}.out`));
  try {
    await waitFor200('starling admin', admin, '/healthz', { stillRunning: () => !proc.hasExited(), deadlineMs: 15_000 });
  } catch (e) {
    throw new BenchError(`${(e as Error).message}\n--- ${proc.logFile} ---\n${logTail(proc) || '(empty)'}`);
  }
  await waitForEcho('starling proxy (plain port)', proc, plainPort, false);
  await waitForEcho('starling proxy (proxy_proto port)', proc, proxyProtoPort, false);
  return { proc, plainPort, proxyProtoPort, clientSendsHeader: false };
}

/** HAProxy in TCP mode, one thread, no logging; the PROXY-protocol backend with `send-proxy` (v1). */
function haproxyTcpConf(m: Machine, plainPort: number, proxyProtoPort: number): string {
  return `global
  nbthread 1
  maxconn 5000

defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend plain
  bind ${HOST}:${plainPort}
  default_backend echo

backend echo
  server echo1 ${HOST}:${m.plain.port}

frontend pp
  bind ${HOST}:${proxyProtoPort}
  default_backend echo_pp

backend echo_pp
  server echo_pp1 ${HOST}:${m.proxyProto.port} send-proxy
`;
}

export async function startHaproxy(haproxy: string, m: Machine, dir: string, tag: string): Promise<Reach> {
  const [plainPort, proxyProtoPort] = [await freePort(), await freePort()];
  const conf = join(dir, `${tag}.cfg`);
  writeFileSync(conf, haproxyTcpConf(m, plainPort, proxyProtoPort));
  const proc = spawnManaged(tag, haproxy, ['-f', conf, '-db'], join(dir, `${tag}.out`));
  await waitForEcho('haproxy (plain port)', proc, plainPort, false);
  await waitForEcho('haproxy (send-proxy port)', proc, proxyProtoPort, false);
  return { proc, plainPort, proxyProtoPort, clientSendsHeader: false };
}
