/**
 * Converges this host's machines to the control plane's placements: every `machines/<app>.<id>`
 * document whose `host` is this host becomes a machine with that id, running the document's
 * release; a machine whose document is gone is stopped (the release's kill_signal, then
 * kill_timeout) and destroyed; a document that moves to another release replaces its machine.
 * Machines made through the local Machines API are never touched: only ids this reconciler placed
 * are its own. A document with a role (`release_command`) becomes a one-off task: the release's
 * machine with the release command as its command (contract/machine-config.ts), no checks, not
 * routed, never reported healthy; it is left as it ended until the deploy removes its document.
 * A document's `process_group` picks what the machine runs (contract/machine-config.ts).
 *
 * Each machine converges on its own: one that cannot be created (a bad image, the control plane
 * down for its secrets) is retried with exponential backoff on the injected clock, and never holds
 * up the others; it is reported `failed`, unless the control plane (or the platform registry it serves) could not be reached (that
 * report could only arrive once it is back, when the machine is being made again). A failure to
 * reach the control plane is also retried as soon as a newer view arrives (it answered the feed). States go to the
 * control plane through the StateReporter whenever they change.
 *
 * What the platform Machines API asks of a placed machine is in its document too (desired.ts): a
 * start, stop or suspend is carried out once per `desired_version` — so the proxy's autostart and
 * autostop in between are not undone — and a machine made again (a restarted agent) is made
 * stopped when it was asked to be; a change of its `overrides` replaces it.
 */
import { join } from 'node:path';
import { DIGEST_RE, LIVE_TAIL_LINES, MAX_TAIL_LINE_CHARS, MAX_TAIL_LINES, machineConfigFor, withOverrides, DEFAULT_ORG, type AppDoc, type HostDoc, type ImageDefaults, type MachineDoc, type MachineStateDoc, type ReleaseDoc } from '../contract/index.js';
import { Backoff, StarlingError, describeError, type Clock, type Logger, type TimerHandle } from '../shared/index.js';
import type { ControlClient } from './control-client.js';
import type { MachineManager } from '../runtime/index.js';
import { machineAddress } from '../mesh/index.js';
import { machineDetails, tailOf, withTail } from './report-details.js';
import { applyDesired, desiredStopped, overridesKey, reportedState } from './desired.js';
import type { MachineReport, StateReporter } from './state-report.js';
import type { SyncView } from './sync-cache.js';

/**
 * Failures that say the control plane is down, not that the release is broken: its API, or the
 * platform registry it serves (every image a host pulls comes from there). Such a machine is not
 * reported failed, and is tried again as soon as the feed answers.
 */
const CONTROL_DOWN: ReadonlySet<string> = new Set(['ERR_CONTROL_UNREACHABLE', 'ERR_REGISTRY_UNREACHABLE']);

/**
 * Why a machine that mounts a volume is not made yet: its volume is not mounted here yet, or the
 * machine it replaces still holds it. Waiting, not failing: not reported failed (a deploy would
 * roll back), and tried again as soon as a view comes or a machine of this host changes.
 */
const WAITING: ReadonlySet<string> = new Set(['ERR_VOLUME_NOT_READY', 'ERR_VOLUME_BUSY']);

/** What the reconciler needs of the host's machines (the MachineManager; fakes in unit tests). */
export type ReconcileMachines = Pick<MachineManager, 'onChange' | 'get' | 'create' | 'stop' | 'destroy'> & Partial<Pick<MachineManager, 'logs' | 'start' | 'list'>>;
/** What it needs of the control plane: a machine's secrets and images by digest. */
export type ReconcileClient = Pick<ControlClient, 'json' | 'downloadImage'>;

export interface ReconcilerOptions {
  hostId: string;
  machines: ReconcileMachines;
  client: ReconcileClient;
  reporter: Pick<StateReporter, 'report' | 'forget'>;
  /** Where downloaded images go, `<hex>.tar.gz` (the agent uses `<data_dir>/images/downloads`). */
  downloadsDir: string;
  /**
   * OCI images (releases of kind 'oci'): pulled by digest from the app's repository of the
   * platform registry into the host image store; answers what the image says to run.
   */
  images?: { pull(app: string, digest: string, signal: AbortSignal): Promise<ImageDefaults> } | undefined;
  /** Mount points of this host's ready volumes (agent/volume-link.ts); without it no machine mounts one. */
  volumes?: { pathOf(id: string): string | undefined } | undefined;
  clock: Clock;
  logger: Logger;
  /** Backoff of a failing machine: from this, doubling up to retryMaxMs (defaults 1 s and 30 s). */
  retryInitialMs?: number;
  retryMaxMs?: number;
}

