/**
 * bench:image part 3: cold start of an image-based machine beside today's directory machines,
 * measured the way bench:coldstart does (./coldstart-rig.ts), all on one rig, the variants taking
 * turns run by run:
 *   directory          — test/fixtures/apps/hello (Node, the host's /usr): bench:coldstart's machine;
 *   directory_busybox  — busybox httpd from a directory (at /app, the host's /usr beside it);
 *   image_busybox      — the same busybox and page as an OCI image, pulled into the host image store
 *                        and run as its own `/` (rootfs unpacked for the app's uids, overlayfs per start).
 * The two busybox variants run the same program on the same files, so their difference is what an
 * image's root filesystem costs at start. Each machine's first start (for the image: unpacking
 * its rootfs) is timed apart and left out of the medians.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openHostImages } from '../../src/agent/images.js';
import { RegistryClient, pullImage } from '../../src/images/index.js';
import { SystemClock, silentLogger } from '../../src/shared/index.js';
import { measureColdStarts, pct, startColdRig } from './coldstart-rig.js';
import { HTTPD_PORT, ratio, type BenchImage, type Keep } from './image-fixture.js';

const HELLO = new URL('../../../test/fixtures/apps/hello', import.meta.url).pathname;
export const COLD_VARIANTS = ['directory', 'directory_busybox', 'image_busybox'] as const;
type Variant = (typeof COLD_VARIANTS)[number];
/** An app name may not hold `_`. */
const appOf = (v: Variant) => v.replace(/_/g, '-');

interface Figures {
  median: number;
  p90: number;
}

interface VariantResult {
  image: string;
  first_start_ms: number;
  cold_first_byte_ms: Figures;
  start_to_healthy_ms: Figures;
}

export interface ColdResult {
  runs: number;
  /** null: the variant could not start (its reason in `skipped`); the others still ran. */
  variants: Record<Variant, VariantResult | null>;
  skipped: Record<Variant, string | null>;
  ratio_image_vs_directory_busybox: number | null;
  ratio_image_vs_directory: number | null;
  aim_ms: number;
  /** null when the image variant did not run. */
  met: boolean | null;
}

const httpd = (root: string) => ['/bin/busybox', 'httpd', '-f', '-p', String(HTTPD_PORT), '-h', `${root}/www`];
const r1 = (n: number) => Math.round(n * 10) / 10;

export async function benchColdStart(image: BenchImage, o: { runs: number; tmp: string; log: (line: string) => void; keep: Keep }): Promise<ColdResult> {
  const dir = join(o.tmp, 'coldstart');
  mkdirSync(dir);
  const clock = new SystemClock();
  const images = await openHostImages({ dataDir: join(dir, 'data'), maxImageBytes: 1 << 30, gcAfterMs: 86_400_000, clock, logger: silentLogger });
  await pullImage(new RegistryClient(), images.store, image.ref);
  const bb = join(dir, 'busybox-app');
  mkdirSync(join(bb, 'bin'), { recursive: true });
  mkdirSync(join(bb, 'www'));
  copyFileSync('/usr/bin/busybox', join(bb, 'bin', 'busybox'));
  writeFileSync(join(bb, 'www', 'index.html'), 'busybox from a directory\n');

  const stopImages = o.keep(async () => images.stop());
  const rig = await startColdRig({ dir, apps: COLD_VARIANTS.map(appOf), bridge: { name: 'sib', cidr: '172.27.8.0/24' }, images });
  const stopRig = o.keep(() => rig.stop());
  try {
    const configs: Record<Variant, { image: string; cmd: string[] }> = {
      directory: { image: HELLO, cmd: ['node', 'server.mjs'] },
      directory_busybox: { image: bb, cmd: ['/app/bin/busybox', ...httpd('/app').slice(1)] },
      image_busybox: { image: `oci:${image.digest}`, cmd: httpd('') },
    };
    const ids = {} as Record<Variant, string>;
    const first = {} as Record<Variant, number>;
    const skipped = Object.fromEntries(COLD_VARIANTS.map((v) => [v, null])) as Record<Variant, string | null>;
    for (const v of COLD_VARIANTS) {
      try {
        ids[v] = (await rig.create(appOf(v), { config: configs[v], skip_start: true })).id;
        first[v] = (await measureColdStarts(rig, appOf(v), ids[v], 1)).cold[0]!;
        o.log(`coldstart ${v}: first start (unmeasured${v.startsWith('image') ? ', unpacks the rootfs' : ''}) ${first[v].toFixed(1)} ms`);
      } catch (e) {
        if (rig.stopped()) throw e;
        skipped[v] = e instanceof Error ? e.message : String(e);
        o.log(`coldstart ${v} skipped: ${skipped[v]}`);
      }
    }
    const running = COLD_VARIANTS.filter((v) => skipped[v] === null);
    const cold = Object.fromEntries(COLD_VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
    const healthy = Object.fromEntries(COLD_VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
    for (let i = 0; i < o.runs && running.length > 0; i++) {
      const line: string[] = [];
      for (const v of running) {
        const s = await measureColdStarts(rig, appOf(v), ids[v], 1);
        cold[v].push(s.cold[0]!);
        healthy[v].push(s.healthy[0]!);
        line.push(`${v} ${s.cold[0]!.toFixed(1)}`);
      }
      o.log(`coldstart run ${i + 1}/${o.runs}: first byte ms: ${line.join(', ')}`);
    }
    const fig = (xs: number[]): Figures => ({ median: r1(pct(xs, 50)), p90: r1(pct(xs, 90)) });
    const variants = Object.fromEntries(
      COLD_VARIANTS.map((v) => [
        v,
        skipped[v] !== null ? null : { image: configs[v].image, first_start_ms: r1(first[v]), cold_first_byte_ms: fig(cold[v]), start_to_healthy_ms: fig(healthy[v]) },
      ]),
    ) as ColdResult['variants'];
    const img = variants.image_busybox?.cold_first_byte_ms.median;
    return {
      runs: o.runs,
      variants,
      skipped,
      ratio_image_vs_directory_busybox: ratio(img, variants.directory_busybox?.cold_first_byte_ms.median),
      ratio_image_vs_directory: ratio(img, variants.directory?.cold_first_byte_ms.median),
      aim_ms: 100,
      met: img === undefined ? null : img <= 100,
    };
  } finally {
    await stopRig();
    await stopImages();
  }
}
