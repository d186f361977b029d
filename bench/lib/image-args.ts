/** Command-line flags of `npm run bench:image -- …`. */
import { parseArgs } from 'node:util';
import { positiveInt } from './args.js';

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
