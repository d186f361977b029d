import { commandName, type Command } from './args.js';
import { proxyServe } from './commands/proxy/serve.js';
import { certsAdd } from './commands/certs/add.js';
import { certsImport } from './commands/certs/import.js';
import { certsList } from './commands/certs/list.js';
import { certsRemove } from './commands/certs/remove.js';
import { certsShow } from './commands/certs/show.js';
import { agentRun } from './commands/agent/run.js';
import { agentDrain } from './commands/agent/drain.js';
import { agentUndrain } from './commands/agent/undrain.js';
import { agentBgpStatus } from './commands/agent/bgp-status.js';
import { machinesRun } from './commands/machines/run.js';
import { machinesList } from './commands/machines/list.js';
import { machinesDestroy, machinesStart, machinesStop } from './commands/machines/lifecycle.js';
import { machinesLogs } from './commands/machines/logs.js';
import { configValidate } from './commands/config/validate.js';
import { controlRun } from './commands/control/run.js';
import { appsCreate, appsDestroy, appsList } from './commands/apps/apps.js';
import { releasesList } from './commands/releases/list.js';
import { secretsList, secretsSet, secretsUnset } from './commands/secrets/secrets.js';
import { regionsList } from './commands/regions/list.js';
import { orgsCreate, orgsList } from './commands/orgs/orgs.js';
import { tokensCreate, tokensList, tokensRevoke } from './commands/tokens/tokens.js';
import { hostsAdd, hostsList, hostsRemove } from './commands/hosts/hosts.js';

import { deploy } from './commands/deploy/deploy.js';
import { deployResume, deployRollback } from './commands/deploy/resume.js';
import { scaleCount } from './commands/scale/scale.js';
import { status } from './commands/status/status.js';
import { logs } from './commands/logs/logs.js';
import { labUpCmd } from './commands/lab/up.js';
import { labDownCmd } from './commands/lab/down.js';
import { labStatusCmd } from './commands/lab/status.js';
import { labCurlCmd, labExecCmd } from './commands/lab/exec.js';
import { labFailCmd, labHealCmd } from './commands/lab/fail.js';
import { labFailoverCmd } from './commands/lab/failover.js';
/** Every command, in help order. The README's CLI reference is checked against this table. */
export const COMMANDS: readonly Command[] = [
  proxyServe,
  certsAdd,
  certsImport,
  certsList,
  certsShow,
  certsRemove,
  agentRun,
  agentDrain,
  agentUndrain,
  agentBgpStatus,
  machinesRun,
  machinesList,
  machinesStart,
  machinesStop,
  machinesDestroy,
  machinesLogs,
  configValidate,
  controlRun,
  appsCreate,
  appsList,
  appsDestroy,
  releasesList,
  secretsSet,
  secretsList,
  secretsUnset,
  regionsList,
  orgsCreate,
  orgsList,
  tokensCreate,
  tokensList,
  tokensRevoke,
  hostsAdd,
  hostsList,
  hostsRemove,
  deploy,
  deployResume,
  deployRollback,
  status,
  scaleCount,
  logs,
  labUpCmd,
  labStatusCmd,
  labExecCmd,
  labCurlCmd,
  labFailCmd,
  labHealCmd,
  labFailoverCmd,
  labDownCmd,
];

/**
 * The command named by the first words of argv, and the words after it. A verb or alias may be
 * several words (`agent bgp status`); the longest name that matches wins.
 */
export function findCommand(argv: readonly string[]): { cmd: Command; rest: string[] } | undefined {
  const [noun, ...words] = argv;
  let best: { cmd: Command; used: number } | undefined;
  for (const cmd of COMMANDS) {
    if (cmd.noun !== noun) continue;
    for (const name of [cmd.verb, ...(cmd.aliases ?? [])]) {
      // A command without a verb (`starling deploy`, `starling status`) matches on its noun alone.
      const parts = name === '' ? [] : name.split(' ');
      if (parts.every((w, i) => words[i] === w) && parts.length > (best?.used ?? -1)) best = { cmd, used: parts.length };
    }
  }
  return best && { cmd: best.cmd, rest: words.slice(best.used) };
}

export function mainHelp(): string {
  const lines = ['starling — a self-hostable anycast app platform', '', 'usage: starling <noun> <verb> [options]', ''];
  for (const c of COMMANDS) lines.push(`  starling ${commandName(c).padEnd(20)} ${c.summary}`);
  lines.push('', 'Run `starling <noun> <verb> --help` for the options of one command.');
  return lines.join('\n');
}
