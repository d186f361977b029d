/** bench:image's command line: its flags, the result `--json` prints, and the text report. */
import { parseArgs } from 'node:util';
import { positiveInt } from './args.js';
import { COLD_VARIANTS, type ColdResult } from './image-coldstart.js';
import type { DeployResult } from './image-deploy.js';
import type { PullResult } from './image-pull.js';
import { fmtBytes, table } from './util.js';

export const IMAGE_PARTS = ['pull', 'deploy', 'coldstart'] as const;
export type ImagePart = (typeof IMAGE_PARTS)[number];

export interface ImageOptions {
  rounds: number;
  runs: number;
  mib: number;
  only: ImagePart[];
  json: boolean;
}

export const IMAGE_USAGE = `usage: npm run bench:image -- [flags]
       node dist/bench/image.js [flags]

OCI images on one host, against a real docker-registry on 127.0.0.1 and images built offline with
buildah (FROM scratch, the host's busybox and layers of random data):
  pull       pull + unpack of the image into an empty host image store (cold), then again with the
             store holding it (warm), beside skopeo copy docker://… dir:… of the same image
  deploy     starling deploy --image → first machine healthy, a new image vs one already on the host
             (control plane, registry and agent on loopback; root)
  coldstart  cold start of an image-based machine vs directory machines, as bench:coldstart (root)

flags:
  --rounds N   rounds of pull and of deploy (default 3)
  --runs N     cold starts per machine (default 20)
  --mib N      MiB of random data in the image (default 100)
  --only LIST  pull, deploy, coldstart; repeatable or comma-separated (default: all three)
  --json       one JSON object on stdout (progress still goes to stderr)
  -h, --help   this text
`;

/** Parsed options, or 'help'. Throws on bad flags (the message is meant for the user). */
export function parseImageOptions(argv: string[]): ImageOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      rounds: { type: 'string' },
      runs: { type: 'string' },
      mib: { type: 'string' },
      only: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const wanted = new Set<ImagePart>();
  for (const item of (values.only ?? []).flatMap((v) => v.split(','))) {
    const name = item.trim().toLowerCase();
    if (name === '') continue;
    if (!(IMAGE_PARTS as readonly string[]).includes(name)) throw new Error(`--only: unknown part "${item}" (choose from ${IMAGE_PARTS.join(', ')})`);
    wanted.add(name as ImagePart);
  }
  if (values.only !== undefined && wanted.size === 0) throw new Error('--only: no part named');
  return {
    rounds: values.rounds === undefined ? 3 : positiveInt('--rounds', values.rounds, 1),
    runs: values.runs === undefined ? 20 : positiveInt('--runs', values.runs, 1),
    mib: values.mib === undefined ? 100 : positiveInt('--mib', values.mib, 1),
    only: wanted.size === 0 ? [...IMAGE_PARTS] : IMAGE_PARTS.filter((p) => wanted.has(p)),
    json: values.json ?? false,
  };
}

/** What `--json` prints; the keys are stable. */
export interface ImageBenchResult {
  date: string;
  rounds: number;
  runs: number;
  mib: number;
  env: {
    cpus: number;
    node: string;
    skopeo: string | null;
    buildah: string;
    registry: string;
    load_avg_start: number[];
    load_avg_end: number[];
  };
  pull: PullResult | null;
  deploy: DeployResult | null;
  coldstart: ColdResult | null;
  /** Why a part that was asked for did not run (null: it ran, or was not asked for). */
  skipped: Record<ImagePart, string | null>;
}

const f = (n: number | null | undefined, digits = 1) => (n == null ? '–' : n.toFixed(digits));
const x = (n: number | null) => (n == null ? '–' : `${n.toFixed(2)}×`);