/** One placed machine, as this reconciler sees it. */
export interface PlacedMachine {
  app: string;
  id: string;
  /** The release the control plane wants; undefined once its document is gone. */
  wanted: number | undefined;
  /** The release of the machine this host runs for it; undefined while there is none. */
  running: number | undefined;
  busy: boolean;
  failures: number;
  lastError: { code: string; message: string } | undefined;
}

interface Slot extends PlacedMachine {
  backoff: Backoff;
  want: MachineDoc | undefined;
  /** The view's revision when the last failure happened. */
  failedAt: number;
  retry: TimerHandle | undefined;
  /** The last release it was reported with (a report needs one). */
  release: number;
  /** When the last failure happened (ISO): the time of the event its `failed` report carries. */
  failedTime: string;
  /** What the machine was when this host destroyed it: sent with `destroyed`, kept by the control plane. */
  last: Omit<MachineReport, 'state' | 'healthy' | 'release'> | undefined;
  /** A deploy's release command (MachineDoc.role): a one-off task, never reported healthy. */
  task: boolean;
  /** The placement's desired_version last carried out (desired.ts). */
  applied: number;
  /** overridesKey of the running machine's placement: another one replaces it. */
  made: string;
}

const releaseKey = (app: string, version: number): string => `${app}.${String(version).padStart(8, '0')}`;

export class Reconciler {
  private readonly slots = new Map<string, Slot>();
  private readonly downloads = new Map<string, Promise<string>>();
  private readonly pulls = new Map<string, Promise<ImageDefaults>>();
  private readonly inflight = new Set<Promise<void>>();
  /** `destroyed` was reported for these (`app.id` → machine); forgotten once the view drops them. */
  private readonly gone = new Map<string, { app: string; id: string }>();
  private view: SyncView | undefined;
  private stopped = false;
  private readonly offChange: () => void;
  /** Ends downloads and requests under way when the reconciler stops. */
  private readonly abort = new AbortController();

  constructor(private readonly o: ReconcilerOptions) {
    this.offChange = o.machines.onChange(() => {
      this.reportAll();
      this.retryWaiting();
    });
  }

  /** A new view (the cache at start, then every feed batch): converge to it. */
  update(view: SyncView): void {
    if (this.stopped) return;
    this.view = view;
    const wanted = new Map<string, MachineDoc>();
    for (const v of view.documents.get('machines')?.values() ?? []) {
      const doc = v as MachineDoc;
      if (doc.host === this.o.hostId) wanted.set(`${doc.app}.${doc.id}`, doc);
    }
    for (const [key, doc] of wanted) {
      let slot = this.slots.get(key);
      if (!slot) {
        slot = { app: doc.app, id: doc.id, want: undefined, wanted: undefined, running: undefined, busy: false, failures: 0, backoff: this.newBackoff(), lastError: undefined, failedAt: 0, failedTime: '', retry: undefined, release: doc.release, last: undefined, task: doc.role !== undefined, applied: 0, made: '' };
        this.slots.set(key, slot);
      }
      if (slot.want?.release !== doc.release || (slot.want && overridesKey(slot.want) !== overridesKey(doc)) || (slot.want?.desired_version ?? 0) !== (doc.desired_version ?? 0)) this.retryNow(slot, true);
      slot.want = doc;
      slot.wanted = doc.release;
    }
    for (const [key, slot] of this.slots) {
      if (wanted.has(key)) continue;
      if (slot.want) this.retryNow(slot, true);
      slot.want = undefined;
      slot.wanted = undefined;
    }
    for (const slot of this.slots.values()) {
      // The control plane answered the feed again: what failed for want of it is tried now.
      if (slot.retry && slot.lastError && CONTROL_DOWN.has(slot.lastError.code) && view.revision > slot.failedAt) this.retryNow(slot, false);
      if (slot.retry && slot.lastError && WAITING.has(slot.lastError.code)) this.retryNow(slot, false);
      this.kick(slot);
    }
    this.sweepStates(view);
  }

  /** Stops reporting the machines' states too (after stop()). */
  close(): void {
    this.offChange();
  }

