/**
 * A deliberately BROKEN store, so the robustness checker can be shown to
 * fail. Every write GETs the ConfigMap, checks its conditions locally, then
 * REPLACES the object with an unconditional update (no resourceVersion): two
 * writers that read the same state both "succeed", and one write is lost.
 * Reads are real quorum GETs, the watch is a real API watch, so only the
 * write path is wrong, the way a hand-rolled ConfigMap store goes wrong.
 *
 * Encoding (its own bucket, so it need not match kubekv's): `data[key]` is
 * the value; the annotation {@link NAIVE_REVISION} is a revision counter
 * bumped by each write, {@link NAIVE_INDEX} maps each key to the revision it
 * last changed at (its lastIndex). Keys must be valid ConfigMap keys.
 *
 * Never use this outside the harness.
 */
import { inspect } from 'node:util';
import { CoreV1Api, Watch, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { ClosedError, KeyExistsError, KeyModifiedError, KeyNotFoundError, type BatchOperation, type KVPair, type TreeEvent, type Value } from '../../src/index.js';

/** Annotation holding the bucket revision. */
export const NAIVE_REVISION = 'naive.kubekv.dev/revision';
/** Annotation holding the per-key lastIndex map (JSON). */
export const NAIVE_INDEX = 'naive.kubekv.dev/index';

interface State {
  revision: number;
  resourceVersion: string;
  values: Map<string, string>;
  index: Map<string, number>;
}

/** Options of {@link NaiveStore.open}. */
export interface NaiveStoreOptions {
  name: string;
  namespace: string;
  kubeConfig: KubeConfig;
  /** Create the ConfigMap if it is missing. Default false. */
  create?: boolean;
}

/** A write's planned change: per key the new value, or null to delete. */
type Changes = Map<string, string | null>;

/** See the module doc: GET, check locally, unconditional replace. */
export class NaiveStore {
  readonly name: string;
  readonly namespace: string;
  readonly #kc: KubeConfig;
  readonly #core: CoreV1Api;
  readonly #closing = new AbortController();
  #revision = 0;

  private constructor(options: NaiveStoreOptions) {
    this.name = options.name;
    this.namespace = options.namespace;
    this.#kc = options.kubeConfig;
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
  }

  /** Opens (and with `create`, creates) the bucket. */
  static async open(options: NaiveStoreOptions): Promise<NaiveStore> {
    const store = new NaiveStore(options);
    if (options.create) {
      try {
        await store.#core.createNamespacedConfigMap({
          namespace: options.namespace,
          body: { metadata: { name: options.name, annotations: { [NAIVE_REVISION]: '0', [NAIVE_INDEX]: '{}' } }, data: {} },
        });
      } catch (err) {
        if ((err as { code?: unknown }).code !== 409) throw err;
      }
    }
    await store.#read();
    return store;
  }

  /** Always a quorum GET (a cache read that is never stale is allowed to be). */
  async get(key: string): Promise<KVPair | undefined> {
    const state = await this.#read();
    return pairOf(state, key);
  }

  async list(prefix: string): Promise<KVPair[]> {
    const state = await this.#read();
    return [...state.values.keys()].filter((k) => k.startsWith(prefix)).sort().map((k) => pairOf(state, k)!);
  }

  /** The last revision this store read or wrote. */
  status(): { revision: number } {
    return { revision: this.#revision };
  }

  async put(key: string, value: Value): Promise<KVPair> {
    const revision = await this.#write(() => new Map([[key, text(value)]]));
    return makePair(key, text(value), revision);
  }

  async delete(key: string): Promise<boolean> {
    let existed = false;
    await this.#write((state) => {
      existed = state.values.has(key);
      return new Map(existed ? [[key, null]] : []);
    });
    return existed;
  }

  async atomicPut(key: string, value: Value, previous?: Pick<KVPair, 'lastIndex'> | number): Promise<KVPair> {
    const revision = await this.#write((state) => {
      check(state, key, previous === undefined ? 'absent' : lastIndexOf(previous));
      return new Map([[key, text(value)]]);
    });
    return makePair(key, text(value), revision);
  }

  async atomicDelete(key: string, previous: Pick<KVPair, 'lastIndex'> | number): Promise<void> {
    await this.#write((state) => {
      check(state, key, lastIndexOf(previous));
      return new Map([[key, null]]);
    });
  }

  async batch(operations: BatchOperation[]): Promise<number> {
    return this.#write((state) => {
      const changes: Changes = new Map();
      // Conditions see the batch's own earlier operations, as kubekv's do.
      const view: State = { ...state, values: new Map(state.values), index: new Map(state.index) };
      for (const op of operations) {
        if (op.expect !== undefined) check(view, op.key, op.expect === 'absent' ? 'absent' : lastIndexOf(op.expect));
        if (op.op === 'put') {
          changes.set(op.key, text(op.value));
          view.values.set(op.key, text(op.value));
          view.index.set(op.key, state.revision + 1);
        } else if (view.values.has(op.key)) {
          changes.set(op.key, null);
          view.values.delete(op.key);
          view.index.delete(op.key);
        }
      }
      return changes;
    });
  }

  /** A snapshot, then each change the API watch shows, diffed per key. Throws when the watch ends. */
  async *watchTree(prefix: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<TreeEvent> {
    let state = await this.#read();
    yield {
      type: 'snapshot',
      pairs: [...state.values.keys()].filter((k) => k.startsWith(prefix)).sort().map((k) => pairOf(state, k)!),
      revision: state.revision,
    };
    const queue: (V1ConfigMap | Error | 'end')[] = [];
    let wake: (() => void) | undefined;
    const push = (item: V1ConfigMap | Error | 'end') => {
      queue.push(item);
      wake?.();
    };
    const onStop = () => push('end');
    this.#closing.signal.addEventListener('abort', onStop);
    options.signal?.addEventListener('abort', onStop);
    const watch = await new Watch(this.#kc).watch(
      `/api/v1/namespaces/${this.namespace}/configmaps`,
      { fieldSelector: `metadata.name=${this.name}`, resourceVersion: state.resourceVersion },
      (type: string, object: V1ConfigMap) => {
        if (type === 'ADDED' || type === 'MODIFIED') push(object);
        else if (type === 'DELETED') push(new Error('bucket deleted'));
        else if (type === 'ERROR') push(new Error(`watch error event: ${JSON.stringify(object).slice(0, 200)}`));
      },
      (err: unknown) => push(err instanceof Error ? err : new Error(`watch ended${err ? `: ${inspect(err)}` : ''}`)),
    );
    try {
      if (this.#closing.signal.aborted || options.signal?.aborted) return;
      for (;;) {
        while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        const item = queue.shift()!;
        if (item === 'end') return;
        if (item instanceof Error) throw item;
        const next = decode(item);
        if (next.revision <= state.revision) continue;
        for (const key of new Set([...state.values.keys(), ...next.values.keys()])) {
          if (!key.startsWith(prefix)) continue;
          if (!next.values.has(key)) {
            if (state.values.has(key)) yield { type: 'delete', key, revision: next.revision, reason: 'deleted' };
          } else if (next.index.get(key) !== state.index.get(key) || next.values.get(key) !== state.values.get(key)) {
            yield { type: 'put', pair: pairOf(next, key)!, revision: next.revision };
          }
        }
        state = next;
      }
    } finally {
      watch.abort();
      this.#closing.signal.removeEventListener('abort', onStop);
      options.signal?.removeEventListener('abort', onStop);
    }
  }

  /** Ends watches; later calls reject with ClosedError. */
  close(): Promise<void> {
    this.#closing.abort();
    return Promise.resolve();
  }

  async #read(): Promise<State> {
    if (this.#closing.signal.aborted) throw new ClosedError(`naive store ${this.name}`);
    const state = decode(await this.#core.readNamespacedConfigMap({ name: this.name, namespace: this.namespace }));
    this.#revision = Math.max(this.#revision, state.revision);
    return state;
  }

  /** THE BUG: read, plan, and replace without a resourceVersion precondition. */
  async #write(plan: (state: State) => Changes): Promise<number> {
    const state = await this.#read();
    const changes = plan(state);
    if (changes.size === 0) return state.revision;
    const revision = state.revision + 1;
    const data = Object.fromEntries(state.values);
    const index = Object.fromEntries(state.index);
    for (const [key, value] of changes) {
      if (value === null) {
        delete data[key];
        delete index[key];
      } else {
        data[key] = value;
        index[key] = revision;
      }
    }
    await this.#core.replaceNamespacedConfigMap({
      name: this.name,
      namespace: this.namespace,
      body: {
        // No resourceVersion: the API server accepts the update whatever happened since the GET.
        metadata: { name: this.name, annotations: { [NAIVE_REVISION]: String(revision), [NAIVE_INDEX]: JSON.stringify(index) } },
        data,
      },
    });
    this.#revision = Math.max(this.#revision, revision);
    return revision;
  }
}

