/**
 * bench:mesh's network: two namespaces A and B joined by a veth (IPv4 /30 on it, links up), the
 * commands run inside them, and their removal. Names carry the benchmark's pid, so two runs never
 * collide and wireguard-go's per-computer UAPI sockets stay unique. Nothing is sent outside these
 * namespaces: every address the benchmark uses lives in one of them.
 *
 * Teardown kills every process still inside a namespace (`ip netns pids`), which are only ever the
 * benchmark's own (wireguard-go, the sink, the probes), removes the UAPI sockets a killed
 * wireguard-go leaves behind, then deletes the namespaces; it has a synchronous form for the
 * process's 'exit' handler.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { BenchError } from './util.js';

const exec = promisify(execFile);

export const WG_SOCKET_DIR = '/var/run/wireguard';

export interface TwoHosts {
  a: string;
  b: string;
  ifA: string;
  ifB: string;
  /** The veth's addresses: the underlay. */
  addrA: string;
  addrB: string;
}

const made = new Set<string>();
/** WireGuard interface names the benchmark made, for their sockets. */
const interfaces = new Set<string>();

export function ipSync(...args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = ((e as { stderr?: string }).stderr ?? (e as Error).message).trim();
    throw new BenchError(`ip ${args.join(' ')}: ${err}`);
  }
}

/** A command inside namespace `ns`, to completion; throws with its stderr when it fails. */
export async function inNs(ns: string, file: string, ...args: string[]): Promise<string> {
  try {
    return (await exec('ip', ['netns', 'exec', ns, file, ...args], { encoding: 'utf8' })).stdout;
  } catch (e) {
    const err = ((e as { stderr?: string }).stderr ?? (e as Error).message).trim();
    throw new BenchError(`(in ${ns}) ${file} ${args.join(' ')}: ${err}`);
  }
}

/** The WireGuard interface `name` will be made by the benchmark: its socket is removed at the end. */
export function noteInterface(name: string): void {
  interfaces.add(name);
}

export function twoHosts(): TwoHosts {
  const id = process.pid;
  const a = `sbmA${id}`;
  const b = `sbmB${id}`;
  const ifA = `sbv${id}a`;
  const ifB = `sbv${id}b`;
  // A 10/8 /30 inside the namespaces only; it never meets the host's own routes.
  const octet = 1 + (id % 250);
  const addrA = `10.${octet}.19.1`;
  const addrB = `10.${octet}.19.2`;
  for (const ns of [a, b]) {
    ipSync('netns', 'add', ns);
    made.add(ns);
  }
  ipSync('link', 'add', ifA, 'netns', a, 'type', 'veth', 'peer', 'name', ifB, 'netns', b);
  for (const [ns, ifn, addr] of [[a, ifA, addrA], [b, ifB, addrB]] as const) {
    ipSync('-n', ns, 'link', 'set', 'lo', 'up');
    ipSync('-n', ns, 'addr', 'add', `${addr}/30`, 'dev', ifn);
    ipSync('-n', ns, 'link', 'set', ifn, 'up');
  }
  return { a, b, ifA, ifB, addrA, addrB };
}

/** Long-running children with their stdout read line by line (the sink, the probes). */
const lineChildren = new Set<ChildProcess>();

export interface LineChild {
  child: ChildProcess;
  /** Resolves with performance.now() when a stdout line equal to `line` arrives. */
  waitLine(line: string, timeoutMs: number): Promise<number>;
  /** stderr so far, for messages. */
  stderr(): string;
  kill(): Promise<void>;
}

export function startLines(what: string, file: string, args: readonly string[]): LineChild {
  const child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  lineChildren.add(child);
  let err = '';
  let buf = '';
  const seen: { line: string; at: number }[] = [];
  const waiters: { line: string; resolve: (at: number) => void }[] = [];
  let exited = false;
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  child.stdout?.on('data', (d: Buffer) => {
    const at = performance.now();
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.findIndex((x) => x.line === line);
      if (w >= 0) waiters.splice(w, 1)[0]!.resolve(at);
      else seen.push({ line, at });
    }
  });
  const gone = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      lineChildren.delete(child);
      resolve();
    });
    child.once('error', (e) => {
      exited = true;
      err += e.message;
      lineChildren.delete(child);
      resolve();
    });
  });
  return {
    child,
    stderr: () => err,
    waitLine: (line, timeoutMs) => {
      const s = seen.findIndex((x) => x.line === line);
      if (s >= 0) return Promise.resolve(seen.splice(s, 1)[0]!.at);
      return new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new BenchError(`${what}: no "${line}" within ${timeoutMs} ms${exited ? ' (it exited)' : ''}: ${err.trim() || 'no output'}`)), timeoutMs);
        const entry = { line, resolve: (at: number) => (clearTimeout(timer), resolve(at)) };
        waiters.push(entry);
        void gone.then(() => {
          // Lines still in the pipe are read before 'exit' is seen on most runs; give them a moment.
          setTimeout(() => {
            if (!waiters.includes(entry)) return;
            waiters.splice(waiters.indexOf(entry), 1);
            clearTimeout(timer);
            reject(new BenchError(`${what} exited before "${line}": ${err.trim() || 'no output'}`));
          }, 100);
        });
      });
    },
    kill: async () => {
      if (exited) return;
      killGroup(child, 'SIGKILL');
      await gone;
    },
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function pidsIn(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

/**
 * Everything the network part made, gone: line children, every process inside the namespaces,
 * the sockets of the WireGuard interfaces, the namespaces. Synchronous (usable from 'exit');
 * each step goes on when one fails.
 */
export function destroyNetSync(): void {
  for (const c of lineChildren) killGroup(c, 'SIGKILL');
  lineChildren.clear();
  for (const ns of made) {
    for (const pid of pidsIn(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  for (const name of interfaces) rmSync(`${WG_SOCKET_DIR}/${name}.sock`, { force: true });
  interfaces.clear();
  for (const ns of made) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
  made.clear();
}
