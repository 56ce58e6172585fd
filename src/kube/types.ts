/**
 * The Kubernetes object types kubekv uses, under kubekv's own names. They
 * are @kubernetes/client-node's models; this file is the one place outside
 * the HTTP code that names that package, so the rest of kubekv depends on
 * src/kube only (type imports included) and a change of client stays here.
 *
 * Values read back from the server are plain JSON, not instances of these
 * classes: a MicroTime arrives as a string whatever the type says.
 */
export type {
  KubeConfig,
  V1ConfigMap as ConfigMapObject,
  V1Lease as LeaseObject,
  V1LeaseSpec as LeaseSpec,
} from '@kubernetes/client-node';

/** The least of an object kubekv reads: its metadata. */
export interface KubeObject {
  metadata?: {
    name?: string | undefined;
    namespace?: string | undefined;
    uid?: string | undefined;
    resourceVersion?: string | undefined;
    labels?: Record<string, string> | undefined;
    annotations?: Record<string, string> | undefined;
  } | undefined;
}

/** An events.k8s.io/v1 Event as kubekv writes it (the fields it sets). */
export interface EventObject extends KubeObject {
  apiVersion?: string;
  kind?: string;
  eventTime?: string;
  reportingController?: string;
  reportingInstance?: string;
  action?: string;
  reason?: string;
  note?: string;
  type?: string;
  regarding?: { apiVersion?: string; kind?: string; name?: string; namespace?: string; uid?: string };
}
