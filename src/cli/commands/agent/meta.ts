/** `starling agent …`: what the command table knows of them (run.ts, drain.ts, undrain.ts, bgp-status.ts run them). */
import { configFlag, jsonFlag, logLevelFlag } from '../../flags.js';
import { defineCommand } from '../../kit/index.js';

export const DEFAULT_AGENT_CONFIG = '/etc/starling/agent.toml';

/** `--config FILE`, shared by every `starling agent …` and `machines …` command: the CLI talks to the agent it names. */
export const agentConfigFlag = configFlag("the agent's static config (agent.toml)", DEFAULT_AGENT_CONFIG);

export const agentRun = defineCommand({
  noun: 'agent',
  verb: 'run',
  summary: 'run the host agent: proxy, BIRD announcer and local admin API',
  options: { ...agentConfigFlag, ...logLevelFlag },
  load: () => import('./run.js'),
});

export const agentDrain = defineCommand({
  noun: 'agent',
  verb: 'drain',
  summary: 'move traffic away from this host: GRACEFUL_SHUTDOWN, then withdraw the prefixes',
  options: { ...agentConfigFlag },
  load: () => import('./drain.js'),
});

export const agentUndrain = defineCommand({
  noun: 'agent',
  verb: 'undrain',
  summary: 'end a drain: announce the prefixes again (untagged) while the proxy is healthy',
  options: { ...agentConfigFlag },
  load: () => import('./undrain.js'),
});

export const agentBgpStatus = defineCommand({
  noun: 'agent',
  verb: 'bgp status',
  summary: 'BGP sessions and anycast prefixes of the running agent',
  options: { ...agentConfigFlag, ...jsonFlag('print the status JSON (keys as documented) instead of text') },
  load: () => import('./bgp-status.js'),
});

export const agentMeshStatus = defineCommand({
  noun: 'agent',
  verb: 'mesh status',
  summary: 'this host on the WireGuard mesh and its peers (handshakes, bytes)',
  options: { ...agentConfigFlag, ...jsonFlag('print { mesh } as the admin API returns it') },
  load: () => import('./mesh-status.js'),
});
