/**
 * The replay header (`starling-replay`, or fly's `fly-replay`) that an app sets on a response to have
 * the proxy send the same request somewhere else, typically a write to the primary region.
 * Format: `region=iad,ord;instance=abc;state=xyz;elsewhere=true` (fields separated by `;`).
 */
export interface ReplayDirective {
  regions: string[] | undefined;
  instance: string | undefined;
  preferInstance: string | undefined;
  app: string | undefined;
  state: string | undefined;
  elsewhere: boolean;
}

export type ReplayParse = { ok: true; directive: ReplayDirective } | { ok: false; reason: string };

export function parseReplay(value: string): ReplayParse {
  const d: ReplayDirective = {
    regions: undefined,
    instance: undefined,
    preferInstance: undefined,
    app: undefined,
    state: undefined,
    elsewhere: false,
  };
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const val = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (key === '') continue;
    switch (key) {
      case 'region': {
        const list = val
          .split(',')
          .map((r) => r.trim().toLowerCase())
          .filter((r) => r !== '');
        if (list.length === 0) return { ok: false, reason: 'empty region list' };
        d.regions = list;
        break;
      }
      case 'instance':
        d.instance = val;
        break;
      case 'prefer_instance':
        d.preferInstance = val;
        break;
      case 'app':
        d.app = val;
        break;
      case 'state':
        d.state = val;
        break;
      case 'elsewhere':
        d.elsewhere = val.toLowerCase() === 'true';
        break;
      default:
        // `timeout` and `fallback` are fly fields Starling does not act on yet; unknown fields are
        // ignored so that newer apps keep working with this proxy.
        break;
    }
  }
  if (!d.regions && !d.instance && !d.preferInstance && !d.app && !d.elsewhere) {
    return { ok: false, reason: 'no target (region, instance, app or elsewhere)' };
  }
  return { ok: true, directive: d };
}

/** `starling-replay-src` / `fly-replay-src`: where the replayed request came from. */
export function formatReplaySrc(instance: string, region: string, tMicros: number, state: string | undefined): string {
  const base = `instance=${instance};region=${region};t=${tMicros}`;
  return state === undefined ? base : `${base};state=${state}`;
}
