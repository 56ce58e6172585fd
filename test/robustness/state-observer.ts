/**
 * The state workload's observer: raw watches (src/kube/watch-stream.ts, no
 * kubekv store in between) on the bucket ConfigMap and the Lease, straight
 * to the API server (no fault proxy), recording the server's view:
 *
 * - every committed state of the bucket the watch delivers: resourceVersion,
 *   the `kubekv.dev/epoch` annotation (read raw, not through kubekv's
 *   parser), the counter, and the ops keys added and removed since the
 *   previous recorded state;
 * - every change of the Lease's holder or leaseTransitions (renewals are
 *   not recorded).
 *
 * Non-guarantee: a watch that must re-list (410 Gone, e.g. after an
 * apiserver restart rebuilt its watch cache) may have missed states; the
 * first state after a re-list is marked `gap: true` and the validators treat
 * the span before it as unknown (state-validators.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Lease } from '@kubernetes/client-node';
import { EPOCH_ANNOTATION } from '../../src/codec/index.js';
import { statusOf } from '../../src/kube/errors.js';
import { KubeTransport } from '../../src/kube/transport.js';
import { watchStream } from '../../src/kube/watch-stream.js';
import { isNewer, toPair } from '../../src/store/bucket-state.js';
import { ChunkSet } from '../../src/store/chunk-set.js';
import { httpKubeApi } from '../../src/kube/api.js';
import { parseWithChunks } from './chunked-state.js';
import type { OpEntry, StateHistoryWriter } from './state-history.js';

interface Versioned {
  metadata?: { resourceVersion?: string };
}

/** Options of {@link StateObserver.start}. */
export interface StateObserverOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  bucket: string;
  lease: string;
  history: StateHistoryWriter;
}

/** Watches the bucket and the Lease until stop(); see the module doc. */
export class StateObserver {
  readonly #o: StateObserverOptions;
  readonly #stop = new AbortController();
  /** The chunks of the bucket's heads (a chunked bucket's state needs them). */
  readonly #chunks: ChunkSet;
  readonly #loops: Promise<void>[];
  #ops = new Map<string, OpEntry>();
  #rv = '';
  #leaseRv = '';
  #transitions = -1;
  #waiters = new Set<() => void>();
  /** The Lease holder as last observed. */
  holder: string | undefined;
  /** Bucket states recorded. */
  states = 0;
  /** Watch failures (each reopened). */
  errors = 0;

  private constructor(options: StateObserverOptions) {
    this.#o = options;
    this.#chunks = new ChunkSet(httpKubeApi(options.kubeConfig).configMaps(options.namespace), options.bucket);
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    const coordination = options.kubeConfig.makeApiClient(CoordinationV1Api);
    const { namespace } = options;
    this.#loops = [
      this.#observe<V1ConfigMap>('bucket', `/api/v1/namespaces/${namespace}/configmaps`, options.bucket, async (fieldSelector) => {
        const list = await core.listNamespacedConfigMap({ namespace, fieldSelector });
        return { items: list.items, rv: list.metadata?.resourceVersion ?? '' };
      }, (cm, gap) => this.#bucketState(cm, gap)),
      this.#observe<V1Lease>('lease', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, options.lease, async (fieldSelector) => {
        const list = await coordination.listNamespacedLease({ namespace, fieldSelector });
        return { items: list.items, rv: list.metadata?.resourceVersion ?? '' };
      }, (lease) => this.#leaseState(lease)),
    ];
  }

  /** Starts both watches (each lists first, so the current state is recorded at once). */
  static start(options: StateObserverOptions): StateObserver {
    return new StateObserver(options);
  }

  /** The resourceVersion of the last recorded bucket state. */
  get resourceVersion(): string {
    return this.#rv;
  }

  /** Resolves true once a bucket state at or after `rv` was recorded; false after `timeoutMs`. */
  waitFor(rv: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(ok);
      };
      const check = () => {
        if (this.#rv === rv || (this.#rv !== '' && isNewer(this.#rv, rv))) done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /** Stops both watches. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.all(this.#loops);
  }

  async #observe<T extends Versioned>(
    what: 'bucket' | 'lease',
    path: string,
    name: string,
    list: (fieldSelector: string) => Promise<{ items: T[]; rv: string }>,
    onObject: (object: T, gap: boolean) => void | Promise<void>,
  ): Promise<void> {
    const signal = this.#stop.signal;
    const fieldSelector = `metadata.name=${name}`;
    let rv: string | undefined;
    let relist = true;
    let listed = false;
    while (!signal.aborted) {
      try {
        if (relist) {
          const { items, rv: listRv } = await list(fieldSelector);
          // After the first list, a re-list may have skipped states.
          if (items[0]) await onObject(items[0], listed);
          listed = true;
          rv = listRv;
          relist = false;
        }
        for await (const event of watchStream<T>(KubeTransport.for(this.#o.kubeConfig), {
          path,
          query: { fieldSelector, resourceVersion: rv, allowWatchBookmarks: true },
          signal,
          // Short: a watch through a restarted server must not sit silent for minutes.
          inactivityTimeoutMs: 30_000,
        })) {
          rv = event.object.metadata?.resourceVersion ?? rv;
          if (event.type === 'ADDED' || event.type === 'MODIFIED') await onObject(event.object, false);
        }
      } catch (err) {
        if (signal.aborted) return;
        this.errors++;
        if (statusOf(err) === 410) relist = true;
        this.#o.history.append({ t: 'observer-error', what, error: err instanceof Error ? err.message.slice(0, 200) : String(err) });
        await sleep(200);
      }
    }
  }

  async #bucketState(cm: V1ConfigMap, gap: boolean): Promise<void> {
    const rv = cm.metadata?.resourceVersion ?? '';
    // A re-list can return the state already recorded.
    if (this.#rv !== '' && !isNewer(rv, this.#rv)) return;
    const state = await parseWithChunks(this.#chunks, cm);
    const ops = new Map<string, OpEntry>();
    const added: OpEntry[] = [];
    let counter = 0;
    for (const entry of state.entries.values()) {
      if (entry.key === 'counter') counter = Number(toPair(entry).text);
      if (!entry.key.startsWith('ops/')) continue;
      const id = entry.key.slice(4);
      let op = this.#ops.get(id);
      if (!op) {
        const stored = JSON.parse(toPair(entry).text) as { v: number; e: number };
        op = { id, value: stored.v, epoch: stored.e };
        added.push(op);
      }
      ops.set(id, op);
    }
    const removed = [...this.#ops.keys()].filter((id) => !ops.has(id));
    this.#ops = ops;
    this.#rv = rv;
    this.states++;
    const epoch = Number(cm.metadata?.annotations?.[EPOCH_ANNOTATION] ?? '0');
    this.#o.history.append({ t: 'state', rv, epoch, counter, added, removed, gap });
    for (const wake of this.#waiters) wake();
  }

  #leaseState(lease: V1Lease): void {
    const rv = lease.metadata?.resourceVersion ?? '';
    if (this.#leaseRv !== '' && !isNewer(rv, this.#leaseRv)) return;
    this.#leaseRv = rv;
    const holder = lease.spec?.holderIdentity ?? undefined;
    const transitions = lease.spec?.leaseTransitions ?? 0;
    if (holder === this.holder && transitions === this.#transitions) return;
    this.holder = holder;
    this.#transitions = transitions;
    this.#o.history.append({ t: 'lease', rv, holder, transitions });
  }
}
