/**
 * Large values of the store workload, sized so buckets run into their size
 * limits during a run (issue 16). A large value is the op id that wrote it
 * (UTF-8), a NUL byte, then filler that follows from the id alone: bytes of
 * a PRNG seeded by the id, so the value is incompressible (kubekv stores it
 * raw, not gzipped) and unique, and a reader can check every byte of it
 * without the history holding it. The history records only the id and the
 * length (`value`, `size`; README, "History format").
 *
 * Small values are the op id as text, as before: they hold no NUL.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** 32-bit FNV-1a of a string's UTF-8 bytes: the filler's seed. */
function seedOf(id: string): number {
  let h = 0x811c9dc5;
  for (const byte of encoder.encode(id)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h || 1;
}

/** The large value written by op `id`: `size` bytes in all (at least the id and its NUL). */
export function largeValue(id: string, size: number): Uint8Array {
  const head = encoder.encode(id);
  const out = new Uint8Array(Math.max(size, head.length + 1));
  out.set(head);
  out[head.length] = 0;
  // xorshift32, four bytes a step.
  let x = seedOf(id);
  for (let i = head.length + 1; i < out.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
    if (i + 1 < out.length) out[i + 1] = (x >>> 8) & 0xff;
    if (i + 2 < out.length) out[i + 2] = (x >>> 16) & 0xff;
    if (i + 3 < out.length) out[i + 3] = (x >>> 24) & 0xff;
  }
  return out;
}

/**
 * What a read value says, as the history records it: `{ value }` for a small
 * (text) value; `{ value: id, size }` for a large one. A large value whose
 * bytes are not exactly what its id's write produced is recorded with the
 * value `<id>!corrupt`, which no operation wrote: the checker reports it as
 * a phantom.
 */
export function describeValue(bytes: Uint8Array, text: string): { value: string; size?: number } {
  const nul = bytes.indexOf(0);
  if (nul < 0) return { value: text };
  let id: string;
  try {
    id = decoder.decode(bytes.subarray(0, nul));
  } catch {
    return { value: '!corrupt', size: bytes.length };
  }
  const expected = largeValue(id, bytes.length);
  const intact = expected.length === bytes.length && expected.every((b, i) => b === bytes[i]);
  return intact ? { value: id, size: bytes.length } : { value: `${id}!corrupt`, size: bytes.length };
}
