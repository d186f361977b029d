/**
 * bench:image part 1: pull + unpack of one image, Starling's against skopeo's.
 *
 * Each round, in a store of its own:
 *   cold  — an empty host image store: pullImage(client, store, ref) (manifest, config and every
 *           layer, each verified by its digest and fsync'ed before its rename), then
 *           store.rootfs(digest, layers, { uidShift: 0 }) (the layers applied in order), timed apart;
 *   warm  — a new ImageStore on the same directory (as after an agent restart): the same two calls,
 *           which find the image there;
 *   skopeo — `skopeo copy --src-tls-verify=false docker://REF dir:DIR` into a fresh directory: the
 *           same blobs, compressed, verified, no unpacking. The reference for pull speed;
 *   tar    — GNU `tar -xzf` of the same layer blobs, in order, into an empty directory: a
 *           reference for unpacking (no checks, no owner shift; the image has no whiteouts).
 * Odd rounds run Starling first, even rounds skopeo first. Everything a round writes is removed
 * before the next.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ImageStore, RegistryClient, pullImage } from '../../src/images/index.js';
import type { BenchImage } from './image-fixture.js';
import { ratio, summary } from './image-fixture.js';
import { run } from './procs.js';
import { BenchError, findExecutable, round1, versionOf } from './util.js';

export interface PullRun {
  round: number;
  pull_cold_ms: number;
  unpack_cold_ms: number;
  pull_warm_ms: number;
  unpack_warm_ms: number;
  skopeo_ms: number;
  tar_ms: number;
}

export interface PullResult {
  image: { ref: string; digest: string; layers: number; compressed_bytes: number; file_bytes: number };
  skopeo: string;
  rounds: number;
  runs: PullRun[];
  summary: {
    cold: { pull_ms: ReturnType<typeof summary>; unpack_ms: ReturnType<typeof summary>; total_ms: ReturnType<typeof summary> };
    warm: { pull_ms: ReturnType<typeof summary>; unpack_ms: ReturnType<typeof summary> };
    skopeo_copy_ms: ReturnType<typeof summary>;
    tar_unpack_ms: ReturnType<typeof summary>;
    pull_mib_s: { starling: number | null; skopeo: number | null };
    ratio_pull_vs_skopeo: number | null;
    ratio_pull_unpack_vs_skopeo: number | null;
    ratio_unpack_vs_tar: number | null;
  };
}

const ms = (t: number) => performance.now() - t;

interface StarlingRound {
  pullCold: number;
  unpackCold: number;
  pullWarm: number;
  unpackWarm: number;
  compressed: number;
  /** The layer blobs, bottom first (for the tar reference). */
  layerFiles: string[];
}

async function starlingRound(image: BenchImage, dir: string): Promise<StarlingRound> {
  const client = new RegistryClient();
  let store = new ImageStore(dir);
  let t = performance.now();
  const pulled = await pullImage(client, store, image.ref);
  const pullCold = ms(t);
  if (!pulled.pulled) throw new BenchError(`the store in ${dir} held ${image.digest} before the cold pull`);
  t = performance.now();
  await store.rootfs(pulled.digest, pulled.manifest.layers, { uidShift: 0 });
  const unpackCold = ms(t);
  store = new ImageStore(dir);
  t = performance.now();
  const again = await pullImage(client, store, image.ref);
  const pullWarm = ms(t);
  if (again.pulled) throw new BenchError('the warm pull downloaded the image again');
  t = performance.now();
  await store.rootfs(again.digest, again.manifest.layers, { uidShift: 0 });
  const unpackWarm = ms(t);
  const compressed = [pulled.manifest.config, ...pulled.manifest.layers].reduce((n, d) => n + d.size, 0);
  return { pullCold, unpackCold, pullWarm, unpackWarm, compressed, layerFiles: pulled.manifest.layers.map((l) => store.blobPath(l.digest)) };
}

async function skopeoRound(skopeo: string, image: BenchImage, dir: string): Promise<number> {
  const t = performance.now();
  const r = await run('skopeo', skopeo, ['copy', '--quiet', '--src-tls-verify=false', `docker://${image.text}`, `dir:${dir}`]);
  const took = ms(t);
  if (r.code !== 0) throw new BenchError(`skopeo copy failed (exit ${r.code}): ${r.output.trim()}`);
  return took;
}

