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
 * neither always comes second. Traffic stays on loopback.
 */
import { openLayout, type StoreLayout } from './capacity-layouts.js';
import type { Context } from './capacity-subjects.js';
import { quantile } from './stats.js';

/** Rounds (one put on each bucket per round) after WARMUP_ROUNDS not counted. */
export const PAIRED_ROUNDS = 300;
const WARMUP_ROUNDS = 20;

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
    return { layout: layout.label, rounds: PAIRED_ROUNDS, small: s, big: b, p50Ratio: b.putP50Ms / s.putP50Ms };
  } finally {
    for (const store of stores) await store.close();
  }
}
