/**
 * A small seeded PRNG (mulberry32), so a run's workload and fault schedule
 * follow from its seed. Same seed, same choices; the interleaving with the
 * real servers still varies from run to run, so a seed reproduces the
 * schedule, not the exact history.
 */

/** Deterministic random choices from a seed. */
export class Prng {
  #state: number;

  /** Seeds from one or more integers (e.g. run seed, client index, incarnation), mixed so nearby seeds diverge. */
  constructor(...seed: number[]) {
    let h = 0x9e3779b9;
    for (const part of seed) {
      h = Math.imul(h ^ (part >>> 0), 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
      h ^= h >>> 16;
      // The high half of seeds above 2^32 matters too.
      h = Math.imul(h ^ Math.floor(part / 2 ** 32), 0x27d4eb2f);
    }
    this.#state = h >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** One choice, with probability proportional to its weight. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    const total = choices.reduce((sum, [, w]) => sum + w, 0);
    let r = this.next() * total;
    for (const [choice, weight] of choices) {
      r -= weight;
      if (r < 0) return choice;
    }
    return choices[choices.length - 1]![0];
  }
}
