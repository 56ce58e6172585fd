/**
 * The bucket nemesis of the store workload (issue 16): it deletes the
 * bucket and creates it again, and edits it by hand, while the clients'
 * writes are in flight. It talks to the API server directly (the admin
 * kubeconfig, no fault proxy) and records each of its acts as an operation
 * of the history (README, "Bucket operations"), in its own file
 * `bucket.jsonl` under the client number {@link bucketClient}:
 *
 * | op | how |
 * | --- | --- |
 * | `deleteBucket` by `kubekv` | `ConfigMapStore.open()` then `store.teardown()` |
 * | `deleteBucket` by `hand` | an unconditional DELETE of the ConfigMap, as `kubectl delete cm` |
 * | `createBucket` by `kubekv` | `ConfigMapStore.open({ create: true })`, then close |
 * | `createBucket` by `hand` | POST of a plain ConfigMap: no labels, no annotations, no data, as `kubectl create cm` |
 * | `editBucket` by `hand` | a JSON merge patch without resourceVersion (unconditional, as `kubectl patch` / `kubectl edit`) on data keys under {@link foreignPrefix} and on annotations kubekv does not own; now and then it removes `kubekv.dev/writers` (the store must then answer "unknown" for a lost answer, never a wrong definite one) |
 *
 * It also deletes chunks by hand ({@link BucketNemesis.deleteChunk}, the
 * `delete-chunk` fault): a DELETE of a chunk ConfigMap the head references.
 * That changes no key of the model (the head still says what the bucket
 * holds; it only cannot be read whole), so it is no operation of the
 * history: it is logged in nemesis.jsonl, and what the stores do about it
 * (reads that fail CHUNK_MISSING, or answer from a chunk they still hold)
 * is checked as usual. The fault then deletes and recreates the bucket,
 * recorded as above. A `deleteBucket` by kubekv that cannot open the bucket
 * (ChunkMissingError) did nothing and is recorded `fail`.
 *
 * Hand edits never touch the workload's keys (kubekv documents that a hand
 * edit of a value does not bump its lastIndex: outside the model). Some
 * hand edits ("fill") add hundreds of foreign keys with 253-character names
 * and a large foreign annotation: names count towards neither documented
 * limit, but etcd stores them (in `data` and in managedFields), so with the
 * workload's large values the stored object reaches etcd's 1.5 MiB request
 * limit, where a write must be refused BUCKET_FULL, never end unknown.
 *
 * An act's record: invoke before the first request; ok when it is done;
 * fail when it certainly did nothing (404 on a delete or edit, 409 on a
 * create, a refusal of the patch); unknown otherwise (the request may have
 * applied, e.g. during an API server restart).
 */
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { ConfigMapStore } from '../../src/index.js';
import { statusOf } from '../../src/kube/errors.js';
import { CHUNK_LABEL, type ChunkRef } from '../../src/codec/index.js';
import { referencedChunks } from './chunked-state.js';
import { HistoryWriter, type BucketActor, type OkResult, type Unstamped, type HistoryRecord, type BucketOpFields } from './history.js';
import { foreignPrefix } from './keys.js';
import type { Prng } from './prng.js';

/** The client number of the bucket nemesis's records. */
export const bucketClient = -2;

/** The foreign annotation hand edits add and remove. */
export const noteAnnotation = 'example.com/note';

/** Counters of the bucket nemesis's acts, for the summary. */
export interface BucketCounters {
  deletedByKubekv: number;
  deletedByHand: number;
  createdByKubekv: number;
  createdByHand: number;
  edits: number;
  /** Hand edits that removed kubekv.dev/writers. */
  writersRemoved: number;
  /** Hand edits that added (or removed) the long foreign keys and the large note. */
  fills: number;
  /** Acts that ended fail (did nothing) or unknown. */
  failed: number;
  unknown: number;
  /** Chunks the head referenced that were deleted by hand (delete-chunk). */
  chunksDeleted: number;
  /** delete-chunk faults that found no chunk to delete (the head referenced none, or it was gone already). */
  noChunk: number;
}

