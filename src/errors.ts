/**
 * Every error kubekv throws or rejects with is a {@link KubekvError}: one class
 * per failure, each with a stable {@link KubekvError.code} to branch on
 * (messages may change between versions, codes do not) and
 * {@link KubekvError.retryable} saying whether the same call may succeed later
 * unchanged. The underlying Kubernetes or network error, when there is one, is
 * kept as `cause`.
 *
 * Messages name the key or bucket concerned because the caller already knows
 * them; kubekv itself never logs keys or values.
 *
 * @module
 */

/** The stable codes of {@link KubekvError}; one per error class. */
export type KubekvErrorCode =
  | 'KEY_NOT_FOUND'
  | 'KEY_EXISTS'
  | 'KEY_MODIFIED'
  | 'INVALID_KEY'
  | 'INVALID_VALUE'
  | 'VALUE_TOO_LARGE'
  | 'BUCKET_FULL'
  | 'BUCKET_NOT_FOUND'
  | 'FORBIDDEN'
  | 'UNAVAILABLE'
  | 'CONFLICT'
  | 'FORMAT_ERROR'
  | 'CLOSED'
  | 'ABORTED'
  | 'INVALID_OPTION'
  | 'NOT_LEADER'
  | 'FENCED'
  | 'API_ERROR'
  | 'LOCK_HELD'
  | 'OUTCOME_UNKNOWN'
  | 'DEADLINE_EXCEEDED'
  | 'NAMESPACE_NOT_FOUND'
  | 'LEASE_NOT_FOUND'
  | 'CHUNK_MISSING'
  | 'SESSION_CLOSED';

/** Options every kubekv error accepts. */
export interface KubekvErrorOptions {
  /** The error that caused this one (an API or network error), kept for diagnosis. */
  cause?: unknown;
}

/**
 * Base class of every kubekv error. Branch on `code` (or `instanceof` a
 * subclass), never on `message`.
 */
export class KubekvError extends Error {
  /** Stable, machine-readable code of the failure. */
  readonly code: KubekvErrorCode;
  /** True when repeating the same call later, unchanged, may succeed. */
  readonly retryable: boolean;

