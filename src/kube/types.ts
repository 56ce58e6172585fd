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
  V1beta1LeaseCandidate as LeaseCandidateObject,
  V1LeaseSpec as LeaseSpec,
  V1Secret as SecretObject,
} from '@kubernetes/client-node';

/** The metadata fields kubekv reads and writes. */
export interface ObjectMeta {
  /** The object's name. */
  name?: string | undefined;
  /** Its namespace. */
  namespace?: string | undefined;
  /** Set by the server at creation; a recreated object has a new one. */
  uid?: string | undefined;
  /** Set by the server at every change; an update or patch naming it is a compare-and-swap. */
  resourceVersion?: string | undefined;
  /** Labels (selectable). */
  labels?: Record<string, string> | undefined;
  /** Annotations. */
  annotations?: Record<string, string> | undefined;
}

/** The least of an object kubekv reads: its metadata. */
export interface KubeObject {
  /** See {@link ObjectMeta}. */
  metadata?: ObjectMeta | undefined;
}

/** The object an events.k8s.io/v1 Event is about. */
export interface EventRegarding {
  /** e.g. coordination.k8s.io/v1. */
  apiVersion?: string;
  /** e.g. Lease. */
  kind?: string;
  /** Its name. */
  name?: string;
  /** Its namespace. */
  namespace?: string;
  /** Its uid: `kubectl describe` lists only events that carry it. */
  uid?: string;
}

/** An events.k8s.io/v1 Event as kubekv writes it (the fields it sets). */
export interface EventObject extends KubeObject {
  /** events.k8s.io/v1. */
  apiVersion?: string;
  /** Event. */
  kind?: string;
  /** When it happened: a MicroTime (six fractional digits). */
  eventTime?: string;
  /** e.g. kubekv.dev/state-manager. */
  reportingController?: string;
  /** The replica or lock identity. */
  reportingInstance?: string;
  /** What was done, e.g. BecomeLeader. */
  action?: string;
  /** Machine-readable CamelCase reason, e.g. LeaderElection. */
  reason?: string;
  /** Human-readable; never a key or a value. */
  note?: string;
  /** Normal or Warning. */
  type?: string;
  /** The object it is about. */
  regarding?: EventRegarding;
}
