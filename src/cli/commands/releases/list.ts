/** `starling releases list --app APP`: an app's releases, oldest first, as the control plane keeps them. */
import type { ReleaseStatus } from '../../../contract/index.js';
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { releasesList } from './meta.js';

/** A release as the API answers it (immutable, but for its status). */
export interface ReleaseJson {
  version: number;
  config: Record<string, unknown>;
  image: { ref: string; digest: string };
  secrets_version: number;
  created_at: string;
  status: ReleaseStatus;
}

export const runReleasesList = implement(releasesList, async (opts) => {
  const { app } = opts;
  const { releases } = await callControl<{ releases: ReleaseJson[] }>(resolveControl(opts), 'GET', appPath(app, '/releases'));
  if (opts.json) printJson(releases);
  else if (releases.length === 0) console.log(`app ${app} has no releases yet; a deploy creates the first`);
  else console.log(formatReleases(releases));
  return 0;
});

export function formatReleases(releases: readonly ReleaseJson[]): string {
  const rows = [['VERSION', 'STATUS', 'IMAGE', 'FROM', 'SECRETS VERSION', 'CREATED']];
  for (const r of releases) {
    // The digest names the image; the ref is where it came from (`.` is a directory packed by deploy).
    const from = r.image.ref === '.' ? 'a directory' : r.image.ref;
    rows.push([`v${r.version}`, r.status.replace('_', ' '), r.image.digest.slice(0, 'sha256:'.length + 12), from, String(r.secrets_version), r.created_at]);
  }
  return table(rows);
}
