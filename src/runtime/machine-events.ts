/**
 * What happened to a machine, for people: a bounded list of events (`starting`, `started`,
 * `exit 1`, `restarting (2/3)`, `check failed: …`, `autostopped: excess capacity in lhr`,
 * `stopped by user`) and its last exit. The agent reports both with the machine's state, so the
 * control plane can say why a machine stopped or a deploy failed (`starling machines status`).
 */
import type { ExitInfo } from './types.js';

/** Events kept per machine (the newest). */
export const MAX_MACHINE_EVENTS = 20;

export type MachineEventType = 'created' | 'starting' | 'started' | 'exit' | 'restarting' | 'failed' | 'check' | 'stopping' | 'stopped' | 'autostart';

export interface MachineEvent {
  /** ISO 8601, from the injected clock. */
  at: string;
  type: MachineEventType;
  message: string;
}

/** The process's last end, and how many times it has ended since the machine was created. */
export interface LastExit {
  code: number | null;
  signal: string | null;
  at: string;
  /** Exits since the machine was created (a crash loop shows here). */
  exits: number;
  /** The restart policy will start it again. */
  will_restart: boolean;
}

/** "exit 1", "exit signal SIGKILL". */
export function exitMessage(info: ExitInfo): string {
  return info.signal !== null ? `exit signal ${info.signal}` : `exit ${info.code ?? '?'}`;
}

export class MachineHistory {
  private readonly list: MachineEvent[] = [];
  last: LastExit | undefined;
  private exits = 0;
  /** Each check's last status, to record a check turning critical once. */
  private readonly checkStatus = new Map<string, string>();

  constructor(private readonly now: () => string) {}

  add(type: MachineEventType, message: string): void {
    this.list.push({ at: this.now(), type, message });
    if (this.list.length > MAX_MACHINE_EVENTS) this.list.splice(0, this.list.length - MAX_MACHINE_EVENTS);
  }

  exited(info: ExitInfo, willRestart: boolean): void {
    this.exits++;
    this.last = { code: info.code, signal: info.signal, at: this.now(), exits: this.exits, will_restart: willRestart };
    this.add('exit', exitMessage(info));
  }

  /** A restart happened after all (or was overtaken by a start): the last exit no longer waits on one. */
  restartSettled(): void {
    if (this.last) this.last = { ...this.last, will_restart: false };
  }

  /** Records a check turning critical (with what it saw), and all of them passing again. */
  checksChanged(passing: boolean, results: readonly { name: string; status: string; output: string }[]): void {
    for (const r of results) {
      if (r.status === 'critical' && this.checkStatus.get(r.name) !== 'critical') this.add('check', `check failed: ${r.name} ${r.output}`);
      this.checkStatus.set(r.name, r.status);
    }
    if (passing && results.length > 0) this.add('check', 'every check passes');
  }

  /** A new run's checks start over. */
  checksRestarted(): void {
    this.checkStatus.clear();
  }

  events(): MachineEvent[] {
    return this.list.map((e) => ({ ...e }));
  }
}
