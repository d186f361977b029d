export { ProxyMetrics, type MachineGauge } from './metrics.js';
export { AccessLog, stripQuery, type AccessEntry, type AccessLogSink } from './access-log.js';
