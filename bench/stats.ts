/** Small statistics helpers for benchmarks. */

/** The q-quantile (0..1) of `samples` by nearest rank; NaN when empty. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** Formats milliseconds with a precision that suits their size. */
export function ms(value: number): string {
  if (value < 0.01) return `${(value * 1000).toFixed(2)} µs`;
  if (value < 10) return `${value.toFixed(2)} ms`;
  return `${value.toFixed(0)} ms`;
}

/** Runs `fn` `count` times sequentially and returns each duration in ms. */
export async function timeEach(count: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const durations: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await fn(i);
    durations.push(performance.now() - started);
  }
  return durations;
}
