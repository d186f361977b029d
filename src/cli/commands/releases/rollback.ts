/**
 * `starling releases rollback [VERSION] --app APP` (VERSION as `3` or `v3`): back to an earlier release, as
 * `fly releases rollback`. Releases are immutable, so going back is a new release made of the old
 * one's config and image — with the app's current secrets, which a rollback must not undo — and a
 * deploy of it, followed live like `starling deploy`. Without VERSION: the newest release older
 * than the deployed one that was itself deployed once (status `superseded`), skipping releases that
 * failed or were rolled back. Exit status: 0 deployed, 1 the deploy rolled back or failed, 2 bad input.
 */
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement, usageError } from '../../kit/index.js';
import { printJson } from '../../output.js';
import { followDeploy, type DeployJson } from '../deploy/follow.js';
import type { ReleaseJson } from './list.js';
import { releasesRollback } from './meta.js';

export const runReleasesRollback = implement(releasesRollback, async (opts) => {
  const { app } = opts;
  const target = resolveControl(opts);
  const say = (line: string): void => void (opts.json ? undefined : console.log(line));
  const { releases } = await callControl<{ releases: ReleaseJson[] }>(target, 'GET', appPath(app, '/releases'));
  const deployed = releases.find((r) => r.status === 'deployed');
  const to = pick(app, releases, deployed, versionArg(opts.version));
  const made = await callControl<{ version: number }>(target, 'POST', appPath(app, '/releases'), { config: to.config, image: to.image });
  say(`release v${made.version} created: v${to.version}'s config and image, with the current secrets`);
  const body: Record<string, unknown> = { release: made.version };
  if (opts['wait-timeout'] !== undefined) body.wait_timeout_s = opts['wait-timeout'];
  const started = await callControl<DeployJson>(target, 'POST', appPath(app, '/deploys'), body);
  say(`deploy ${started.id}: ${started.strategy}, from v${started.from_release} to v${started.release}`);
  const end = await followDeploy(target, app, started.id, say);
  if (opts.json) printJson(end);
  if (end.state === 'succeeded') {
    say(`rolled back: release v${end.release} (v${to.version} again) deployed`);
    return 0;
  }
  say(end.state === 'rolled_back' ? `the rollback's deploy rolled back to v${end.from_release}: ${end.error ?? ''}` : `deploy ${end.state}: ${end.error ?? ''}`);
  return 1;
});

/** `3` or `v3` → 3; undefined when left out. */
function versionArg(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^v?(\d{1,9})$/i.exec(text.trim());
  if (!m || Number(m[1]) < 1) throw usageError(`VERSION must be a release number like 3 or v3, got "${text}"`, 'see them with: starling releases list');
  return Number(m[1]);
}

function pick(app: string, releases: readonly ReleaseJson[], deployed: ReleaseJson | undefined, version: number | undefined): ReleaseJson {
  const list = 'starling releases list --app ' + app;
  if (version !== undefined) {
    const r = releases.find((x) => x.version === version);
    if (!r) throw usageError(`app ${app} has no release v${version}`, `its releases: ${list}`);
    if (r === deployed) throw usageError(`v${version} is the release deployed now: nothing to roll back to`, `pick another: starling releases rollback VERSION (${list})`);
    return r;
  }
  if (!deployed) throw usageError(`app ${app} has no deployed release to roll back from`, `deploy one first (starling deploy), or name one: starling releases rollback VERSION`);
  const earlier = releases.filter((r) => r.version < deployed.version && r.status === 'superseded').at(-1);
  if (!earlier) throw usageError(`app ${app} has no earlier release that was deployed`, `name one: starling releases rollback VERSION (${list})`);
  return earlier;
}
