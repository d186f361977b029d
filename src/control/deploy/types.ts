/**
 * A deploy's document (`deploys/<app>.<id>`). Everything the runner needs to continue after a
 * control-plane crash is here or in the `machines` collection: each step is derived from the
 * machines that exist now (plan.ts), so resuming is just running the loop again.
 */
import type { MachineExitDoc, MachineLogLineDoc } from '../../contract/index.js';

export const DEPLOY_STRATEGIES = ['rolling', 'canary', 'bluegreen', 'immediate'] as const;
export type DeployStrategy = (typeof DEPLOY_STRATEGIES)[number];

export type DeployState =
  /** The runner is working on it. */
  | 'running'
  /** Every machine runs the new release and passed its checks; the app's deployed_release moved. */
  | 'succeeded'
  /** A new machine failed its checks (or never got healthy): rolling back to the previous release. */
  | 'rolling_back'
  /** Back on the previous release; the new release's machines are gone. */
  | 'rolled_back'
  /** The control plane stopped mid-deploy. Resume it or roll it back (POST …/resume, …/rollback). */
  | 'interrupted'
  /**
   * Could not finish nor roll back (e.g. no capacity): the machines are left as they are, all
   * serving. Also: the release command failed, before any machine was touched.
   */
  | 'failed';

export const ACTIVE_STATES: readonly DeployState[] = ['running', 'rolling_back'];

export interface DeployEvent {
  at: string;
  message: string;
}

/** The machine that failed a deploy, as its agent last described it (verdict.ts). */
export interface DeployFailure {
  machine: string;
  region: string;
  host: string;
  /** "exited with code 1", "check http:8080/ failed 3 times in a row: connection refused". */
  reason: string;
  exit: MachineExitDoc | null;
  /** The failing check and what it saw ("connect ECONNREFUSED …", "HTTP 500", "timed out after 500 ms"). */
  check: { name: string; output: string } | null;
  /** Its last log lines (secrets redacted on its host). */
  log_tail: MachineLogLineDoc[];
}

export interface DeployDoc {
  id: string;
  app: string;
  /** The release being rolled out. */
  release: number;
  /** The release that was serving when the deploy began (0: none, a first deploy). */
  from_release: number;
  strategy: DeployStrategy;
  /** New machines not yet healthy at a time (rolling, canary after its first machine). */
  max_unavailable: number;
  /** How long a new machine may take to pass its checks before the deploy rolls back. */
  wait_timeout_ms: number;
  /** Machines wanted per region when the deploy is done (every process group's together). */
  targets: Record<string, number>;
  /**
   * Machines wanted per process group and region when the deploy is done (groupTargets). Absent on
   * deploys from before process groups: `targets`, all of group `app`.
   */
  group_targets?: GroupTargets;
  /** What a rollback goes back to: the machines per group and region when the deploy began (absent: group_targets). */
  from_group_targets?: GroupTargets;
  state: DeployState;
  /** Last step, for people: "2 of 6 machines on release 3". */
  phase: string;
  error: string | null;
  /** The machine that failed the deploy and what it said (absent: none did, or it timed out without a report saying why). */
  failure?: DeployFailure | null;
  /** The release's `[deploy] release_command`, run before any machine is touched (absent: it has none, or it has not started). */
  release_command?: ReleaseCommandRun | null;
  /** The newest 100 events, oldest first. */
  events: DeployEvent[];
  started_at: string;
  updated_at: string;
  finished_at: string | null;
}

/** A deploy's run of its release's `[deploy] release_command` (release-command.ts). */
export interface ReleaseCommandRun {
  /** The command as people read it (its words, quoted again where needed). */
  command: string;
  /** The temporary machine of the latest attempt. */
  machine: string;
  region: string;
  host: string;
  /** 1 for the first run; one more each time a run left no result (a control-plane crash) and it ran again. */
  attempt: number;
  /** When this attempt's machine was placed: its timeout counts from here (image pull included). */
  started_at: string;
  timeout_ms: number;
  state: 'running' | 'succeeded' | 'failed';
  exit_code: number | null;
  finished_at: string | null;
}

/** Machines wanted: group → region → count (targets.ts). */
export type GroupTargets = Record<string, Record<string, number>>;

export const deployKey = (app: string, id: string): string => `${app}.${id}`;
