/**
 * One host tool run to its end (ip, wg, nft, mkfs, mount…): its stdout, or a StarlingError of the
 * caller's code naming the command and what the tool said. `input` goes to its stdin — how a
 * secret (a private key) or a script reaches a tool, never through argv. An argv is named in the
 * error, so it must hold nothing secret.
 */
import { spawn } from 'node:child_process';
import { StarlingError } from './errors.js';
import type { ErrorCode } from './error-codes.js';

export interface RunToolOptions {
  /** The error's code when the tool cannot run or exits non-zero. */
  code: ErrorCode;
  input?: string | undefined;
  hint?: string | undefined;
}

export function runTool(argv: readonly string[], o: RunToolOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    const child = spawn(file!, args, { stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
    child.stdin?.on('error', () => undefined); // EPIPE when it exits early: its status says why
    child.stdin?.end(o.input);
    const fail = (why: string, cause?: unknown): void => reject(new StarlingError(o.code, `${argv.join(' ')}: ${why}`, { cause, ...(o.hint === undefined ? {} : { hint: o.hint }) }));
    child.on('error', (e) => fail(e.message, e));
    child.on('close', (status) => (status === 0 ? resolve(out) : fail(err.trim() || `exited ${status}`)));
  });
}
