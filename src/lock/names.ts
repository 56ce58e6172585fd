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
