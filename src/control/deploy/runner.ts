/**
 * Runs deploys: reads the app's machines and their reported states, asks plan.ts for the next step,
 * carries it out in the store (agents do the rest), and waits on the store's feed for reports. One
 * deploy at a time per app. Every step is written before the next is planned, so a crash loses at
 * most the step in flight; on the next start `recover()` marks unfinished deploys `interrupted`,
 * and resume/rollback continue from whatever machines exist.
 */
import { randomBytes } from 'node:crypto';
import { StarlingError, describeError, type Clock, type Logger } from '../../shared/index.js';
import { NoCapacityError, hostViews, limitToVolumes, noVolume, pickHostFor, takeVolume, type HostView, type MachinePlacement } from '../scheduler/index.js';
import { volumeNeeds } from './volumes.js';
import type { Op, StateStore } from '../store/index.js';
// The documents come from the contract, not from api/schemas.ts, which imports this runner's type.
import { DEFAULT_PROCESS_GROUP, groupOf, isAppMachine, machineKey, releaseKey, type AppDoc, type ReleaseDoc, type HostDoc, type MachineDetailsDoc, type MachineDoc, type MachineStateDoc } from '../../contract/index.js';
import { nextStep, type PlanMachine } from './plan.js';
import { runReleaseCommand } from './release-command-run.js';
import { groupTargets, rollbackTargets } from './targets.js';
import { ACTIVE_STATES, deployKey, type DeployDoc, type DeployFailure, type DeployState } from './types.js';
import { certainFailure, describeFailure } from './verdict.js';

export interface DeployRunnerOptions {
  store: StateStore;
  clock: Clock;
  logger: Logger;
}

const MAX_EVENTS = 100;

export class DeployRunner {
  private readonly running = new Map<string, Promise<void>>();
  private closed = false;
  private wakers = new Set<() => void>();

  constructor(private readonly o: DeployRunnerOptions) {}

  /** At start: deploys a previous process left active are `interrupted` until someone decides. */
  async recover(): Promise<number> {
    let n = 0;
    for (const e of await this.o.store.list('deploys')) {
      const d = e.value as DeployDoc;
      if (!ACTIVE_STATES.includes(d.state)) continue;
      await this.save({ ...d, state: 'interrupted' }, 'the control plane stopped during this deploy: resume it or roll it back');
      n++;
    }
    return n;
  }

