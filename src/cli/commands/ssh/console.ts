/**
 * `starling ssh console [--machine ID | -s] [-C CMD] --app APP`, as `fly ssh console`: a shell or
 * one command inside a machine, in the machine's own isolation (its uid, namespaces, files and
 * environment), through the control plane and the agent of the machine's host. As with ssh, a shell
 * on a terminal gets a terminal inside the machine (ours is put in raw mode meanwhile); `-C CMD`
 * gets plain pipes unless `--pty`. The exit status is the remote command's (128+n for a signal).
 */
import { constants } from 'node:os';
import { FRAME, FrameDecoder } from '../../../contract/index.js';
import { StarlingError } from '../../../shared/index.js';
import { resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { sshConsole } from './meta.js';
import { openStream, pickMachine, stdinFrames } from './stream.js';

export const runSshConsole = implement(sshConsole, async (opts) => {
  const target = resolveControl(opts);
  const machine = await pickMachine(opts);
  const cmd = opts.command === undefined ? ['/bin/sh'] : ['/bin/sh', '-c', opts.command];
  const tty = process.stdin.isTTY === true && (opts.command === undefined || opts.pty);
  const query = new URLSearchParams({ cmd: JSON.stringify(cmd) });
  if (tty) {
    query.set('tty', '1');
    if (process.stdout.columns && process.stdout.rows) {
      query.set('cols', String(process.stdout.columns));
      query.set('rows', String(process.stdout.rows));
    }
  }
  const abort = new AbortController();
  const stdin = process.stdin;
  const body = stdinFrames(stdin);
  const answer = await openStream(target, opts.app, machine.id, 'exec', query, body, abort.signal);
  if (tty) stdin.setRawMode(true);
  try {
    return await relay(answer, machine.id);
  } finally {
    if (tty) stdin.setRawMode(false);
    stdin.pause();
    stdin.destroy();
    abort.abort();
  }
});

/** Frames to our stdout and stderr until the exit frame; its status is ours. */
async function relay(answer: ReadableStream<Uint8Array>, id: string): Promise<number> {
  const decoder = new FrameDecoder();
  for await (const chunk of answer) {
    for (const f of decoder.push(chunk)) {
      if (f.type === FRAME.stdout) await write(process.stdout, f.payload);
      else if (f.type === FRAME.stderr) await write(process.stderr, f.payload);
      else if (f.type === FRAME.exit) return exitStatus(JSON.parse(f.payload.toString()) as { code: number | null; signal: string | null });
      else if (f.type === FRAME.error) {
        const e = JSON.parse(f.payload.toString()) as { code?: string; message?: string };
        throw new StarlingError('ERR_MACHINE_EXEC', `machine ${id}: ${e.message ?? 'the command could not run'}`);
      }
    }
  }
  throw new StarlingError('ERR_EXEC_ENDED', `the connection to machine ${id} ended before the command did`, { hint: 'the agent or the control plane may have restarted; try again' });
}

function write(out: NodeJS.WriteStream, data: Buffer): Promise<void> {
  return new Promise((resolve) => (out.write(data) ? resolve() : out.once('drain', resolve)));
}

/** As a shell reports it: the code, or 128 + the signal's number. */
function exitStatus(e: { code: number | null; signal: string | null }): number {
  if (e.code !== null) return e.code;
  const n = e.signal === null ? undefined : (constants.signals as Record<string, number>)[e.signal];
  return 128 + (n ?? 1);
}
