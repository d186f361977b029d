import { spawn, type ChildProcess } from 'node:child_process';

/** The built CLI, as a user runs it. */
export const CLI_MAIN = new URL('../../src/cli/main.js', import.meta.url).pathname;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliRun {
  child: ChildProcess;
  /** Settles when the process has exited and its output is closed. */
  done: Promise<CliResult>;
  /** Resolves once stdout matches (for commands that keep running, like `logs --follow`). */
  until(re: RegExp): Promise<void>;
}

const running = new Set<ChildProcess>();

/**
 * Starts `starling ARGS…` as a child process. `env` replaces the environment when `cleanEnv` is
 * set, else it is added to it; `cwd` is where it runs (default: the test's). Every run is killed after `timeoutMs` and by `killAllCli()`.
 */
export function startCli(
  args: string[],
  o: { env?: Record<string, string>; cleanEnv?: boolean; stdin?: string | undefined; timeoutMs?: number; cwd?: string } = {},
): CliRun {
  const env = o.cleanEnv ? { PATH: process.env.PATH ?? '', ...o.env } : { ...process.env, ...o.env };
  const child = spawn(process.execPath, [CLI_MAIN, ...args], { stdio: [o.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env, ...(o.cwd === undefined ? {} : { cwd: o.cwd }) });
  running.add(child);
  let stdout = '';
  let stderr = '';
  const watchers: { re: RegExp; resolve: () => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const w of watchers.filter((x) => x.re.test(stdout))) w.resolve();
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  if (o.stdin !== undefined) child.stdin!.end(o.stdin);
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30_000);
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  const until = (re: RegExp): Promise<void> =>
    re.test(stdout) ? Promise.resolve() : new Promise((resolve) => watchers.push({ re, resolve }));
  return { child, done, until };
}

/** Runs `starling ARGS…` to completion. */
export function runCli(args: string[], o: Parameters<typeof startCli>[1] = {}): Promise<CliResult> {
  return startCli(args, o).done;
}

/** Kills every CLI process still running (for `after` hooks). */
export function killAllCli(): void {
  for (const c of running) c.kill('SIGKILL');
}
