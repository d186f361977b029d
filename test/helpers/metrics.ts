/**
 * Reads Prometheus exposition text back into families, as a scraper would (HELP, TYPE, samples
 * with escaped label values), so tests check what /metrics really answers.
 */
import type { MetricFamily, MetricType, Sample } from '../../src/shared/index.js';

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): MetricFamily[] {
  const families = new Map<string, { name: string; type: MetricType; help: string; samples: Sample[] }>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'gauge', help: '', samples: [] }));
    return f;
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'HELP') family(meta[2]!).help = meta[3]!;
      else family(meta[2]!).type = meta[3] as MetricType;
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not an exposition line: ${JSON.stringify(line)}`);
    const series = m[1]!;
    const base = [...families.keys()].find((n) => series === n || (families.get(n)!.type === 'histogram' && /^_(bucket|sum|count)$/.test(series.slice(n.length)) && series.startsWith(n)));
    if (!base) throw new Error(`sample ${series} has no TYPE line before it`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
    family(base).samples.push({ labels, value: Number(m[3]) });
  }
  return [...families.values()];
}

/** The value of the one sample of `name` with exactly these labels (undefined: none). */
export function sampleValue(families: readonly MetricFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  const f = families.find((x) => x.name === name);
  const want = JSON.stringify(Object.entries(labels).sort());
  return f?.samples.find((s) => JSON.stringify(Object.entries(s.labels ?? {}).sort()) === want)?.value;
}
