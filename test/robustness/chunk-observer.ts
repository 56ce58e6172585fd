/**
 * The orchestrator's view of a run's chunks (issue 19): it lists the chunk
 * ConfigMaps of the run's namespace (label kubekv.dev/chunk-of) every
 * second, straight to the API server, and counts the names that appear and
 * disappear; at the end it gathers what each client process counted
 * (client-protocol.ts ClientStats) and checks the final head's references.
 *
 * Each chunk's life goes to `chunks.jsonl` in the run directory (seen,
 * gone: monotonic ns; its kind and owner uid), so a ChunkMissing report
 * can be traced to when its chunk went and who owned it.
 *
 * Non-guarantee: a chunk created and deleted between two lists is not
 * counted (a chunk lives at least its grace period once unreferenced, and
 * orphans of lost commits as long).
 */
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { CHUNK_LABEL } from '../../src/codec/index.js';
import { referencedChunks } from './chunked-state.js';
import type { ClientStats } from './client-protocol.js';
import { monotonicNow } from './history.js';

/** What a run did with chunks (the summary's `chunks:` lines). */
export interface ChunkCounters {
  /** Chunk ConfigMaps seen to appear (created by any store). */
  created: number;
  /** Of them, manifest chunks (the chunk list of a format-3 head). */
  manifests: number;
  /** Chunk ConfigMaps seen to disappear (garbage collection, teardown, delete-chunk). */
  gone: number;
  /** Chunks that existed at the end. */
  atEnd: number;
  /** Summed over the client processes (ClientStats). */
  compactions: number;
  compactionsLost: number;
  compactionsFailed: number;
  /** Failed compactions logged while their client's answers were being lost (so their CAS may have landed unseen). */
  compactionsFailedLosingAnswers: number;
  collected: number;
  collectionsFailed: number;
  /** status() turning synced: false with CHUNK_MISSING, in all. */
  chunkMissingReports: number;
  /** Of those, reports no delete-chunk fault (or slow spell, on the reader) explains. */
  chunkMissingUnexplained: number;
  /** The first 10 of them: client, monotonic ns and chunk (see chunks.jsonl, client-<n>.log and nemesis.jsonl around it). */
  chunkMissingUnexplainedAt: { client: number; at: string; chunk: string }[];
  /** Loads that found a chunk gone and read the head again, by client index (the reader's: GC racing the slow reader). */
  chunkRereads: Record<number, number>;
  /** Opens refused with ChunkMissingError, summed over the client processes. */
  openRefused: number;
  /** status() turning synced: false for another reason, by code. */
  otherUnsynced: Record<string, number>;
  /** Chunks the final head references whose ownerReference does not name the head's uid (a cluster's garbage collector would delete them). */
  foreignOwned: string[];
}

/** Counts chunks appearing and disappearing; see the module doc. */
export class ChunkObserver {
  readonly #api: CoreV1Api;
  readonly #namespace: string;
  readonly #log: string | undefined;
  readonly #known = new Set<string>();
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;
  created = 0;
  manifests = 0;
  gone = 0;

  /** `log`: the chunks.jsonl to append each chunk's life to. */
  constructor(kubeConfig: KubeConfig, namespace: string, log?: string, everyMs = 1000) {
    this.#api = kubeConfig.makeApiClient(CoreV1Api);
    this.#namespace = namespace;
    this.#log = log;
    this.#done = (async () => {
      while (!this.#stop.signal.aborted) {
        await this.poll().catch(() => {});
        await new Promise((r) => setTimeout(r, everyMs));
      }
    })();
  }

  /** One list: counts what appeared and disappeared since the last. */
  async poll(): Promise<number> {
    const listed = await this.#api.listNamespacedConfigMap({ namespace: this.#namespace, labelSelector: CHUNK_LABEL });
    const names = new Set(listed.items.map((item) => item.metadata?.name ?? ''));
    const at = monotonicNow();
    for (const item of listed.items) {
      const name = item.metadata?.name ?? '';
      if (!this.#known.has(name)) {
        this.#known.add(name);
        this.created++;
        if (item.metadata?.annotations?.['kubekv.dev/chunk'] === 'manifest') this.manifests++;
        this.#write({ at, chunk: name, seen: true, kind: item.metadata?.annotations?.['kubekv.dev/chunk'], owner: item.metadata?.ownerReferences?.[0]?.uid, created: item.metadata?.creationTimestamp });
      }
    }
    for (const name of [...this.#known]) {
      if (!names.has(name)) {
        this.#known.delete(name);
        this.gone++;
        this.#write({ at, chunk: name, gone: true });
      }
    }
    return names.size;
  }

  #write(line: Record<string, unknown>): void {
    if (this.#log) appendFileSync(this.#log, `${JSON.stringify(line)}\n`);
  }

  /** Stops polling after one last list; returns the chunks that exist. */
  async stop(): Promise<number> {
    this.#stop.abort();
    await this.#done;
    return this.poll().catch(() => this.#known.size);
  }

  /** The references of the head `bucket` whose chunk's ownerReference names another uid than the head's (or is missing). */
  async foreignOwned(bucket: string): Promise<string[]> {
    const head = await this.#api.readNamespacedConfigMap({ name: bucket, namespace: this.#namespace });
    const listed = await this.#api.listNamespacedConfigMap({ namespace: this.#namespace, labelSelector: CHUNK_LABEL });
    const byName = new Map(listed.items.map((item) => [item.metadata?.name ?? '', item]));
    const { refs } = referencedChunks(head, byName);
    const bad: string[] = [];
    for (const ref of refs) {
      const chunk = byName.get(ref.name);
      if (!chunk) continue; // missing: the stores report that
      const owners = chunk.metadata?.ownerReferences ?? [];
      if (!owners.some((o) => o.kind === 'ConfigMap' && o.name === bucket && o.uid === head.metadata?.uid)) bad.push(ref.name);
    }
    return bad;
  }
}

/** Sums the stats files of a run directory (`client-<n>.stats-<incarnation>.json`), by client index. */
export function readClientStats(dir: string): Map<number, ClientStats[]> {
  const byClient = new Map<number, ClientStats[]>();
  for (const file of readdirSync(dir)) {
    const match = /^client-(\d+)\.stats-\d+\.json$/.exec(file);
    if (!match) continue;
    try {
      const stats = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ClientStats;
      const list = byClient.get(Number(match[1])) ?? [];
      list.push(stats);
      byClient.set(Number(match[1]), list);
    } catch {
      // A process killed while writing: its last second is lost.
    }
  }
  return byClient;
}
