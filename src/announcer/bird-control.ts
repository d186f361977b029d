import { describeError } from '../shared/index.js';
import type { BirdControl, SessionInfo } from './announcer.js';
import { BirdClient } from './bird/client.js';
import type { BirdProtocol } from './bird/show.js';

export interface BirdControlOptions {
  /** Bound on connecting and on each command (BIRD answers in milliseconds when it is alive). */
  timeoutMs?: number;
}

/**
 * The Announcer's view of BIRD (enable/disable the static protocols, reconfigure, list the BGP
 * sessions) over one control-socket connection. Kept apart from BirdClient so the announcer can be
 * tested with a fake and the client stays a plain protocol client.
 */
export async function connectBirdControl(socketPath: string, o: BirdControlOptions = {}): Promise<BirdControl> {
  const client = await BirdClient.connect(socketPath, { timeoutMs: o.timeoutMs ?? 5000 });
  return {
    enable: (name) => client.enable(name),
    disable: (name) => client.disable(name),
    // BIRD re-reads the file it was started with (`bird -c`), which the supervisor has just written.
    configure: () => client.configure(),
    sessions: async () => (await client.showProtocolsAll()).filter((p) => p.proto === 'BGP').map(toSession),
    close: () => {
      client.close().catch((e: unknown) => describeError(e));
    },
  };
}

/** One `show protocols all` entry of a BGP protocol, as the status and metrics report it. */
export function toSession(p: BirdProtocol): SessionInfo {
  const counts = p.channels.flatMap((c) => (c.routes ? [c.routes.exported] : []));
  return {
    name: p.name,
    state: p.state,
    // Without details (an older BIRD, a protocol starting) the summary's info column starts with it.
    bgpState: p.bgp?.state ?? (p.info.split(/\s+/)[0] || undefined),
    since: p.since || undefined,
    neighbor: p.bgp?.neighborAddress,
    lastError: p.bgp?.lastError || undefined,
    exported: counts.length > 0 ? counts.reduce((a, b) => a + b, 0) : undefined,
  };
}
