/**
 * kubekv/testing: kubekv's real store, StateManager and locks on an
 * in-memory Kubernetes API ({@link FakeCluster}), for unit tests without a
 * control plane; {@link MemoryStore} and {@link MemoryStateManager} add test
 * controls, {@link ManualClock} drives time. See docs/testing.md.
 *
 * @packageDocumentation
 * @module kubekv/testing
 */

// First: refuses an unsupported Node.js in words, before any dependency loads.
import '../node-check.js';

export { MemoryCluster, MemoryStore } from './memory-store.js';
export type { LostAnswerOptions, MemoryStoreOptions } from './memory-store.js';
export { MemoryStateManager } from './memory-state-manager.js';
export type { DeposeOptions, ElectOptions, FenceOptions, MemoryStateManagerOptions } from './memory-state-manager.js';
export type { StateManagerApi } from '../state/state-manager-api.js';
export { ManualClock } from './manual-clock.js';
export { FakeCluster } from './fake-cluster.js';
export type { FakeClusterOptions, FakeResource, RequestMatcher } from './fake-cluster.js';
