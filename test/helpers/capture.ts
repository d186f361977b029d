/**
 * A packet capture in a network namespace with the real tcpdump: started, waited for until it says
 * it is listening, stopped with SIGINT so the file is complete, then read back — the raw bytes (to
 * look for plaintext) and tcpdump's own one-line summaries. Immediate mode: each packet is written
 * as it comes, so none is still in libpcap's buffer when the capture stops.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { waitFor } from './wait.js';

const run = promisify(execFile);

export interface Capture {
  /** Stops tcpdump; resolves with the capture's bytes and one summary line per packet (`tcpdump -n -q`). */
  stop(): Promise<{ raw: Buffer; lines: string[] }>;
}

export async function startCapture(ns: string, ifname: string, filter: string, file: string): Promise<Capture> {
  const cap = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', ifname, '--immediate-mode', '-U', '-n', '-s', '0', '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  cap.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise((resolve) => cap.once('exit', resolve));
  await waitFor(async () => /listening on/.test(err), `tcpdump listening on ${ifname} in ${ns}`, 10_000, 20).catch((e: unknown) => {
    cap.kill('SIGKILL');
    throw new Error(`${(e as Error).message}: ${err}`);
  });
  return {
    async stop() {
      cap.kill('SIGINT');
      await exited;
      const { stdout } = await run('tcpdump', ['-r', file, '-n', '-q']);
      return { raw: readFileSync(file), lines: stdout.split('\n').filter((l) => l.trim() !== '') };
    },
  };
}
