// One exposition writer and one naming scheme for every /metrics endpoint (docs/metrics.md).
export { METRIC_PARTS, escapeLabelValue, renderExposition, schemeProblems, sumExpositions, type Labels, type MetricFamily, type MetricType, type Sample } from './exposition.js';
export { Counter, Histogram, LATENCY_BUCKETS, MetricsRegistry, SERIES_SEP, gauge, type Collector } from './instruments.js';
