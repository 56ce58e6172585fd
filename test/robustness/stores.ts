/**
 * The two stores a robustness run can drive, behind the few methods the
 * harness uses: kubekv's ConfigMapStore, and the deliberately broken
 * {@link NaiveStore} that proves the checker can fail.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore, type ChunkOptions, type Logger, type Store } from '../../src/index.js';
import { NaiveStore } from './naive-store.js';

/** Which store a run drives. */
export type StoreKind = 'kubekv' | 'naive';

/** What the harness calls on a store (ConfigMapStore's signatures; NaiveStore matches them). */
export type HarnessStore = Pick<Store, 'get' | 'list' | 'put' | 'delete' | 'atomicPut' | 'atomicDelete' | 'batch' | 'watchTree' | 'close'> & {
  /**
   * The bucket revision the store last saw (after a consistent list(): the
   * current one); kubekv's also whether its cache is whole (`synced`) and why
   * not (`lastError`).
   */
  status(): { revision: number; synced?: boolean; lastError?: Error | undefined };
};

/** Options of {@link openHarnessStore}. */
export interface OpenHarnessStoreOptions {
  name: string;
  namespace: string;
  kubeConfig: KubeConfig;
  /** Create the bucket if missing. Default false. */
  create?: boolean;
  /**
   * kubekv's write deadline and request timeout, in ms. The harness keeps
   * them short (seconds, not kubekv's 30 s / 10 s defaults) so black holes,
   * lost answers and restarts end some writes in DEADLINE_EXCEEDED ("not
   * stored") or OUTCOME_UNKNOWN, and the checker gets to verify those claims.
   */
  timeouts?: { timeoutMs: number; requestTimeoutMs: number };
  /** kubekv's `chunks` option (the naive store ignores it). Default: kubekv's defaults. */
  chunks?: ChunkOptions | false;
  /** kubekv's logger (the client counts compactions and collections from it). */
  logger?: Logger;
}

/**
 * The write deadline and request timeout of client `index`: they differ
 * between clients (2.5 s / 1 s on even, 6 s / 2 s on odd), so faults of a few
 * seconds outlast some writes and not others. The nemesis sizes its faults
 * from them.
 */
export function clientTimeouts(index: number): { timeoutMs: number; requestTimeoutMs: number } {
  return index % 2 === 0 ? { timeoutMs: 2500, requestTimeoutMs: 1000 } : { timeoutMs: 6000, requestTimeoutMs: 2000 };
}

/** Opens the bucket with the store of `kind`. */
export async function openHarnessStore(kind: StoreKind, options: OpenHarnessStoreOptions): Promise<HarnessStore> {
  if (kind === 'naive') return NaiveStore.open(options);
  const { timeouts, chunks, logger, ...open } = options;
  return ConfigMapStore.open({ ...open, ...timeouts, ...(chunks === undefined ? {} : { chunks }), ...(logger ? { logger } : {}) });
}
