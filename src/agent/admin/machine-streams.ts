/**
 * The agent's two streamed machine routes, for `starling ssh console` and `starling proxy` through
 * the control plane (which calls them with the secret this agent gave it) or with the local token:
 *
 *   POST /v1/apps/{app}/machines/{id}/exec?cmd=["sh","-c","ls"]&tty=1   exec frames both ways
 *   POST /v1/apps/{app}/machines/{id}/connect?port=8080                 a TCP connection's bytes in frames
 *
 * Every exec is audited in the agent's log: who (the control plane's caller, or the local token),
 * which machine, which command (the machine's secret values `[redacted]`); never its environment. The command runs in the machine's own
 * isolation (RuntimeDriver.exec); it is killed when the client goes away.
 */
import type { ChildProcess } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Readable } from 'node:stream';
import { APP_NAME_RE, FRAME, FrameDecoder, PING_INTERVAL_MS, encodeFrame, type FrameType } from '../../contract/index.js';
import { describeError, isStarlingError, type Clock, type Logger } from '../../shared/index.js';
import { errorBody, rawRoute } from '../../http/index.js';
import type { ExecRequest, MachinesPort } from '../../runtime/index.js';
import { LOCAL_OR_CONTROL, type AdminCaller, type AdminRoute } from './admin-api.js';

/** What exec needs beyond the Machines API's port (the MachineManager has it). */
export interface ExecPort {
  exec(app: string, id: string, req: ExecRequest): ChildProcess;
  /** The machine's secret values replaced in `text`: the audit line names the command, never a secret typed into it. */
  redact(app: string, id: string, text: string): string;
}

export interface StreamRoutesOptions {
  machines: MachinesPort & Partial<ExecPort>;
  /** Runs the pings. */
  clock: Clock;
  logger: Logger;
}

const MACHINE = '/v1/apps/{app}/machines/{id}';

export function machineStreamRoutes(o: StreamRoutesOptions): AdminRoute[] {
  const port = o.machines;

  /** The machine the path names, or an error answered (and undefined). */
  const target = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>): { app: string; id: string; address: string | null } | undefined => {
    const app = params.app ?? '';
    const id = params.id ?? '';
    const view = APP_NAME_RE.test(app) ? port.get(app, id) : undefined;
    if (!view) return void refuse(req, res, 404, 'ERR_MACHINE_NOT_FOUND', `app ${app} has no machine ${id} on this host`);
    if (view.state !== 'started') return void refuse(req, res, 409, 'ERR_MACHINE_NOT_STARTED', `machine ${id} is ${view.state}: start it first (starling machines start ${id} --app ${app})`);
    return { app, id, address: view.private_ip ?? null };
  };

  return [
    rawRoute<AdminCaller>({
      method: 'POST', path: `${MACHINE}/exec`, access: LOCAL_OR_CONTROL, contentType: 'application/octet-stream', longLived: true,
      summary: 'Run a command inside a started machine (?cmd= JSON argv, &tty=1, &cols=&rows=): exec frames both ways',
      responses: { '200': 'stdout, stderr and exit frames', '400': 'ERR_BAD_REQUEST', '404': 'ERR_MACHINE_NOT_FOUND', '409': 'ERR_MACHINE_NOT_STARTED' },
      async raw(req, res, params, caller) {
        const q = new URL(req.url ?? '/', 'http://agent').searchParams;
        const parsed = execRequest(q);
        if (typeof parsed === 'string') return void refuse(req, res, 400, 'ERR_BAD_REQUEST', parsed);
        const t = target(req, res, params);
        if (!t) return;
        if (!port.exec) return void refuse(req, res, 501, 'ERR_EXEC_UNSUPPORTED', 'this host runs no machines that commands can enter');
        const by = caller === 'control' ? `control plane for ${header(req, 'starling-caller') ?? 'an unnamed caller'}` : 'local token';
        const cmd = parsed.cmd.map((a) => port.redact?.(t.app, t.id, a) ?? a);
        o.logger.info('exec into machine', { app: t.app, machine: t.id, by, cmd, tty: parsed.tty });
        let child: ChildProcess;
        try {
          child = port.exec(t.app, t.id, parsed);
        } catch (e) {
          const code = isStarlingError(e) ? e.code : 'ERR_INTERNAL';
          return void refuse(req, res, code === 'ERR_MACHINE_NOT_STARTED' ? 409 : 500, code, describeError(e));
        }
        pings(res, o.clock);
        relayExec(req, res, child, (info) => o.logger.info('exec ended', { app: t.app, machine: t.id, by, ...info }));
      },
    }),
    rawRoute<AdminCaller>({
      method: 'POST', path: `${MACHINE}/connect`, access: LOCAL_OR_CONTROL, contentType: 'application/octet-stream', longLived: true,
      summary: "Open a TCP connection to a started machine's ?port=: stdin frames in, stdout frames (and pings) out",
      responses: { '200': "the machine's bytes", '400': 'ERR_BAD_REQUEST', '404': 'ERR_MACHINE_NOT_FOUND', '409': 'ERR_MACHINE_NOT_STARTED', '502': 'ERR_MACHINE_CONNECT' },
      async raw(req, res, params) {
        const portText = new URL(req.url ?? '/', 'http://agent').searchParams.get('port') ?? '';
        const n = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
        if (n < 1 || n > 65535) return void refuse(req, res, 400, 'ERR_BAD_REQUEST', `invalid query: port: must be a TCP port from 1 to 65535, got "${portText.slice(0, 20)}"`);
        const t = target(req, res, params);
        if (!t) return;
        if (t.address === null) return void refuse(req, res, 409, 'ERR_MACHINE_NOT_STARTED', `machine ${t.id} has no address`);
        const sock = connect({ host: t.address, port: n });
        sock.once('error', (e) => (res.headersSent ? res.destroy() : refuse(req, res, 502, 'ERR_MACHINE_CONNECT', `machine ${t.id} port ${n}: ${describeError(e)}`)));
        sock.once('connect', () => {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' });
          res.flushHeaders();
          pings(res, o.clock);
          relayOut(sock, res, FRAME.stdout);
          sock.once('end', () => res.end());
          // In: stdin frames (data) and the stdin-end frame (our half-close); out: raw bytes.
          readStdin(req, (b) => sock.write(b), () => sock.end(), () => sock.destroy());
        });
        res.once('close', () => sock.destroy());
      },
    }),
  ];
}

