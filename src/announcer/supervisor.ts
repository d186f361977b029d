import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { StarlingError, type Clock, type Logger, type TimerHandle } from '../shared/index.js';

export interface BirdPaths {
  config: string;
  socket: string;
  pid: string;
}

export interface SupervisorOptions {
  /** The bird binary. */
  bird: string;
  /** Holds bird.conf, bird.ctl and bird.pid: one directory per agent, so many BIRDs never collide. */
  stateDir: string;
  clock: Clock;
  logger: Logger;
  /** The config for the current desired state; written before every start. */
  config: () => string;
  /** Command prefix to run BIRD elsewhere, e.g. `['ip', 'netns', 'exec', 'pop1']`. */
  wrap?: string[] | undefined;
  /** Restart delays after a crash: base · 2^(n-1), capped; reset after a minute of stable running. */
  backoff?: { baseMs: number; maxMs: number };
  /** Called each time a (re)started BIRD accepts control connections. */
  onReady?: () => void;
}

/**
 * Owns one BIRD process: starts `bird -f` with its own config, control socket and pid file, restarts
 * it with backoff when it dies, and stops it cleanly. The config always carries the desired
 * announce state, so after a restart the prefixes come back without anyone acting.
 */
export class BirdSupervisor {
  readonly paths: BirdPaths;
  private child: ChildProcess | undefined;
  private stopping = false;
  private failures = 0;
  private startedAt = 0;
  private restartTimer: TimerHandle | undefined;
  private readonly baseMs: number;
  private readonly maxMs: number;

  constructor(private readonly o: SupervisorOptions) {
    this.paths = {
      config: join(o.stateDir, 'bird.conf'),
      socket: join(o.stateDir, 'bird.ctl'),
      pid: join(o.stateDir, 'bird.pid'),
    };
    this.baseMs = o.backoff?.baseMs ?? 200;
    this.maxMs = o.backoff?.maxMs ?? 30_000;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Writes the config atomically (BIRD may read it at any moment: start, `configure`). */
  writeConfig(): void {
    mkdirSync(this.o.stateDir, { recursive: true, mode: 0o700 });
    const tmp = `${this.paths.config}.tmp`;
    // 0600: the config may hold TCP MD5 passwords.
    writeFileSync(tmp, this.o.config(), { mode: 0o600 });
    renameSync(tmp, this.paths.config);
  }

  /** Starts BIRD and resolves once its control socket answers. */
  async start(): Promise<void> {
    this.stopping = false;
    this.writeConfig();
    rmSync(this.paths.socket, { force: true });
    const [cmd, ...pre] = [...(this.o.wrap ?? []), this.o.bird];
    const args = [...pre, '-f', '-c', this.paths.config, '-s', this.paths.socket, '-P', this.paths.pid];
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.startedAt = this.o.clock.monotonic();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    child.on('exit', (code, signal) => this.onExit(child, code, signal, stderr));
    child.on('error', () => undefined);
    await this.waitForSocket(child, () => stderr);
    this.o.logger.info('bird started', { pid: child.pid, socket: this.paths.socket });
    this.o.onReady?.();
  }

  /** Stops BIRD (SIGTERM, then SIGKILL after `graceMs`); no restart follows. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    this.restartTimer?.cancel();
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const t = this.o.clock.setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    t.cancel();
  }

  private onExit(child: ChildProcess, code: number | null, signal: string | null, stderr: string): void {
    if (child !== this.child || this.stopping) return;
    const ranMs = this.o.clock.monotonic() - this.startedAt;
    if (ranMs > 60_000) this.failures = 0;
    this.failures++;
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** (this.failures - 1));
    this.o.logger.error('bird exited; restarting', { code, signal, restart_in_ms: delay, stderr: stderr.trim().slice(-300) });
    this.restartTimer = this.o.clock.setTimeout(() => {
      this.start().catch((e: unknown) => {
        this.o.logger.error('bird restart failed', { error: (e as Error).message });
        this.onExit(this.child!, null, null, '');
      });
    }, delay);
  }

  private async waitForSocket(child: ChildProcess, stderr: () => string, timeoutMs = 5000): Promise<void> {
    const deadline = this.o.clock.monotonic() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new StarlingError('ERR_BIRD_START', `bird exited at start: ${stderr().trim().slice(-500) || `code ${child.exitCode}`}`, {
          fault: 'system',
          hint: `check ${this.paths.config} with: ${this.o.bird} -p -c ${this.paths.config}`,
        });
      }
      if (await canConnect(this.paths.socket)) return;
      if (this.o.clock.monotonic() > deadline) {
        throw new StarlingError('ERR_BIRD_START', `bird's control socket ${this.paths.socket} did not open in ${timeoutMs} ms`);
      }
      await this.o.clock.sleep(20);
    }
  }
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
