import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';

const TAIL_LINES = 40;
const STOP_GRACE_MS = 4000;

/** A child process the demo started: its output is kept (last lines) for error reports. */
export class Child {
  readonly tail: string[] = [];
  exitCode: number | null = null;
  signal: NodeJS.Signals | null = null;
  exited = false;
  readonly done: Promise<void>;
  private partial = '';

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    for (const stream of [proc.stdout, proc.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (s: string) => this.collect(s));
    }
    this.done = new Promise<void>((resolve) => {
      // 'error' without 'exit' happens when the process could not be started at all.
      proc.on('error', (err) => {
        this.collect(`spawn failed: ${err.message}\n`);
        this.exited = true;
        resolve();
      });
      proc.on('exit', (code, signal) => {
        this.exitCode = code;
        this.signal = signal;
        this.exited = true;
        resolve();
      });
    });
  }

  describeExit(): string {
    if (!this.exited) return 'still running';
    return this.signal ? `killed by ${this.signal}` : `exited with code ${this.exitCode ?? '?'}`;
  }

  private collect(s: string): void {
    const lines = (this.partial + s).split('\n');
    this.partial = lines.pop() ?? '';
    for (const l of lines) {
      this.tail.push(l);
      if (this.tail.length > TAIL_LINES) this.tail.shift();
    }
  }

  output(): string[] {
    return this.partial === '' ? this.tail : [...this.tail, this.partial];
  }
}

/**
 * Owns everything the demo creates: child processes and a temporary directory. `shutdown` stops
 * the children (SIGTERM, then SIGKILL after a grace period) and removes the directory; an exit
 * hook does the same synchronously if the process ends some other way.
 */
export class Supervisor {
  readonly children: Child[] = [];
  private readonly tempDirs: string[] = [];
  private stopping = false;
  private onUnexpected: ((c: Child) => void) | undefined;

  constructor() {
    process.on('exit', () => {
      for (const c of this.children) if (!c.exited) c.proc.kill('SIGKILL');
      for (const d of this.tempDirs) rmSync(d, { recursive: true, force: true });
    });
  }

  get shuttingDown(): boolean {
    return this.stopping;
  }

  addTempDir(dir: string): void {
    this.tempDirs.push(dir);
  }

  /** A promise that rejects as soon as any child exits before `shutdown` (it never resolves). */
  watchdog(): Promise<never> {
    return new Promise<never>((_resolve, reject) => {
      this.onUnexpected = (c) => {
        const said = c.output().some((l) => l.trim() !== '');
        reject(new Error(`${c.name} ${c.describeExit()} unexpectedly${said ? ' (its output is below)' : ''}`));
      };
      for (const c of this.children) if (c.exited) this.onUnexpected(c);
    });
  }

  start(name: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd: string; ipc?: boolean }): Child {
    const stdio: StdioOptions = opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
    const proc = spawn(process.execPath, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio });
    const child = new Child(name, proc);
    this.children.push(child);
    void child.done.then(() => {
      if (!this.stopping) this.onUnexpected?.(child);
    });
    return child;
  }

  /** Stops every child (those in `first` before the rest) and removes the temporary directories. */
  async shutdown(first: readonly Child[] = []): Promise<{ forced: string[] }> {
    this.stopping = true;
    const forced: string[] = [];
    const stop = async (group: readonly Child[]): Promise<void> => {
      await Promise.all(
        group.map(async (c) => {
          if (c.exited) return;
          c.proc.kill('SIGTERM');
          const graceful = await Promise.race([c.done.then(() => true), delay(STOP_GRACE_MS).then(() => false)]);
          if (!graceful) {
            forced.push(c.name);
            c.proc.kill('SIGKILL');
            await c.done;
          }
        }),
      );
    };
    await stop(first);
    await stop(this.children.filter((c) => !first.includes(c)));
    await Promise.all(this.tempDirs.map((d) => rm(d, { recursive: true, force: true })));
    return { forced };
  }
}

/** A timer that does not keep the process alive on its own. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
