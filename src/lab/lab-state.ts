/**
 * The lab's state file: what `lab up` made, so `lab down` removes exactly that — and nothing else —
 * even after a crash. Intent is written BEFORE a thing is made (a namespace recorded but never made
 * is harmless to delete; a namespace made but never recorded would leak), except for processes, whose
 * pid only exists once they do: they are recorded right after spawn. A pid is stored with its start
 * time (field 22 of /proc/PID/stat) so a recycled pid is never signalled.
 *
 * The file is JSON, mode 0600, replaced atomically (temp file + rename) on every change.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { StarlingError, type Clock } from '../shared/index.js';

export const STATE_FILE = 'state.json';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface RecordedProcess {
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks after boot): with the pid, names one process for ever. */
  startTime: number;
  /** What it is, for people: "bird fra-1", "agent iad-2". */
  what: string;
  ns?: string;
}

export interface LabStateData {
  version: 1;
  lab: string;
  createdAt: string;
  namespaces: string[];
  processes: RecordedProcess[];
  dirs: string[];
  /** Free-form data for the orchestrator (topology, ports, …). */
  meta: Record<string, JsonValue>;
}

export type RecordKind = 'namespace' | 'process' | 'dir';
type Item = { namespace: string; process: RecordedProcess; dir: string };
type Key = { namespace: string; process: number; dir: string };

const stateSchema = z.object({
  version: z.literal(1),
  lab: z.string().min(1),
  createdAt: z.string(),
  namespaces: z.array(z.string().min(1)),
  processes: z.array(
    z.object({ pid: z.number().int().positive(), startTime: z.number().int().nonnegative(), what: z.string(), ns: z.string().optional() }),
  ),
  dirs: z.array(z.string().min(1)),
  meta: z.record(z.string(), z.unknown()),
});

/** The lab's record, in memory and on disk. Every change is written through before it returns. */
export class LabState {
  private constructor(
    readonly dir: string,
    private data: LabStateData,
  ) {}