/** What the bucket nemesis acts on. */
export interface BucketNemesisOptions {
  /** Admin access, straight to the API server. */
  kubeConfig: KubeConfig;
  namespace: string;
  bucket: string;
  /** Its history file (bucket.jsonl). */
  history: string;
  rng: Prng;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** A request of the nemesis that takes longer than this is abandoned (its act recorded unknown). */
const requestTimeoutMs = 15_000;

class Refused extends Error {}

/** Deletes, creates and edits the bucket; see the module doc. */
export class BucketNemesis {
  readonly counts: BucketCounters = { deletedByKubekv: 0, deletedByHand: 0, createdByKubekv: 0, createdByHand: 0, edits: 0, writersRemoved: 0, fills: 0, failed: 0, unknown: 0, chunksDeleted: 0, noChunk: 0 };
  readonly #o: BucketNemesisOptions;
  readonly #api: CoreV1Api;
  readonly #history: HistoryWriter;
  #seq = 0;
  /** Whether the bucket exists, as far as the nemesis's last act knows. */
  #present = true;
  /** The long foreign keys of the last fill that are still there. */
  #filled: string[] = [];
  /** Small foreign keys added by hand, still there. */
  #foreign = new Set<string>();
  /** Serialises acts: an edit never overlaps a deletion's own requests. */
  #busy: Promise<unknown> = Promise.resolve();

  constructor(options: BucketNemesisOptions) {
    this.#o = options;
    this.#api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#history = new HistoryWriter(options.history);
  }

  /** Whether the bucket exists after the nemesis's last act. */
  get present(): boolean {
    return this.#present;
  }

  /** Deletes the bucket (by a kubekv store's teardown, or by hand). */
  deleteBucket(by: BucketActor): Promise<void> {
    return this.#serial(() =>
      this.#act({ op: 'deleteBucket', by }, async () => {
        if (by === 'kubekv') {
          const store = await ConfigMapStore.open({ name: this.#o.bucket, namespace: this.#o.namespace, kubeConfig: this.#o.kubeConfig, timeoutMs: 10_000, requestTimeoutMs: 5_000, events: false });
          await store.teardown();
        } else {
          await this.#request(() => this.#api.deleteNamespacedConfigMap({ name: this.#o.bucket, namespace: this.#o.namespace }), [404]);
        }
        this.#present = false;
        this.#filled = [];
        this.#foreign.clear();
        this.counts[by === 'kubekv' ? 'deletedByKubekv' : 'deletedByHand']++;
      }),
    );
  }

