/**
 * Child processes of the benchmark: each runs in its own process group (so nginx's workers,
 * Starling's workers and anything else they fork go down with them), its output goes to a log file
 * in the benchmark's temp dir, and whatever is still alive when the benchmark exits — normally, on
 * error or on Ctrl-C — is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { BenchError } from './util.js';

export interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Resolves when the process has exited (code, or the signal that ended it). */
  readonly exited: Promise<string>;
  /** True once the process has exited. */
  hasExited(): boolean;
}

const live = new Set<Managed>();

/** `env`, when given, is added to the benchmark's own environment (Caddy's GOMAXPROCS). */
export function spawnManaged(name: string, command: string, args: string[], logFile: string, env?: Record<string, string>): Managed {
  const fd = openSync(logFile, 'a');
  try {
    const options = { detached: true, stdio: ['ignore', fd, fd] as ['ignore', number, number], ...(env && { env: { ...process.env, ...env } }) };
    return track(name, spawn(command, args, options), logFile);
  } finally {
    closeSync(fd);
  }
}

function track(name: string, child: ChildProcess, logFile: string): Managed {
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.once('error', (e) => {
      done = true;
      resolve(`failed to start: ${e.message}`);
    });
    child.once('exit', (code, signal) => {
      done = true;
      resolve(signal ? `killed by ${signal}` : `exit code ${code ?? '?'}`);
    });
  });
  const m: Managed = { name, child, logFile, exited, hasExited: () => done };
  live.add(m);
  void exited.then(() => {
    // The leader is gone; anything left in its group is orphaned. Give it a moment, then kill it.
    setTimeout(() => {
      if (!live.has(m)) return;
      killGroup(m, 'SIGKILL');
      live.delete(m);
    }, 2000).unref();
  });
  return m;
}

function killGroup(m: Managed, signal: NodeJS.Signals): void {
  const pid = m.child.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function groupAlive(m: Managed): boolean {
  const pid = m.child.pid;
  if (pid === undefined) return false;
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * SIGTERM to the process itself (it shuts its workers down, and a node process started with
 * --cpu-prof writes its profile), wait for it and its group to be gone, SIGKILL the whole group after
 * `graceMs`.
 */
export async function stop(m: Managed, graceMs = 5000): Promise<void> {
  const deadline = Date.now() + graceMs;
  if (!m.hasExited()) {
    try {
      m.child.kill('SIGTERM');
    } catch {
      // already gone
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      m.exited.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) killGroup(m, 'SIGKILL');
  }
  while (groupAlive(m) && Date.now() < deadline) await sleep(50);
  killGroup(m, 'SIGKILL');
  await m.exited;
  live.delete(m);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((m) => stop(m)));
}

/** Last resort, from a process 'exit' handler: synchronous, so only SIGKILL. */
export function killAllSync(): void {
  for (const m of live) killGroup(m, 'SIGKILL');
  live.clear();
}

/** The last `max` characters of a process's log, for error messages. */
export function logTail(m: Managed, max = 2000): string {
  try {
    const text = readFileSync(m.logFile, 'utf8');
    return text.length > max ? `…${text.slice(-max)}` : text;
  } catch {
    return '';
  }
}

/**
 * Runs a command to completion, collecting stdout+stderr in memory (wrk). Killed with everything
 * else if the benchmark is interrupted.
 */
export async function run(name: string, command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => chunks.push(b));
  child.stderr?.on('data', (b: Buffer) => chunks.push(b));
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const m = track(name, child, '');
  const how = await m.exited;
  if (how.startsWith('failed to start')) throw new Error(`${name}: ${how}`);
  const code = await closed;
  live.delete(m);
  return { code, output: Buffer.concat(chunks).toString('utf8') };
}

/** Runs a command to completion with its stdout and stderr apart (a CLI's JSON and its words); killed after `timeoutMs`. */
export function capture(command: string, args: readonly string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

/**
 * Cleanup shared by the benchmarks: `first` (what the benchmark started in-process: a platform, a
 * registry), then stop every child, remove the temp dir; on a signal do that and exit with the
 * shell's code (a second signal kills everything at once).
 */
export function cleanupHandlers(tempDir: () => string | undefined, log: (msg: string) => void, first?: () => Promise<void>): {
  cleanup: () => Promise<void>;
  onSignal: (signal: NodeJS.Signals) => void;
  /** A signal arrived: errors that follow are its consequence, not worth reporting. */
  interrupted: () => boolean;
} {
  let pending: Promise<void> | undefined;
  let interrupted = false;
  const cleanup = (): Promise<void> => {
    pending ??= (async () => {
      await first?.().catch((e: unknown) => log(`cleanup: ${e instanceof Error ? e.message : String(e)}`));
      await stopAll();
      const dir = tempDir();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    })();
    return pending;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    const code = signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 129;
    if (interrupted) {
      killAllSync();
      process.exit(code);
    }
    interrupted = true;
    log(`${signal}: stopping everything`);
    void cleanup().finally(() => process.exit(code));
  };
  return { cleanup, onSignal, interrupted: () => interrupted };
}

/**
 * Runs a benchmark's main: an error is printed (a BenchError as its message, anything else with
 * its stack) and exits 1, unless a signal caused it; everything started is stopped either way.
 */
export function runBench(main: () => Promise<void>, h: { cleanup: () => Promise<void>; interrupted: () => boolean }): void {
  main()
    .catch((e: unknown) => {
      if (!h.interrupted()) {
        console.error(`bench: ${e instanceof BenchError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        process.exitCode = 1;
      }
    })
    .finally(() => h.cleanup());
}
