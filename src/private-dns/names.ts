/**
 * The shapes of the names under `internal.` (and `flycast.`), parsed from a query's name (I/O-free). Which of them
 * exist, and what they hold, is resolver.ts's business: here a name is only taken apart.
 *
 * The forms follow fly's private networking ("Fly.io .internal DNS"):
 *   internal                                   the zone's apex (its SOA)
 *   _apps.internal, _instances.internal        the org's apps, the org's started instances (TXT)
 *   <app>.internal, global.<app>.internal      the app's started instances (AAAA)
 *   <region>.<app>.internal                    ... in that region
 *   top<N>.nearest.of.<app>.internal           ... the N nearest to the asker
 *   <id>.vm.<app>.internal                     one machine, whatever its state
 *   <group>.process.<app>.internal             ... of that process group
 *   vms.<app>.internal, regions.<app>.internal TXT lists
 *   <app>.flycast, flycast.<app>.internal      the app's private service address (AAAA), fly's
 *                                              Flycast name and its alias under `.internal` (for
 *                                              a resolver that sends only `.internal` here)
 * Fixed labels (global, vms, regions, vm, process, of, flycast) win over a region of the same name.
 */

export type InternalName =
  | { kind: 'apex' }
  | { kind: 'apps' }
  | { kind: 'instances' }
  | { kind: 'app'; app: string }
  | { kind: 'region'; app: string; region: string }
  | { kind: 'nearest'; app: string; count: number }
  | { kind: 'vm'; app: string; id: string }
  | { kind: 'process'; app: string; group: string }
  | { kind: 'vms'; app: string }
  | { kind: 'regions'; app: string }
  | { kind: 'flycast'; app: string }
  /**
   * A name with names below it and no records of its own (RFC 8020 §2: an "empty non-terminal"
   * exists, so it is NODATA, never NXDOMAIN): vm.<app>, process.<app>, of.<app>, nearest.of.<app>.
   */
  | { kind: 'between'; app: string; below: 'vm' | 'process' | 'of' | 'nearest' }
  /** Under `internal.` but of no form above: NXDOMAIN. */
  | { kind: 'none' };

/** The zone this server is the authority of. */
export const ZONE = 'internal';
/** The second zone: private service addresses only (`<app>.flycast`). */
export const FLYCAST_ZONE = 'flycast';

/** `top<N>`: N from 1, at most 6 digits (an N larger than the app's machines simply gives them all). */
const TOP = /^top([1-9][0-9]{0,5})$/;

/** A name's labels, lower-cased (DNS names compare case-insensitively, RFC 4343), without the root. */
export function labelsOf(name: string): string[] {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  return trimmed === '' ? [] : trimmed.toLowerCase().split('.');
}

/** Whether a name is `internal.` or `flycast.`, or below one: ours to answer, never forwarded. */
export function isInternalName(name: string): boolean {
  const last = labelsOf(name).at(-1);
  return last === ZONE || last === FLYCAST_ZONE;
}

/** The zone of a name of ours (its SOA's owner), `internal` for any other. */
export function zoneOf(name: string): string {
  return labelsOf(name).at(-1) === FLYCAST_ZONE ? FLYCAST_ZONE : ZONE;
}

/** The form of a name under `internal.` or `flycast.`, or undefined for a name outside both. */
export function parseInternalName(name: string): InternalName | undefined {
  const labels = labelsOf(name);
  if (labels.at(-1) === FLYCAST_ZONE) {
    const l = labels.slice(0, -1);
    if (l.length === 0) return { kind: 'apex' };
    return l.length === 1 && l[0] !== '' ? { kind: 'flycast', app: l[0]! } : { kind: 'none' };
  }
  if (labels.at(-1) !== ZONE) return undefined;
  const l = labels.slice(0, -1);
  if (l.some((x) => x === '')) return { kind: 'none' };
  const [a, b, c, d] = l;
  switch (l.length) {
    case 0:
      return { kind: 'apex' };
    case 1:
      if (a === '_apps') return { kind: 'apps' };
      if (a === '_instances') return { kind: 'instances' };
      return { kind: 'app', app: a! };
    case 2: {
      const app = b!;
      if (a === 'global') return { kind: 'app', app };
      if (a === 'vms') return { kind: 'vms', app };
      if (a === 'regions') return { kind: 'regions', app };
      if (a === 'flycast') return { kind: 'flycast', app };
      if (a === 'vm' || a === 'process' || a === 'of') return { kind: 'between', app, below: a };
      return { kind: 'region', app, region: a! };
    }
    case 3: {
      const app = c!;
      if (b === 'vm') return { kind: 'vm', app, id: a! };
      if (b === 'process') return { kind: 'process', app, group: a! };
      if (a === 'nearest' && b === 'of') return { kind: 'between', app, below: 'nearest' };
      return { kind: 'none' };
    }
    case 4: {
      const top = TOP.exec(a!);
      if (top && b === 'nearest' && c === 'of') return { kind: 'nearest', app: d!, count: Number(top[1]) };
      return { kind: 'none' };
    }
    default:
      return { kind: 'none' };
  }
}