  /** Creates the bucket again, empty (by a kubekv store, or by hand as a plain ConfigMap). */
  createBucket(by: BucketActor): Promise<void> {
    return this.#serial(() =>
      this.#act({ op: 'createBucket', by }, async () => {
        if (by === 'kubekv') {
          const store = await ConfigMapStore.open({ name: this.#o.bucket, namespace: this.#o.namespace, kubeConfig: this.#o.kubeConfig, create: true, timeoutMs: 10_000, requestTimeoutMs: 5_000, events: false });
          await store.close();
        } else {
          await this.#request(() => this.#api.createNamespacedConfigMap({ namespace: this.#o.namespace, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: this.#o.bucket } } }), [409]);
        }
        this.#present = true;
        this.counts[by === 'kubekv' ? 'createdByKubekv' : 'createdByHand']++;
      }),
    );
  }

  /** Creates the bucket until it exists (at most `ms`): the end of a run needs one to read. */
  async ensurePresent(ms = 60_000): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (await this.#exists()) {
        this.#present = true;
        return true;
      }
      await this.createBucket(this.#o.rng.chance(0.5) ? 'kubekv' : 'hand');
      if (!this.#present) await new Promise((r) => setTimeout(r, 1000));
    }
    return false;
  }

  /**
   * Deletes one chunk the head references, as `kubectl delete cm` does (no
   * preconditions): the newest value chunk, else the newest entries chunk,
   * at random among equally new ones. A store holds a chunk in memory once
   * it has fetched it, so only a store that has not yet (one that lags, or
   * opens now) finds it gone; and a new entries chunk is merged into the
   * next compaction's output by any store that holds it (the bucket heals
   * within a commit or two), while a value chunk stays referenced until its
   * key is written again. Returns its name
   * and whether it held a value part; undefined when the head referenced
   * none, or the chunk was gone already (garbage collected after a newer
   * head dropped it).
   */
  deleteChunk(): Promise<{ name: string; value: boolean } | undefined> {
    return this.#serial(async () => {
      const head = await this.#api.readNamespacedConfigMap({ name: this.#o.bucket, namespace: this.#o.namespace }).catch(() => undefined);
      const listed = await this.#api.listNamespacedConfigMap({ namespace: this.#o.namespace, labelSelector: CHUNK_LABEL }).catch(() => undefined);
      let refs: ChunkRef[];
      try {
        // With a manifest chunk, that chunk is one of the candidates too.
        refs = referencedChunks(head, new Map((listed?.items ?? []).map((item) => [item.metadata?.name ?? '', item]))).refs;
      } catch {
        refs = [];
      }
      if (refs.length === 0) {
        this.counts.noChunk++;
        return undefined;
      }
      const born = new Map((listed?.items ?? []).map((item) => [item.metadata?.name ?? '', new Date(item.metadata?.creationTimestamp ?? 0).getTime()]));
      const values = refs.filter((r) => r.value === true);
      const pool = values.length > 0 ? values : refs;
      const newest = Math.max(...pool.map((r) => born.get(r.name) ?? 0));
      const candidates = pool.filter((r) => (born.get(r.name) ?? 0) === newest);
      const ref = candidates[this.#o.rng.int(0, candidates.length - 1)]!;
      try {
        await this.#request(() => this.#api.deleteNamespacedConfigMap({ name: ref.name, namespace: this.#o.namespace }), [404]);
      } catch (err) {
        if (!(err instanceof Refused)) throw err;
        this.counts.noChunk++;
        return undefined;
      }
      this.counts.chunksDeleted++;
      return { name: ref.name, value: ref.value === true };
    });
  }

  /** One hand edit, picked at random (module doc). */
  edit(): Promise<void> {
    const rng = this.#o.rng;
    const roll = rng.next();
    const changes: string[] = [];
    const data: Record<string, string | null> = {};
    const annotations: Record<string, string | null> = {};
    let writers = false;
    let fill = false;
    if (roll < 0.3) {
      const note = rng.chance(0.6) ? `note ${this.#seq + 1}` : null;
      annotations[noteAnnotation] = note;
      changes.push(note === null ? `-annotation ${noteAnnotation}` : `+annotation ${noteAnnotation}`);
    } else if (roll < 0.62) {
      for (let i = rng.int(1, 3); i > 0; i--) {
        // Foreign names: plain ones, and one that is not kubekv's canonical form (`_41` is "A" escaped).
        const key = `${foreignPrefix}${rng.chance(0.2) ? '_41' : `k${rng.int(0, 9)}`}`;
        const remove = this.#foreign.has(key) && rng.chance(0.5);
        data[key] = remove ? null : `hand ${this.#seq + 1}`;
        changes.push(`${remove ? '-' : '+'}data ${key}`);
      }
    } else if (roll < 0.75) {
      annotations['kubekv.dev/writers'] = null;
      writers = true;
      changes.push('-annotation kubekv.dev/writers');
    } else {
      fill = true;
      if (this.#filled.length > 0) {
        for (const key of this.#filled) data[key] = null;
        annotations[`${noteAnnotation}-large`] = null;
        changes.push(`-data ${this.#filled.length} long foreign keys`, `-annotation ${noteAnnotation}-large`);
      } else {
        const n = rng.int(200, 900);
        const stem = `${foreignPrefix}${'f'.repeat(253 - foreignPrefix.length - 4)}`;
        for (let i = 0; i < n; i++) data[`${stem}${String(i).padStart(4, '0')}`] = '';
        const noteBytes = rng.int(0, 200) * 1024;
        if (noteBytes > 0) annotations[`${noteAnnotation}-large`] = 'n'.repeat(noteBytes);
        changes.push(`+data ${n} foreign keys of 253 characters`, `+annotation ${noteAnnotation}-large of ${noteBytes} bytes`);
      }
    }
    const body: { data?: typeof data; metadata?: { annotations: typeof annotations } } = {};
    if (Object.keys(data).length > 0) body.data = data;
    if (Object.keys(annotations).length > 0) body.metadata = { annotations };
    return this.#serial(() =>
      this.#act({ op: 'editBucket', by: 'hand', foreignPrefix, changes }, async () => {
        await this.#request(() => this.#api.patchNamespacedConfigMap({ name: this.#o.bucket, namespace: this.#o.namespace, body }, mergePatch), [404, 422, 500, 413]);
        this.counts.edits++;
        if (writers) this.counts.writersRemoved++;
        if (fill) {
          this.counts.fills++;
          this.#filled = this.#filled.length > 0 ? [] : Object.keys(data);
        }
        for (const [key, value] of Object.entries(data)) {
          if (!key.startsWith(`${foreignPrefix}f`)) {
            if (value === null) this.#foreign.delete(key);
            else this.#foreign.add(key);
          }
        }
      }),
    );
  }

  close(): void {
    this.#history.close();
  }

  #serial<T>(act: () => Promise<T>): Promise<T> {
    const next = this.#busy.then(act, act);
    this.#busy = next.catch(() => {});
    return next;
  }

  /** Records `fields` as an operation around `run`: ok, fail (Refused: certainly nothing done) or unknown. */
  async #act(fields: BucketOpFields, run: () => Promise<void>): Promise<void> {
    const id = `bucket-${++this.#seq}`;
    this.#append({ t: 'invoke', id, client: bucketClient, ...fields });
    try {
      await run();
      this.#append({ t: 'ok', id, result: {} as OkResult });
    } catch (err) {
      // kubekv's open refuses a bucket it cannot read whole before any write.
      const code = (err as { code?: unknown })?.code;
      const refused = err instanceof Refused || code === 'BUCKET_NOT_FOUND' || (fields.op === 'deleteBucket' && code === 'CHUNK_MISSING');
      const cause = err instanceof Error ? err.message.slice(0, 300) : String(err);
      if (refused) {
        this.counts.failed++;
        this.#append({ t: 'fail', id, code: (err as { code?: string }).code ?? 'REFUSED', cause });
      } else {
        this.counts.unknown++;
        this.#append({ t: 'unknown', id, code: 'UNKNOWN', cause });
      }
      // What the nemesis believes next: ask the server.
      this.#present = await this.#exists().catch(() => this.#present);
    }
  }

  #append(record: Unstamped<HistoryRecord>): void {
    this.#history.append(record);
  }

  /**
   * One raw request, bounded in time; a status in `refusals` means the
   * server refused it (nothing done: Refused); anything else may have
   * applied.
   */
  async #request(call: () => Promise<unknown>, refusals: number[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${requestTimeoutMs} ms`)), requestTimeoutMs);
    });
    try {
      await Promise.race([call(), timeout]);
    } catch (err) {
      const status = statusOf(err);
      if (status !== undefined && refusals.includes(status)) throw new Refused(`HTTP ${status}: ${err instanceof Error ? err.message.slice(0, 200) : String(err)}`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async #exists(): Promise<boolean> {
    try {
      await this.#request(() => this.#api.readNamespacedConfigMap({ name: this.#o.bucket, namespace: this.#o.namespace }), [404]);
      return true;
    } catch (err) {
      if (err instanceof Refused) return false;
      throw err;
    }
  }
}
