/**
 * `starling proxy LOCAL[:REMOTE] --app APP [--machine ID | -s]`, as `fly proxy`: listens on
 * 127.0.0.1:LOCAL and forwards each connection to the machine's port REMOTE (default LOCAL): one
 * streamed `POST …/machines/{id}/connect?port=REMOTE` per connection, through the control plane to
 * the machine's host's agent, which connects to the machine (the bytes go in exec frames:
 * docs/control-api.md "Exec"). Runs until interrupted (Ctrl-C).
 */
import { createServer, type Socket } from 'node:net';
import { FRAME, FrameDecoder } from '../../../contract/index.js';
import { describeError } from '../../../shared/index.js';
import { resolveControl, type ControlTarget } from '../../control-client.js';
import { implement, usageError } from '../../kit/index.js';
import { openStream, pickMachine, stdinFrames } from '../ssh/stream.js';
import { proxyForward } from './meta.js';

export const runProxyForward = implement(proxyForward, async (opts) => {
  const { local, remote } = ports(opts['local[:remote]']);
  const target = resolveControl(opts);
  const machine = await pickMachine(opts);
  const server = createServer((sock) => void forward(target, opts.app, machine.id, remote, sock));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? usageError(`127.0.0.1:${local} is in use`, 'pick another LOCAL port') : e),
    );
    server.listen(local, '127.0.0.1', resolve);
  });
  const bound = (server.address() as { port: number }).port;
  const where = 'region' in machine ? ` (${machine.region}, ${machine.host})` : '';
  console.log(`proxying 127.0.0.1:${bound} to port ${remote} of machine ${machine.id}${where} of app ${opts.app}; Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  server.close();
  return 0;
});

/** `8080` or `8080:80`; LOCAL 0 takes a free port (printed). */
export function ports(text: string): { local: number; remote: number } {
  const m = /^(\d{1,5})(?::(\d{1,5}))?$/.exec(text);
  const [local, remote] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [-1, -1];
  if (!m || local > 65535 || remote < 1 || remote > 65535) {
    const serve = /^[a-z]/.test(text) ? ' (to run the edge proxy: starling proxy serve)' : '';
    throw usageError(`LOCAL[:REMOTE] must be ports like 8080 or 8080:80 (REMOTE from 1 to 65535), got "${text.slice(0, 40)}"${serve}`);
  }
  return { local, remote };
}

/** One local connection ⇄ one connect stream; either end closing closes the other. */
async function forward(target: ControlTarget, app: string, id: string, port: number, sock: Socket): Promise<void> {
  const abort = new AbortController();
  sock.once('close', () => abort.abort());
  sock.on('error', () => undefined);
  const body = stdinFrames(sock);
  try {
    const answer = await openStream(target, app, id, 'connect', new URLSearchParams({ port: String(port) }), body, abort.signal);
    const decoder = new FrameDecoder();
    for await (const chunk of answer) {
      for (const f of decoder.push(chunk)) {
        if (f.type !== FRAME.stdout || sock.destroyed) continue;
        if (!sock.write(f.payload)) await new Promise((resolve) => sock.once('drain', resolve).once('close', resolve));
      }
      if (sock.destroyed) break;
    }
    sock.end();
  } catch (e) {
    if (!abort.signal.aborted) process.stderr.write(`starling: a connection to machine ${id} port ${port} failed: ${describeError(e)}\n`);
    sock.destroy();
  }
}
