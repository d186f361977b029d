import type { RequestHead } from '../codec/index.js';
import type { MachineRoute } from '../route-table/index.js';
import type { ChooseRequest } from './choose.js';
import { PEER_HEADER, peerKeyMatches } from './peer.js';
import type { ReplayDirective } from './replay.js';

/**
 * What one request asks of the machine choice (choose.ts): the client's preference headers
 * (`starling-` or `fly-` prefixed), what a replay narrowed it to, and the machines already tried.
 * It is the ChooseRequest itself, so routing again builds nothing.
 */
export class Preferences implements ChooseRequest {
  preferRegions: readonly string[] | undefined;
  forceRegion: string | undefined;
  preferInstance: string | undefined;
  forceInstance: string | undefined;
  onlyRegions: readonly string[] | undefined;
  exclude: Set<MachineRoute> | undefined;
  /** Only this host's machines: a trusted peer sent the request (it never goes back out). */
  localOnly = false;

  constructor(readonly edgeRegion: string) {}

  /**
   * One pass over the head for the preference headers and the peer key (peer.ts). Returns whether a
   * trusted peer sent the request.
   */
  read(h: RequestHead, peerKey: string | undefined): boolean {
    let fromPeer = false;
    for (let i = 0; i < h.names.length; i++) {
      const n = h.names[i]!;
      const c = n.charCodeAt(0);
      if (c !== 102 /* f */ && c !== 115 /* s */) continue;
      const key = n.startsWith('starling-') ? n.slice(9) : n.startsWith('fly-') ? n.slice(4) : undefined;
      const v = h.values[i]!;
      if (key === 'prefer-region') this.preferRegions = preferList(v);
      else if (key === 'force-region') this.forceRegion = v.toLowerCase();
      else if (key === 'prefer-instance-id') this.preferInstance = v;
      else if (key === 'force-instance-id') this.forceInstance = v;
      else if (n === PEER_HEADER && peerKey !== undefined && peerKeyMatches(v, peerKey)) fromPeer = true;
    }
    this.localOnly = fromPeer;
    return fromPeer;
  }

  /** A machine that failed is not chosen again for this request. */
  avoid(m: MachineRoute): void {
    (this.exclude ??= new Set()).add(m);
  }

  /** A replay starts over: `elsewhere=true` leaves the machine that asked for it out. */
  replayFrom(from: MachineRoute, d: ReplayDirective): void {
    this.exclude = d.elsewhere ? new Set([from]) : undefined;
  }

  /** A replay's fallback: its machine only (force_self) or first (prefer_self), nothing left out. */
  fallBack(m: MachineRoute, mode: 'force_self' | 'prefer_self'): void {
    this.exclude = undefined;
    this.onlyRegions = undefined;
    this.forceInstance = mode === 'force_self' ? m.id : undefined;
    this.preferInstance = mode === 'prefer_self' ? m.id : undefined;
  }

  /** The directive's target replaces the client's own preferences. */
  replay(d: ReplayDirective): void {
    this.onlyRegions = d.regions;
    this.forceInstance = d.instance;
    this.preferInstance = d.preferInstance;
    this.preferRegions = undefined;
    this.forceRegion = undefined;
  }
}

/** `ams, fra` → ['ams', 'fra']: fly's ordered list (one region is a list of one). */
function preferList(v: string): readonly string[] | undefined {
  const list = v
    .toLowerCase()
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '');
  return list.length > 0 ? list : undefined;
}
