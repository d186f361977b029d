/**
 * Live progress of a deploy: polls the app's status and prints each new deploy event and each
 * machine's state change as one line (plain lines, so logs and CI keep them), until the deploy ends.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { appPath, callControl, type ControlTarget } from '../../control-client.js';

export interface StatusJson {
  app: { name: string; primary_region: string; release_version: number; deployed_release?: number; secrets_version: number };
  machines: MachineJson[];
  deploy: DeployJson | null;
}

/** One machine as the control plane lists it (GET /v1/apps/{app}/machines, and in the status). */
export interface MachineJson {
  id: string;
  app: string;
  region: string;
  host: string;
  release: number;
  state: string;
  healthy: boolean;
  created_at: string;
  /** When its host last reported it; null before the first report. */
  reported_at: string | null;
  /** Its newest event as its agent reported it ("exit 1", "autostopped: excess capacity in fra"). */
  last_event?: { at: string; message: string } | null;
  /** `release_command`: a deploy's temporary machine running the release command (absent: one of the app's). */
  role?: string;
  /** Its process group (`app` without [processes]); absent on a release command's machine. */
  process_group?: string;
}

export interface DeployJson {
  id: string;
  release: number;
  from_release: number;
  strategy: string;
  state: string;
  phase: string;
  error: string | null;
  events: { at: string; message: string }[];
  /** The machine that failed the deploy, as its agent described it (control/deploy/verdict.ts). */
  failure?: FailureJson | null;
}

export interface FailureJson {
  machine: string;
  region: string;
  host: string;
  reason: string;
  exit: { code: number | null; signal: string | null; exits: number } | null;
  check: { name: string; output: string } | null;
  log_tail: { time: string; stream: string; message: string }[];
}

const FINISHED = ['succeeded', 'rolled_back', 'failed', 'interrupted'];
/** The poll interval: a rolling deploy's steps take seconds, so 4 polls a second show each one. */
const POLL_MS = 250;

export async function followDeploy(target: ControlTarget, app: string, id: string, print: (line: string) => void): Promise<DeployJson> {
  const printed = new Set<string>();
  const seen = new Map<string, string>();
  for (;;) {
    const status = await callControl<StatusJson>(target, 'GET', appPath(app, '/status'));
    // The status carries the app's latest deploy: ours, unless another one started since.
    const d = status.deploy?.id === id ? status.deploy : await callControl<DeployJson>(target, 'GET', appPath(app, `/deploys/${encodeURIComponent(id)}`));
    // events holds the newest 100; an event is its time and text.
    for (const e of d.events) {
      const key = `${e.at}|${e.message}`;
      if (printed.has(key)) continue;
      printed.add(key);
      print(`  ${e.at.slice(11, 23)}  ${e.message}`);
    }
    for (const m of status.machines) {
      const line = `${m.state}${m.healthy ? ', healthy' : ''}`;
      if (seen.get(m.id) !== line) {
        seen.set(m.id, line);
        // Its group is said only when it is not the default `app` (an app without [processes] reads as before).
        const what = m.role === 'release_command' ? ' (release command)' : m.process_group && m.process_group !== 'app' ? ` (${m.process_group})` : '';
        print(`      machine ${m.id} ${m.region} v${m.release}${what} on ${m.host}: ${line}`);
      }
    }
    if (FINISHED.includes(d.state)) {
      if (d.state !== 'succeeded' && d.failure) for (const line of formatFailure(d.failure, app)) print(line);
      return d;
    }
    await sleep(POLL_MS);
  }
}

/** Why the machine failed: its exit code, what its failing check saw, its last log lines. */
export function formatFailure(f: FailureJson, app: string): string[] {
  const lines = [`  machine ${f.machine} (${f.region}, ${f.host}) ${f.reason}`];
  if (f.exit) lines.push(`    exit code: ${f.exit.signal !== null ? `none (killed by ${f.exit.signal})` : String(f.exit.code)}${f.exit.exits > 1 ? ` (exited ${f.exit.exits} times)` : ''}`);
  if (f.check) lines.push(`    check ${f.check.name}: ${f.check.output}`);
  if (f.log_tail.length === 0) lines.push('    no log lines (the machine wrote none)');
  else {
    lines.push(`    last ${f.log_tail.length} log line(s):`);
    for (const l of f.log_tail) lines.push(`      ${l.time.slice(11, 23)} ${l.stream === 'stderr' ? '!' : ' '} ${l.message}`);
  }
  lines.push(`    more: starling machines status ${f.machine} --app ${app}, starling logs --machine ${f.machine} --app ${app}`);
  return lines;
}