function decode(cm: V1ConfigMap): State {
  const annotations = cm.metadata?.annotations ?? {};
  return {
    revision: Number(annotations[NAIVE_REVISION] ?? 0),
    resourceVersion: cm.metadata?.resourceVersion ?? '',
    values: new Map(Object.entries(cm.data ?? {})),
    index: new Map(Object.entries(JSON.parse(annotations[NAIVE_INDEX] ?? '{}') as Record<string, number>)),
  };
}

function check(state: State, key: string, expect: number | 'absent'): void {
  const current = state.values.has(key) ? (state.index.get(key) ?? 0) : undefined;
  if (expect === 'absent') {
    if (current !== undefined) throw new KeyExistsError(key);
  } else if (current === undefined) {
    throw new KeyNotFoundError(key);
  } else if (current !== expect) {
    throw new KeyModifiedError(key, expect, current);
  }
}

function pairOf(state: State, key: string): KVPair | undefined {
  const value = state.values.get(key);
  return value === undefined ? undefined : makePair(key, value, state.index.get(key) ?? 0);
}

function makePair(key: string, value: string, lastIndex: number): KVPair {
  return { key, value: new TextEncoder().encode(value), text: value, lastIndex };
}

function text(value: Value): string {
  return typeof value === 'string' ? value : new TextDecoder().decode(value);
}

function lastIndexOf(previous: Pick<KVPair, 'lastIndex'> | number): number {
  return typeof previous === 'number' ? previous : previous.lastIndex;
}
