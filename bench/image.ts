/**
 * npm run bench:image — OCI images on one host (issue 16, "Measured"), side by side in one run:
 *   1. pull + unpack of a ~100 MiB image, cold (empty host image store) then warm, against skopeo's
 *      `copy docker://… dir:…` of the same image (./lib/image-pull.ts);
 *   2. `starling deploy --image` → first machine healthy, a new image vs one on the host
 *      (./lib/image-deploy.ts; needs root and the control plane's registry);
 *   3. cold start of an image-based machine vs directory machines, as bench:coldstart
 *      (./lib/image-coldstart.ts; needs root and the sandbox's image rootfs).
 * The registry is Debian's docker-registry on 127.0.0.1 (test/helpers/registry.ts); images are
 * built offline with buildah under a temp dir of their own (test/helpers/oci-images.ts). Parts 2
 * and 3 that fail are reported as skipped, with the reason, and the run exits 1; `--only pull`
 * runs part 1 alone. Everything started is removed at the end and on Ctrl-C.
 */
import { chmodSync, mkdtempSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageBuilder } from '../test/helpers/oci-images.js';
import { startRegistry } from '../test/helpers/registry.js';
import { IMAGE_USAGE, parseImageOptions, printImageReport, type ImageBenchResult, type ImageOptions, type ImagePart } from './lib/image-cli.js';
import { benchColdStart } from './lib/image-coldstart.js';
import { benchDeploy } from './lib/image-deploy.js';
import { buildBenchImage } from './lib/image-fixture.js';
import { benchPull, skopeoPath } from './lib/image-pull.js';
import { cleanupHandlers, runBench } from './lib/procs.js';
import { BenchError, findExecutable, round2, versionOf } from './lib/util.js';

let opts: ImageOptions;
try {
  const parsed = parseImageOptions(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(IMAGE_USAGE);
    process.exit(0);
  }
  opts = parsed;
} catch (e) {
  process.stderr.write(`bench:image: ${(e as Error).message}\n\n${IMAGE_USAGE}`);
  process.exit(2);
}

const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
let tmp: string | undefined;
const stoppers = new Set<() => Promise<void>>();
/** Registers `stop` for Ctrl-C; the function returned runs it once (a part calls it when done). */
function keep(stop: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once = () => (done ??= stop());
  stoppers.add(once);
  return once;
}
const handlers = cleanupHandlers(
  () => tmp,
  log,
  async () => {
    for (const stop of [...stoppers].reverse()) await stop().catch((e: unknown) => log(`cleanup: ${(e as Error).message}`));
  },
);
process.on('SIGINT', handlers.onSignal);
process.on('SIGTERM', handlers.onSignal);

/** Runs a part; a failure is logged and recorded as the reason it was skipped. */
async function part<T>(name: ImagePart, skipped: ImageBenchResult['skipped'], fn: () => Promise<T>, hint: string): Promise<T | null> {
  if (!opts.only.includes(name)) return null;
  try {
    return await fn();
  } catch (e) {
    if (handlers.interrupted()) throw e;
    const why = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');
    skipped[name] = `${why}${hint}`;
    log(`${name} skipped: ${why}${hint}`);
    process.exitCode = 1;
    return null;
  }
}

async function main(): Promise<void> {
  if (opts.only.includes('pull')) skopeoPath();
  const needsRoot = opts.only.filter((p) => p !== 'pull');
  if (needsRoot.length > 0 && process.getuid?.() !== 0) {
    throw new BenchError(`${needsRoot.join(' and ')} need${needsRoot.length === 1 ? 's' : ''} root (sandboxed machines); run as root or with --only pull`);
  }
  tmp = mkdtempSync(join(tmpdir(), 'starling-bench-image-'));
  chmodSync(tmp, 0o711); // the cold-start machines run as unprivileged uids that must pass through it
  // The registry's, buildah's and the platform's own temp dirs go inside it: whatever a Ctrl-C in the
  // middle of a build leaves there goes with it.
  process.env.TMPDIR = tmp;
  const skopeo = findExecutable('skopeo');
  const result: ImageBenchResult = {
    date: new Date().toISOString(),
    rounds: opts.rounds,
    runs: opts.runs,
    mib: opts.mib,
    env: {
      cpus: availableParallelism(),
      node: process.version,
      skopeo: skopeo ? versionOf(skopeo, '--version', /version (\S+)/) : null,
      buildah: versionOf('buildah', '--version', /version (\S+)/),
      registry: versionOf('/usr/bin/docker-registry', '--version', /distribution (\S+)/),
      load_avg_start: loadavg().map(round2),
      load_avg_end: [],
    },
    pull: null,
    deploy: null,
    coldstart: null,
    skipped: { pull: null, deploy: null, coldstart: null },
  };
  const registry = await startRegistry();
  const stopRegistry = keep(() => registry.stop());
  const images = await imageBuilder();
  const stopImages = keep(() => images.stop());
  log(`docker-registry on ${registry.host}; buildah storage in its own temp dir`);
  try {
    result.pull = await part('pull', result.skipped, async () => {
      const image = await buildBenchImage(images, registry.host, { name: 'pull-bench', mib: opts.mib });
      log(`built and pushed ${image.text} (${image.layers} layers) in ${(image.buildMs / 1000).toFixed(1)} s`);
      return benchPull(image, { rounds: opts.rounds, tmp: tmp!, log });
    }, '');
    const pieceHint = " (this part needs the control plane's registry and the sandbox's image rootfs; if one is missing, --only pull runs part 1 alone)";
    result.deploy = await part('deploy', result.skipped, () => benchDeploy(images, registry.host, { rounds: opts.rounds, mib: opts.mib, log, keep }), pieceHint);
    result.coldstart = await part('coldstart', result.skipped, async () => {
      const small = await buildBenchImage(images, registry.host, { name: 'coldstart-bench', mib: 0, dataLayers: 0, page: 'busybox from an image' });
      const cold = await benchColdStart(small, { runs: opts.runs, tmp: tmp!, log, keep });
      const failed = Object.entries(cold.skipped).filter(([, why]) => why !== null);
      if (failed.length > 0) {
        process.exitCode = 1;
        log(`coldstart: ${failed.map(([v]) => v).join(', ')} could not run${pieceHint}`);
      }
      return cold;
    }, pieceHint);
  } finally {
    await stopImages();
    await stopRegistry();
  }
  result.env.load_avg_end = loadavg().map(round2);
  if (opts.json) console.log(JSON.stringify(result, null, 2));
  else printImageReport(result, registry.host);
}

runBench(main, handlers);
