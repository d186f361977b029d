/**
 * Machines die with their driver, even a SIGKILLed one. bwrap's --die-with-parent cannot do it once
 * the app runs as another uid (sandbox-proc.ts says why), so each driver keeps one watchdog: a
 * small shell, host root with CAP_KILL, in a process group of its own, reading a pipe from the
 * driver. The driver writes `+<pid>` for each running machine's sandbox init and `-<pid>` when the
 * machine ends. When the pipe closes — the driver exited or was killed — the watchdog SIGKILLs every
 * init still listed; an init's death takes its whole pid namespace, so the machine is gone.
 *
 * Costs one `sh` per agent (not per machine). The window between a machine's exit and its `-` line
 * is the time the driver takes to hear of the exit; only a driver killed inside that window can
 * make the watchdog signal a pid that a new process took meanwhile.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import type { Logger } from '../../shared/index.js';

const SCRIPT = [
  'set -f',
  "pids=' '",
  'while IFS= read -r line; do',
  '  case "$line" in',
  '    +*) pids="$pids${line#+} " ;;',
  "    -*) out=' '; for p in $pids; do [ \"$p\" = \"${line#-}\" ] || out=\"$out$p \"; done; pids=$out ;;",
  '  esac',
  'done',
  'for p in $pids; do kill -KILL "$p" 2>/dev/null; done',
].join('\n');

export class Reaper {
  private child: ChildProcess | undefined;
  private pipe: Writable | undefined;

  constructor(
    private readonly sh: string,
    private readonly log: Logger,
  ) {}

  /** The machine whose sandbox init is `pid` runs: kill it if the driver dies. */
  add(pid: number): void {
    this.send(`+${pid}`);
  }

  /** It ended (or is being destroyed by the driver itself). */
  remove(pid: number): void {
    this.send(`-${pid}`);
  }

  /** Ends the watchdog; whatever is still listed is killed (a normal close lists nothing). */
  close(): void {
    this.pipe?.end();
    this.pipe = undefined;
    this.child = undefined;
  }

  private send(line: string): void {
    if (!/^[+-][1-9]\d*$/.test(line)) return;
    this.start()?.write(`${line}\n`);
  }

  private start(): Writable | undefined {
    if (this.pipe && this.child && this.child.exitCode === null) return this.pipe;
    const child = spawn(this.sh, ['-c', SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    child.on('error', (e) => this.log.error('machine watchdog failed: machines would outlive a killed agent', { error: e.message }));
    child.stdin.on('error', () => undefined);
    // Neither the watchdog nor its pipe keeps this process alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    this.child = child;
    this.pipe = child.stdin!;
    return this.pipe;
  }
}
