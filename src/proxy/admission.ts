/**
 * What the connection caps (shared/connection-gate.ts) need around them in the proxy: a log that
 * says when they refuse connections without writing a line per refusal (a flood would otherwise
 * become a log flood), and the check that the process may open as many descriptors as the caps let in.
 */
import { readFileSync } from 'node:fs';
import { StarlingError, type ConnectionGate, type Logger } from '../shared/index.js';
import { RESPONSE_IDLE_TIMEOUT_RANGE_MS, type ProxyLimits } from './core/context.js';

/**
 * The limits the proxy's config surfaces set (the CLI and agent.toml word their own errors first):
 * whole positive caps, the per-address one within the total, a response idle timeout in range.
 */
export function checkLimits(l: ProxyLimits): void {
  const whole = (n: number): boolean => Number.isSafeInteger(n) && n >= 1;
  const { min, max } = RESPONSE_IDLE_TIMEOUT_RANGE_MS;
  const problem = !whole(l.maxConnections)
    ? `maxConnections must be a whole number of at least 1, got ${l.maxConnections}`
    : !whole(l.maxConnectionsPerIp) || l.maxConnectionsPerIp > l.maxConnections
      ? `maxConnectionsPerIp must be a whole number from 1 to maxConnections (${l.maxConnections}), got ${l.maxConnectionsPerIp}`
      : !(l.responseIdleTimeoutMs >= min && l.responseIdleTimeoutMs <= max)
        ? `responseIdleTimeoutMs must be from ${min} to ${max}, got ${l.responseIdleTimeoutMs}`
        : undefined;
  if (problem) throw new StarlingError('ERR_PROXY_LIMITS', problem, { fault: 'user' });
}

/** At most one "connections refused" line per this many ms, however many were refused. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * Reports refusals from the proxy's sweep: the first one at the next tick, then at most once per
 * interval, each line with the counts since the previous one.
 */
export class RefusalLog {
  private loggedTotal = 0;
  private loggedPerAddress = 0;
  private quietUntil = -Infinity;

  constructor(
    private readonly gate: ConnectionGate,
    private readonly logger: Logger,
    private readonly everyMs = REFUSAL_LOG_INTERVAL_MS,
  ) {}

  onTick(now: number): void {
    if (now < this.quietUntil) return;
    const s = this.gate.stats();
    if (s.refusedTotal === this.loggedTotal && s.refusedPerAddress === this.loggedPerAddress) return;
    this.logger.warn('connections refused: a connection cap is reached', {
      refused_total_cap: s.refusedTotal - this.loggedTotal,
      refused_per_address_cap: s.refusedPerAddress - this.loggedPerAddress,
      last_refused: s.lastRefused,
      open: s.open,
      max_connections: this.gate.limits.maxConnections,
      max_connections_per_ip: this.gate.limits.maxPerAddress,
    });
    this.loggedTotal = s.refusedTotal;
    this.loggedPerAddress = s.refusedPerAddress;
    this.quietUntil = now + this.everyMs;
  }
}

/**
 * The soft limit on open files of this process (Node raised it to the hard limit at start-up), from
 * /proc/self/limits; undefined where that cannot be read (not Linux) or says "unlimited".
 */
export function openFilesLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  return m?.[1] === undefined || m[1] === 'unlimited' ? undefined : Number(m[1]);
}

/**
 * Warns when the process could run out of descriptors before the total cap is reached: every client
 * connection takes one, and while a request is in flight its machine connection takes another, so
 * the limit should be at least twice the cap. Returns whether it warned. `limitsText`: as
 * openFilesLimit (tests).
 */
export function warnOnOpenFilesLimit(logger: Logger, maxConnections: number, limitsText?: string): boolean {
  const limit = openFilesLimit(limitsText);
  if (limit === undefined || limit >= 2 * maxConnections) return false;
  logger.warn('the open-files limit is low for max_connections: connections may fail with EMFILE before the cap refuses them', {
    open_files_limit: limit,
    max_connections: maxConnections,
    hint: `raise the limit to at least ${2 * maxConnections} (systemd: LimitNOFILE=; a shell: ulimit -n), or lower max_connections`,
  });
  return true;
}
