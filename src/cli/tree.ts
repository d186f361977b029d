/**
 * The command table: every command's metadata (names, summary, arguments, options) and where the
 * root help lists it. The README's CLI reference is checked against this table.
 */
import { dispatch as runTree, findCommand as findIn, mainHelp as helpOf, type AnyCommand, type CommandTree, type NounMeta } from './kit/index.js';
// Only the commands' meta.ts files: what each command does is imported when it runs.
import { deploy, deployResume, deployRollback } from './commands/deploy/meta.js';
import { status } from './commands/status/meta.js';
import { logs } from './commands/logs/meta.js';
import { scaleCount, scaleShow } from './commands/scale/meta.js';
import { openCmd } from './commands/open/meta.js';
import { sshConsole } from './commands/ssh/meta.js';
import { releasesList, releasesRollback } from './commands/releases/meta.js';
import { appsCreate, appsDestroy, appsList } from './commands/apps/meta.js';
import { secretsList, secretsSet, secretsUnset } from './commands/secrets/meta.js';
import { registryList, registryLogin, registryLogout } from './commands/registry/meta.js';
import { configValidate } from './commands/config/meta.js';
import { hostsAdd, hostsList, hostsRemove } from './commands/hosts/meta.js';
import { regionsList } from './commands/regions/meta.js';
import { orgsCreate, orgsList } from './commands/orgs/meta.js';
import { tokensCreate, tokensList, tokensRevoke } from './commands/tokens/meta.js';
import { wireguardCreate, wireguardList, wireguardRemove } from './commands/wireguard/meta.js';
import { ipsAllocatePrivate, ipsList, ipsReleasePrivate } from './commands/ips/meta.js';
import { postgresAttach, postgresConnect, postgresCreate, postgresFailover, postgresStatus } from './commands/postgres/meta.js';
import { volumesCreate, volumesDestroy, volumesExtend, volumesList, volumesShow, volumesSnapshotsCreate, volumesSnapshotsList } from './commands/volumes/meta.js';
import { controlRun } from './commands/control/meta.js';
import { agentBgpStatus, agentDrain, agentMeshStatus, agentRun, agentUndrain } from './commands/agent/meta.js';
import {
  machinesCordon,
  machinesDestroy,
  machinesLease,
  machinesList,
  machinesLogs,
  machinesRun,
  machinesShow,
  machinesStart,
  machinesStatus,
  machinesStop,
  machinesSuspend,
  machinesUncordon,
  machinesWait,
} from './commands/machines/meta.js';
import { proxyForward, proxyServe } from './commands/proxy/meta.js';
import { certsAdd, certsCheck, certsImport, certsList, certsRemove, certsShow } from './commands/certs/meta.js';
import { labCurlCmd, labDownCmd, labExecCmd, labFailCmd, labFailoverCmd, labHealCmd, labStatusCmd, labUpCmd, labUseCmd } from './commands/lab/meta.js';
import { completion } from './commands/completion/meta.js';

/** The root help's sections, in order. */
export const GROUPS = ['Deploy and run apps', 'Configure', 'Hosts and the platform', 'Operate a PoP', 'Certificates', 'The lab', 'Shell'] as const;
type Group = (typeof GROUPS)[number];

const noun = (name: string, group: Group, summary: string): NounMeta => ({ noun: name, group, summary });

