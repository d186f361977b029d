/**
 * bench:image part 2: `starling deploy --image REF` (the real CLI) to the first machine of the new
 * release healthy, for an image the platform has never seen against one already on the host.
 *
 * The platform is test/helpers/platform.ts: the control plane as a real process (with its
 * registry, which copies the external image into the app's repository) and one agent (fra) with
 * real sandboxed machines, which pulls from the platform registry into its host image store.
 * Each round builds a fresh image (its random layers shared with nothing), then deploys it:
 *   new     — copied by the control plane, pulled by the host, unpacked, started;
 *   on_host — the same digest again, with another [env] value (so a new release and a new machine).
 * Timed from just before the CLI is spawned to the first machine that was not there before passing
 * its checks (the agent's machine manager's change event, in this process); beside it, the time to
 * that machine's creation on the host (by then the host has pulled the image and the sandbox driver
 * has unpacked its rootfs, while preparing the machine) and to the CLI's own exit. The check is
 * HTTP `/` every 1 s with a 10 s grace period, in which the checker repeats every 100 ms until the
 * first pass: that is the resolution.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageBuilder } from '../../test/helpers/oci-images.js';
import { startPlatform, type Platform } from '../../test/helpers/platform.js';
import { waitFor } from '../../test/helpers/wait.js';
import { buildBenchImage, HTTPD_PORT, ratio, summary, type Keep } from './image-fixture.js';
import { BenchError, round1 } from './util.js';

const APP = 'imgbench';

export interface DeployRun {
  round: number;
  kind: 'new' | 'on_host';
  to_healthy_ms: number;
  /** To the same machine's creation on the host (its image pulled and its rootfs unpacked before). */
  to_created_ms: number;
  cli_ms: number;
}

type Phases = { to_healthy_ms: ReturnType<typeof summary>; to_created_ms: ReturnType<typeof summary>; cli_ms: ReturnType<typeof summary> };

export interface DeployResult {
  rounds: number;
  image_mib: number;
  runs: DeployRun[];
  summary: {
    new: Phases;
    on_host: Phases;
    ratio_new_vs_on_host: number | null;
  };
}

function writeConfig(dir: string, greeting: string): string {
  const file = join(dir, 'starling.toml');
  writeFileSync(
    file,
    `app = "${APP}"\nprimary_region = "fra"\nkill_timeout = "2s"\n[env]\nGREETING = "${greeting}"\n` +
      `[http_service]\ninternal_port = ${HTTPD_PORT}\n[[http_service.checks]]\npath = "/"\ninterval = "1s"\ntimeout = "500ms"\ngrace_period = "10s"\n`,
  );
  return file;
}

/** When each machine of the app first showed on the agent (created: its image pulled), and first passed its checks. */
function watchMachines(p: Platform): { seen: Map<string, number>; healthy: Map<string, number> } {
  const seen = new Map<string, number>();
  const healthy = new Map<string, number>();
  const machines = p.agents.get('a')?.machines;
  if (!machines) throw new BenchError('the agent has no machines (runtime driver "none"?)');
  machines.onChange(() => {
    const now = performance.now();
    for (const m of machines.list(APP)) {
      if (!seen.has(m.id)) seen.set(m.id, now);
      if (m.checks.passing && !healthy.has(m.id)) healthy.set(m.id, now);
    }
  });
  return { seen, healthy };
}

export async function benchDeploy(images: ImageBuilder, registryHost: string, o: { rounds: number; mib: number; log: (line: string) => void; keep: Keep }): Promise<DeployResult> {
  const p = await startPlatform([{ name: 'a', region: 'fra' }], { prefix: 'bench-image' });
  const stop = o.keep(() => p.stop());
  try {
    const watch = watchMachines(p);
    let n = 0;
    const deploy = async (image: string): Promise<{ toHealthy: number; toCreated: number; cli: number }> => {
      // Every machine seen so far, destroyed ones included: only a machine made by this deploy counts.
      const before = new Set([...watch.seen.keys(), ...p.agents.get('a')!.machines!.list(APP).map((m) => m.id)]);
      const config = writeConfig(p.dir, `deploy ${++n}`);
      const t = performance.now();
      const r = await p.cli(['deploy', '--create', '-c', config, '--image', image], 600_000);
      const cli = performance.now() - t;
      if (r.code !== 0) {
        // The CLI's last lines say why (its whole output is the deploy's progress).
        const last = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.trim() !== '').slice(-2).join(' | ');
        throw new BenchError(`starling deploy --image ${image} failed (exit ${r.code}): ${last}`);
      }
      let first: string | undefined;
      await waitFor(
        () => {
          for (const [id, when] of watch.healthy) if (!before.has(id) && (first === undefined || when < watch.healthy.get(first)!)) first = id;
          return first !== undefined;
        },
        'a new machine to pass its checks',
        120_000,
        20,
      );
      return { toHealthy: watch.healthy.get(first!)! - t, toCreated: watch.seen.get(first!)! - t, cli };
    };

    // The app is made by a first deploy of a small image, not measured.
    const small = await buildBenchImage(images, registryHost, { name: 'deploy-bench', tag: 'r0', mib: 0, dataLayers: 0 });
    const warm = await deploy(small.text);
    o.log(`deploy: app created with a small image in ${(warm.cli / 1000).toFixed(2)} s (not measured)`);
    const runs: DeployRun[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      const img = await buildBenchImage(images, registryHost, { name: 'deploy-bench', tag: `r${round}`, mib: o.mib });
      o.log(`deploy round ${round}/${o.rounds}: built and pushed a fresh ${o.mib} MiB image in ${(img.buildMs / 1000).toFixed(1)} s`);
      for (const kind of ['new', 'on_host'] as const) {
        const d = await deploy(img.text);
        runs.push({ round, kind, to_healthy_ms: round1(d.toHealthy), to_created_ms: round1(d.toCreated), cli_ms: round1(d.cli) });
        o.log(
          `deploy round ${round}/${o.rounds}: ${kind === 'new' ? 'new image' : 'image on the host'}: first machine created after ${d.toCreated.toFixed(0)} ms, ` +
            `healthy after ${d.toHealthy.toFixed(0)} ms (CLI exited after ${d.cli.toFixed(0)} ms)`,
        );
      }
    }
    const of = (kind: DeployRun['kind']): Phases => {
      const col = (k: 'to_healthy_ms' | 'to_created_ms' | 'cli_ms') => summary(runs.filter((r) => r.kind === kind).map((r) => r[k]));
      return { to_healthy_ms: col('to_healthy_ms'), to_created_ms: col('to_created_ms'), cli_ms: col('cli_ms') };
    };
    const fresh = of('new');
    const onHost = of('on_host');
    return { rounds: o.rounds, image_mib: o.mib, runs, summary: { new: fresh, on_host: onHost, ratio_new_vs_on_host: ratio(fresh.to_healthy_ms.median, onHost.to_healthy_ms.median) } };
  } finally {
    await stop();
  }
}