export function printImageReport(r: ImageBenchResult, registryHost: string): void {
  const out: string[] = [];
  const e = r.env;
  out.push(`image benchmark, ${r.date}: docker-registry ${e.registry} on ${registryHost}, buildah ${e.buildah}, skopeo ${e.skopeo ?? '–'}`);
  out.push(`host: ${e.cpus} CPUs, node ${e.node}; load average (1, 5, 15 min) ${e.load_avg_start.join(' ')} at the start, ${e.load_avg_end.join(' ')} at the end`);

  const p = r.pull;
  if (p) {
    const s = p.summary;
    out.push('', `1. pull + unpack: ${p.image.ref}`);
    out.push(`   ${p.image.layers} layers, ${fmtBytes(p.image.compressed_bytes)} compressed, ${fmtBytes(p.image.file_bytes)} of files; ${p.rounds} rounds, ms`);
    const row = (name: string, v: { median: number | null; min: number | null; max: number | null }) => [name, f(v.median), f(v.min), f(v.max)];
    out.push(
      table(
        ['', 'median', 'min', 'max'],
        [
          row('starling pull, cold', s.cold.pull_ms),
          row('starling unpack, cold', s.cold.unpack_ms),
          row('starling pull + unpack, cold', s.cold.total_ms),
          row('starling pull, warm', s.warm.pull_ms),
          row('starling unpack, warm', s.warm.unpack_ms),
          row('skopeo copy → dir:', s.skopeo_copy_ms),
          row('tar -xzf of the layers', s.tar_unpack_ms),
        ],
        [false, true, true, true],
      ).replace(/^/gm, '   '),
    );
    out.push(`   starling pull / skopeo copy: ${x(s.ratio_pull_vs_skopeo)} the time (${f(s.pull_mib_s.starling)} vs ${f(s.pull_mib_s.skopeo)} MiB/s); pull + unpack / skopeo: ${x(s.ratio_pull_unpack_vs_skopeo)}`);
    out.push(`   starling unpack / tar -xzf: ${x(s.ratio_unpack_vs_tar)} the time`);
  }

  const d = r.deploy;
  if (d) {
    const s = d.summary;
    out.push('', `2. starling deploy --image → first machine healthy (${d.image_mib} MiB image, ${d.rounds} rounds, ms)`);
    out.push(
      table(
        ['', 'median', 'min', 'max', 'created (median)', 'CLI exit (median)'],
        (['new', 'on_host'] as const).map((k) => {
          const v = s[k];
          return [k === 'new' ? 'new image' : 'image on the host', f(v.to_healthy_ms.median), f(v.to_healthy_ms.min), f(v.to_healthy_ms.max), f(v.to_created_ms.median), f(v.cli_ms.median)];
        }),
        [false, true, true, true, true, true],
      ).replace(/^/gm, '   '),
    );
    out.push(`   new / on the host: ${x(s.ratio_new_vs_on_host)}`);
  }

  const c = r.coldstart;
  if (c) {
    out.push('', `3. cold start through the proxy (request to a stopped machine → first byte), ${c.runs} runs each, ms`);
    out.push(
      table(
        ['machine', 'median', 'p90', 'start→healthy median', 'first start'],
        COLD_VARIANTS.map((v) => {
          const m = c.variants[v];
          if (!m) return [v, 'skipped', '', '', ''];
          return [v, f(m.cold_first_byte_ms.median), f(m.cold_first_byte_ms.p90), f(m.start_to_healthy_ms.median), f(m.first_start_ms)];
        }),
        [false, true, true, true, true],
      ).replace(/^/gm, '   '),
    );
    out.push(
      `   image / directory (same busybox): ${x(c.ratio_image_vs_directory_busybox)}; image / directory (Node hello): ${x(c.ratio_image_vs_directory)}; ` +
        `aim ≤ ${c.aim_ms} ms median: ${c.met === null ? '–' : c.met ? '✓' : '✗'}`,
    );
    for (const v of COLD_VARIANTS) if (c.skipped[v]) out.push(`   ${v} skipped: ${c.skipped[v]}`);
  }

  for (const [name, why] of Object.entries(r.skipped)) if (why) out.push('', `${name}: skipped — ${why}`);
  console.log(out.join('\n'));
}
