/**
 * The `since` cursor of `GET /v1/apps/{app}/logs` (what `starling logs -f` polls with): for each
 * machine, the time of the newest line already returned and how many of that machine's lines carry
 * exactly that time (several lines often share a millisecond). The next answer holds only lines
 * after those, so nothing is printed twice and, as long as a machine writes fewer lines between
 * two polls than its host's answer holds, nothing is skipped. Opaque to clients (base64url JSON).
 */
export type LogCursor = Map<string, { time: string; n: number }>;

export function parseCursor(s: string): LogCursor | undefined {
  try {
    const raw = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
    const out: LogCursor = new Map();
    for (const [id, v] of Object.entries(raw)) {
      if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[1] !== 'number' || !Number.isInteger(v[1]) || v[1] < 0) return undefined;
      out.set(id, { time: v[0], n: v[1] });
    }
    return out;
  } catch {
    return undefined;
  }
}

export function formatCursor(c: LogCursor): string {
  return Buffer.from(JSON.stringify(Object.fromEntries([...c].map(([id, v]) => [id, [v.time, v.n]])))).toString('base64url');
}

/**
 * One machine's lines (oldest first) after its cursor position; `next` is updated to the newest
 * line's time and count. Without a position every line is new.
 */
export function linesAfter<L extends { time: string }>(machine: string, lines: readonly L[], since: LogCursor | undefined, next: LogCursor): L[] {
  const at = since?.get(machine);
  let fresh = lines as L[];
  if (at) {
    let same = 0;
    fresh = lines.filter((l) => {
      if (l.time > at.time) return true;
      if (l.time < at.time) return false;
      return ++same > at.n;
    });
  }
  const last = lines.at(-1);
  if (last) next.set(machine, { time: last.time, n: lines.filter((l) => l.time === last.time).length });
  else if (at) next.set(machine, at);
  return fresh;
}
