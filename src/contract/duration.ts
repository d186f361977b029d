/**
 * The one duration grammar of the platform: what fly.toml writes — Go's time.ParseDuration units,
 * "10s", "1m30s", "500ms", "250us" — or a bare number of seconds; "0" alone is zero. Used by app
 * configs, the Machines API and agent.toml alike, so a duration means the same everywhere.
 */

const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export const DURATION_RULE = 'must be a duration such as "10s", "500ms", "1m30s", or a number of seconds';

/** → milliseconds (rounded); undefined when it is not a duration. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.round(v * 1000) : undefined;
  if (v === '0') return 0;
  if (typeof v !== 'string' || !GO_DURATION.test(v)) return undefined;
  let ms = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return Math.round(ms);
}
