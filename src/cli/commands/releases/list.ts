/** `starling releases list --app APP`: an app's releases, oldest first, as the control plane keeps them. */
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { releasesList } from './meta.js';

/** A release as the API answers it (immutable). */
export interface ReleaseJson {
  version: number;
  config: Record<string, unknown>;
  image: { ref: string; digest: string };
  secrets_version: number;
  created_at: string;
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
  const rows = [['VERSION', 'IMAGE', 'DIGEST', 'SECRETS VERSION', 'CREATED']];
  for (const r of releases) {
    rows.push([`v${r.version}`, r.image.ref, r.image.digest.slice(0, 'sha256:'.length + 12), String(r.secrets_version), r.created_at]);
  }
  return table(rows);
}
