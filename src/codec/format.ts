/**
 * The on-cluster format of a bucket: the labels and annotations kubekv puts
 * on its ConfigMap, the per-key revision index, and the size limits the API
 * server enforces. docs/format.md describes the same format for humans.
 *
 * Guaranteed: a ConfigMap whose format annotation names a version newer than
 * {@link FORMAT_VERSION}, or whose metadata kubekv cannot parse, is reported
 * as a {@link FormatError} and never silently reinterpreted. A ConfigMap
 * without the format annotation is foreign (made with kubectl) and readable.
 *
 * Not guaranteed: the size functions mirror the API server's validation
 * (ConfigMap data and annotation totals) but do not count anything else the
 * server or etcd limit, such as the request body size.
 *
 * @module
 */
import { BucketFullError, FormatError } from '../errors.js';

/** The format version of a bucket without chunks: what this kubekv writes for it, as every kubekv before chunks did. */
export const FORMAT_VERSION = 1;
/**
 * The format version of a bucket whose head references chunks (and of every
 * chunk; codec/chunk-format.ts), the newest this kubekv reads. A kubekv
 * that reads format 1 only refuses such a bucket rather than read part of it.
 */
export const CHUNKED_FORMAT_VERSION = 2;
/**
 * The format version of a bucket whose head keeps its chunk list in a
 * manifest chunk (codec/chunk-format.ts {@link MANIFEST_ANNOTATION}), the
 * newest this kubekv reads. A kubekv that reads format 2 at most refuses such
 * a bucket rather than read it as one without chunks.
 */
export const MANIFEST_FORMAT_VERSION = 3;

/** Prefix of every annotation (and of the bucket label) kubekv owns. */
export const ANNOTATION_PREFIX = 'kubekv.dev/';
/** Annotation holding {@link FORMAT_VERSION} as a decimal string. */
export const FORMAT_ANNOTATION = 'kubekv.dev/format';
/** Annotation holding the bucket revision: a decimal counter, +1 per kubekv write. */
export const REVISION_ANNOTATION = 'kubekv.dev/revision';
/** Annotation holding the per-key revision index (see {@link parseIndex}). */
export const INDEX_ANNOTATION = 'kubekv.dev/index';
/**
 * Annotation holding the leader epoch, which fences writes from deposed
 * leaders: the Lease term (leaseTransitions) of the leader that raised it.
 */
export const EPOCH_ANNOTATION = 'kubekv.dev/epoch';
/** Annotation naming the identity that raised the current epoch. */
export const LEADER_ANNOTATION = 'kubekv.dev/leader';

/** Recommended Kubernetes label naming the tool that manages the object. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** Value of {@link MANAGED_BY_LABEL} on buckets kubekv creates. */
export const MANAGED_BY_VALUE = 'kubekv';
/** Recommended Kubernetes label naming the application that owns the bucket. */
export const APP_NAME_LABEL = 'app.kubernetes.io/name';
/** Label holding the bucket name, so `kubectl get cm -l kubekv.dev/bucket` lists buckets. */
export const BUCKET_LABEL = 'kubekv.dev/bucket';

/** Most bytes the values of `data` and `binaryData` may hold together (1 MiB). */
export const MAX_DATA_BYTES = 1_048_576;
/** Most bytes all annotation keys and values may hold together (256 KiB). */
export const MAX_ANNOTATIONS_BYTES = 262_144;

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

/**
 * Reads the per-key revision index from the {@link INDEX_ANNOTATION} value:
 * a JSON object mapping each ConfigMap (encoded) key to the bucket revision
 * that last modified it, a positive integer.
 *
 * @param raw - the annotation value; undefined when absent
 * @returns the index; empty when `raw` is undefined
 * @throws {@link FormatError} when `raw` is not a JSON object of positive integers
 */
export function parseIndex(raw: string | undefined): Map<string, number> {
  const index = new Map<string, number>();
  for (const [key, revision] of jsonObjectEntries(INDEX_ANNOTATION, raw)) {
    if (!isRevision(revision)) {
      throw new FormatError(`annotation ${INDEX_ANNOTATION} has revision ${JSON.stringify(revision)}, not a positive integer`, key);
    }
    index.set(key, revision);
  }
  return index;
}

/**
 * The entries of an annotation holding a JSON object; none when the
 * annotation is absent.
 *
 * @throws {@link FormatError} naming the annotation when `raw` is not a JSON object
 */
export function jsonObjectEntries(annotation: string, raw: string | undefined): [string, unknown][] {
  if (raw === undefined) return [];
  const parsed = parseAnnotationJson(annotation, raw);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new FormatError(`annotation ${annotation} is not a JSON object`);
  }
  return Object.entries(parsed);
}

