export { MetricsRegistry, Counter, Gauge, Histogram, Summary, DEFAULT_BUCKETS, PROMETHEUS_CONTENT_TYPE } from './registry.js';
export type { Labels, Collector } from './registry.js';
export { registerProcessMetrics } from './process.js';
