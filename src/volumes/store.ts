/**
 * A host's volumes on disk (docs/volumes.md): each an ext4 filesystem in an image file of its
 * size, loop-mounted where machines bind it. The size is the filesystem's, so a volume that fills
 * up fails writes with ENOSPC inside the machine and touches nothing else on the host; the image
 * is allocated in full (fallocate), so the disk the control plane counted is really there.
 *
 *   <data>/volume-images/<app>.<id>.img   the image
 *   <data>/volumes/<app>/<id>/            its mount point (what a machine's mount binds)
 *
 * `ensure` is idempotent and is what every change and every start runs: make the image if it is
 * missing, check and mount it if it is not mounted (after a reboot, or an agent restarted), grow it
 * if the document asks for more (online, through the loop device). `remove` unmounts and deletes.
 * Commands run with `wrap` in front (tests, the lab's namespaces).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { runTool, StarlingError } from '../shared/index.js';

export interface VolumeRef {
  app: string;
  id: string;
  size_gb: number;
  /** Made from this snapshot of this host (a copy of its image), not empty. */
  snapshot?: string | undefined;
}

export interface VolumeStatus {
  /** Where it is mounted: a machine's mount source. */
  path: string;
  size_gb: number;
  used_bytes: number;
  total_bytes: number;
}

const GB = 1_000_000_000;

const HINT = 'volumes need root, loop devices and e2fsprogs (npm run setup)';

export class VolumeStore {
  constructor(private readonly o: { dataDir: string; wrap?: readonly string[] }) {}

  private cmd(...argv: string[]): Promise<string> {
    return runTool([...(this.o.wrap ?? []), ...argv], { code: 'ERR_VOLUME_IO', hint: HINT });
  }

  image(app: string, id: string): string {
    return join(this.o.dataDir, 'volume-images', `${app}.${id}.img`);
  }

  path(app: string, id: string): string {
    return join(this.o.dataDir, 'volumes', app, id);
  }

  /** Whether `dir` is a mount point now (this process's mount namespace). */
  mounted(dir: string): boolean {
    return readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
  }

