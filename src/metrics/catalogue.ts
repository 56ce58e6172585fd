/**
 * Every metric kubekv can register: name, type, labels, help and buckets, in
 * one place. docs/observability.md documents the same list; a unit test
 * holds the two together.
 *
 * Names: the election gauge and counter are client-go's, unchanged (name,
 * label and help), so dashboards and alerts written for Kubernetes
 * components (`leader_election_master_status{name="..."}`) work for kubekv
 * replicas too. Everything else is `kubekv_`-prefixed and follows the
 * Prometheus conventions (`_total` counters, base units: seconds).
 *
 * Labels are bounded: a namespace, a bucket or Lease name, and fixed sets of
 * results and reasons. Keys never become labels (they are data), nor do lock
 * Lease names (one per key).
 */

/** One metric kubekv registers. */
export interface MetricDefinition {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly labelNames: readonly string[];
  readonly help: string;
  /** Histogram bucket upper bounds, in the metric's unit. */
  readonly buckets?: readonly number[];
}

const bucketLabels = ['namespace', 'bucket'] as const;

/** client-go's gauge (k8s.io/component-base/metrics/prometheus/clientgo/leaderelection), help text included. */
export const LEADER_STATUS: MetricDefinition = {
  name: 'leader_election_master_status',
  type: 'gauge',
  labelNames: ['name'],
  help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
};

/** client-go's slow-path counter, help text included. */
export const LEADER_SLOWPATH: MetricDefinition = {
  name: 'leader_election_slowpath_total',
  type: 'counter',
  labelNames: ['name'],
  help: "Total number of slow path exercised in renewing leader leases. 'name' is the string used to identify the lease. Please make sure to group by name.",
};

export const WRITES: MetricDefinition = {
  name: 'kubekv_writes_total',
  type: 'counter',
  labelNames: [...bucketLabels, 'result'],
  help: 'Writes to a bucket (put, delete, deleteTree, atomicPut, atomicDelete, batch, a leader epoch raise) by how they ended: result "ok" (stored) or the error code in lower case (e.g. key_modified, not_leader, fenced, deadline_exceeded, outcome_unknown).',
};

export const WRITE_DURATION: MetricDefinition = {
  name: 'kubekv_write_duration_seconds',
  type: 'histogram',
  labelNames: bucketLabels,
  help: 'Time from submitting a write to its acknowledgement, for writes that were stored: queueing, group commit, conflicts and retries included.',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
};

export const CAS_CONFLICTS: MetricDefinition = {
  name: 'kubekv_cas_conflicts_total',
  type: 'counter',
  labelNames: bucketLabels,
  help: 'Commits (CAS patches) the API server refused with 409 Conflict because the bucket changed since they were planned; each is re-planned and retried.',
};

export const ETCD_BYTES: MetricDefinition = {
  name: 'kubekv_etcd_bytes_written_total',
  type: 'counter',
  labelNames: bucketLabels,
  help: 'Bytes the bucket\'s commits made etcd store (an upper estimate per commit that landed or may have landed): what the store spends from its etcd budget. etcd keeps every revision until the API server compacts it, so this, per compaction interval, is what the bucket adds to etcd\'s database.',
};

export const ETCD_BUDGET_WAIT: MetricDefinition = {
  name: 'kubekv_etcd_budget_wait_seconds_total',
  type: 'counter',
  labelNames: bucketLabels,
  help: 'Time commits waited because the store had spent its etcd budget (the etcdBudget option); writes queue meanwhile and go out together in the next commit.',
};

export const WRITE_RETRIES: MetricDefinition = {
  name: 'kubekv_write_retries_total',
  type: 'counter',
  labelNames: [...bucketLabels, 'reason'],
  help: 'Commit attempts retried after a pause, by reason: conflict (409), outcome_unknown (a request whose answer was lost), refused (refused before anything happened, e.g. 429 or connection refused), read_failed (a read to settle a commit failed).',
};

export const FENCED_WRITES: MetricDefinition = {
  name: 'kubekv_fenced_writes_total',
  type: 'counter',
  labelNames: bucketLabels,
  help: 'Writes refused with FencedError: the bucket carries another leader epoch than the one this replica led under (a newer leader raised it).',
};

export const CACHE_STALENESS: MetricDefinition = {
  name: 'kubekv_cache_staleness_seconds',
  type: 'gauge',
  labelNames: bucketLabels,
  help: "Seconds since the bucket's cache last heard from the API server (an event, bookmark, list or write answer), as store.status().stalenessMs; an upper bound on how stale a cached read may be while the watch is down. Read at scrape time.",
};

export const WATCH_RESTARTS: MetricDefinition = {
  name: 'kubekv_watch_restarts_total',
  type: 'counter',
  labelNames: [...bucketLabels, 'reason'],
  help: "Times the bucket's cache-feeding watch was opened again, by reason: closed (the server ended it, normally every 30-60 min), expired (410 Gone: relisted), failed (network or API error: retried with backoff).",
};

export const LOCK_ACQUISITIONS: MetricDefinition = {
  name: 'kubekv_lock_acquisitions_total',
  type: 'counter',
  labelNames: bucketLabels,
  help: "Locks of the bucket acquired by this process (lock() resolved with a handle).",
};

export const LOCK_LOSSES: MetricDefinition = {
  name: 'kubekv_lock_losses_total',
  type: 'counter',
  labelNames: bucketLabels,
  help: 'Held locks of the bucket lost without unlock(): no renewal succeeded within the renew deadline, another holder was seen, or the Lease was deleted.',
};

export const LOCKS_HELD: MetricDefinition = {
  name: 'kubekv_locks_held',
  type: 'gauge',
  labelNames: bucketLabels,
  help: 'Locks of the bucket this process holds now.',
};

export const LOCK_HOLD_DURATION: MetricDefinition = {
  name: 'kubekv_lock_hold_duration_seconds',
  type: 'histogram',
  labelNames: bucketLabels,
  help: 'How long locks of the bucket were held, observed when each was unlocked or lost.',
  buckets: [0.1, 1, 5, 15, 60, 300, 900, 3600, 14400, 86400],
};

/** Everything kubekv may register, grouped by the component that reports it. */
export const CATALOGUE = {
  election: [LEADER_STATUS, LEADER_SLOWPATH],
  store: [WRITES, WRITE_DURATION, CAS_CONFLICTS, ETCD_BYTES, ETCD_BUDGET_WAIT, WRITE_RETRIES, FENCED_WRITES, CACHE_STALENESS, WATCH_RESTARTS],
  lock: [LOCK_ACQUISITIONS, LOCK_LOSSES, LOCKS_HELD, LOCK_HOLD_DURATION],
} as const;

/** Every definition, in catalogue order. */
export const ALL_METRICS: readonly MetricDefinition[] = [...CATALOGUE.election, ...CATALOGUE.store, ...CATALOGUE.lock];
