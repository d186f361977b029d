/**
 * The Prometheus text exposition format (version 0.0.4), written in one place for every part of
 * the platform, and the naming scheme every metric follows (docs/metrics.md):
 *
 *   starling_<part>_<what>[_<unit>][_total]
 *
 * `part` names who measures (see METRIC_PARTS); units are base units (`_seconds`, `_bytes`); a
 * counter, and only a counter, ends in `_total`. Label names are snake_case; label values are
 * escaped here (backslash, double quote, newline), so an app name or a reason can never break the
 * text. I/O-free: the instruments (instruments.ts) and the parts build families, this renders them.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';
export type Labels = Readonly<Record<string, string | number>>;

export interface Sample {
  labels?: Labels;
  value: number;
  /** A histogram's series: `_bucket` (with an `le` label), `_sum`, `_count`. */
  suffix?: '_bucket' | '_sum' | '_count';
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help: string;
  samples: readonly Sample[];
}

/** Who measures: the proxy, the announcer (bgp), an agent's own parts, the runtime, the control plane. */
export const METRIC_PARTS = ['proxy', 'bgp', 'agent', 'runtime', 'control'] as const;

const NAME_RE = new RegExp(`^starling_(${METRIC_PARTS.join('|')})_[a-z][a-z0-9]*(_[a-z0-9]+)*$`);
const LABEL_RE = /^[a-z][a-z0-9_]*$/;

/** What is wrong with a family's name and labels under the naming scheme; empty when nothing. */
export function schemeProblems(f: MetricFamily): string[] {
  const out: string[] = [];
  if (!NAME_RE.test(f.name)) out.push(`${f.name}: names are starling_<${METRIC_PARTS.join('|')}>_<what> in snake_case`);
  if (f.type === 'counter' && !f.name.endsWith('_total')) out.push(`${f.name}: a counter's name ends in _total`);
  if (f.type !== 'counter' && f.name.endsWith('_total')) out.push(`${f.name}: only a counter's name ends in _total`);
  if (/_(ms|milliseconds|kb|mb|minutes)(_|$)/.test(f.name)) out.push(`${f.name}: use base units (_seconds, _bytes)`);
  if (f.help.trim() === '') out.push(`${f.name}: has no help text`);
  const labels = new Set<string>();
  for (const s of f.samples) for (const k of Object.keys(s.labels ?? {})) labels.add(k);
  for (const k of labels) {
    if (!LABEL_RE.test(k)) out.push(`${f.name}: label ${JSON.stringify(k)} is not snake_case`);
    if (k === 'le' && f.type !== 'histogram') out.push(`${f.name}: label le is a histogram's`);
  }
  return out;
}

/** A label value inside "…": backslash, double quote and newline escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text: backslash and newline escaped. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function formatLabels(labels: Labels | undefined): string {
  if (!labels) return '';
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(typeof v === 'number' ? formatValue(v) : v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** The families as exposition text: HELP, TYPE, then each sample; ends with a newline. */
export function renderExposition(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) out.push(`${f.name}${s.suffix ?? ''}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}

/**
 * Adds up the same series across several expositions (a multi-process proxy's workers): counters
 * and gauges both sum; HELP and TYPE lines are kept once, in first-seen order.
 */
export function sumExpositions(texts: readonly string[]): string {
  const order: string[] = [];
  const values = new Map<string, number>();
  const meta = new Set<string>();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('#')) {
        if (!meta.has(line)) {
          meta.add(line);
          order.push(line);
        }
        continue;
      }
      // The value is the last field; label values may hold spaces, never an unescaped newline.
      const sp = line.lastIndexOf(' ');
      const series = line.slice(0, sp);
      if (!values.has(series)) order.push(series);
      values.set(series, (values.get(series) ?? 0) + Number(line.slice(sp + 1)));
    }
  }
  return order.length === 0 ? '' : order.map((l) => (l.startsWith('#') ? l : `${l} ${formatValue(values.get(l)!)}`)).join('\n') + '\n';
}
