/** `starling releases list --app APP`: an app's releases, oldest first, as the control plane keeps them. */
import type { Command } from '../../args.js';
import { appOption, appPath, callControl, controlOptions, requireApp, resolveControl } from '../../control-client.js';
import { jsonOption } from '../certs/common.js';
import { printJson, table } from '../../output.js';

/** A release as the API answers it (immutable). */
export interface ReleaseJson {
  version: number;
  config: Record<string, unknown>;
  image: { ref: string; digest: string };
  secrets_version: number;
  created_at: string;
}

export const releasesList: Command = {
  noun: 'releases',
  verb: 'list',
  aliases: ['ls'],
  summary: "an app's releases, oldest first: version, image, secrets version",
  options: { ...appOption, ...jsonOption, ...controlOptions },
  async run(opts) {
    const app = requireApp(opts);
    const { releases } = await callControl<{ releases: ReleaseJson[] }>(resolveControl(opts), 'GET', appPath(app, '/releases'));
    if (opts.json === true) printJson(releases);
    else if (releases.length === 0) console.log(`app ${app} has no releases yet; a deploy creates the first`);
    else console.log(formatReleases(releases));
    return 0;
  },
};

export function formatReleases(releases: readonly ReleaseJson[]): string {
  const rows = [['VERSION', 'IMAGE', 'DIGEST', 'SECRETS VERSION', 'CREATED']];
  for (const r of releases) {
    rows.push([`v${r.version}`, r.image.ref, r.image.digest.slice(0, 'sha256:'.length + 12), String(r.secrets_version), r.created_at]);
  }
  return table(rows);
}
