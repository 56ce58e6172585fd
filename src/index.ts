/**
 * kubekv: safe shared state for multi-replica Kubernetes apps.
 *
 * This file names every public export; anything not listed here is internal
 * and may change without notice.
 *
 * @packageDocumentation
 */

export {
  KubekvError,
  KeyNotFoundError,
  KeyExistsError,
  KeyModifiedError,
  InvalidKeyError,
  InvalidValueError,
  ValueTooLargeError,
  BucketFullError,
  BucketNotFoundError,
  ForbiddenError,
  UnavailableError,
  ConflictError,
  FormatError,
  ClosedError,
  AbortedError,
  InvalidOptionError,
  NotLeaderError,
  FencedError,
  ApiError,
} from './errors.js';
export type { KubekvErrorCode, KubekvErrorOptions } from './errors.js';