  /** The placed machines and where each stands (status, tests). */
  placed(): PlacedMachine[] {
    return [...this.slots.values()].map(({ app, id, wanted, running, busy, failures, lastError }) => ({ app, id, wanted, running, busy, failures, lastError }));
  }

  /** Whether `app`/`id` is a machine the control plane placed here. */
  owns(app: string, id: string): boolean {
    return this.slots.has(`${app}.${id}`);
  }

  /**
   * No new work; resolves when what is under way has finished. Machines are left as they are, and
   * their states are still reported (the agent stops them next: other hosts must learn it).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.slots.values()) s.retry?.cancel();
    this.abort.abort();
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Machines waiting for a volume (WAITING): tried again now. */
  private retryWaiting(): void {
    if (this.stopped) return;
    for (const slot of this.slots.values()) if (slot.retry && slot.lastError && WAITING.has(slot.lastError.code)) this.retryNow(slot, false);
  }

  private retryNow(slot: Slot, reset: boolean): void {
    slot.retry?.cancel();
    slot.retry = undefined;
    if (reset) {
      slot.failures = 0;
      slot.backoff.reset();
    }
  }

  private kick(slot: Slot): void {
    if (this.stopped || slot.busy || slot.retry) return;
    const present = this.o.machines.get(slot.app, slot.id) !== undefined;
    // Removed behind our back (the local Machines API can destroy any machine): make it again.
    if (slot.running !== undefined && !present) slot.running = undefined;
    const want = slot.want;
    let op: (() => Promise<void>) | undefined;
    if (want && slot.running === undefined) op = () => this.create(slot, want);
    else if (want && slot.running !== want.release) op = () => this.destroy(slot, 'replaced by release ' + want.release);
    else if (want && slot.made !== overridesKey(want)) op = () => this.destroy(slot, 'its config was updated');
    else if (want && slot.applied !== (want.desired_version ?? 0)) op = () => applyDesired(this.o.machines, slot, want);
    else if (!want && slot.running !== undefined) op = () => this.destroy(slot, 'its placement was removed');
    if (!op) {
      if (!want && slot.running === undefined) this.forgetSlot(slot);
      this.reportAll();
      return;
    }
    slot.busy = true;
    const p = op()
      .then(
        () => {
          slot.failures = 0;
          slot.backoff.reset();
          slot.lastError = undefined;
        },
        (e: unknown) => this.failed(slot, e),
      )
      .finally(() => {
        slot.busy = false;
        this.inflight.delete(p);
        this.kick(slot);
      });
    this.inflight.add(p);
  }

  private async create(slot: Slot, doc: MachineDoc): Promise<void> {
    const { app, id } = slot;
    if (this.o.machines.get(app, id)) {
      throw new StarlingError('ERR_MACHINE_EXISTS', `a machine ${id} of app ${app} made through the local Machines API is in the way`);
    }
    const release = this.view?.documents.get('releases')?.get(releaseKey(app, doc.release)) as ReleaseDoc | undefined;
    if (!release) throw new StarlingError('ERR_RELEASE_NOT_FOUND', `release ${doc.release} of app ${app} is not in the synced view`);
    slot.release = release.version;
    try {
      const oci = release.image.kind === 'oci';
      const defaults = oci ? await this.pullOci(app, release.image.digest) : undefined;
      const image = oci ? `oci:${release.image.digest}` : await this.image(release.image.digest);
      const answer = (await this.o.client.json('GET', `/v1/hosts/${this.o.hostId}/apps/${app}/machines/${id}/secrets`, undefined, this.abort.signal)) as { secrets?: unknown };
      const secrets = isStringRecord(answer.secrets) ? answer.secrets : {};
      const c = withOverrides(machineConfigFor(release.config, { app, image, secrets, defaults, role: doc.role, process_group: doc.process_group, cmd: doc.overrides?.cmd }), doc.overrides);
      const mounts = this.volumeMounts(app, id, doc, c.mount);
      // The placement may have gone or moved on while the image came: the next kick decides.
      if (this.stopped || slot.want?.release !== release.version) return;
      // Set first, so the states of the machine being made (created, starting) are reported.
      slot.running = release.version;
      slot.made = overridesKey(doc);
      slot.applied = doc.desired_version ?? 0;
      await this.o.machines.create(
        app,
        {
          region: doc.region,
          config: { image: c.image, cmd: c.cmd, env: c.env, secrets: c.secrets, internal_port: c.internal_port, guest: c.guest, restart: c.restart, checks: c.checks, user: c.user, workdir: c.workdir, files: c.files, mounts },
          // Asked to be stopped (a restarted agent makes it again): made, not started.
          skip_start: desiredStopped(doc),
        },
        { id, kill_signal: c.kill_signal, kill_timeout_ms: c.kill_timeout_ms, task: doc.role !== undefined, process_group: c.process_group, default_check: c.default_check, private_ip: this.privateIp(app, id) },
      );
      this.o.logger.info('placed machine created', { app, machine: id, release: release.version, image: release.image.digest, ...(doc.role ? { role: doc.role } : {}) });
    } catch (e) {
      // A machine whose start failed is removed, so the retry starts from nothing.
      if (slot.running !== undefined && this.o.machines.get(app, id)) await this.o.machines.destroy(app, id, { force: true }).catch(() => undefined);
      slot.running = undefined;
      throw e;
    }
  }

