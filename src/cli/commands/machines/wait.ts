/**
 * `starling machines wait ID --state STATE`: until the machine is in STATE (one long poll of the
 * Machines API, `--timeout` seconds at most). Not there in time: exit status 1.
 */
import { implement } from '../../kit/index.js';
import { appOf } from './common.js';
import { explained, machinesApi, waitForState } from './api.js';
import { machinesWait } from './meta.js';

export const runMachinesWait = implement(machinesWait, async (opts) => {
  const app = appOf(opts);
  const api = await machinesApi(opts);
  await waitForState(api, app, opts.id, opts.state, opts.timeout).catch((e: unknown) => {
    throw explained(e, app, opts.id);
  });
  console.log(`machine ${opts.id} is ${opts.state}`);
  return 0;
});
