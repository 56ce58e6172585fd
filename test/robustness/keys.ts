/**
 * The keys of the store workload: a few plain ones, where contention is
 * high, beside an adversarial set that a store's codec and its plain-object
 * bookkeeping must keep apart (issue 16: the key `/proto/` is stored under
 * the ConfigMap key `__proto__`, and a patch built as a plain object
 * silently dropped it).
 *
 * Every key here encodes (src/codec/key.ts) to a different ConfigMap key;
 * test/unit/robustness/keys.test.ts pins the encodings below.
 */
import { encodeKey, MAX_CONFIGMAP_KEY_LENGTH } from '../../src/codec/key.js';

/** The plain keys: k0..k4. */
export const plainKeys: readonly string[] = ['k0', 'k1', 'k2', 'k3', 'k4'];

/**
 * The longest key of the set: its ConfigMap encoding is exactly
 * {@link MAX_CONFIGMAP_KEY_LENGTH} (253) characters, computed here rather
 * than counted by hand: `long/é_` (escapes and a `/`) followed by as many
 * `x` as fit.
 */
export const longestKey: string = (() => {
  const head = 'long/\u00e9_';
  const fixed = encodeKey(`${head}x`).length - 1;
  const key = head + 'x'.repeat(MAX_CONFIGMAP_KEY_LENGTH - fixed);
  if (encodeKey(key).length !== MAX_CONFIGMAP_KEY_LENGTH) throw new Error(`the longest key encodes to ${encodeKey(key).length} characters`);
  return key;
})();

/**
 * The adversarial keys, with the ConfigMap key each is stored under:
 * - prototype names: `/proto/` (`__proto__`), `__proto__` itself
 *   (`_5F_proto_5F_`), `constructor`, `toString`, `hasOwnProperty`, `valueOf`;
 * - escaping: `a_b` (`a_b`), `a/b` (`a__b`), `a__b` (`a_5F_b`), `a_5Fb`
 *   (`a_5F5Fb`);
 * - case: `K`, `k`;
 * - unicode: é as NFC (`_C3_A9`) and as NFD (`e_CC_81`), a non-BMP emoji
 *   (`_F0_9F_98_80`);
 * - `/` vs `__`: `x/y` (`x__y`), `x__y` (`x_5F_y`), `/` (`__`);
 * - {@link longestKey} (253 characters encoded).
 */
export const adversarialKeys: readonly string[] = [
  '/proto/',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'a_b',
  'a/b',
  'a__b',
  'a_5Fb',
  'K',
  'k',
  '\u00e9',
  'e\u0301',
  '\u{1F600}',
  'x/y',
  'x__y',
  '/',
  longestKey,
];

/** Which key set a run's workload draws from. */
export type KeySet = 'plain' | 'adversarial';

/** The workload's keys: the plain ones, and with `adversarial` the adversarial ones beside them. */
export function workloadKeys(set: KeySet): string[] {
  return set === 'plain' ? [...plainKeys] : [...plainKeys, ...adversarialKeys];
}

/**
 * Data keys of hand edits (the bucket nemesis) start with this; the
 * workload never uses such a key, and the checker ignores them (README,
 * "Bucket operations"). `hand.` is plain, so the ConfigMap key is the
 * kubekv key.
 */
export const foreignPrefix = 'hand.';
