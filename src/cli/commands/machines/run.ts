import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MachineView } from '../../../agent/machines-port.js';
import { StarlingError, isStarlingError } from '../../../shared/index.js';
import { optionList, type Command } from '../../args.js';
import { jsonOption } from '../certs/common.js';
import { printJson } from '../../output.js';
import { agentOf, appOf, callJson, describeMachine, machinePath, machinesOptions, pairs, splitCommand, usage } from './common.js';

/** How long `run` waits for the new machine to be started (the API's maximum). */
const WAIT_S = 60;

/**
 * `starling machines run IMAGE --app APP`: creates a machine on the agent's host and waits until it
 * is started. IMAGE is a directory or `.tar.gz` holding the app; a path that exists here is made
 * absolute, since the agent resolves it on the same host but from its own working directory.
 */
export const machinesRun: Command = {
  noun: 'machines',
  verb: 'run',
  summary: 'create and start a machine from an image',
  args: ['IMAGE'],
  options: {
    ...machinesOptions,
    region: { type: 'string', value: 'REGION', description: "where the machine runs (the agent's region; the only one it can run)" },
    env: { type: 'string', value: 'NAME=VALUE', multiple: true, description: 'an environment variable' },
    secret: { type: 'string', value: 'NAME[=VALUE]', multiple: true, description: 'a secret (NAME alone: the value of $NAME here)' },
    port: { type: 'string', value: 'N', description: 'the port the app listens on inside the machine' },
    cmd: { type: 'string', value: 'COMMAND', description: 'the command to run, e.g. "node server.js"' },
    detach: { type: 'boolean', description: 'return once the machine is created, without waiting for it to start' },
    ...jsonOption,
  },
  async run(opts) {
    const app = appOf(opts);
    const image = String(opts.image);
    const config: Record<string, unknown> = { image: existsSync(image) ? resolve(image) : image };
    if (typeof opts.cmd === 'string') config.cmd = splitCommand(opts.cmd);
    const env = optionList(opts, 'env');
    if (env.length > 0) config.env = pairs(env, '--env');
    const secrets = optionList(opts, 'secret');
    if (secrets.length > 0) config.secrets = secretValues(secrets);
    if (typeof opts.port === 'string') {
      const port = /^\d{1,5}$/.test(opts.port) ? Number(opts.port) : 0;
      if (port < 1 || port > 65535) throw usage(`--port must be from 1 to 65535, got "${opts.port}"`);
      config.internal_port = port;
    }
    const body = { region: typeof opts.region === 'string' ? opts.region : undefined, config };
    const agent = await agentOf(opts);
    let m = await callJson<MachineView>(agent, 'POST', machinePath(app), { body });
    if (opts.detach !== true && m.state !== 'started') {
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
    if (opts.json === true) printJson(m);
    else console.log(`machine ${m.id} ${m.state === 'started' ? 'started' : `created (${m.state})`}\n${describeMachine(m)}`);
    return 0;
  },
};

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