/**
 * The JSON value of annotation `annotation`.
 *
 * @throws {@link FormatError} naming the annotation when `raw` is not valid JSON
 */
export function parseAnnotationJson(annotation: string, raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    throw new FormatError(`annotation ${annotation} is not valid JSON`, undefined, { cause: err });
  }
}

/**
 * Writes the per-key revision index as the {@link INDEX_ANNOTATION} value.
 * Keys are sorted, so equal indexes give equal strings and a write that
 * changes nothing leaves the annotation byte-for-byte unchanged.
 *
 * @throws {@link FormatError} when a revision is not a positive safe integer:
 * writing it would make the bucket unreadable
 */
export function serializeIndex(index: ReadonlyMap<string, number>): string {
  const keys = [...index.keys()].sort();
  const entries = keys.map((key) => {
    const revision = index.get(key);
    if (!isRevision(revision)) {
      throw new FormatError(`refusing to write revision ${String(revision)}, not a positive integer`, key);
    }
    // Built by hand rather than with an object: integer-like keys would be
    // reordered, and a key named __proto__ would not become a property.
    return `${JSON.stringify(key)}:${revision}`;
  });
  return `{${entries.join(',')}}`;
}

/**
 * The format version of a ConfigMap, from its {@link FORMAT_ANNOTATION}.
 *
 * @param annotations - the ConfigMap's annotations, as client-node returns them
 * @returns {@link FORMAT_VERSION}, {@link CHUNKED_FORMAT_VERSION} or {@link MANIFEST_FORMAT_VERSION}, or undefined for a foreign ConfigMap (no annotation)
 * @throws {@link FormatError} when the version is newer than this kubekv
 * reads, or is not a positive decimal integer
 */
export function parseFormatVersion(annotations: Readonly<Record<string, string>> | undefined): number | undefined {
  const raw = annotations?.[FORMAT_ANNOTATION];
  if (raw === undefined) return undefined;
  const version = DECIMAL.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new FormatError(`annotation ${FORMAT_ANNOTATION} is ${JSON.stringify(raw)}, not a format version`);
  }
  if (version > MANIFEST_FORMAT_VERSION) {
    throw new FormatError(
      `bucket was written by a newer kubekv (format ${version}); this kubekv reads formats up to ${MANIFEST_FORMAT_VERSION}`,
    );
  }
  return version;
}

/**
 * Bytes the annotations count toward {@link MAX_ANNOTATIONS_BYTES}: the
 * UTF-8 lengths of every key and value, as the API server counts them.
 */
export function annotationsSize(annotations: Readonly<Record<string, string>> | undefined): number {
  let size = 0;
  for (const [key, value] of Object.entries(annotations ?? {})) {
    size += Buffer.byteLength(key, 'utf8') + Buffer.byteLength(value, 'utf8');
  }
  return size;
}

/**
 * Bytes a ConfigMap's values count toward {@link MAX_DATA_BYTES}: UTF-8
 * bytes of each `data` value plus decoded bytes of each `binaryData` value.
 * Keys do not count.
 *
 * @param data - `data` as client-node returns it
 * @param binaryData - `binaryData` as client-node returns it: base64 strings,
 * measured from their length and padding without decoding them
 */
export function dataSize(
  data: Readonly<Record<string, string>> | undefined,
  binaryData: Readonly<Record<string, string>> | undefined,
): number {
  let size = 0;
  for (const value of Object.values(data ?? {})) size += Buffer.byteLength(value, 'utf8');
  for (const value of Object.values(binaryData ?? {})) size += base64DecodedLength(value);
  return size;
}

/**
 * Throws when a bucket would outgrow what the API server accepts, so the
 * write fails before it is sent rather than with a 422 from the server.
 *
 * @param bucket - bucket name, for the error
 * @param size - the bucket's {@link dataSize} and {@link annotationsSize} after the write
 * @throws {@link BucketFullError} when either exceeds its limit
 */
export function checkBucketSize(bucket: string, size: { data: number; annotations: number }): void {
  if (size.data > MAX_DATA_BYTES) throw new BucketFullError(bucket, size.data, MAX_DATA_BYTES);
  // The per-key index lives in an annotation, so many long keys can fill the
  // annotations before the values fill the data.
  if (size.annotations > MAX_ANNOTATIONS_BYTES) throw new BucketFullError(bucket, size.annotations, MAX_ANNOTATIONS_BYTES, { limitName: 'annotations' });
}

function isRevision(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** Decoded length of padded (or unpadded) base64: 3 bytes per 4 characters, less padding. */
export function base64DecodedLength(b64: string): number {
  let end = b64.length;
  while (end > 0 && b64[end - 1] === '=') end--;
  return Math.floor((end * 3) / 4);
}
