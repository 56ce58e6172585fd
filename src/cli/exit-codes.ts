/**
 * The CLI's exit codes and how a failure becomes one. Every failure is a
 * {@link KubekvError} with a stable code; the exit code is decided by that
 * code alone (and, for an unexpected API answer, its HTTP status), so a
 * script can branch on `$?` without parsing messages. docs/cli.md lists the
 * same table.
 *
 * @module
 */
import { ApiError, KubekvError, type KubekvErrorCode } from '../errors.js';

/** Exit codes of `kubekv` (and `kubectl kv`). */
export const ExitCode = {
  /** Done. */
  OK: 0,
  /** Any failure not listed below (a bucket that cannot be decoded, an unexpected API answer, a bug). */
  FAILURE: 1,
  /** The command line or its input is invalid; nothing was sent. */
  USAGE: 2,
  /** The key, bucket or Lease does not exist. */
  NOT_FOUND: 3,
  /** Refused and not done: RBAC forbids it, a StateManager leads the bucket (see --force), or it would not fit. */
  REFUSED: 4,
  /** A condition failed (--if-absent, --if-revision) or the write kept conflicting: not done. */
  CONFLICT: 5,
  /** A write may or may not have been applied: read before writing again. */
  OUTCOME_UNKNOWN: 6,
  /** The API server could not be reached or kept failing; a write was not applied. */
  UNAVAILABLE: 7,
  /** Interrupted (SIGINT or SIGTERM) before it finished; a write was not applied. */
  INTERRUPTED: 130,
} as const;

/** One of the values of {@link ExitCode}. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

const byCode: Record<KubekvErrorCode, ExitCodeValue> = {
  INVALID_OPTION: ExitCode.USAGE,
  INVALID_KEY: ExitCode.USAGE,
  INVALID_VALUE: ExitCode.USAGE,
  KEY_NOT_FOUND: ExitCode.NOT_FOUND,
  BUCKET_NOT_FOUND: ExitCode.NOT_FOUND,
  NAMESPACE_NOT_FOUND: ExitCode.NOT_FOUND,
  LEASE_NOT_FOUND: ExitCode.NOT_FOUND,
  FORBIDDEN: ExitCode.REFUSED,
  NOT_LEADER: ExitCode.REFUSED,
  FENCED: ExitCode.REFUSED,
  VALUE_TOO_LARGE: ExitCode.REFUSED,
  BUCKET_FULL: ExitCode.REFUSED,
  LOCK_HELD: ExitCode.REFUSED,
  SESSION_CLOSED: ExitCode.REFUSED,
  KEY_EXISTS: ExitCode.CONFLICT,
  KEY_MODIFIED: ExitCode.CONFLICT,
  CONFLICT: ExitCode.CONFLICT,
  OUTCOME_UNKNOWN: ExitCode.OUTCOME_UNKNOWN,
  UNAVAILABLE: ExitCode.UNAVAILABLE,
  DEADLINE_EXCEEDED: ExitCode.UNAVAILABLE,
  ABORTED: ExitCode.INTERRUPTED,
  FORMAT_ERROR: ExitCode.FAILURE,
  CHUNK_MISSING: ExitCode.FAILURE,
  CLOSED: ExitCode.FAILURE,
  API_ERROR: ExitCode.FAILURE,
};

/** The exit code for a failure. */
export function exitCodeFor(error: unknown): ExitCodeValue {
  if (error instanceof ApiError) {
    // An answer kubekv has no class for: its status still says which kind it is.
    if (error.status === 404) return ExitCode.NOT_FOUND;
    if (error.status === 409) return ExitCode.CONFLICT;
  }
  if (error instanceof KubekvError) return byCode[error.code];
  return ExitCode.FAILURE;
}

/**
 * The line printed on stderr for a failure: `error: <code>: <message>`.
 * Anything that is not a KubekvError is a bug of the CLI and says INTERNAL.
 */
export function errorLine(error: unknown): string {
  if (error instanceof KubekvError) return `error: ${error.code}: ${error.message}`;
  return `error: INTERNAL: ${error instanceof Error ? error.message : String(error)}`;
}
