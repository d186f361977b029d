/**
 * The deploy runner's first phase: the release command, carried out in the store from the steps
 * release-command.ts decides (why each step is what it is lives there). Every step is one
 * transaction: the temporary machine's document and the deploy document that names it are
 * written (or removed) together.
 */
import { randomBytes } from 'node:crypto';
import { StarlingError, type Clock, type Logger } from '../../shared/index.js';
import { NoCapacityError, pickHostPreferring, type HostView } from '../scheduler/index.js';
import type { Op, StateStore } from '../store/index.js';
import {
  formatCommandWords, isAppMachine, machineKey, parseAppConfigDocument, releaseKey,
  type AppDoc, type MachineDetailsDoc, type MachineDoc, type ReleaseDoc,
} from '../../contract/index.js';
import { formatMs, releaseCommandFailure, releaseCommandStep } from './release-command.js';
import type { DeployDoc, ReleaseCommandRun } from './types.js';

/** What the phase needs of the runner. */
export interface ReleaseCommandDeps {
  store: StateStore;
  clock: Clock;
  logger: Logger;
  closed(): boolean;
  read(app: string): Promise<{ machines: MachineDoc[]; details: Map<string, MachineDetailsDoc>; hosts: HostView[] }>;
  /** The deploy document with a new event; `ops` in the same transaction. */
  save(doc: DeployDoc, message: string, ops?: Op[]): Promise<DeployDoc>;
  /** An event only when the phase changes. */
  phase(doc: DeployDoc, message: string): Promise<DeployDoc>;
  /** Ends the deploy `failed`. */
  finish(doc: DeployDoc, error: string, ops?: Op[]): Promise<DeployDoc>;
  /** Until a machine, report or host changes, or `ms` pass. */
  wait(ms: number): Promise<void>;
}

/**
 * Runs the release's release command for the deploy `start` (none in its config: nothing to do).
 * Answers the deploy document to go on with, or undefined when the deploy has ended (failed) or
 * the runner is closing (the deploy stays as it is: `interrupted` at the next start).
 */
export async function runReleaseCommand(r: ReleaseCommandDeps, start: DeployDoc): Promise<DeployDoc | undefined> {
  let doc = start;
  const rel = (await r.store.get('releases', releaseKey(doc.app, doc.release)))?.value as ReleaseDoc | undefined;
  if (!rel) throw new StarlingError('ERR_RELEASE_NOT_FOUND', `app ${doc.app} has no release ${doc.release}`, { fault: 'system' });
  const { config } = parseAppConfigDocument(rel.config, `release ${doc.release} of app ${doc.app}`);
  const words = config.deploy.release_command;
  if (!words) return doc;
  const command = formatCommandWords(words);
  const remove = (ids: readonly string[]): Op[] => ids.map((id): Op => ({ op: 'delete', collection: 'machines', key: machineKey(doc.app, id) }));
  let resumed = true;
  while (!r.closed()) {
    const app = (await r.store.get('apps', doc.app))?.value as AppDoc | undefined;
    if (!app) return void (await r.finish(doc, 'the app was destroyed during the deploy'));
    const { machines, details, hosts } = await r.read(doc.app);
    const present = machines.filter((m) => !isAppMachine(m));
    const run = doc.release_command ?? undefined;
    const reported = run ? details.get(run.machine) : undefined;
    const now = r.clock.now();
    const at = new Date(now).toISOString();
    const step = releaseCommandStep({ run, resumed, present, details: reported, now });
    resumed = false;
    switch (step.kind) {
      case 'skip':
        return doc;
      case 'start': {
        // The leftovers' slots are free once they go (same transaction); hostViews counted them.
        for (const m of present) {
          const h = step.remove.includes(m.id) ? hosts.find((x) => x.id === m.host) : undefined;
          if (h) h.used--;
        }
        let target;
        try {
          target = pickHostPreferring(config.primary_region ?? app.primary_region, hosts, machines.filter(isAppMachine));
        } catch (e) {
          if (!(e instanceof NoCapacityError)) throw e;
          return void (await r.finish(doc, `no host has room for the release command's machine (${e.message}): no machine was replaced`, remove(step.remove)));
        }
        const m: MachineDoc = { id: randomBytes(7).toString('hex'), app: doc.app, region: target.region, host: target.host, release: doc.release, deploy: doc.id, created_at: at, role: 'release_command' };
        const next: ReleaseCommandRun = {
          command, machine: m.id, region: m.region, host: m.host, attempt: step.attempt, started_at: at,
          timeout_ms: config.deploy.release_command_timeout_ms, state: 'running', exit_code: null, finished_at: null,
        };
        const message = `${step.why ? `${step.why}; ` : ''}running the release command "${command}" on machine ${m.id} (${m.region}, ${m.host}), timeout ${formatMs(next.timeout_ms)}`;
        r.logger.info('release command started', { app: doc.app, deploy: doc.id, machine: m.id, host: m.host, attempt: step.attempt });
        doc = await r.save({ ...doc, release_command: next }, message, [
          ...remove(step.remove),
          { op: 'put', collection: 'machines', key: machineKey(m.app, m.id), value: m, expectRevision: 0 },
        ]);
        break;
      }
      case 'wait':
        doc = await r.phase(doc, `waiting for the release command on machine ${run!.machine} to end`);
        await r.wait(Math.max(1, step.until - now));
        break;
      case 'succeeded':
        r.logger.info('release command succeeded', { app: doc.app, deploy: doc.id, machine: run!.machine });
        return r.save(
          { ...doc, release_command: { ...run!, state: 'succeeded', exit_code: 0, finished_at: at } },
          `release command succeeded on machine ${run!.machine} (exit code 0): rolling out release ${doc.release}`,
          remove(present.map((m) => m.id)),
        );
      case 'failed': {
        const failure = releaseCommandFailure(run!, step.reason, step.exit, reported);
        r.logger.warn('release command failed', { app: doc.app, deploy: doc.id, machine: run!.machine, reason: step.reason });
        const ended: DeployDoc = { ...doc, failure, release_command: { ...run!, state: 'failed', exit_code: step.exit?.code ?? null, finished_at: run!.finished_at ?? at } };
        return void (await r.finish(ended, `${failure.reason} (machine ${run!.machine}, ${run!.region}): no machine was replaced`, remove(present.map((m) => m.id))));
      }
    }
  }
  return undefined;
}
