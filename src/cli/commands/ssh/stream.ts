/**
 * What `ssh console` and `proxy` share: which machine (`--machine ID`, a pick, or the first started
 * one) and one streamed call through the control plane to that machine's host (a POST whose body
 * carries our bytes while its answer carries theirs: docs/control-api.md "Exec" and "Connect").
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { FRAME, encodeFrame } from '../../../contract/index.js';
import { StarlingError } from '../../../shared/index.js';
import { appPath, streamControl, type ControlTarget } from '../../control-client.js';
import { usageError } from '../../kit/index.js';
import { fleetList, formatFleet, type FleetMachine } from '../machines/fleet.js';
import type { ControlFlagValues } from '../../control-client.js';

/** `--machine ID`, else `-s` (a pick on the terminal), else the first started machine. */
export async function pickMachine(opts: ControlFlagValues & { app: string; machine?: string | undefined; select?: boolean }): Promise<FleetMachine | { id: string }> {
  if (opts.machine !== undefined) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(opts.machine)) throw usageError(`--machine must be a machine id, got "${opts.machine.slice(0, 40)}"`, `list them: starling machines list --app ${opts.app}`);
    return { id: opts.machine };
  }
  if (opts.select && !process.stdin.isTTY) {
    throw usageError('-s picks a machine on the terminal, but stdin is not a terminal', `name it instead: --machine ID (see starling machines list --app ${opts.app})`);
  }
  const started = (await fleetList(opts, opts.app)).filter((m) => m.state === 'started').sort((a, b) => a.region.localeCompare(b.region) || a.id.localeCompare(b.id));
  if (started.length === 0) {
    throw new StarlingError('ERR_NO_STARTED_MACHINE', `app ${opts.app} has no started machine`, { fault: 'user', hint: `see its machines: starling machines list --app ${opts.app}` });
  }
  if (!opts.select || started.length === 1) return started[0]!;
  const lines = formatFleet(started).split('\n');
  process.stderr.write(`${'   ' + lines[0]}\n${lines.slice(1).map((l, i) => `${String(i + 1).padStart(2)} ${l}`).join('\n')}\n`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    for (;;) {
      const answer = (await new Promise<string>((resolve) => rl.question(`machine (1-${started.length}): `, resolve))).trim();
      const n = Number(answer);
      if (Number.isInteger(n) && n >= 1 && n <= started.length) return started[n - 1]!;
      const byId = started.find((m) => m.id === answer);
      if (byId) return byId;
      process.stderr.write(`"${answer.slice(0, 40)}" is none of them: a number from 1 to ${started.length}, or an id\n`);
    }
  } finally {
    rl.close();
  }
}

/**
 * Opens the stream `POST /v1/apps/{app}/machines/{id}/{what}?query`: `body` is sent as it is read,
 * the answer's body is returned as soon as its head arrives. An error answer throws its HttpError.
 */
export async function openStream(target: ControlTarget, app: string, id: string, what: 'exec' | 'connect', query: URLSearchParams, body: ReadableStream<Uint8Array>, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const path = `${appPath(app, `/machines/${encodeURIComponent(id)}/${what}`)}?${query.toString()}`;
  const res = await streamControl(target, 'POST', path, body, { doing: `${what} on machine ${id}`, headers: { 'content-type': 'application/octet-stream' }, signal });
  return res.body!;
}

/**
 * `from`'s bytes as stdin frames, then its end as the stdin-end frame; paused while the request
 * body's queue is full. An empty frame goes first: fetch sends the request head only with the
 * body's first bytes, and a shell (or a server that speaks first) would otherwise wait forever.
 */
export function stdinFrames(from: Readable): ReadableStream<Uint8Array> {
  let closed = false;
  return new ReadableStream<Uint8Array>({
    start(c) {
      const close = (): void => {
        if (closed) return;
        closed = true;
        c.close();
      };
      c.enqueue(encodeFrame(FRAME.stdin));
      from.on('data', (chunk: Buffer) => {
        if (closed) return;
        c.enqueue(encodeFrame(FRAME.stdin, chunk));
        if ((c.desiredSize ?? 1) <= 0) from.pause();
      });
      from.once('end', () => {
        if (!closed) c.enqueue(encodeFrame(FRAME.stdinEnd));
        close();
      });
      from.once('close', close);
      from.once('error', close);
    },
    pull: () => void from.resume(),
  });
}
