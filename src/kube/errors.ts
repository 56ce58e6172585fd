/**
 * The one boundary where errors from @kubernetes/client-node and the network
 * become kubekv errors. Nothing outside src/kube/ inspects ApiException or
 * undici errors; it asks these functions instead.
 */
import {
  AbortedError,
  ApiError,
  ForbiddenError,
  KubekvError,
  UnavailableError,
} from '../errors.js';

/** What a request was doing, so a mapped error can say so. */
export interface RequestDescription {
  /** API verb: get, list, watch, create, update, patch, delete. */
  verb: string;
  /** Resource, e.g. "configmaps". */
  resource: string;
  /** Object name, if the request named one. */
  name?: string | undefined;
  /** Namespace. */
  namespace?: string | undefined;
}

/** An HTTP error status from a raw request (watch) that client-node does not wrap. */
export class HttpStatusError extends Error {
  /**
   * @param status - HTTP status code
   * @param body - response body text (a Status object, usually)
   */
  constructor(readonly status: number, readonly body: string) {
    super(`HTTP ${status}: ${statusMessage(body) ?? body.slice(0, 200)}`);
    this.name = 'HttpStatusError';
  }
}

/**
 * An ApiException of @kubernetes/client-node, recognised by its shape: a
 * numeric HTTP `code`, a `body` and `headers`. Not by instanceof, so that
 * this module does not load client-node (kubekv's own requests go through
 * the transport and throw HttpStatusError; only a caller's client-node
 * request can still throw one), and so that an app's own copy of
 * client-node is recognised too.
 */
function apiException(err: unknown): { code: number; body: unknown } | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; body?: unknown; headers?: unknown };
  return typeof e.code === 'number' && 'body' in e && typeof e.headers === 'object' ? { code: e.code, body: e.body } : undefined;
}

/** The HTTP status of an API error, or undefined for network and other errors. */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof HttpStatusError) return err.status;
  // A mapped error of the port (src/kube/api.ts) keeps the status it was mapped from.
  if (err instanceof ApiError) return err.status;
  return apiException(err)?.code;
}

/** The body text of an API error (a Status object, usually); '' for others. */
function bodyOf(err: unknown): string {
  if (err instanceof HttpStatusError) return err.body;
  const body = apiException(err)?.body;
  return typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body);
}

/** 409: a resourceVersion precondition failed (or the object already exists, on create). */
export const isConflict = (err: unknown): boolean => statusOf(err) === 409;
/** 404: the object (or its namespace) does not exist. */
export const isNotFound = (err: unknown): boolean => statusOf(err) === 404;
/** 410: the requested resourceVersion is older than the server keeps. */
export const isGone = (err: unknown): boolean => statusOf(err) === 410;

/**
 * True for failures that a retry after a pause may fix: connection errors,
 * timeouts, 429 (priority and fairness), 5xx. Never true for an abort.
 */
export function isTransient(err: unknown): boolean {
  if (isAbort(err)) return false;
  const status = statusOf(err);
  if (status === undefined) return !(err instanceof KubekvError);
  return status === 429 || status >= 500;
}

/**
 * True when a failed request certainly changed nothing on the server: the
 * server answered with a 4xx status (it refused the request; 408 excepted),
 * or the connection was refused (nothing was sent). A timeout, a reset
 * connection or a 5xx answer may hide a request the server applied, so they
 * are never "certain": the caller must find out by reading.
 */
export function certainlyNotApplied(err: unknown): boolean {
  if (isTooLarge(err)) return true;
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const status = statusOf(e);
    if (status !== undefined) return status >= 400 && status < 500 && status !== 408;
    if ((e as { code?: unknown }).code === 'ECONNREFUSED') return true;
  }
  return false;
}

/**
 * True when the server refused a write as too large to store, so nothing
 * was stored: 413 (the request body is over the API server's limit), or a
 * 500 carrying etcd's "request is too large" (the object is over etcd's
 * `--max-request-bytes`; etcd refuses it before proposing it, so it is a
 * definite refusal despite the 5xx status). Looks through `cause` chains.
 */
export function isTooLarge(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const status = statusOf(e);
    if (status === 413) return true;
    if (status === 500) return /request is too large/.test(bodyOf(e));
    if (status !== undefined) return false;
  }
  return false;
}

/** True when `err` is an AbortSignal firing (DOM AbortError or TimeoutError). */
export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError') || err instanceof AbortedError;
}

/** Maps any error of a request to the kubekv error a caller should see. */
export function toKubekvError(err: unknown, request: RequestDescription): KubekvError {
  if (err instanceof KubekvError) return err;
  if (isAbort(err)) return new AbortedError(`${request.verb} ${request.resource}`, { cause: err });
  const status = statusOf(err);
  if (status === 401 || status === 403) {
    return new ForbiddenError(request.verb, request.resource, request.name, request.namespace, { cause: err, serverMessage: statusMessage(bodyOf(err)) });
  }
  const target = `${request.verb} ${request.resource}${request.name ? ` ${request.namespace ? `${request.namespace}/` : ''}${request.name}` : ''}`;
  if (status === undefined) {
    return new UnavailableError(`${target} failed: ${networkReason(err)}`, { cause: err });
  }
  const message = statusMessage(bodyOf(err));
  if (status === 429 || status >= 500) {
    return new UnavailableError(`${target} failed: HTTP ${status}${message ? `: ${message}` : ''}`, { cause: err });
  }
  return new ApiError(status, `${target} failed: HTTP ${status}${message ? `: ${message}` : ''}`, { cause: err });
}

/**
 * Parses an answer's JSON. An answer that is not JSON (cut off, or not from
 * the API server) is an UnavailableError that names its length only: the
 * parser's own message quotes the text, which may be a Secret's data, and
 * no kubekv error may carry a value (so the parser's error is not kept as
 * the cause either).
 *
 * @param what - the request, for the message (e.g. "get secrets ns/name")
 */
export function parseJsonAnswer<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new UnavailableError(`${what}: the answer is not valid JSON (${text.length} characters)`);
  }
}

/** The `message` of a Kubernetes Status body, if the text is one. */
export function statusMessage(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : undefined;
  } catch {
    return undefined;
  }
}

function networkReason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? err.message;
}