  /** Stops the loops (the deploys stay as they are in the store: `interrupted` at the next start). */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.wakers) w();
    await Promise.allSettled(this.running.values());
  }

  active(app: string): boolean {
    return this.running.has(app);
  }

  /** Starts a new deploy document's loop. The caller has written `doc` (state running). */
  launch(doc: DeployDoc): void {
    if (this.running.has(doc.app)) throw new StarlingError('ERR_DEPLOY_IN_PROGRESS', `app ${doc.app} already has a deploy running`, { fault: 'user' });
    const p = this.loop(doc)
      .catch(async (e: unknown) => {
        this.o.logger.error('deploy failed', { app: doc.app, deploy: doc.id, error: describeError(e) });
        const now = (await this.o.store.get('deploys', deployKey(doc.app, doc.id)))?.value as DeployDoc | undefined;
        if (now && !this.closed) await this.finish(now, 'failed', `internal error: ${describeError(e)}`).catch(() => undefined);
      })
      .finally(() => this.running.delete(doc.app));
    this.running.set(doc.app, p);
  }

  private async loop(start: DeployDoc): Promise<void> {
    let doc = start;
    const { store } = this.o;
    // The release command first (release-command.ts): until it has succeeded, no machine is touched.
    if (doc.state === 'running') {
      const gated = await runReleaseCommand(this.gate(), doc);
      if (!gated) return;
      doc = gated;
    }
    while (!this.closed) {
      const rollingBack = doc.state === 'rolling_back';
      const release = rollingBack ? doc.from_release : doc.release;
      if (!(await store.get('apps', doc.app))) return void (await this.finish(doc, 'failed', 'the app was destroyed during the deploy'));
      const { machines, states, details, hosts } = await this.read(doc.app);
      // A release command's machine left by a crash or a rollback is not one of the app's: it goes first.
      const leftovers = machines.filter((m) => !isAppMachine(m)).map((m) => m.id);
      if (leftovers.length > 0) {
        doc = await this.retire(doc, machines, leftovers, 'removing the release command\'s machine');
        continue;
      }
      const now = this.o.clock.now();
      // Why each machine that certainly failed did (verdict.ts): the deploy fails at once, not at its timeout.
      const verdicts = new Map<string, DeployFailure>();
      const plan: PlanMachine[] = machines.map((m) => {
        const s = states.get(m.id);
        const healthy = s?.healthy === true && s.release === m.release;
        const late = !healthy && now - Date.parse(m.created_at) > doc.wait_timeout_ms;
        const verdict = healthy ? undefined : certainFailure(m, s, details.get(m.id));
        if (verdict) verdicts.set(m.id, verdict);
        return { id: m.id, region: m.region, group: groupOf(m), release: m.release, healthy, failed: s?.state === 'failed' || late || verdict !== undefined };
      });
      if (rollingBack && doc.from_release === 0) {
        // A first deploy has nothing to go back to: its machines go, and the app has no release.
        const ids = machines.map((m) => m.id);
        if (ids.length > 0) await this.retire(doc, machines, ids, 'removing the first release\'s machines');
        return void (await this.finish(doc, 'rolled_back', doc.error));
      }
      const anyHealthyNew = plan.some((m) => m.release === release && m.healthy);
      const batch =
        rollingBack || doc.strategy === 'bluegreen' || doc.strategy === 'immediate'
          ? Infinity
          : doc.strategy === 'canary' && !anyHealthyNew
            ? 1
            : doc.max_unavailable;
      const step = nextStep({
        release,
        targets: rollingBack ? rollbackTargets(doc) : groupTargets(doc),
        batch,
        waitHealth: rollingBack || doc.strategy !== 'immediate',
        retireAtEnd: rollingBack || doc.strategy === 'bluegreen',
        machines: plan,
      });
      switch (step.kind) {
        case 'done':
          if (rollingBack) return void (await this.finish(doc, 'rolled_back', doc.error));
          await this.succeed(doc);
          return;
        case 'retire':
          doc = await this.retire(doc, machines, step.ids, `retiring ${step.ids.length} machine(s) not on release ${release}`);
          break;
        case 'create': {
          // Spread the new release's machines as if the old ones were already gone (they will be);
          // capacity still counts every machine on a host (HostView.used).
          const spread: MachinePlacement[] = machines.filter((m) => m.release === release).map((m) => ({ id: m.id, region: m.region, host: m.host }));
          const placed: MachineDoc[] = [];
          let short: NoCapacityError | undefined;
          // A release that mounts a volume: a new machine goes where a free one is; while the old
          // machines hold them all, none is, and the machine is replaced in place below.
          const releaseDoc = (await store.get('releases', releaseKey(doc.app, release)))?.value as ReleaseDoc | undefined;
          const needs = releaseDoc && (await volumeNeeds(store, doc.app, releaseDoc.config, machines));
          const room = needs ? limitToVolumes(hosts, needs.free) : hosts;
          for (const { group, region } of step.places) {
            try {
              const t = pickHostFor(region, room, spread);
              const at = new Date(this.o.clock.now()).toISOString();
              // `app` is written as no group: the placements of apps without [processes] stay as they were.
              const g = group === DEFAULT_PROCESS_GROUP ? {} : { process_group: group };
              const volume = needs && takeVolume(needs.free, t.host, region);
              placed.push({ id: randomBytes(7).toString('hex'), app: doc.app, region, host: t.host, release, deploy: doc.id, created_at: at, ...g, ...(volume ? { volume: volume.id } : {}) });
              spread.push({ id: placed.at(-1)!.id, region, host: t.host });
              for (const list of [hosts, room]) {
                const h = list.find((x) => x.id === t.host);
                if (h) h.used++;
              }
            } catch (e) {
              if (!(e instanceof NoCapacityError)) throw e;
              short = e;
              break;
            }
          }
          if (placed.length > 0) {
            await store.transaction(placed.map((m): Op => ({ op: 'put', collection: 'machines', key: machineKey(m.app, m.id), value: m, expectRevision: 0 })));
            doc = await this.save(doc, `created ${placed.map((m) => `${m.id} (${m.process_group ? `${m.process_group}, ` : ''}${m.region}, ${m.host})`).join(', ')} on release ${release}`);
            break;
          }
          // No room beside the old machines: a rolling deploy replaces one in place (as fly's does) —
          // one of the same group in the region, else one of a group the deploy drops (it goes anyway).
          const { group, region } = step.places[0]!;
          const wanted = rollingBack ? rollbackTargets(doc) : groupTargets(doc);
          const olds = plan.filter((m) => m.release !== release && m.region === region).sort((a, b) => Number(a.healthy) - Number(b.healthy));
          const victim = olds.find((m) => m.group === group) ?? olds.find((m) => wanted[m.group] === undefined);
          // With volumes even an immediate deploy replaces them one by one: each new machine needs its old one's volume.
          if (victim && (batch !== Infinity || (needs !== undefined && !rollingBack))) {
            doc = await this.retire(doc, machines, [victim.id], `no spare capacity in ${region}: replacing machine ${victim.id} in place`);
          } else {
            const why = needs ? noVolume(doc.app, needs.name, [region]).message : (short?.message ?? 'no capacity');
            if (rollingBack) return void (await this.finish(doc, 'failed', `rollback stopped: ${why}`));
            doc = await this.startRollback(doc, why);
          }
          break;
        }
        case 'wait': {
          const waiting = plan.filter((m) => step.ids.includes(m.id));
          const deadline = Math.min(...machines.filter((m) => step.ids.includes(m.id)).map((m) => Date.parse(m.created_at) + doc.wait_timeout_ms + 1));
          doc = await this.phase(doc, `waiting for ${waiting.length} machine(s) on release ${release} to pass their checks`);
          await this.changeOrTimeout(Number.isFinite(deadline) ? Math.max(1, deadline - this.o.clock.now()) : doc.wait_timeout_ms);
          break;
        }
        case 'fail': {
          const failure = step.ids.map((id) => verdicts.get(id)).find((v) => v !== undefined);
          const late = step.ids.filter((id) => !verdicts.has(id));
          const why = failure
            ? `${describeFailure(failure)}${step.ids.length > 1 ? ` (failed on release ${release}: ${step.ids.join(', ')})` : ''}`
            : `machine(s) ${late.join(', ')} on release ${release} failed their checks or did not pass them within ${doc.wait_timeout_ms} ms`;
          if (failure) doc = { ...doc, failure };
          if (rollingBack) return void (await this.finish(doc, 'failed', `rollback failed: ${why}`));
          doc = await this.startRollback(doc, why);
          break;
        }
      }
    }
  }

  private async read(app: string): Promise<{ machines: MachineDoc[]; states: Map<string, MachineStateDoc>; details: Map<string, MachineDetailsDoc>; hosts: HostView[] }> {
    const { store } = this.o;
    const all = (await store.list('machines')).map((e) => e.value as MachineDoc);
    const machines = all.filter((m) => m.app === app);
    const states = new Map((await store.list('machine_states', { prefix: `${app}.` })).map((e) => [(e.value as MachineStateDoc).id, e.value as MachineStateDoc]));
    const details = new Map((await store.list('machine_details', { prefix: `${app}.` })).map((e) => [(e.value as MachineDetailsDoc).id, e.value as MachineDetailsDoc]));
    const hosts = hostViews((await store.list('hosts')).map((e) => e.value as HostDoc), all);
    return { machines, states, details, hosts };
  }

  private async retire(doc: DeployDoc, machines: MachineDoc[], ids: string[], message: string): Promise<DeployDoc> {
    const ops: Op[] = ids.map((id) => ({ op: 'delete', collection: 'machines', key: machineKey(doc.app, id) }));
    await this.o.store.transaction(ops);
    const where = ids.map((id) => machines.find((m) => m.id === id)).map((m) => (m ? `${m.id} (${m.region})` : '?'));
    return this.save(doc, `${message}: ${where.join(', ')}`);
  }

  private async startRollback(doc: DeployDoc, why: string): Promise<DeployDoc> {
    this.o.logger.warn('deploy rolling back', { app: doc.app, deploy: doc.id, reason: why });
    return this.save({ ...doc, state: 'rolling_back', error: why }, `rolling back to release ${doc.from_release}: ${why}`);
  }

  private async succeed(doc: DeployDoc): Promise<void> {
    for (let i = 0; ; i++) {
      const app = await this.o.store.get('apps', doc.app);
      if (!app) return void (await this.finish(doc, 'failed', 'the app was destroyed during the deploy'));
      const value = { ...(app.value as AppDoc), deployed_release: doc.release };
      try {
        await this.o.store.put('apps', doc.app, value, { expectRevision: app.revision });
        break;
      } catch (e) {
        if (i > 20) throw e;
      }
    }
    await this.finish(doc, 'succeeded', null);
  }

  private async finish(doc: DeployDoc, state: DeployState, error: string | null, ops: Op[] = []): Promise<DeployDoc> {
    const at = new Date(this.o.clock.now()).toISOString();
    const message = state === 'succeeded' ? `release ${doc.release} deployed` : state === 'rolled_back' ? `rolled back to release ${doc.from_release}` : `deploy ${state}: ${error ?? ''}`;
    this.o.logger.info('deploy finished', { app: doc.app, deploy: doc.id, state });
    return this.save({ ...doc, state, error, finished_at: at }, message, ops);
  }

  private phase(doc: DeployDoc, phase: string): Promise<DeployDoc> {
    return doc.phase === phase ? Promise.resolve(doc) : this.save(doc, phase);
  }

  /** Writes the deploy document with `message` as its newest event; `ops` commit in the same transaction. */
  private async save(doc: DeployDoc, message: string, ops: Op[] = []): Promise<DeployDoc> {
    const at = new Date(this.o.clock.now()).toISOString();
    const next: DeployDoc = { ...doc, phase: message, updated_at: at, events: [...doc.events, { at, message }].slice(-MAX_EVENTS) };
    const key = deployKey(doc.app, doc.id);
    if (ops.length === 0) await this.o.store.put('deploys', key, next);
    else await this.o.store.transaction([...ops, { op: 'put', collection: 'deploys', key, value: next }]);
    return next;
  }

  /** What the release command's run needs of the runner (release-command-run.ts). */
  private gate(): Parameters<typeof runReleaseCommand>[0] {
    return {
      store: this.o.store,
      clock: this.o.clock,
      logger: this.o.logger,
      closed: () => this.closed,
      read: (app) => this.read(app),
      save: (doc, message, ops) => this.save(doc, message, ops),
      phase: (doc, message) => this.phase(doc, message),
      finish: (doc, error, ops) => this.finish(doc, 'failed', error, ops),
      wait: (ms) => this.changeOrTimeout(ms),
    };
  }

  /** Until the machines or their states change, or `ms` pass (a check deadline). */
  private async changeOrTimeout(ms: number): Promise<void> {
    const since = await this.o.store.revision();
    await new Promise<void>((resolve) => {
      let done = false;
      // Set after watch() returns; `end` may run before that (a change already waiting).
      const sub: { unwatch?: () => void } = {};
      const end = (): void => {
        if (done) return;
        done = true;
        timer.cancel();
        sub.unwatch?.();
        this.wakers.delete(end);
        resolve();
      };
      const timer = this.o.clock.setTimeout(end, ms);
      sub.unwatch = this.o.store.watch(since, end, end, { collections: ['machines', 'machine_states', 'machine_details', 'hosts'] });
      if (done) sub.unwatch();
      this.wakers.add(end);
      if (this.closed) end();
    });
  }
}