async function tarRound(layers: string[], dir: string): Promise<number> {
  mkdirSync(dir);
  const t = performance.now();
  for (const layer of layers) {
    const r = await run('tar', 'tar', ['-xzf', layer, '-C', dir]);
    if (r.code !== 0) throw new BenchError(`tar -xzf ${layer} failed (exit ${r.code}): ${r.output.trim()}`);
  }
  return ms(t);
}

export function skopeoPath(): string {
  const skopeo = findExecutable('skopeo');
  if (!skopeo) throw new BenchError('skopeo is needed for the reference pull: apt-get install -y skopeo');
  return skopeo;
}

export async function benchPull(image: BenchImage, o: { rounds: number; tmp: string; log: (line: string) => void }): Promise<PullResult> {
  const skopeo = skopeoPath();
  const runs: PullRun[] = [];
  let compressed = 0;
  for (let round = 1; round <= o.rounds; round++) {
    const storeDir = join(o.tmp, `store-${round}`);
    const skopeoDir = join(o.tmp, `skopeo-${round}`);
    let sk = NaN;
    if (round % 2 === 0) sk = await skopeoRound(skopeo, image, skopeoDir);
    const s = await starlingRound(image, storeDir);
    if (round % 2 === 1) sk = await skopeoRound(skopeo, image, skopeoDir);
    const tar = await tarRound(s.layerFiles, join(o.tmp, `tar-${round}`));
    compressed = s.compressed;
    for (const d of [storeDir, skopeoDir, join(o.tmp, `tar-${round}`)]) rmSync(d, { recursive: true, force: true });
    runs.push({ round, pull_cold_ms: s.pullCold, unpack_cold_ms: s.unpackCold, pull_warm_ms: s.pullWarm, unpack_warm_ms: s.unpackWarm, skopeo_ms: sk, tar_ms: tar });
    o.log(
      `pull round ${round}/${o.rounds}: starling pull ${s.pullCold.toFixed(0)} ms + unpack ${s.unpackCold.toFixed(0)} ms cold, ` +
        `${s.pullWarm.toFixed(1)} + ${s.unpackWarm.toFixed(1)} ms warm; skopeo copy ${sk.toFixed(0)} ms; tar -xzf ${tar.toFixed(0)} ms`,
    );
  }
  const col = (k: keyof PullRun) => runs.map((r) => r[k]);
  const cold = { pull_ms: summary(col('pull_cold_ms')), unpack_ms: summary(col('unpack_cold_ms')), total_ms: summary(runs.map((r) => r.pull_cold_ms + r.unpack_cold_ms)) };
  const sk = summary(col('skopeo_ms'));
  const tar = summary(col('tar_ms'));
  const mibs = (t: number | null) => (t === null ? null : Math.round((compressed / 1024 / 1024 / (t / 1000)) * 10) / 10);
  return {
    image: { ref: image.text, digest: image.digest, layers: image.layers, compressed_bytes: compressed, file_bytes: image.fileBytes },
    skopeo: versionOf(skopeo, '--version', /version (\S+)/),
    rounds: o.rounds,
    runs: runs.map((r) => ({
      round: r.round,
      pull_cold_ms: round1(r.pull_cold_ms),
      unpack_cold_ms: round1(r.unpack_cold_ms),
      pull_warm_ms: round1(r.pull_warm_ms),
      unpack_warm_ms: round1(r.unpack_warm_ms),
      skopeo_ms: round1(r.skopeo_ms),
      tar_ms: round1(r.tar_ms),
    })),
    summary: {
      cold,
      warm: { pull_ms: summary(col('pull_warm_ms')), unpack_ms: summary(col('unpack_warm_ms')) },
      skopeo_copy_ms: sk,
      tar_unpack_ms: tar,
      pull_mib_s: { starling: mibs(cold.pull_ms.median), skopeo: mibs(sk.median) },
      ratio_pull_vs_skopeo: ratio(cold.pull_ms.median, sk.median),
      ratio_pull_unpack_vs_skopeo: ratio(cold.total_ms.median, sk.median),
      ratio_unpack_vs_tar: ratio(cold.unpack_ms.median, tar.median),
    },
  };
}
