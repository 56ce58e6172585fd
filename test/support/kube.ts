/**
 * Helpers for integration tests: admin API clients of the shared control
 * plane, a way to assert an API status code, and a watch recorder.
 */
import assert from 'node:assert/strict';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  Observable,
  RbacAuthorizationV1Api,
  Watch,
  type ConfigurationOptions,
  type RequestContext,
  type ResponseContext,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import { testControlPlane } from '../controlplane/remote.js';

/** Typed API clients for one identity. */
export interface Apis {
  kc: KubeConfig;
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  rbac: RbacAuthorizationV1Api;
}

/** API clients for a KubeConfig. */
export function apisFor(kc: KubeConfig): Apis {
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    rbac: kc.makeApiClient(RbacAuthorizationV1Api),
  };
}

/** API clients of a system:masters identity on the shared control plane. */
export function adminApis(): Apis {
  return apisFor(testControlPlane().adminKubeConfig());
}

/** Asserts `promise` rejects with an ApiException of HTTP status `code`; returns it. */
export async function expectApiStatus(promise: Promise<unknown>, code: number): Promise<ApiException<unknown>> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApiException, `expected an ApiException, got ${String(err)}`);
    assert.equal(err.code, code, `expected HTTP ${code}, got ${err.code}: ${String(err.body).slice(0, 300)}`);
    return err;
  }
  assert.fail(`expected HTTP ${code}, but the request succeeded`);
}

/** One event a watch delivered. */
export interface RecordedEvent {
  type: string;
  name: string | undefined;
  resourceVersion: string | undefined;
  annotations: Record<string, string>;
  object: Record<string, unknown>;
}

/** A running watch that records what it receives. */
export interface WatchRecorder {
  events: RecordedEvent[];
  /** Resolves with the error (or null) the watch ended with. */
  ended: Promise<unknown>;
  /** Resolves once `predicate` holds for the recorded events (rejects after `timeoutMs`). */
  until(predicate: (events: RecordedEvent[]) => boolean, timeoutMs?: number): Promise<RecordedEvent[]>;
  stop(): void;
}

/** Starts a client-node watch on `path` and records every event. */
export async function recordWatch(kc: KubeConfig, path: string, query: Record<string, string | number | boolean | undefined>): Promise<WatchRecorder> {
  const events: RecordedEvent[] = [];
  const waiters = new Set<() => void>();
  let resolveEnded!: (err: unknown) => void;
  const ended = new Promise<unknown>((resolve) => (resolveEnded = resolve));
  let done = false;
  const controller = await new Watch(kc).watch(
    path,
    query,
    (type, obj: { metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> } }) => {
      events.push({
        type,
        name: obj.metadata?.name,
        resourceVersion: obj.metadata?.resourceVersion,
        annotations: obj.metadata?.annotations ?? {},
        object: obj,
      });
      for (const wake of waiters) wake();
    },
    (err) => {
      done = true;
      resolveEnded(err);
      for (const wake of waiters) wake();
    },
  );
  return {
    events,
    ended,
    stop: () => controller.abort(),
    until(predicate, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (predicate(events)) {
            cleanup();
            resolve(events);
          } else if (done) {
            cleanup();
            reject(new Error(`watch ended before the expected events; got ${JSON.stringify(events.map((e) => [e.type, e.name]))}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out; got ${JSON.stringify(events.map((e) => [e.type, e.name]))}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/**
 * Grants `rules` to `user` in `namespace` (a Role and RoleBinding named
 * `name`) and returns a KubeConfig authenticated as that user. With no rules,
 * only the kubeconfig is made: the user can do nothing.
 */
export async function userWithRole(
  namespace: string,
  name: string,
  rules: V1PolicyRule[],
  user: string,
  groups: string[] = [],
): Promise<KubeConfig> {
  const cp = testControlPlane();
  if (rules.length > 0) {
    const { rbac } = adminApis();
    await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: user }],
      },
    });
  }
  const kc = new KubeConfig();
  kc.loadFromFile(await cp.mintUser({ user, groups, namespace }));
  return kc;
}

/**
 * client-node request options that carry an AbortSignal (its generated APIs
 * take none; a middleware setting it on the request context is the way).
 */
export function withSignal(signal: AbortSignal, extra?: ConfigurationOptions): ConfigurationOptions {
  const setSignal = {
    pre: (context: RequestContext) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
  };
  return { ...extra, middleware: [...(extra?.middleware ?? []), setSignal], middlewareMergeStrategy: 'append' };
}
