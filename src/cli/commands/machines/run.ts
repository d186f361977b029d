import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MachineView } from '../../../runtime/index.js';
import { StarlingError, isStarlingError } from '../../../shared/index.js';
import { implement, usageError as usage } from '../../kit/index.js';
import { printJson } from '../../output.js';
import { agentOf, appOf, callJson, describeMachine, machinePath, pairs, splitCommand } from './common.js';
import { machinesRun } from './meta.js';

/** How long `run` waits for the new machine to be started (the API's maximum). */
const WAIT_S = 60;

/**
 * `starling machines run IMAGE --app APP`: creates a machine on the agent's host and waits until it
 * is started. IMAGE is a directory or `.tar.gz` holding the app; a path that exists here is made
 * absolute, since the agent resolves it on the same host but from its own working directory.
 */
export const runMachinesRun = implement(machinesRun, async (opts) => {
  const app = appOf(opts);
  const { image } = opts;
  const config: Record<string, unknown> = { image: existsSync(image) ? resolve(image) : image };
  if (opts.cmd !== undefined) config.cmd = splitCommand(opts.cmd);
  if (opts.env.length > 0) config.env = pairs(opts.env, '--env');
  if (opts.secret.length > 0) config.secrets = secretValues(opts.secret);
  if (opts.port !== undefined) config.internal_port = opts.port;
  const body = { region: opts.region, config };
  const agent = await agentOf(opts);
  let m = await callJson<MachineView>(agent, 'POST', machinePath(app), { body });
  if (!opts.detach && m.state !== 'started') {
    try {
      await callJson(agent, 'GET', machinePath(app, m.id, `/wait?state=started&timeout=${WAIT_S}`), { timeoutMs: (WAIT_S + 5) * 1000 });
    } catch (e) {
      if (!isStarlingError(e, 'ERR_WAIT_TIMEOUT')) throw e;
      throw new StarlingError('ERR_WAIT_TIMEOUT', `machine ${m.id} was created but did not start within ${WAIT_S} s`, {
        cause: e,
        hint: `see why: starling machines logs ${m.id} --app ${app}`,
      });
    }
    m = await callJson<MachineView>(agent, 'GET', machinePath(app, m.id));
  }
  if (opts.json) printJson(m);
  else console.log(`machine ${m.id} ${m.state === 'started' ? 'started' : `created (${m.state})`}\n${describeMachine(m)}`);
  return 0;
});

/** `NAME=VALUE`, or `NAME` alone for the value of $NAME (keeps it out of shell history and `ps`). Errors never quote a value. */
function secretValues(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    const name = eq < 0 ? v : v.slice(0, eq);
    if (name === '') throw usage('--secret takes NAME=VALUE or NAME, and NAME must not be empty');
    const value = eq < 0 ? process.env[name] : v.slice(eq + 1);
    if (value === undefined) throw usage(`--secret ${name}: $${name} is not set here`, `export ${name}, or pass --secret ${name}=VALUE`);
    out[name] = value;
  }
  return out;
}
