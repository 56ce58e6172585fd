/** Kubernetes Events about kubekv's Leases, best effort; see recorder.ts for the guarantees and docs/observability.md for the list. */
export { CLOSE_FLUSH_MS, EVENT_REQUEST_TIMEOUT_MS, EventRecorder, QUEUE_LIMIT } from './recorder.js';
export type { EventRecord, EventRecorderOptions, LeaseReference } from './recorder.js';
export { LOCK_CONTROLLER, STATE_MANAGER_CONTROLLER, becameLeader, fenced, lockLost, resolveEvents, stoppedLeading } from './lease-events.js';
export { EventThrottle, TokenBucket } from './throttle.js';
export type { Admission, ThrottleOptions, ThrottledEvent } from './throttle.js';