/** Every noun, in help order within its group. */
export const NOUNS: readonly NounMeta[] = [
  noun('deploy', 'Deploy and run apps', 'deploy an app and follow the rollout; resume or roll back an interrupted deploy'),
  noun('status', 'Deploy and run apps', "an app's deployed release, machines and latest deploy"),
  noun('logs', 'Deploy and run apps', "the newest log lines of an app's machines"),
  noun('scale', 'Deploy and run apps', 'how many machines an app runs, per region'),
  noun('releases', 'Deploy and run apps', "an app's releases"),
  noun('machines', 'Deploy and run apps', "an app's machines on every host: list, show, start, stop, suspend, cordon, wait, lease, destroy (--local: this host's agent; run, logs)"),
  noun('ssh', 'Deploy and run apps', 'a shell or a command inside a machine'),
  noun('open', 'Deploy and run apps', "open the app's URL in a browser"),
  noun('apps', 'Configure', 'create, list and destroy apps'),
  noun('secrets', 'Configure', "set, list and unset an app's secrets (values are never shown)"),
  noun('registry', 'Configure', "an app's logins for private image registries (stored sealed; passwords from stdin only)"),
  noun('config', 'Configure', 'check an app config before deploying it'),
  noun('volumes', 'Configure', "an app's volumes: create, list, show, extend, destroy; their snapshots"),
  noun('postgres', 'Configure', 'PostgreSQL apps: create (a primary and replicas, on volumes), attach an app, status, connect, failover'),
  noun('ips', 'Configure', "an app's private service address (Flycast): allocate, list, release"),
  noun('hosts', 'Hosts and the platform', "add, list and remove the platform's hosts (the operator only)"),
  noun('regions', 'Hosts and the platform', 'the regions that have hosts'),
  noun('orgs', 'Hosts and the platform', 'create and list organisations'),
  noun('tokens', 'Hosts and the platform', 'create, list and revoke API tokens'),
  noun('wireguard', 'Hosts and the platform', "your laptop on an org's private network: create (a wg-quick config), list and remove WireGuard peers"),
  noun('control', 'Hosts and the platform', 'the control plane'),
  noun('agent', 'Operate a PoP', "run this host's agent; drain and undrain the host; its BGP sessions and prefixes"),
  noun('proxy', 'Operate a PoP', "the edge proxy on its own (proxy serve); forward a local port to a machine's (proxy LOCAL:REMOTE)"),
  noun('certs', 'Certificates', "with --app (or in an app's directory): the app's hostnames and certificates on the control plane, served by every PoP; with --certs DIR: the host-local store of proxy serve"),
  noun('lab', 'The lab', 'a small internet on this computer: build it, look at it, fail PoPs, measure failover'),
  noun('completion', 'Shell', 'completion scripts for bash, zsh and fish'),
];

/** Every command, in help order within its noun. */
export const COMMANDS: readonly AnyCommand[] = [
  proxyServe,
  proxyForward,
  certsAdd,
  certsImport,
  certsList,
  certsShow,
  certsCheck,
  certsRemove,
  agentRun,
  agentDrain,
  agentUndrain,
  agentBgpStatus,
  agentMeshStatus,
  machinesRun,
  machinesList,
  machinesShow,
  machinesStart,
  machinesStop,
  machinesSuspend,
  machinesCordon,
  machinesUncordon,
  machinesWait,
  machinesLease,
  machinesDestroy,
  machinesLogs,
  machinesStatus,
  configValidate,
  controlRun,
  appsCreate,
  appsList,
  appsDestroy,
  releasesList,
  releasesRollback,
  secretsSet,
  secretsList,
  secretsUnset,
  registryLogin,
  registryList,
  registryLogout,
  volumesCreate,
  volumesList,
  volumesShow,
  volumesExtend,
  volumesDestroy,
  volumesSnapshotsCreate,
  volumesSnapshotsList,
  postgresCreate,
  postgresAttach,
  postgresStatus,
  postgresConnect,
  postgresFailover,
  ipsAllocatePrivate,
  ipsList,
  ipsReleasePrivate,
  regionsList,
  orgsCreate,
  orgsList,
  tokensCreate,
  tokensList,
  tokensRevoke,
  wireguardCreate,
  wireguardList,
  wireguardRemove,
  hostsAdd,
  hostsList,
  hostsRemove,
  deploy,
  deployResume,
  deployRollback,
  status,
  scaleCount,
  scaleShow,
  sshConsole,
  openCmd,
  logs,
  labUpCmd,
  labStatusCmd,
  labExecCmd,
  labCurlCmd,
  labFailCmd,
  labHealCmd,
  labFailoverCmd,
  labUseCmd,
  labDownCmd,
  completion,
];

export const TREE: CommandTree = { name: 'starling', tagline: 'a self-hostable anycast app platform', groups: GROUPS, nouns: NOUNS, commands: COMMANDS };

export function findCommand(argv: readonly string[]): { cmd: AnyCommand; rest: string[] } | undefined {
  return findIn(TREE, argv);
}

export function mainHelp(): string {
  return helpOf(TREE);
}

/** Runs `starling ARGV…`; resolves with the exit status. */
export function dispatch(argv: readonly string[]): Promise<number> {
  return runTree(TREE, argv, { packageJson: new URL('../../../package.json', import.meta.url) });
}
