/**
 * Counters, histograms and a registry on the exposition writer: recording is a Map update on the
 * request path; families are built only when /metrics is scraped. Label values are given in the
 * order of the instrument's label names.
 *
 * A series is kept under its key: the label values joined by SERIES_SEP. `inc`/`observe` take the
 * values as an array and join them; a path that records on every request (the proxy's) builds the
 * same key with a template literal and calls `incKey`/`observeKey`, so recording allocates nothing
 * beyond that one string (and nothing at all for one label: the key is the value).
 */
import { renderExposition, type Labels, type MetricFamily, type Sample } from './exposition.js';

/** Request latencies, 1 ms to 10 s. */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Label values joined: NUL never appears in a label value we record. */
const SEP = '\u0000';

/** What joins the label values in a series key (see incKey, observeKey). */
export const SERIES_SEP = SEP;

function labelsOf(names: readonly string[], key: string): Labels {
  if (names.length === 0) return {};
  const values = key.split(SEP);
  return Object.fromEntries(names.map((n, i) => [n, values[i] ?? '']));
}

export class Counter {
  private readonly values = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
  ) {}

  inc(labelValues: readonly string[] = [], by = 1): void {
    this.incKey(labelValues.join(SEP), by);
  }

  /** inc for a series key already built: the label values joined by SERIES_SEP. */
  incKey(key: string, by = 1): void {
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  /** A series that should show 0 before anything happened (a scraper sees it exists). */
  touch(labelValues: readonly string[] = []): void {
    const key = labelValues.join(SEP);
    if (!this.values.has(key)) this.values.set(key, 0);
  }

  get(labelValues: readonly string[] = []): number {
    return this.values.get(labelValues.join(SEP)) ?? 0;
  }

  family(): MetricFamily {
    const samples: Sample[] = [];
    for (const [key, value] of this.values) samples.push({ labels: labelsOf(this.labelNames, key), value });
    return { name: this.name, type: 'counter', help: this.help, samples };
  }
}

interface Buckets {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram {
  private readonly series = new Map<string, Buckets>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
    readonly buckets: readonly number[] = LATENCY_BUCKETS,
  ) {}

  observe(labelValues: readonly string[], value: number): void {
    this.observeKey(labelValues.join(SEP), value);
  }

  /** observe for a series key already built: the label values joined by SERIES_SEP. */
  observeKey(key: string, value: number): void {
    let b = this.series.get(key);
    if (!b) {
      b = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, b);
    }
    b.sum += value;
    b.count++;
    // A plain loop, not findIndex: no closure per observation.
    const buckets = this.buckets;
    for (let i = 0; i < buckets.length; i++) {
      if (value <= buckets[i]!) {
        b.counts[i]!++;
        break;
      }
    }
  }

  family(): MetricFamily {
    const samples: Sample[] = [];
    for (const [key, b] of this.series) {
      const labels = labelsOf(this.labelNames, key);
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += b.counts[i]!;
        samples.push({ suffix: '_bucket', labels: { ...labels, le }, value: cumulative });
      });
      samples.push({ suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: b.count });
      samples.push({ suffix: '_sum', labels, value: b.sum });
      samples.push({ suffix: '_count', labels, value: b.count });
    }
    return { name: this.name, type: 'histogram', help: this.help, samples };
  }
}

/** A gauge family, built when scraped from what the part knows now. */
export function gauge(name: string, help: string, samples: readonly Sample[]): MetricFamily {
  return { name, type: 'gauge', help, samples };
}

/** What a part adds to a /metrics answer: families, or an exposition text it already has (a worker's). */
export type Collector = () => MetricFamily[] | string | Promise<MetricFamily[] | string>;

/** The collectors behind one /metrics endpoint; a collector that fails is left out of that scrape. */
export class MetricsRegistry {
  private readonly collectors: Collector[] = [];

  add(...collectors: Collector[]): void {
    this.collectors.push(...collectors);
  }

  /** The exposition text of every collector, in the order they were added. */
  async text(onError?: (e: unknown) => void): Promise<string> {
    const parts = await Promise.all(
      this.collectors.map(async (c) => {
        try {
          const got = await c();
          return typeof got === 'string' ? got : renderExposition(got);
        } catch (e) {
          onError?.(e);
          return '';
        }
      }),
    );
    return parts.join('');
  }
}
