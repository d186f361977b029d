/**
 * The host image store, as the agent wires it (src/images does the work): the reconciler pulls a
 * release's image into it; the machine manager asks it what an image is; the sandbox driver asks
 * it for the image's root filesystem unpacked for an app's uids; and every hour the images no
 * machine has used for `[runtime] image_gc_after` are removed — never one a machine uses.
 */
import { join } from 'node:path';
import { ImageStore, storedImage, type StoredImage } from '../images/index.js';
import { StarlingError, describeError, type Clock, type Logger, type TimerHandle } from '../shared/index.js';

const GC_EVERY_MS = 3600_000;

export interface HostImages {
  store: ImageStore;
  /** MachineManager's `images`: a quick-start image's layer dir, or no dir (the driver asks rootfs). */
  prepare(digest: string): Promise<{ dir: string; base: 'host' | 'image' }>;
  /** The driver's `rootfs`: the image unpacked with its owners shifted by `uidShift`. */
  rootfs(digest: string, uidShift: number): Promise<string>;
  /** Starts the hourly collection; `inUse` lists the manifest digests machines use now. */
  startGc(inUse: () => Iterable<string>): void;
  stop(): void;
}

export async function openHostImages(o: { dataDir: string; maxImageBytes: number; gcAfterMs: number; clock: Clock; logger: Logger }): Promise<HostImages> {
  const store = new ImageStore(join(o.dataDir, 'images', 'oci'), { clock: o.clock });
  await store.cleanTmp();
  let timer: TimerHandle | undefined;
  const held = async (digest: string): Promise<StoredImage> => {
    const image = await storedImage(store, digest);
    if (!image) throw new StarlingError('ERR_IMAGE_NOT_FOUND', `image ${digest} is not in this host's image store`, { hint: 'the reconciler pulls a release image before it creates the machine' });
    return image;
  };
  return {
    store,
    async prepare(digest) {
      const image = await held(digest);
      await store.touch(digest);
      if (image.base === 'image') return { dir: '', base: 'image' };
      return { dir: await store.rootfs(digest, image.manifest.layers, { uidShift: 0, maxBytes: o.maxImageBytes * 4 }), base: 'host' };
    },
    async rootfs(digest, uidShift) {
      const image = await held(digest);
      await store.touch(digest);
      return store.rootfs(digest, image.manifest.layers, { uidShift, maxBytes: o.maxImageBytes * 4 });
    },
    startGc(inUse) {
      timer = o.clock.setInterval(() => {
        store
          .gc({ olderThanMs: o.gcAfterMs, inUse: new Set(inUse()) })
          .then((r) => {
            if (r.removed.length > 0) o.logger.info('images collected', { removed: r.removed.length, freed_bytes: r.freedBytes });
          })
          .catch((e: unknown) => o.logger.warn('image collection failed', { error: describeError(e) }));
      }, GC_EVERY_MS);
    },
    stop() {
      timer?.cancel();
    },
  };
}