  /**
   * @param code - stable code of the failure
   * @param message - human-readable description
   * @param options - `cause`, and whether the failure is retryable (default false)
   */
  constructor(code: KubekvErrorCode, message: string, options: KubekvErrorOptions & { retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** The key does not exist (from `get` with `{ required: true }`, `atomicDelete`, `atomicPut` with a previous pair). */
export class KeyNotFoundError extends KubekvError {
  /** The key that was not found. */
  readonly key: string;
  /** @param key - the missing key */
  constructor(key: string, options?: KubekvErrorOptions) {
    super('KEY_NOT_FOUND', `key not found: ${JSON.stringify(key)}`, options);
    this.key = key;
  }
}

/** A create-only write (`atomicPut` without a previous pair) found the key already present. */
export class KeyExistsError extends KubekvError {
  /** The key that already exists. */
  readonly key: string;
  /** @param key - the existing key */
  constructor(key: string, options?: KubekvErrorOptions) {
    super('KEY_EXISTS', `key already exists: ${JSON.stringify(key)}`, options);
    this.key = key;
  }
}

/** A conditional write found the key changed since the revision the caller compared with. */
export class KeyModifiedError extends KubekvError {
  /** The key whose revision did not match. */
  readonly key: string;
  /** The `lastIndex` the caller expected. */
  readonly expectedIndex: number;
  /** The key's current `lastIndex` (undefined when it was deleted). */
  readonly actualIndex: number | undefined;
  /**
   * @param key - the key compared
   * @param expectedIndex - revision the caller expected
   * @param actualIndex - revision found, undefined if the key is gone
   */
  constructor(key: string, expectedIndex: number, actualIndex: number | undefined, options?: KubekvErrorOptions) {
    super(
      'KEY_MODIFIED',
      `key ${JSON.stringify(key)} was modified: expected lastIndex ${expectedIndex}, found ${actualIndex ?? 'deleted'}`,
      options,
    );
    this.key = key;
    this.expectedIndex = expectedIndex;
    this.actualIndex = actualIndex;
  }
}

/** The key is not acceptable: empty, not a string, not valid UTF-8, or too long once encoded. */
export class InvalidKeyError extends KubekvError {
  /** Why the key was rejected. */
  readonly reason: string;
  /** @param reason - what is wrong with the key */
  constructor(reason: string, options?: KubekvErrorOptions) {
    super('INVALID_KEY', `invalid key: ${reason}`, options);
    this.reason = reason;
  }
}

/** The value is not acceptable (not a Uint8Array or string). */
export class InvalidValueError extends KubekvError {
  /** @param reason - what is wrong with the value */
  constructor(reason: string, options?: KubekvErrorOptions) {
    super('INVALID_VALUE', `invalid value: ${reason}`, options);
  }
}

/** One value, once encoded, is larger than a ConfigMap can ever hold. Nothing was sent. */
export class ValueTooLargeError extends KubekvError {
  /** The key being written. */
  readonly key: string;
  /** Encoded size of the value, in bytes. */
  readonly size: number;
  /** The most a single value may take, in bytes. */
  readonly limit: number;
  /**
   * @param key - key being written
   * @param size - encoded value size in bytes
   * @param limit - maximum in bytes
   */
  constructor(key: string, size: number, limit: number, options?: KubekvErrorOptions) {
    super('VALUE_TOO_LARGE', `value for ${JSON.stringify(key)} is ${size} bytes encoded; the limit is ${limit}`, options);
    this.key = key;
    this.size = size;
    this.limit = limit;
  }
}

/** The write would take the bucket over the ConfigMap size limit (1 MiB of data). Nothing was sent. */
export class BucketFullError extends KubekvError {
  /** The bucket's size in bytes if the write were applied (as {@link BucketFullError.limitName} counts it; 0 when the server refused and did not say). */
  readonly size: number;
  /** The bucket's limit in bytes. */
  readonly limit: number;
  /**
   * Which limit: `data` (the ConfigMap's values, 1 MiB), `annotations`
   * (256 KiB, where the per-key index lives) or `etcd` (what etcd stores for
   * the whole object: keys, values and annotations, bounded
   * by its request limit, 1.5 MiB by default). See docs/format.md.
   */
  readonly limitName: 'data' | 'annotations' | 'etcd';
  /**
   * @param bucket - bucket name
   * @param size - resulting size in bytes
   * @param limit - limit in bytes
   * @param options - `cause`, and which limit (default `data`)
   */
  constructor(bucket: string, size: number, limit: number, options: KubekvErrorOptions & { limitName?: 'data' | 'annotations' | 'etcd' } = {}) {
    const limitName = options.limitName ?? 'data';
    const what = limitName === 'data' ? 'bytes of values' : limitName === 'annotations' ? 'bytes of annotations' : 'bytes in etcd (keys, values and annotations)';
    super(
      'BUCKET_FULL',
      size > 0
        ? `bucket ${JSON.stringify(bucket)} would hold ${size} ${what}; the limit is ${limit}`
        : `bucket ${JSON.stringify(bucket)}: the server refused the write as too large for etcd (limit ${limit} ${what}); nothing was stored`,
      options,
    );
    this.size = size;
    this.limit = limit;
    this.limitName = limitName;
  }
}

/** The bucket's ConfigMap does not exist (open it with `create: true` to make it). */
export class BucketNotFoundError extends KubekvError {
  /** Namespace searched. */
  readonly namespace: string;
  /** Bucket (ConfigMap) name. */
  readonly bucket: string;
  /**
   * @param namespace - namespace searched
   * @param bucket - ConfigMap name
   */
  constructor(namespace: string, bucket: string, options?: KubekvErrorOptions) {
    super('BUCKET_NOT_FOUND', `bucket ${namespace}/${bucket} does not exist (pass create: true to create it)`, options);
    this.namespace = namespace;
    this.bucket = bucket;
  }
}

/** The API server refused the request (HTTP 403, or 401): RBAC does not grant it. */
export class ForbiddenError extends KubekvError {
  /** API verb refused, e.g. "update". */
  readonly verb: string;
  /** Resource, e.g. "configmaps". */
  readonly resource: string;
  /** Object name, when the request named one. */
  readonly objectName: string | undefined;
  /** Namespace of the request. */
  readonly namespace: string | undefined;
  /**
   * The API server's own words, when it gave them: they name the identity
   * it refused (`User "system:serviceaccount:default:app" cannot update
   * resource "configmaps" ...`), as kubectl prints them.
   */
  readonly serverMessage: string | undefined;
  /**
   * @param verb - API verb
   * @param resource - resource
   * @param objectName - object name, if any
   * @param namespace - namespace, if any
   * @param options - `cause`, and the server's message
   */
  constructor(verb: string, resource: string, objectName: string | undefined, namespace: string | undefined, options: KubekvErrorOptions & { serverMessage?: string | undefined } = {}) {
    const where = `${namespace ? `${namespace}/` : ''}${objectName ?? ''}`;
    const said = options.serverMessage ? `: ${options.serverMessage}` : '';
    super('FORBIDDEN', `forbidden: cannot ${verb} ${resource}${where ? ` ${where}` : ''}${said} (check the Role granted to this identity)`, options);
    this.serverMessage = options.serverMessage;
    this.verb = verb;
    this.resource = resource;
    this.objectName = objectName;
    this.namespace = namespace;
  }
}

/** The API server could not be reached or kept failing after retries; `cause` has the last failure. */
export class UnavailableError extends KubekvError {
  /** @param message - what was being attempted */
  constructor(message: string, options?: KubekvErrorOptions) {
    super('UNAVAILABLE', message, { ...options, retryable: true });
  }
}

/**
 * A write's deadline passed while its outcome could not be established: the
 * request may or may not have been applied (its answer was lost and the
 * server could not be read back in time). Not retryable as such: read the
 * key (with `consistent: true`) to learn what happened before writing again,
 * or repeat only a write that is safe to apply twice.
 */
export class OutcomeUnknownError extends KubekvError {
  /** @param message - the write concerned and why its outcome is unknown */
  constructor(message: string, options?: KubekvErrorOptions) {
    super('OUTCOME_UNKNOWN', message, { ...options, retryable: false });
  }
}

/**
 * A write's deadline (`timeoutMs`) passed before it could be applied, and it
 * is known not to have been: nothing was stored. Retryable: the same call may
 * succeed later (the server was unreachable or the bucket busy until then).
 */
export class DeadlineExceededError extends KubekvError {
  /** @param message - the write concerned and what kept it from landing */
  constructor(message: string, options?: KubekvErrorOptions) {
    super('DEADLINE_EXCEEDED', message, { ...options, retryable: true });
  }
}

/**
 * A request kept conflicting until a deadline passed (used by locks and
 * teardown; a store write never ends with it: contention only delays writes).
 */
export class ConflictError extends KubekvError {
  /** @param message - what was being attempted */
  constructor(message: string, options?: KubekvErrorOptions) {
    super('CONFLICT', message, { ...options, retryable: true });
  }
}

/** Stored data could not be decoded: corrupt, written by something else, or a newer format version. */
export class FormatError extends KubekvError {
  /** The stored key concerned, when the problem is one entry. */
  readonly key: string | undefined;
  /**
   * @param message - what is wrong
   * @param key - the entry concerned, if any
   */
  constructor(message: string, key?: string, options?: KubekvErrorOptions) {
    super('FORMAT_ERROR', key === undefined ? message : `${message} (key ${JSON.stringify(key)})`, options);
    this.key = key;
  }
}

/** The object was closed; no further calls are accepted. */
export class ClosedError extends KubekvError {
  /** @param what - what was closed, e.g. "store default/app" */
  constructor(what: string, options?: KubekvErrorOptions) {
    super('CLOSED', `${what} is closed`, options);
  }
}

/** The caller's AbortSignal fired before the operation finished; `cause` is the signal's reason. */
export class AbortedError extends KubekvError {
  /** @param what - the operation aborted */
  constructor(what: string, options?: KubekvErrorOptions) {
    super('ABORTED', `${what} was aborted`, options);
  }
}

/** An option passed to a constructor or factory is invalid; the message names it and its value. */
export class InvalidOptionError extends KubekvError {
  /** The option's name, e.g. "renewDeadline". */
  readonly option: string;
  /**
   * @param option - option name
   * @param value - the value given
   * @param expected - what is accepted
   */
  constructor(option: string, value: unknown, expected: string, options?: KubekvErrorOptions) {
    super('INVALID_OPTION', `invalid option ${option}=${describe(value)}: ${expected}`, options);
    this.option = option;
  }
}

/** A write was attempted on a replica that is not the leader. */
export class NotLeaderError extends KubekvError {
  /** Identity of the current leader, if one is known. */
  readonly leader: string | undefined;
  /** @param leader - current leader identity, if known */
  constructor(leader: string | undefined, options?: KubekvErrorOptions) {
    super('NOT_LEADER', `not the leader${leader ? `; the leader is ${leader}` : ' (no leader known)'}`, { ...options, retryable: true });
    this.leader = leader;
  }
}

/**
 * This replica's leadership is fenced: the bucket carries another leader
 * epoch than the one it holds (a newer leader raised it; or the bucket was
 * recreated, or its epoch edited), so its write was refused. The
 * StateManager then ends its leader work and resigns.
 */
export class FencedError extends KubekvError {
  /** The leader epoch this replica held. */
  readonly heldEpoch: number;
  /** The bucket's epoch. */
  readonly currentEpoch: number;
  /**
   * @param heldEpoch - epoch held by this replica
   * @param currentEpoch - the bucket's epoch
   */
  constructor(heldEpoch: number, currentEpoch: number, options?: KubekvErrorOptions) {
    super('FENCED', `fenced: this replica led at epoch ${heldEpoch} but the bucket is at epoch ${currentEpoch}`, options);
    this.heldEpoch = heldEpoch;
    this.currentEpoch = currentEpoch;
  }
}

/** The API server answered with an error kubekv did not expect (e.g. 400 or 422); `status` has the HTTP code. */
export class ApiError extends KubekvError {
  /** HTTP status of the response. */
  readonly status: number;
  /**
   * @param status - HTTP status
   * @param message - what was attempted and the server's message
   */
  constructor(status: number, message: string, options?: KubekvErrorOptions) {
    super('API_ERROR', message, { ...options, retryable: status === 429 || status >= 500 });
    this.status = status;
  }
}

/** lock() was called on a Lock that already holds (or is acquiring) its lock; unlock first, or use another Lock. */
export class LockHeldError extends KubekvError {
  /** @param what - the lock concerned */
  constructor(what: string, options?: KubekvErrorOptions) {
    super('LOCK_HELD', `${what} is already held or being acquired by this Lock; unlock the handle first, or use another Lock for a concurrent waiter`, options);
  }
}

/**
 * The namespace does not exist. A request inside a missing namespace is
 * answered 404 as if only the object were missing; the `kubekv` CLI asks
 * for the namespace itself before it reports a missing bucket or Lease.
 */
export class NamespaceNotFoundError extends KubekvError {
  /** The namespace that does not exist. */
  readonly namespace: string;
  /** @param namespace - the missing namespace */
  constructor(namespace: string, options?: KubekvErrorOptions) {
    super('NAMESPACE_NOT_FOUND', `namespace ${JSON.stringify(namespace)} does not exist`, options);
    this.namespace = namespace;
  }
}

/** The Lease does not exist (`kubekv leader`, `--lease`). */
export class LeaseNotFoundError extends KubekvError {
  /** Namespace searched. */
  readonly namespace: string;
  /** Lease name(s) looked for. */
  readonly lease: string;
  /**
   * @param namespace - namespace searched
   * @param lease - the Lease name, or what was looked for (e.g. "app (nor app-leader)")
   */
  constructor(namespace: string, lease: string, options?: KubekvErrorOptions) {
    super('LEASE_NOT_FOUND', `lease ${namespace}/${lease} does not exist`, options);
    this.namespace = namespace;
    this.lease = lease;
  }
}

/**
 * The bucket's head references a chunk (an immutable ConfigMap holding part
 * of its keys, see docs/format.md) that does not exist, or exists with
 * another uid: deleted by hand, or by something other than kubekv. The
 * store reads the head again before it says so, so a chunk removed by
 * kubekv's own compaction and garbage collection is never reported. The
 * store keeps serving the last complete state it had and reports this error
 * in `status()` (`synced: false`) until a head arrives whose chunks all
 * exist; it never serves part of the bucket.
 */
export class ChunkMissingError extends KubekvError {
  /** Bucket (head ConfigMap) name. */
  readonly bucket: string;
  /** Name of the missing chunk ConfigMap. */
  readonly chunk: string;
  /**
   * @param bucket - bucket name
   * @param chunk - the missing chunk's ConfigMap name
   */
  constructor(bucket: string, chunk: string, options?: KubekvErrorOptions) {
    super('CHUNK_MISSING', `bucket ${JSON.stringify(bucket)} references chunk ConfigMap ${JSON.stringify(chunk)}, which does not exist (or was recreated); the bucket cannot be read whole`, options);
    this.bucket = bucket;
    this.chunk = chunk;
  }
}

/**
 * A write named a session (`put(key, value, { session })`) that is closed
 * or lost (its Lease went unrenewed past its renew deadline, or was taken
 * or deleted): nothing was written. Start a new session and write again.
 */
export class SessionClosedError extends KubekvError {
  /** The session's id (its Lease name). */
  readonly session: string;
  /**
   * @param session - the session's id
   * @param lost - true when the session was lost rather than closed
   */
  constructor(session: string, lost: boolean, options?: KubekvErrorOptions) {
    super('SESSION_CLOSED', `session ${JSON.stringify(session)} is ${lost ? 'lost (its Lease was not renewed in time, or was taken or deleted)' : 'closed'}; nothing was written`, options);
    this.session = session;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return Object.prototype.toString.call(value);
}