  /**
   * Makes, mounts and grows the volume as needed. `inUse`: a machine mounts it now — it is then
   * grown online only; a kernel that refuses that (some do) leaves it to grow when the machine is gone.
   */
  async ensure(v: VolumeRef, inUse = false): Promise<VolumeStatus> {
    const img = this.image(v.app, v.id);
    const dir = this.path(v.app, v.id);
    const bytes = v.size_gb * GB;
    // The data directory made here is walkable (machines pass through it to their images and volumes); the images' is not.
    mkdirSync(this.o.dataDir, { recursive: true, mode: 0o711 });
    mkdirSync(join(this.o.dataDir, 'volume-images'), { recursive: true, mode: 0o700 });
    // The sandbox hands the volume's root to the app's host uid: it must pass through volumes/ and volumes/<app>.
    for (const d of [join(this.o.dataDir, 'volumes'), join(this.o.dataDir, 'volumes', v.app)]) {
      mkdirSync(d, { recursive: true, mode: 0o711 });
      chmodSync(d, 0o711);
    }
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!existsSync(img) && v.snapshot !== undefined) {
      const from = this.snapshotImage(v.app, v.snapshot);
      if (!existsSync(from)) throw new StarlingError('ERR_VOLUME_IO', `snapshot ${v.snapshot} is not on this host: volume ${v.id} cannot be made from it`);
      // Copied to a name of its own first: a copy cut short never passes for the volume.
      await this.cmd('cp', '--sparse=always', from, `${img}.part`);
      renameSync(`${img}.part`, img);
    }
    if (!existsSync(img)) {
      await this.cmd('fallocate', '-l', String(bytes), img);
      // No blocks reserved for root (the machine's user is not the host's root), inodes and journal made lazily.
      await this.cmd('mkfs.ext4', '-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1', '-L', v.id.slice(0, 16), img);
    }
    // A host that went down with it mounted: the journal is replayed before it is mounted again.
    if (!this.mounted(dir)) await this.mount(img, dir, false);
    if (statSync(img).size < bytes || !this.status(v).caughtUp) await this.grow(img, dir, bytes, inUse);
    return this.status(v);
  }

  /**
   * Checks the image (e2fsck: `-p` fixes what is safe to; `force` checks a clean one too) and
   * mounts it. The loop device then reads and writes its image with O_DIRECT: the machine's
   * filesystem has a page cache of its own, and the image's pages in the host's would be a second
   * copy of the same data (twice the memory, and reads that never reach the disk) — best effort: a
   * kernel or a backing filesystem without direct I/O keeps the default.
   */
  private check(img: string, force: boolean): Promise<void> {
    return this.cmd('e2fsck', ...(force ? ['-f'] : []), '-p', img).then(
      () => undefined,
      (e: unknown) => {
        // 1: errors corrected. Anything else is left for the mount (or resize2fs) to refuse, with e2fsck's words.
        if (!/exited 1$/.test((e as Error).message)) throw e;
      },
    );
  }

  private async mount(img: string, dir: string, force: boolean): Promise<void> {
    await this.check(img, force);
    await this.cmd('mount', '-o', 'loop,nodev,nosuid', img, dir);
    const loop = await this.loopOf(img).catch(() => undefined);
    if (loop !== undefined) await this.cmd('losetup', '--direct-io=on', loop).catch(() => undefined);
  }

  /**
   * The loop device that holds the mounted image: the one mounted at `dir` when given (an image
   * can be attached to more than one loop device, e.g. one a crash left; only the mounted one
   * grows online), else the first that holds it.
   */
  private async loopOf(img: string, dir?: string): Promise<string> {
    const attached = [...(await this.cmd('losetup', '-j', img)).matchAll(/^(\/dev\/loop\d+):/gm)].map((m) => m[1]!);
    const mounted = dir === undefined ? [] : readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')).filter((f) => f[1] === dir).map((f) => f[0]);
    const loop = attached.find((l) => mounted.includes(l)) ?? attached[0];
    if (loop === undefined) throw new StarlingError('ERR_VOLUME_IO', `the image ${img} is mounted, but no loop device holds it`);
    return loop;
  }

  /**
   * Grows the image, then its filesystem: online through the loop device (resize2fs), else —
   * when no machine mounts it — unmounted (e2fsck, resize2fs on the image, mounted again).
   */
  private async grow(img: string, dir: string, bytes: number, inUse: boolean): Promise<void> {
    if (statSync(img).size < bytes) await this.cmd('fallocate', '-l', String(bytes), img);
    const loop = await this.loopOf(img, dir);
    await this.cmd('losetup', '-c', loop);
    try {
      await this.cmd('resize2fs', loop);
      return;
    } catch (e) {
      if (inUse) throw new StarlingError('ERR_VOLUME_IO', `the volume's image is grown, its filesystem not yet: this kernel refused to grow it while mounted (${(e as Error).message.split('\n').at(-1) ?? ''}); it grows once no machine mounts it`, { cause: e });
    }
    await this.cmd('umount', dir);
    // resize2fs grows an unmounted filesystem only once it has been checked (e2fsck -f).
    await this.check(img, true);
    await this.cmd('resize2fs', img);
    await this.mount(img, dir, true);
  }

  /**
   * Its size as the filesystem has it — an image grown whose filesystem is not yet counts as
   * before — and its use. `caughtUp`: the filesystem spans its image (ext4 keeps a few % for
   * itself: 90 % counts).
   */
  status(v: { app: string; id: string }): VolumeStatus & { caughtUp: boolean } {
    const dir = this.path(v.app, v.id);
    const s = statfsSync(dir);
    const total = s.blocks * s.bsize;
    const image = statSync(this.image(v.app, v.id)).size;
    const caughtUp = total >= 0.9 * image;
    return { path: dir, size_gb: Math.round((caughtUp ? image : total) / GB), used_bytes: total - s.bfree * s.bsize, total_bytes: total, caughtUp };
  }

  /** Unmounts the volume, keeping it: the next ensure mounts it again (the agent stops). */
  async unmount(app: string, id: string): Promise<void> {
    const dir = this.path(app, id);
    if (this.mounted(dir)) await this.cmd('umount', dir);
  }

  /** Unmounts the volume and deletes its image and mount point: its data is gone. */
  async remove(app: string, id: string): Promise<void> {
    await this.unmount(app, id);
    rmSync(this.image(app, id), { force: true });
    rmSync(this.path(app, id), { recursive: true, force: true });
  }

  snapshotImage(app: string, snapshot: string): string {
    return join(this.o.dataDir, 'volume-snapshots', `${app}.${snapshot}.img`);
  }

  /**
   * Takes a snapshot of a mounted volume: its filesystem frozen (fsfreeze: writes wait, what is
   * written is on disk) while its image is copied (sparse), so the copy is one moment of it.
   * Returns the bytes the copy takes on disk.
   */
  async snapshot(v: { app: string; id: string }, snapshot: string): Promise<number> {
    const dir = this.path(v.app, v.id);
    const to = this.snapshotImage(v.app, snapshot);
    mkdirSync(join(this.o.dataDir, 'volume-snapshots'), { recursive: true, mode: 0o700 });
    if (!existsSync(to)) {
      const frozen = this.mounted(dir);
      if (frozen) await this.cmd('fsfreeze', '-f', dir);
      try {
        await this.cmd('cp', '--sparse=always', this.image(v.app, v.id), `${to}.part`);
      } finally {
        if (frozen) await this.cmd('fsfreeze', '-u', dir);
      }
      renameSync(`${to}.part`, to);
    }
    return statSync(to).blocks * 512;
  }

  removeSnapshot(app: string, snapshot: string): void {
    rmSync(this.snapshotImage(app, snapshot), { force: true });
  }

  /** The snapshots this host keeps: `<app>.<id>`. */
  presentSnapshots(): { app: string; id: string }[] {
    return this.images('volume-snapshots', 'vs');
  }

  /** The volumes this host has images of: `<app>.<id>`. */
  present(): { app: string; id: string }[] {
    return this.images('volume-images', 'vol');
  }

  /** `<app>.<kind>_<14 hex>.img` in a directory of the data dir. */
  private images(sub: string, kind: 'vol' | 'vs'): { app: string; id: string }[] {
    const dir = join(this.o.dataDir, sub);
    if (!existsSync(dir)) return [];
    const name = new RegExp(`^([a-z][a-z0-9-]*)\\.(${kind}_[0-9a-f]{14})\\.img$`);
    return readdirSync(dir).flatMap((f) => {
      const m = name.exec(f);
      return m ? [{ app: m[1]!, id: m[2]! }] : [];
    });
  }
}
