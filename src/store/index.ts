/** The key/value store: contracts and the ConfigMap implementation. */
export { ConfigMapStore } from './configmap-store.js';
export { Session } from './session.js';
export type { SessionOptions } from './session.js';
export type {
  BatchOperation,
  CallOptions,
  ChunkOptions,
  KVPair,
  KVPairJSON,
  KVPairTextJSON,
  KVPairBinaryJSON,
  KeyEvent,
  DeleteReason,
  ExpiryOptions,
  OpenStoreOptions,
  Previous,
  PutOptions,
  ReadOptions,
  ReadableStore,
  Store,
  StoreStatus,
  TreeEvent,
  Value,
} from './types.js';
export { DEFAULT_ETCD_BUDGET } from './etcd-budget.js';
export type { EtcdBudgetOptions } from './etcd-budget.js';