/** `?cmd=` a JSON array of strings (default: a shell), `tty`, `cols`, `rows`; or what is wrong. */
export function execRequest(q: URLSearchParams): ExecRequest | string {
  let cmd: unknown = ['/bin/sh'];
  const text = q.get('cmd');
  if (text !== null) {
    try {
      cmd = JSON.parse(text);
    } catch {
      return 'invalid query: cmd: must be a JSON array of strings';
    }
  }
  if (!Array.isArray(cmd) || cmd.length === 0 || cmd.length > 256 || !cmd.every((w) => typeof w === 'string' && !w.includes('\0'))) {
    return 'invalid query: cmd: must be a non-empty JSON array of strings (without NUL)';
  }
  const tty = q.get('tty') === '1' || q.get('tty') === 'true';
  const [cols, rows] = [Number(q.get('cols') ?? 0), Number(q.get('rows') ?? 0)];
  const sized = Number.isInteger(cols) && Number.isInteger(rows) && cols > 0 && rows > 0 && cols < 10_000 && rows < 10_000;
  return { cmd: cmd as string[], tty, ...(sized ? { size: { cols, rows } } : {}) };
}

/** stdin frames in; stdout, stderr and then the exit frame out. The client leaving kills the command. */
function relayExec(req: IncomingMessage, res: ServerResponse, child: ChildProcess, ended: (info: { code: number | null; signal: string | null }) => void): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' });
  res.flushHeaders();
  child.stdin?.on('error', () => undefined); // the command may exit without reading its input
  readStdin(req, (b) => child.stdin?.write(b), () => child.stdin?.end(), () => child.kill('SIGKILL'));
  if (child.stdout) relayOut(child.stdout, res, FRAME.stdout);
  if (child.stderr) relayOut(child.stderr, res, FRAME.stderr);
  let done = false;
  res.once('close', () => done || child.kill('SIGKILL'));
  child.once('error', (e) => {
    done = true;
    res.end(encodeFrame(FRAME.error, JSON.stringify({ code: 'ERR_MACHINE_EXEC', message: describeError(e) })));
  });
  child.once('close', (code, signal) => {
    if (done) return;
    done = true;
    ended({ code, signal });
    res.end(encodeFrame(FRAME.exit, JSON.stringify({ code, signal })));
  });
}

/** The client's stdin frames (bytes, then its half-close); a malformed frame is `bad`. */
function readStdin(req: IncomingMessage, data: (b: Buffer) => void, end: () => void, bad: () => void): void {
  const decoder = new FrameDecoder();
  req.on('data', (chunk: Buffer) => {
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch {
      return bad();
    }
    for (const f of frames) {
      if (f.type === FRAME.stdin && f.payload.length > 0) data(f.payload);
      else if (f.type === FRAME.stdinEnd) end();
    }
  });
  req.once('end', end);
}

/** `from`'s bytes as frames of `type`, paused while the answer's buffer is full. */
function relayOut(from: Readable, res: ServerResponse, type: FrameType): void {
  from.on('data', (c: Buffer) => {
    if (res.write(encodeFrame(type, c))) return;
    from.pause();
    res.once('drain', () => from.resume());
  });
}

/** A ping frame every PING_INTERVAL_MS until the answer ends. */
function pings(res: ServerResponse, clock: Clock): void {
  const timer = clock.setInterval(() => void (res.writableEnded || res.write(encodeFrame(FRAME.ping))), PING_INTERVAL_MS);
  res.once('close', () => timer.cancel());
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v.slice(0, 200) : undefined;
}

function refuse(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void {
  req.resume();
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', connection: 'close' });
  res.end(JSON.stringify(errorBody(code, message)) + '\n');
}