  /**
   * A placed machine's volume (MachineDoc.volume) at the release's `[mounts]` destination, once
   * this host has it mounted and no other machine here still mounts it (the one it replaces is
   * stopped first): until then the create waits (WAITING: retried, never reported failed).
   */
  private volumeMounts(app: string, id: string, doc: MachineDoc, mount: { source: string; destination: string } | undefined): { volume: string; path: string }[] | undefined {
    if (doc.volume === undefined || mount === undefined) {
      // Placements of a release that mounts one always carry it (control/scheduler/volumes.ts): a
      // failure, not a wait, if one does not.
      if (mount !== undefined && doc.role === undefined) throw new StarlingError('ERR_VOLUME_UNPLACED', `machine ${id} of app ${app} was placed without a volume, and its release mounts ${mount.source}`, { hint: 'destroy the machine and scale again: a new placement takes a volume' });
      return undefined;
    }
    if (this.o.volumes?.pathOf(doc.volume) === undefined) throw new StarlingError('ERR_VOLUME_NOT_READY', `volume ${doc.volume} is not mounted on this host yet: machine ${id} starts once it is`);
    const holder = (this.o.machines.list?.(app) ?? []).find((m) => m.id !== id && m.state !== 'destroyed' && m.config.volumes.includes(doc.volume!));
    if (holder) throw new StarlingError('ERR_VOLUME_BUSY', `machine ${holder.id} still mounts volume ${doc.volume}: machine ${id} starts once it is gone`);
    return [{ volume: doc.volume, path: mount.destination }];
  }

  /**
   * The machine's private IPv6 when this host is on the mesh (its HostDoc has a place in the
   * plan): host bits from there, the org's and the machine's from the app and the id
   * (mesh/addressing.ts). A machine made before the host was placed has none until it is made again.
   */
  private privateIp(app: string, id: string): string | undefined {
    const self = this.view?.documents.get('hosts')?.get(this.o.hostId) as HostDoc | undefined;
    const doc = this.view?.documents.get('apps')?.get(app) as AppDoc | undefined;
    return self?.mesh && doc ? machineAddress(self.mesh.address, doc.org ?? DEFAULT_ORG, id) : undefined;
  }

  private async destroy(slot: Slot, why: string): Promise<void> {
    const { app, id } = slot;
    if (this.o.machines.get(app, id)) {
      // Stopped first with the release's kill_signal and kill_timeout (the machine's own spec).
      await this.o.machines.stop(app, id, { reason: `stopped: ${why}` });
      const view = this.o.machines.get(app, id);
      if (view) slot.last = { ...machineDetails(view), ...withTail(tailOf(this.o.machines.logs?.(app, id, { tail: MAX_TAIL_LINES }).entries)) };
      await this.o.machines.destroy(app, id, { force: true });
    }
    slot.running = undefined;
    this.o.logger.info('placed machine destroyed', { app, machine: id, reason: why });
  }

  /** An OCI image in the host store (pulled once per digest: concurrent machines share the pull). */
  private pullOci(app: string, digest: string): Promise<ImageDefaults> {
    if (!this.o.images) throw new StarlingError('ERR_IMAGE_UNSUPPORTED', `release image ${digest} is an OCI image and this agent has no image store`);
    let p = this.pulls.get(digest);
    if (!p) {
      p = this.o.images.pull(app, digest, this.abort.signal);
      this.pulls.set(digest, p);
      void p.finally(() => this.pulls.delete(digest)).catch(() => undefined);
    }
    return p;
  }

