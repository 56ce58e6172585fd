/**
 * kubekv/testing: in-memory test doubles for code written against kubekv,
 * so applications can unit-test their use of the store and their leader
 * work without a control plane.
 *
 * - {@link MemoryStore}: a bucket with ConfigMapStore's API and semantics
 *   (CAS, lastIndex, batch, watch iterators, locks, every error class and
 *   code), and controls to lose an answer, fail a write, interleave another
 *   writer's change, or pause the watch.
 * - {@link MemoryStateManager}: StateManager's API and leadership life cycle
 *   (epochs, onLeader/onFollower, NotLeaderError, FencedError, graceful
 *   close), with the test deciding who leads: elect, depose, fence.
 * - {@link MemoryCluster}: what replicas share; {@link ManualClock}: time
 *   that moves when the test says so.
 *
 * The same conformance suite runs against MemoryStore and against
 * ConfigMapStore on a real kube-apiserver, so the double cannot drift from
 * the store it stands in for. See docs/testing.md.
 *
 * @packageDocumentation
 * @module kubekv/testing
 */

// First: refuses an unsupported Node.js in words, before any dependency loads.
import '../node-check.js';

export { MemoryCluster } from './memory-cluster.js';
export { MemoryStore } from './memory-store.js';
export type { LostAnswerOptions, MemoryStoreOptions } from './memory-store.js';
export { MemoryStateManager } from './memory-state-manager.js';
export type { DeposeOptions, ElectOptions, FenceOptions, MemoryStateManagerOptions } from './memory-state-manager.js';
export type { StateManagerApi } from '../state/state-manager-api.js';
export { ManualClock } from './manual-clock.js';
export { FakeCluster } from './fake-cluster.js';
export type { FakeClusterOptions, FakeResource, RequestMatcher } from './fake-cluster.js';
