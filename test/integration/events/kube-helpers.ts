/**
 * What the metrics and events tests do to the cluster as an admin: list
 * events.k8s.io/v1 Events, take a Lease over as another holder would, and
 * raise a bucket's epoch as a newer leader (or a stray kubectl edit) would.
 */
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';
import { EPOCH_ANNOTATION } from '../../../src/codec/format.js';
import { KubeTransport } from '../../../src/kube/transport.js';
import { waitFor } from '../../support/wait.js';

/** An events.k8s.io/v1 Event, the fields the tests check. */
export interface EventV1 {
  metadata: { name: string; namespace: string };
  eventTime: string;
  type: string;
  reason: string;
  action: string;
  note: string;
  reportingController: string;
  reportingInstance: string;
  regarding: { apiVersion?: string; kind?: string; name?: string; namespace?: string; uid?: string };
}

/** Every events.k8s.io/v1 Event in `namespace`, oldest first. */
export async function listEvents(kc: KubeConfig, namespace: string): Promise<EventV1[]> {
  const list = await KubeTransport.for(kc).send<{ items: EventV1[] }>({ method: 'GET', path: `/apis/events.k8s.io/v1/namespaces/${namespace}/events` });
  return list.items.sort((a, b) => Date.parse(a.eventTime) - Date.parse(b.eventTime));
}

/** The Lease object (for its uid and record). */
export function readLease(kc: KubeConfig, namespace: string, name: string): Promise<V1Lease> {
  return KubeTransport.for(kc).send<V1Lease>({ method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}` });
}

/** Writes a record naming `holder` as a new term (a CAS, retried while the current holder's renewals race it). */
export async function takeOverLease(kc: KubeConfig, namespace: string, name: string, holder: string): Promise<void> {
  const path = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`;
  const transport = KubeTransport.for(kc);
  await waitFor(async () => {
    const lease = await transport.send<V1Lease>({ method: 'GET', path });
    const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    const spec = { holderIdentity: holder, leaseDurationSeconds: 3, acquireTime: now, renewTime: now, leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 };
    await transport.send({ method: 'PATCH', path, contentType: 'application/merge-patch+json', body: { metadata: { resourceVersion: lease.metadata?.resourceVersion }, spec } });
    return true;
  }, `taking over lease ${name}`, 20_000);
}

/** Sets the bucket's leader epoch annotation, as a stray `kubectl edit` would. */
export async function setBucketEpoch(kc: KubeConfig, namespace: string, bucket: string, epoch: number): Promise<void> {
  await KubeTransport.for(kc).send({
    method: 'PATCH',
    path: `/api/v1/namespaces/${namespace}/configmaps/${bucket}`,
    contentType: 'application/merge-patch+json',
    body: { metadata: { annotations: { [EPOCH_ANNOTATION]: String(epoch) } } },
  });
}
