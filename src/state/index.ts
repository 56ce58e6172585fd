/** The StateManager: elector + buckets + fencing + hooks, and its health endpoints. */
export { StateManager } from './state-manager.js';
export type { FollowerContext, LeaderContext, StateManagerOptions, StateStatus, StepDownOptions } from './state-manager.js';
export type { StateManagerApi } from './state-manager-api.js';
export { healthHandler } from './health.js';
export type { HealthOptions } from './health.js';
