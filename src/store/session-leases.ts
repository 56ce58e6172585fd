/**
 * How a sweeper reaches a bucket's session Leases: one list+watch by label
 * for all of them (not one watch per session, not a periodic list), a
 * quorum read of one before its session ends, and a conditional delete.
 *
 * @module
 */
import type { Clock } from '../clock.js';
import type { KubeApi } from '../kube/api.js';
import { ObjectWatcher } from '../kube/object-watcher.js';
import type { LeaseObject } from '../kube/types.js';
import type { Logger } from '../logger.js';
import { sessionLeaseSelector } from './session.js';
import type { SessionLeaseInfo, SweeperHost } from './sweeper.js';

/** What a sweeper knows of a session Lease object. */
export function sessionLeaseInfo(lease: LeaseObject): SessionLeaseInfo {
  return {
    name: lease.metadata?.name ?? '',
    resourceVersion: lease.metadata?.resourceVersion ?? '',
    uid: lease.metadata?.uid,
    durationMs: Math.max(1, lease.spec?.leaseDurationSeconds ?? 1) * 1000,
    released: !lease.spec?.holderIdentity,
  };
}

/** The sweeper's calls on the session Leases of the bucket labelled `bucketLabel` in `namespace`. */
export function sessionLeases(kube: KubeApi, namespace: string, bucketLabel: string, clock: Clock, logger: Logger): Pick<SweeperHost, 'watchSessions' | 'readSession' | 'deleteSession'> {
  const leases = kube.leases(namespace);
  // The loop's warnings about a refusal by RBAC go to debug: the sweeper says once what it means (an app
  // without sessions need not grant it), and is not told every few seconds. Other failures warn as usual.
  const warn = (obj: Record<string, unknown> | string, msg?: string) => {
    if (typeof obj === 'string') return logger.warn(obj);
    if (obj['code'] === 'FORBIDDEN') return logger.debug(obj, msg);
    return logger.warn(obj, msg);
  };
  const quiet: Logger = { debug: logger.debug.bind(logger), info: logger.info.bind(logger), warn, error: logger.error.bind(logger), child: (bindings) => logger.child(bindings) };
  return {
    watchSessions: (observer) => {
      const watcher = new ObjectWatcher<LeaseObject>({
        api: leases,
        labelSelector: sessionLeaseSelector(bucketLabel),
        onList: (objects) => observer.onList(objects.map(sessionLeaseInfo)),
        onEvent: (type, object) => observer.onChange(sessionLeaseInfo(object), type === 'DELETED'),
        onError: (error) => observer.onError(error),
        clock,
        logger: quiet,
      });
      watcher.start();
      return { stop: () => watcher.stop() };
    },
    readSession: async (name, signal) => {
      const lease = await leases.get(name, { signal });
      return lease && sessionLeaseInfo(lease);
    },
    deleteSession: async (name, resourceVersion, uid) => (await leases.delete(name, { resourceVersion, ...(uid === undefined ? {} : { uid }) })).ok,
  };
}
