/**
 * The agent's side of volumes (docs/volumes.md): the volumes the control plane placed on this host
 * (`volumes/*` with `host` = this one, from every view and the cached one at start), made, mounted
 * and grown by the VolumeStore, and reported (`PUT …/volumes/<id>/state`) when what they are
 * changes. A volume whose document is gone is removed once no machine of this host mounts it.
 * Views are applied one at a time, the newest wins; a volume that failed is tried again with the
 * next view.
 */
import type { VolumeDoc, VolumeSnapshotDoc } from '../contract/index.js';
import { describeError, type Logger } from '../shared/index.js';
import type { SyncView } from '../sync/index.js';
import type { VolumeStatus, VolumeStore } from '../volumes/index.js';

export interface VolumeReporter {
  json(method: string, path: string, body?: unknown): Promise<unknown>;
}

export class VolumeLink {
  private chain: Promise<void> = Promise.resolve();
  private want: { docs: VolumeDoc[]; snapshots: VolumeSnapshotDoc[] } | undefined;
  /** Ready volumes by id: what machines may mount. */
  private readonly ready = new Map<string, VolumeStatus>();
  /** The last report sent for each volume (its JSON), so only changes are sent. */
  private readonly sent = new Map<string, string>();

  private hostId = '';
  private closed = false;

  constructor(
    private readonly store: VolumeStore,
    private readonly reporter: VolumeReporter,
    private readonly logger: Logger,
    /** Whether a machine of this host mounts the volume now (its files must stay). */
    private readonly inUse: (app: string, id: string) => boolean,
  ) {}

  onView(view: SyncView, hostId: string): void {
    this.hostId = hostId;
    const docs = ([...(view.documents.get('volumes')?.values() ?? [])] as VolumeDoc[]).filter((v) => v.host === hostId);
    const snapshots = ([...(view.documents.get('volume_snapshots')?.values() ?? [])] as VolumeSnapshotDoc[]).filter((s) => s.host === hostId);
    const first = this.want === undefined;
    this.want = { docs, snapshots };
    if (first || this.pendingChange(docs) || this.pendingSnapshots(snapshots)) this.chain = this.chain.then(() => this.apply()).catch((e: unknown) => this.logger.error('volumes not updated', { error: describeError(e) }));
  }

  /** Whether the view asks for anything the volumes are not yet (a new one, a new size, one gone). */
  private pendingChange(docs: readonly VolumeDoc[]): boolean {
    const ids = new Set(docs.map((d) => d.id));
    return docs.some((d) => this.ready.get(d.id)?.size_gb !== d.size_gb) || [...this.ready.keys()].some((id) => !ids.has(id)) || this.store.present().some((p) => !ids.has(p.id));
  }

  /** Whether a snapshot is to be taken, or one on disk is no longer wanted. */
  private pendingSnapshots(snapshots: readonly VolumeSnapshotDoc[]): boolean {
    const have = new Set(this.store.presentSnapshots().map((s) => s.id));
    const ids = new Set(snapshots.map((s) => s.id));
    return snapshots.some((s) => !have.has(s.id) && !this.sent.has(s.id)) || [...have].some((id) => !ids.has(id));
  }

  /** The mount point of a ready volume of this host, for a machine's mount; undefined while it is not. */
  pathOf(id: string): string | undefined {
    return this.ready.get(id)?.path;
  }

  settled(): Promise<void> {
    return this.chain;
  }

