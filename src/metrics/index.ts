/** Optional Prometheus metrics (prom-client); see metrics.ts for the guarantees and docs/observability.md for the list. */
export { Metrics, resolveMetrics } from './metrics.js';
export type { MetricsOptions, MetricsRegistry } from './metrics.js';
export type { ElectionObserver, LockObserver, RetryReason, StoreObserver, WatchRestartReason } from './observer.js';
export { ALL_METRICS, type MetricDefinition } from './catalogue.js';