  /** The image as a verified local .tar.gz, downloaded once per digest. */
  private image(digest: string): Promise<string> {
    const hex = DIGEST_RE.exec(digest)?.[1] ?? 'invalid';
    let p = this.downloads.get(hex);
    if (!p) {
      const file = join(this.o.downloadsDir, `${hex}.tar.gz`);
      p = this.o.client.downloadImage(digest, file, this.abort.signal).then(
        (how) => {
          if (how === 'downloaded') this.o.logger.info('image downloaded', { digest });
          return file;
        },
        (e: unknown) => {
          this.downloads.delete(hex);
          throw e;
        },
      );
      this.downloads.set(hex, p);
      // A finished download is on disk (and checked again there next time): no need to hold it.
      void p.then(() => this.downloads.delete(hex)).catch(() => undefined);
    }
    return p;
  }

  private newBackoff(): Backoff {
    return new Backoff({ initialMs: this.o.retryInitialMs ?? 1000, maxMs: this.o.retryMaxMs ?? 30_000 });
  }

  private failed(slot: Slot, e: unknown): void {
    slot.failures++;
    slot.failedAt = this.view?.revision ?? 0;
    slot.failedTime = new Date(this.o.clock.now()).toISOString();
    slot.lastError = { code: e instanceof StarlingError ? e.code : 'ERR_MACHINE_CREATE', message: describeError(e) };
    const delay = slot.backoff.next();
    this.o.logger.warn('placed machine not converged; retrying', { app: slot.app, machine: slot.id, failures: slot.failures, retry_ms: delay, error: slot.lastError.message });
    if (this.stopped) return;
    slot.retry = this.o.clock.setTimeout(() => {
      slot.retry = undefined;
      this.kick(slot);
    }, delay);
    this.reportAll();
  }

  private forgetSlot(slot: Slot): void {
    const key = `${slot.app}.${slot.id}`;
    slot.retry?.cancel();
    this.slots.delete(key);
    this.o.reporter.report(slot.app, slot.id, { state: 'destroyed', healthy: false, release: slot.release, ...slot.last });
    this.gone.set(key, { app: slot.app, id: slot.id });
  }

  /** Each placed machine's state, for the reporter (which sends only what changed). */
  private reportAll(): void {
    for (const slot of this.slots.values()) {
      const m = this.o.machines.get(slot.app, slot.id);
      if (m && slot.running !== undefined) {
        this.o.reporter.report(slot.app, slot.id, {
          state: reportedState(m.state, slot.want),
          healthy: !slot.task && m.state === 'started' && m.checks.passing,
          release: slot.running,
          ...machineDetails(m),
          ...withTail(tailOf(this.o.machines.logs?.(slot.app, slot.id, { tail: LIVE_TAIL_LINES }).entries)),
        });
      } else if (slot.lastError && slot.want && !CONTROL_DOWN.has(slot.lastError.code) && !WAITING.has(slot.lastError.code)) {
        // Not for want of the control plane: such a report could only arrive once it is back, when
        // the machine is being made again, and a deploy would take it for a broken release.
        const event = { at: slot.failedTime, type: 'failed', message: `could not be created: ${slot.lastError.message}`.slice(0, MAX_TAIL_LINE_CHARS) };
        this.o.reporter.report(slot.app, slot.id, { state: 'failed', healthy: false, release: slot.want.release, events: [event] });
      }
    }
  }

  /**
   * States this host reported for machines it no longer has nor is asked for (removed while the
   * agent was down): reported destroyed, so no proxy routes to them. Forgotten once the view
   * no longer holds them.
   */
  private sweepStates(view: SyncView): void {
    const states = view.documents.get('machine_states');
    for (const v of states?.values() ?? []) {
      const s = v as MachineStateDoc;
      const key = `${s.app}.${s.id}`;
      if (s.host !== this.o.hostId || this.slots.has(key) || this.gone.has(key)) continue;
      if (this.o.machines.get(s.app, s.id)) continue;
      this.o.reporter.report(s.app, s.id, { state: 'destroyed', healthy: false, release: Math.max(1, s.release) });
      this.gone.set(key, { app: s.app, id: s.id });
    }
    for (const [key, g] of this.gone) {
      if (states?.has(key) || this.slots.has(key)) continue;
      this.gone.delete(key);
      this.o.reporter.forget(g.app, g.id);
    }
  }
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}
