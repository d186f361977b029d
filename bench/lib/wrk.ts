/** Parsing wrk 4.x output (run with --latency). */

export interface WrkResult {
  rps: number;
  p99Ms: number;
  /** "Non-2xx or 3xx responses: N". */
  non2xx: number;
  /** Sum of "Socket errors: connect A, read B, write C, timeout D". */
  socketErrors: number;
  requests: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** wrk's time format ("812.00us", "1.23ms", "2.01s", "1.00m") to milliseconds. */
export function toMs(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)$/.exec(text.trim());
  const unit = m?.[2];
  const factor = unit === undefined ? undefined : UNIT_MS[unit];
  if (!m?.[1] || factor === undefined) throw new Error(`wrk: unrecognised time "${text}"`);
  return Number(m[1]) * factor;
}

export function parseWrk(output: string): WrkResult {
  const rps = /^Requests\/sec:\s+([0-9.]+)/m.exec(output)?.[1];
  const p99 = /^\s+99(?:\.0+)?%\s+(\S+)/m.exec(output)?.[1];
  if (rps === undefined || p99 === undefined) {
    throw new Error(`wrk: could not find Requests/sec and the 99% latency line in its output:\n${output}`);
  }
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = se ? se.slice(1, 5).reduce((a, b) => a + Number(b), 0) : 0;
  const requests = Number(/(\d+) requests in /.exec(output)?.[1] ?? 0);
  return { rps: Number(rps), p99Ms: toMs(p99), non2xx, socketErrors, requests };
}
