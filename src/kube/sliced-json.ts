/**
 * Parses the answer for one ConfigMap or Secret the way JSON.parse does,
 * except that the string values of its top-level `data` and `binaryData`
 * maps are substrings of the answer (V8 makes a long substring a slice of
 * its parent, not a copy) instead of strings of their own.
 *
 * Why: a store fetches every chunk of a bucket when it opens, and copies
 * each chunk's values into bytes at once (store/packed-entry.ts). Through
 * JSON.parse, a 64 MiB bucket first became 100,000 base64 strings, all
 * alive together while their chunk was parsed, which made V8 double its
 * young generation and keep it: a follower's RSS grew by some 60 MiB more
 * than with the same answers read this way.
 *
 * Guaranteed: for every valid JSON text, the result equals JSON.parse's
 * (own `__proto__` keys included); what does not parse this way (another
 * shape, escapes in the top-level keys) goes to JSON.parse whole, so an
 * invalid answer fails as it always did. Map keys are strings of their own
 * (a caller keeps them); the values hold the whole answer in memory for as
 * long as any of them is alive, so only a caller that copies them out at
 * once asks for this (GetOptions.slicedValues).
 *
 * Not guaranteed: that a text JSON.parse rejects is rejected here (a raw
 * control character inside a value is taken as it is); answers come from
 * the API server.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** The parsed answer, or undefined when it is not an object this reads (then parse it with JSON.parse). */
export function parseSlicedValues(text: string): Record<string, unknown> | undefined {
  try {
    return scanObject(text);
  } catch {
    return undefined;
  }
}

function scanObject(text: string): Record<string, unknown> | undefined {
  const start = skipSpace(text, 0);
  if (text.charCodeAt(start) !== OPEN_BRACE) return undefined;
  const scanned = scanMembers<unknown>(text, start, (key, i) => {
    if ((key === 'data' || key === 'binaryData') && text.charCodeAt(i) === OPEN_BRACE) return scanMembers(text, i, (_, at) => stringMember(text, at));
    const end = valueEnd(text, i);
    return end === undefined ? undefined : [JSON.parse(text.slice(i, end)), end];
  });
  return scanned && skipSpace(text, scanned[1]) === text.length ? scanned[0] : undefined;
}

/**
 * The object whose `{` is at `start`, each member's value read by
 * `read(key, at)` (the value and the index after it, or undefined when it
 * is not one this scanner takes): the object and the index after its `}`.
 */
function scanMembers<T>(text: string, start: number, read: (key: string, at: number) => [T, number] | undefined): [Record<string, T>, number] | undefined {
  const out: Record<string, T> = {};
  let i = skipSpace(text, start + 1);
  if (text.charCodeAt(i) === CLOSE_BRACE) return [out, i + 1];
  for (;;) {
    const keyEnd = stringEnd(text, i);
    if (keyEnd === undefined) return undefined;
    // A property name is a string of its own (V8 internalizes it), never a
    // slice of the answer, so a caller may keep the keys it iterates.
    const key = stringAt(text, i, keyEnd);
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) return undefined;
    const value = read(key, skipSpace(text, i + 1));
    if (!value) return undefined;
    define(out, key, value[0]);
    i = skipSpace(text, value[1]);
    const c = text.charCodeAt(i);
    if (c === COMMA) {
      i = skipSpace(text, i + 1);
      continue;
    }
    if (c === CLOSE_BRACE) return [out, i + 1];
    return undefined;
  }
}

/** The string at `start` (a slice of the answer when it has no escapes) and the index after it. */
function stringMember(text: string, start: number): [string, number] | undefined {
  const end = stringEnd(text, start);
  return end === undefined ? undefined : [stringAt(text, start, end), end];
}

/** The JSON string text[start, end) (quotes included): its content as a slice when it has no escapes, else unescaped by JSON.parse. */
function stringAt(text: string, start: number, end: number): string {
  const raw = text.slice(start + 1, end - 1);
  return raw.includes('\\') ? (JSON.parse(text.slice(start, end)) as string) : raw;
}

/** The index after the string whose opening quote is at `start`; undefined when none starts there or it never ends. */
function stringEnd(text: string, start: number): number | undefined {
  if (text.charCodeAt(start) !== QUOTE) return undefined;
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) return undefined;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** The index after the JSON value at `start` (not checked: JSON.parse reads it); undefined when it never ends. */
function valueEnd(text: string, start: number): number | undefined {
  const first = text.charCodeAt(start);
  if (first === QUOTE) return stringEnd(text, start);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    let i = start;
    while (i < text.length && !isDelimiter(text.charCodeAt(i))) i++;
    return i > start ? i : undefined;
  }
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (end === undefined) return undefined;
      i = end - 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth === 0) return i + 1;
    }
  }
  return undefined;
}

function isDelimiter(c: number): boolean {
  return c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || isSpace(c);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** Sets an own property as JSON.parse does (a key `__proto__` is data, not the prototype). */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  else target[key] = value;
}
