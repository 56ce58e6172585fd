/**
 * How lock Leases are marked, in a module that imports nothing, so readers
 * of Leases (the CLI) can tell lock Leases apart without loading the lock
 * and its Kubernetes client.
 *
 * @module
 */

/** Annotation on a lock's Lease holding the lock key, encoded as a ConfigMap key would be. */
export const LOCK_KEY_ANNOTATION = 'kubekv.dev/lock-key';
/** Value of app.kubernetes.io/component on lock Leases. */
export const LOCK_COMPONENT = 'lock';
/**
 * Annotation on a lock's Lease holding the holder's value (LockOptions.value),
 * JSON `{"holder": "<identity>", "value": "<text>"}`: written by the holder
 * with every renewal, removed by its release; a reader trusts it only while
 * `holder` is the Lease's holderIdentity (a client-go contender that takes
 * the Lease over keeps annotations it does not know).
 */
export const LOCK_VALUE_ANNOTATION = 'kubekv.dev/lock-value';

/** The holder's value in a lock Lease's annotations, if the annotation is the current holder's. */
export function lockValueOf(annotations: Readonly<Record<string, string>> | undefined, holderIdentity: string): string | undefined {
  const raw = annotations?.[LOCK_VALUE_ANNOTATION];
  if (raw === undefined || holderIdentity === '') return undefined;
  try {
    const parsed = JSON.parse(raw) as { holder?: unknown; value?: unknown };
    return parsed.holder === holderIdentity && typeof parsed.value === 'string' ? parsed.value : undefined;
  } catch {
    return undefined;
  }
}