  private async apply(): Promise<void> {
    if (this.closed) return;
    const docs = this.want?.docs ?? [];
    for (const v of docs) {
      try {
        const status = await this.store.ensure(v, this.inUse(v.app, v.id));
        if (this.ready.get(v.id)?.size_gb !== status.size_gb) this.logger.info('volume ready', { app: v.app, volume: v.id, name: v.name, size_gb: status.size_gb, path: status.path });
        this.ready.set(v.id, status);
        await this.report(v, { state: 'ready', size_gb: status.size_gb, used_bytes: status.used_bytes, total_bytes: status.total_bytes });
      } catch (e) {
        this.logger.error('volume not made: tried again with the next change', { app: v.app, volume: v.id, error: describeError(e) });
        await this.report(v, { state: 'failed', size_gb: 0, used_bytes: 0, total_bytes: 0, error: describeError(e).slice(0, 500) });
      }
    }
    await this.applySnapshots(docs);
    const ids = new Set(docs.map((d) => d.id));
    for (const p of this.store.present()) {
      if (ids.has(p.id)) continue;
      if (this.inUse(p.app, p.id)) {
        this.logger.warn('volume destroyed on the control plane, kept while a machine mounts it', { app: p.app, volume: p.id });
        continue;
      }
      try {
        await this.store.remove(p.app, p.id);
        this.ready.delete(p.id);
        this.sent.delete(p.id);
        this.logger.warn('volume removed: destroyed on the control plane', { app: p.app, volume: p.id });
      } catch (e) {
        this.logger.error('volume not removed: tried again with the next change', { app: p.app, volume: p.id, error: describeError(e) });
      }
    }
  }

  /** Takes the snapshots asked for (of ready volumes of this host) and removes the ones no longer wanted. */
  private async applySnapshots(volumes: readonly VolumeDoc[]): Promise<void> {
    const snapshots = this.want?.snapshots ?? [];
    const have = new Set(this.store.presentSnapshots().map((s) => s.id));
    for (const s of snapshots) {
      if (have.has(s.id) && this.sent.has(s.id)) continue;
      const v = volumes.find((x) => x.id === s.volume);
      try {
        if (!v || !this.ready.has(v.id)) throw new Error(`volume ${s.volume} is not on this host any more`);
        const stored = await this.store.snapshot(v, s.id);
        this.logger.info('snapshot taken', { app: s.app, volume: s.volume, snapshot: s.id, stored_bytes: stored });
        await this.reportSnapshot(s, { state: 'ready', stored_bytes: stored });
      } catch (e) {
        this.logger.error('snapshot not taken', { app: s.app, volume: s.volume, snapshot: s.id, error: describeError(e) });
        await this.reportSnapshot(s, { state: 'failed', stored_bytes: 0, error: describeError(e).slice(0, 500) });
      }
    }
    const ids = new Set(snapshots.map((s) => s.id));
    for (const p of this.store.presentSnapshots()) {
      if (ids.has(p.id)) continue;
      this.store.removeSnapshot(p.app, p.id);
      this.sent.delete(p.id);
      this.logger.warn('snapshot removed: gone from the control plane', { app: p.app, snapshot: p.id });
    }
  }

  private async reportSnapshot(s: VolumeSnapshotDoc, body: { state: 'ready' | 'failed'; stored_bytes: number; error?: string }): Promise<void> {
    try {
      await this.reporter.json('PUT', `/v1/hosts/${this.hostId}/apps/${s.app}/snapshots/${s.id}/state`, body);
      this.sent.set(s.id, JSON.stringify(body));
    } catch (e) {
      this.logger.warn('snapshot state not reported: sent again with the next change', { snapshot: s.id, error: describeError(e) });
    }
  }

  /**
   * The agent stops, after its machines: every volume is unmounted (kept), and mounted again at
   * the next start — nothing of a stopped agent stays mounted on the host.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    for (const p of this.store.present()) {
      await this.store.unmount(p.app, p.id).catch((e: unknown) => this.logger.warn('volume not unmounted', { volume: p.id, error: describeError(e) }));
    }
    this.ready.clear();
  }

  private async report(v: VolumeDoc, body: { state: 'ready' | 'failed'; size_gb: number; used_bytes: number; total_bytes: number; error?: string }): Promise<void> {
    const text = JSON.stringify(body);
    if (this.sent.get(v.id) === text) return;
    try {
      await this.reporter.json('PUT', `/v1/hosts/${this.hostId}/apps/${v.app}/volumes/${v.id}/state`, body);
      this.sent.set(v.id, text);
    } catch (e) {
      this.logger.warn('volume state not reported: sent again with the next change', { volume: v.id, error: describeError(e) });
    }
  }
}
