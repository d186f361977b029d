import { parseDuration } from '../../contract/index.js';

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
  /** `timeout=2s`: how long the proxy may try to reach the target (waiting for a machine), ms. */
  timeoutMs: number | undefined;
  /**
   * `fallback=force_self`: when the replay cannot be done, send the request back to the machine
   * that asked for it (with `fly-replay-failed`); `prefer_self`: that machine first, else any of
   * its app. Without it, a failed replay answers 502.
   */
  fallback: 'force_self' | 'prefer_self' | undefined;
  /** The JSON form's `transform` (replay-json.ts): what the replayed request changes. */
  transform?: ReplayTransform | undefined;
}

export interface ReplayTransform {
  /** The replayed request's path and query. */
  path: string | undefined;
  /** Lower-case names of fields the replay target does not see. */
  deleteHeaders: string[];
  /** Fields set on the replayed request, replacing any of the same name. */
  setHeaders: [string, string][];
}

export type ReplayParse = { ok: true; directive: ReplayDirective } | { ok: false; reason: string };

export function emptyDirective(): ReplayDirective {
  return {
    regions: undefined,
    instance: undefined,
    preferInstance: undefined,
    app: undefined,
    state: undefined,
    elsewhere: false,
    timeoutMs: undefined,
    fallback: undefined,
  };
}

/** A directive names somewhere to go. */
export function hasTarget(d: ReplayDirective): boolean {
  return d.regions !== undefined || !!d.instance || !!d.preferInstance || !!d.app || d.elsewhere;
}

export function parseReplay(value: string): ReplayParse {
  const d = emptyDirective();
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
      case 'timeout': {
        const ms = durationMs(val);
        if (ms === undefined) return { ok: false, reason: `bad timeout ${JSON.stringify(val.slice(0, 40))} (a duration such as 2s or 800ms)` };
        d.timeoutMs = ms;
        break;
      }
      case 'fallback':
        if (val !== 'force_self' && val !== 'prefer_self') return { ok: false, reason: `bad fallback ${JSON.stringify(val.slice(0, 40))} (force_self or prefer_self)` };
        d.fallback = val;
        break;
      default:
        // Unknown fields are ignored so that newer apps keep working with this proxy.
        break;
    }
  }
  if (!hasTarget(d)) {
    return { ok: false, reason: 'no target (region, instance, app or elsewhere)' };
  }
  return { ok: true, directive: d };
}

/** fly's durations (`800ms`, `2s`, `1m30s`), from above 0 up to an hour; undefined otherwise. */
export function durationMs(v: string): number | undefined {
  const ms = parseDuration(v);
  return ms !== undefined && ms > 0 && ms <= 3_600_000 ? ms : undefined;
}

/** `starling-replay-src` / `fly-replay-src`: where the replayed request came from. */
export function formatReplaySrc(instance: string, region: string, tMicros: number, state: string | undefined): string {
  const base = `instance=${instance};region=${region};t=${tMicros}`;
  return state === undefined ? base : `${base};state=${state}`;
}
