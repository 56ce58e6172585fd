/**
 * The paired part of the capacity benchmark: put latency on a layout's
 * smallest and largest bucket, measured in alternation, one put on each per
 * round, so that whatever else loads the machine at that moment weighs on
 * both alike. The per-size tables measure each size minutes apart; on a
 * shared 2-core machine the load between those minutes can differ by more
 * than the ratio the issue bounds (a bare one-key PATCH, the same request
 * every time, varied 1.8x between sizes in one run), so the ratio of put
 * p50s is read from here. One writer per bucket, no followers, sequential
 * 100-byte puts; each round starts with the other bucket than the last, so
 * neither always comes second. Then the same for 64 concurrent writers:
 * windows of WINDOW_MS on each bucket in turn (ABBA order), acknowledged
 * puts per second summed over the windows. Traffic stays on loopback.
 */
import { openLayout, type StoreLayout } from './capacity-layouts.js';
import type { Context } from './capacity-subjects.js';
import { quantile } from './stats.js';

/** Rounds (one put on each bucket per round) after WARMUP_ROUNDS not counted. */
export const PAIRED_ROUNDS = 300;
const WARMUP_ROUNDS = 20;
/** Concurrent writers, windows per bucket, and each window's length. */
const WRITERS = 64;
export const PAIRED_WINDOWS = 4;
const WINDOW_MS = 1000;

/** A bucket the sizes part left in place, with its size row. */
export interface PairedBucket {
  name: string;
  shape: string;
}

/** Figures of one paired run (JSON-friendly). */
export interface PairedFigures {
  layout: string;
  rounds: number;
  small: PairedBucket & { putP50Ms: number; putP99Ms: number };
  big: PairedBucket & { putP50Ms: number; putP99Ms: number };
  /** big p50 / small p50. */
  p50Ratio: number;
  /** Acknowledged puts/s of WRITERS concurrent writers, over PAIRED_WINDOWS windows each. */
  concurrent: { small: number; big: number; ratio: number; failed: number };
}

/** Alternates sequential puts between `small` and `big` of `layout` and reports both latencies. */
export async function runPaired(ctx: Context, layout: StoreLayout, small: PairedBucket, big: PairedBucket, key: (i: number) => string, value: () => string): Promise<PairedFigures> {
  const open = (bucket: PairedBucket) => openLayout(layout, { name: bucket.name, namespace: ctx.namespace, kubeConfig: ctx.kc, create: false });
  const stores = [await open(small), await open(big)] as const;
  try {
    const latencies: [number[], number[]] = [[], []];
    for (let round = 0; round < WARMUP_ROUNDS + PAIRED_ROUNDS; round++) {
      for (const which of round % 2 === 0 ? [0, 1] : [1, 0]) {
        const started = performance.now();
        await stores[which]!.put(key(round), value());
        if (round >= WARMUP_ROUNDS) latencies[which]!.push(performance.now() - started);
      }
    }
    const figures = (bucket: PairedBucket, samples: number[]) => ({ ...bucket, putP50Ms: quantile(samples, 0.5), putP99Ms: quantile(samples, 0.99) });
    const [s, b] = [figures(small, latencies[0]), figures(big, latencies[1])];
    const acked = [0, 0];
    const spent = [0, 0];
    let failed = 0;
    for (let window = 0; window < 2 * PAIRED_WINDOWS; window++) {
      const which = [0, 1, 1, 0][window % 4]!;
      const started = performance.now();
      const deadline = started + WINDOW_MS;
      await Promise.all(
        Array.from({ length: WRITERS }, async (_, w) => {
          while (performance.now() < deadline) {
            try {
              await stores[which]!.put(`cw.${w}`, value());
              acked[which]!++;
            } catch {
              failed++;
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
          }
        }),
      );
      spent[which]! += performance.now() - started;
    }
    const rate = (which: number) => (acked[which]! * 1000) / spent[which]!;
    const concurrent = { small: rate(0), big: rate(1), ratio: rate(1) / rate(0), failed };
    return { layout: layout.label, rounds: PAIRED_ROUNDS, small: s, big: b, p50Ratio: b.putP50Ms / s.putP50Ms, concurrent };
  } finally {
    for (const store of stores) await store.close();
  }
}
