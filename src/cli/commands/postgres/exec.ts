/**
 * One command in a machine, its stdin given and its output collected (the `ssh console` stream,
 * without a terminal): what `postgres attach` runs psql with. What goes to stdin (SQL with a
 * password) travels in the request body, never in the command line or a URL.
 */
import { Readable } from 'node:stream';
import { FRAME, FrameDecoder } from '../../../contract/index.js';
import { StarlingError } from '../../../shared/index.js';
import type { ControlTarget } from '../../control-client.js';
import { openStream, stdinFrames } from '../ssh/stream.js';

export async function execCollect(target: ControlTarget, app: string, id: string, cmd: string[], stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const abort = new AbortController();
  const answer = await openStream(target, app, id, 'exec', new URLSearchParams({ cmd: JSON.stringify(cmd) }), stdinFrames(Readable.from([Buffer.from(stdin)])), abort.signal);
  const decoder = new FrameDecoder();
  let stdout = '';
  let stderr = '';
  try {
    for await (const chunk of answer) {
      for (const f of decoder.push(chunk)) {
        if (f.type === FRAME.stdout) stdout += f.payload.toString();
        else if (f.type === FRAME.stderr) stderr += f.payload.toString();
        else if (f.type === FRAME.exit) return { code: (JSON.parse(f.payload.toString()) as { code: number | null }).code, stdout, stderr };
        else if (f.type === FRAME.error) throw new StarlingError('ERR_MACHINE_EXEC', `machine ${id}: ${(JSON.parse(f.payload.toString()) as { message?: string }).message ?? 'the command could not run'}`);
      }
    }
  } finally {
    abort.abort();
  }
  throw new StarlingError('ERR_EXEC_ENDED', `the connection to machine ${id} ended before the command did`);
}
