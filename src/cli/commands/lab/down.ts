/** `starling lab down`: removes what the lab's state file says was made, and nothing else. */
import { holderDir, labDir, labDown, runsDirectly, rerunInHolder, stopHolder } from '../../../lab/index.js';
import { labName } from './common.js';
import { userConfigPath } from '../../control-client.js';
import { forgetLabAccess, setDefaultLab } from '../../lab-target.js';
import { implement } from '../../kit/index.js';
import { labDownCmd } from './meta.js';

export const runLabDownCmd = implement(labDownCmd, async (opts) => {
  const name = labName(opts);
  forget(name);
  if (runsDirectly()) return down(name);
  // A normal user: tear down inside the holder, then stop the holder, which takes anything left.
  let code = 0;
  try {
    code = await rerunInHolder(name, { start: false });
  } catch {
    // No holder: nothing of the lab can be left (its namespaces and processes lived in it).
    console.log(`lab ${name}: nothing to take down (no user namespace recorded in ${holderDir(name)})`);
    return 0;
  }
  if (await stopHolder(name)) console.log(`lab ${name}: its user namespace stopped`);
  return code;
});

/** The CLI's way into the lab goes with it; so does `lab use` of it (back to control_url). */
function forget(name: string): void {
  forgetLabAccess(name);
  if (setDefaultLab(userConfigPath(), undefined, { onlyIf: name }) === name) console.log(`lab ${name} was in use (starling lab use): commands go to control_url or STARLING_CONTROL_URL again`);
}

async function down(name: string): Promise<number> {
  const r = await labDown(name);
  if (r.lab === undefined) {
    console.log(`lab ${name}: nothing to take down (no state in ${labDir(name)})`);
    return 0;
  }
  const killed = r.killed.length > 0 ? ` (${r.killed.join(', ')} needed SIGKILL)` : '';
  console.log(`lab ${name} is down: ${r.processes} processes stopped${killed}, ${r.namespaces} namespaces and ${r.dirs} directories removed`);
  return 0;
}
