/** Bounded polling for conditions that become true asynchronously (never a fixed sleep). */

/** Polls `predicate` every `intervalMs` until it is truthy; fails with `message` after `timeoutMs`. */
export async function waitFor<T>(predicate: () => T | Promise<T>, message: string, timeoutMs = 30_000, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}${last ? ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
