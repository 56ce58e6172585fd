/**
 * What the orchestrator and a client process tell each other: the job (the
 * client's one command-line argument) and one JSON object per line on the
 * client's stdin (commands) and stdout (events). Kept apart from client.ts
 * so the orchestrator can import the types without running a client.
 */
import type { ChunkOptions } from '../../src/index.js';
import type { StoreKind } from './stores.js';

/** A client process's assignment. */
export interface ClientJob {
  /** Client index (the `client` of its history records). */
  index: number;
  /** 0 for the first process of this index, +1 per restart after a SIGKILL; part of every op id. */
  incarnation: number;
  /** Run seed; the client's PRNG mixes in index and incarnation. */
  seed: number;
  /** Kubeconfig whose server is this client's fault proxy. */
  kubeconfig: string;
  namespace: string;
  bucket: string;
  store: StoreKind;
  /** History file to append to (client-<index>.jsonl). */
  history: string;
  /** The keys the workload uses. */
  keys: string[];
  /** Whether some puts carry large values (values.ts) that fill the bucket. */
  largeValues: boolean;
  /** Think time between operations, uniform in [min, max] ms. */
  thinkMs: [number, number];
  /** Epoch ms after which the client exits by itself whatever happens (a leak guard). */
  hardDeadline: number;
  /**
   * `writer`: the mix of reads and writes; `reader`: a follower that only
   * reads (cache and consistent gets) and watches (the slow reader of the
   * `slow-reader` fault). Default writer.
   */
  role?: 'writer' | 'reader';
  /** The store's `chunks` option (chunk-profiles.ts); undefined: kubekv's defaults. */
  chunks?: ChunkOptions | false;
  /** The store's write deadline and request timeout (stores.ts clientTimeouts). */
  timeouts: { timeoutMs: number; requestTimeoutMs: number };
  /** Where the process writes its {@link ClientStats} (`<stats>-<incarnation>.json`, rewritten every second and at the end). */
  stats: string;
}

/** What a client process's store did with chunks, counted from its logger and status() (client.ts). */
export interface ClientStats {
  /** Compactions whose head CAS landed. */
  compactions: number;
  /** Compactions whose CAS lost to another commit (their chunks are orphans). */
  compactionsLost: number;
  /** Compactions that failed (a request failed: its answer may have been lost after it landed). */
  compactionsFailed: number;
  /** When each failed compaction was logged (monotonic ns as a decimal string; the first 1000). */
  compactionFailedAt: string[];
  /** Chunks this store's garbage collection deleted. */
  chunksCollected: number;
  /** Garbage collection runs that failed. */
  collectionsFailed: number;
  /** Times status() turned synced: false with CHUNK_MISSING: when (monotonic ns) and the chunk it names (the first 1000). */
  chunkMissingReports: { at: string; chunk: string }[];
  /** Loads that found a chunk of the head gone and read the head again (garbage collection raced them; the head had moved on, or it is really missing). */
  chunkRereads: number;
  /** Opens of the store refused with ChunkMissingError (a process started while a referenced chunk was gone). */
  openRefused: number;
  /** Times status() turned synced: false with another code, by code. */
  otherUnsynced: Record<string, number>;
}

/** Orchestrator to client (stdin). */
export type ClientCommand =
  /** Stop issuing operations; answer `quiesced` once the one in flight settled. */
  | { cmd: 'quiesce' }
  /** Wait (at most `waitMs`) until the watcher saw `finalRevision`, write client-end, close, exit 0. */
  | { cmd: 'end'; finalRevision: number; waitMs: number };

/** Client to orchestrator (stdout). */
export type ClientEvent =
  | { event: 'ready' }
  | { event: 'quiesced'; ops: number }
  | { event: 'ended'; caughtUp: boolean; watchedRevision: number };
