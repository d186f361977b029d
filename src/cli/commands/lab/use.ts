/**
 * `starling lab use [NAME]`: from now on, the commands that call the control plane (deploy, status,
 * logs, scale, secrets, …) call lab NAME's, from the host, through a relay into its namespace
 * (src/cli/lab-target.ts). It writes `lab = "NAME"` into ~/.config/starling/config.toml, which
 * wins over a `control_url` there; `--clear` removes it. `--lab NAME` does the same for one command.
 */
import { labControlAccess } from '../../../lab/index.js';
import { userConfigPath } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { saveLabAccess, setDefaultLab } from '../../lab-target.js';
import { asLabUser, labFromOpts } from './common.js';
import { DEFAULT_LAB_NAME, labUseCmd } from './meta.js';

export const runLabUseCmd = implement(labUseCmd, async (opts) => {
  const name = opts.name ?? DEFAULT_LAB_NAME;
  if (opts.clear) {
    const before = setDefaultLab(userConfigPath(), undefined);
    console.log(before === undefined ? 'no lab was in use' : `lab ${before} is no longer used: commands go to control_url or STARLING_CONTROL_URL again`);
    return 0;
  }
  // The lab's files (its token, its certificate) are where the lab runs: inside the holder for a normal user.
  return asLabUser({ name }, async () => {
    const ctx = labFromOpts({ name });
    saveLabAccess(labControlAccess(ctx));
    setDefaultLab(userConfigPath(), name);
    console.log(`starling commands now go to lab ${name}'s control plane (${ctx.plan.control.url}, through namespace ${ctx.plan.control.ns}); undo with: starling lab use --clear`);
    const pops = new Set(ctx.plan.popHosts.map((h) => h.city));
    const city = (ctx.plan.clients.find((c) => !pops.has(c.city)) ?? ctx.plan.clients[0])?.city ?? 'CITY';
    console.log(ownAppHint(name, ctx.plan.popHosts[0]?.city ?? 'lhr', city));
    return 0;
  });
});

/** The three commands that deploy the reader's own app to the lab (printed by lab up and lab use). */
export function ownAppHint(lab: string, region: string, city: string): string {
  const n = lab === DEFAULT_LAB_NAME ? '' : ` --name ${lab}`;
  return [
    'deploy your own app (a directory with a fly.toml or starling.toml: app, primary_region, [http_service] internal_port):',
    `  cd my-app && starling deploy --create        # primary_region = "${region}" (or another PoP of the lab)`,
    `  starling lab curl ${city} http://my-app.starling.test/${n}`,
  ].join('\n');
}