  /** Opens the lab's state in `dir` (created 0700 if missing, and then recorded for removal). */
  static open(dir: string, lab: string): LabState {
    const existing = readLabState(dir);
    if (existing) {
      if (existing.lab !== lab) {
        throw new StarlingError('ERR_LAB_STATE', `${join(dir, STATE_FILE)} belongs to lab "${existing.lab}", not "${lab}"`, {
          hint: 'give each lab its own state directory',
        });
      }
      return new LabState(dir, existing);
    }
    const made = !existsSync(dir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const data: LabStateData = { version: 1, lab, createdAt: new Date().toISOString(), namespaces: [], processes: [], dirs: [], meta: {} };
    if (made) data.dirs.push(dir);
    writeLabState(dir, data);
    return new LabState(dir, data);
  }

  /** The state in `dir`, or undefined when there is none (never creates anything). */
  static load(dir: string): LabState | undefined {
    const data = readLabState(dir);
    return data ? new LabState(dir, data) : undefined;
  }

  get lab(): string {
    return this.data.lab;
  }

  /** A deep copy of what is recorded. */
  snapshot(): LabStateData {
    return structuredClone(this.data);
  }

  /** Records things about to be made (or, for processes, just made). Duplicates are kept once. */
  record<K extends RecordKind>(kind: K, ...items: Array<Item[K]>): void {
    const before = JSON.stringify(this.data);
    for (const item of items) {
      if (kind === 'process') {
        const p = item as RecordedProcess;
        this.data.processes = this.data.processes.filter((q) => q.pid !== p.pid);
        this.data.processes.push({ ...p });
      } else {
        const list = kind === 'namespace' ? this.data.namespaces : this.data.dirs;
        if (!list.includes(item as string)) list.push(item as string);
      }
    }
    if (JSON.stringify(this.data) === before) return;
    if (!existsSync(join(this.dir, STATE_FILE))) {
      throw new StarlingError('ERR_LAB_STATE_GONE', `lab "${this.data.lab}" was torn down; its state file is gone`, {
        hint: 'open the lab again (LabState.open) before making more of it',
      });
    }
    writeLabState(this.dir, this.data);
  }

  /** Drops records of things that are gone. A no-op on disk once the lab was torn down. */
  forget<K extends RecordKind>(kind: K, ...keys: Array<Key[K]>): void {
    const n = this.count();
    if (kind === 'process') this.data.processes = this.data.processes.filter((p) => !keys.includes(p.pid as Key[K]));
    else if (kind === 'namespace') this.data.namespaces = this.data.namespaces.filter((x) => !keys.includes(x as Key[K]));
    else this.data.dirs = this.data.dirs.filter((x) => !keys.includes(x as Key[K]));
    if (this.count() !== n && existsSync(join(this.dir, STATE_FILE))) writeLabState(this.dir, this.data);
  }

  setMeta(key: string, value: JsonValue | undefined): void {
    if (value === undefined) delete this.data.meta[key];
    else this.data.meta[key] = structuredClone(value);
    if (existsSync(join(this.dir, STATE_FILE))) writeLabState(this.dir, this.data);
  }

  private count(): number {
    return this.data.namespaces.length + this.data.processes.length + this.data.dirs.length;
  }
}

/** The state recorded in `dir`, or undefined when there is no state file. Throws on a corrupt one. */
export function readLabState(dir: string): LabStateData | undefined {
  const file = join(dir, STATE_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StarlingError('ERR_LAB_STATE', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  let parsed: z.infer<typeof stateSchema>;
  try {
    parsed = stateSchema.parse(JSON.parse(text));
  } catch (e) {
    throw new StarlingError('ERR_LAB_STATE', `${file} is not a valid lab state file`, {
      cause: e,
      hint: 'inspect it; what it lists may still exist (ip netns list, ps)',
    });
  }
  return parsed as LabStateData;
}

/** Writes `data` to `dir`/state.json atomically (temp file in the same directory, fsync, rename). */
export function writeLabState(dir: string, data: LabStateData): void {
  const tmp = join(dir, `.${STATE_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, JSON.stringify(data, null, 2) + '\n');
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, join(dir, STATE_FILE));
}

export interface LabListing {
  lab: string;
  dir: string;
  /** Undefined when the state file could not be read; `problem` says why. */
  state: LabStateData | undefined;
  problem?: string;
}

/** Every lab with a state file in a directory directly under `baseDir`, sorted by name. */
export function listLabs(baseDir: string): LabListing[] {
  let names: string[];
  try {
    names = readdirSync(baseDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const labs: LabListing[] = [];
  for (const name of names.sort()) {
    const dir = join(baseDir, name);
    if (!existsSync(join(dir, STATE_FILE))) continue;
    try {
      const state = readLabState(dir);
      if (state) labs.push({ lab: state.lab, dir, state });
    } catch (e) {
      labs.push({ lab: name, dir, state: undefined, problem: (e as Error).message });
    }
  }
  return labs;
}

export interface ProcInfo {
  startTime: number;
  /** Field 3: R, S, D, Z (zombie), … */
  state: string;
}

/** Fields 3 and 22 of /proc/PID/stat, or undefined when there is no such process. */
export function procInfo(pid: number): ProcInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) is in parentheses and may itself hold spaces or ')': split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const start = Number(rest[19]); // field 22 = index 22 - 3
  if (state === undefined || !Number.isSafeInteger(start)) return undefined;
  return { startTime: start, state };
}

/** Whether the recorded process is still that process and still running (a zombie has finished). */
export function isRecordedAlive(p: { pid: number; startTime: number }): boolean {
  const info = procInfo(p.pid);
  return info !== undefined && info.startTime === p.startTime && info.state !== 'Z' && info.state !== 'X';
}

export interface StopResult {
  /** Processes that were running when asked to stop. */
  stopped: RecordedProcess[];
  /** Those that needed SIGKILL. */
  killed: RecordedProcess[];
  /** Those still running after SIGKILL (or that could not be signalled), with why. */
  survivors: Array<{ p: RecordedProcess; why: string }>;
}

/**
 * Stops recorded processes: SIGTERM, a poll of /proc until `termMs` runs out, then SIGKILL and a
 * second poll. A process is signalled only while /proc/PID/stat shows its recorded start time.
 */
export async function stopRecordedProcesses(procs: RecordedProcess[], clock: Clock, termMs = 5000): Promise<StopResult> {
  const errors = new Map<number, string>();
  const alive = (): RecordedProcess[] => procs.filter(isRecordedAlive);
  const poll = async (ms: number): Promise<void> => {
    const deadline = clock.monotonic() + ms;
    while (alive().length > 0 && clock.monotonic() < deadline) await clock.sleep(20);
  };
  const signal = (sig: NodeJS.Signals): void => {
    for (const p of alive()) {
      try {
        process.kill(p.pid, sig);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') errors.set(p.pid, (e as Error).message);
      }
    }
  };
  const stopped = alive();
  signal('SIGTERM');
  await poll(termMs);
  const killed = alive();
  signal('SIGKILL');
  await poll(2000);
  const survivors = alive().map((p) => ({ p, why: errors.get(p.pid) ?? 'still running after SIGKILL' }));
  return { stopped, killed, survivors };
}

