/**
 * The bucket object kind: which Kubernetes object a bucket (its head and
 * its chunks) is stored in, a ConfigMap or a Secret, and how that object
 * maps to the one form the rest of the codec and the store work on, the
 * {@link BucketObject}: a ConfigMap's shape, text values in `data`, other
 * values (base64) in `binaryData`. Everything kind-specific is here; the
 * store, the chunks and the CLI name a {@link BucketKind} and nothing else.
 *
 * A ConfigMap is its own bucket form. A Secret has a single `data` field of
 * base64 bytes (`stringData` is write-only: the server merges it into
 * `data`, and kubekv never sends it). So:
 *
 * - writing, a `data` (text) value goes in as the base64 of its UTF-8
 *   bytes, a `binaryData` value as it is (already base64);
 * - reading, a value whose bytes start with `\0KV` (kubekv's binary header,
 *   codec/value.ts) is `binaryData`, one whose bytes are UTF-8 is `data`
 *   (text reads back as text), any other is `binaryData` (raw bytes, as in
 *   a foreign ConfigMap), and the part of a value chunk is always bytes.
 *
 * Guaranteed: what kubekv writes reads back as the same bucket form, value
 * for value, because kubekv never writes a text value that starts with
 * `\0KV` (encodeValue puts such a value behind the raw header), so the
 * header alone tells the two fields apart. Sizes are the same on both kinds:
 * the API server limits a Secret's decoded `data` to 1 MiB as it limits a
 * ConfigMap's values, and etcd stores the decoded bytes of both.
 *
 * Not guaranteed: a Secret made by hand whose value is UTF-8 text starting
 * with `\0KV` (not something kubekv writes) reads as kubekv's header.
 *
 * @module
 */
import type { ConfigMapObject, SecretObject } from '../kube/types.js';
import { CHUNK_KIND_ANNOTATION } from './chunk-format.js';
import { VALUE_MAGIC } from './value.js';

/** The kind of Kubernetes object a bucket is stored in. */
export type BucketKind = 'ConfigMap' | 'Secret';

/** The kinds, in the order listings show them. */
export const BUCKET_KINDS: readonly BucketKind[] = Object.freeze(['ConfigMap', 'Secret']);

/** A bucket's head or chunk in the form the codec reads and writes (a ConfigMap's shape, whatever the kind). */
export type BucketObject = ConfigMapObject;

/** A merge patch in bucket form: `data` text, `binaryData` base64, null removes. */
export interface BucketPatchFields {
  /** Text values to set (null: remove). */
  data?: Record<string, string | null> | undefined;
  /** Binary values (base64) to set (null: remove). */
  binaryData?: Record<string, string | null> | undefined;
}

/** Where a kind lives in the API and how its objects map to the bucket form. */
export interface BucketObjectForm {
  /** The object kind. */
  readonly kind: BucketKind;
  /** Its plural resource name (RBAC, URLs). */
  readonly resource: 'configmaps' | 'secrets';
  /** kubectl's name for it (`kubectl get cm`, `kubectl get secret`). */
  readonly kubectlName: 'cm' | 'secret';
  /** The object as stored, in bucket form. */
  toBucket(object: unknown): BucketObject;
  /** A bucket-form object (a create or update body) as the kind stores it. */
  fromBucket(object: BucketObject): unknown;
  /** A bucket-form merge patch as a merge patch of the kind. */
  patchFromBucket(patch: BucketPatchFields & Record<string, unknown>): unknown;
}

/** The Secret `type` of every object of a Secret bucket (head and chunks): selectable with `--field-selector type=kubekv.dev/bucket`. */
export const SECRET_TYPE = 'kubekv.dev/bucket';

const CONFIGMAP_FORM: BucketObjectForm = Object.freeze({
  kind: 'ConfigMap',
  resource: 'configmaps',
  kubectlName: 'cm',
  toBucket: (object: unknown) => object as BucketObject,
  fromBucket: (object: BucketObject) => object,
  patchFromBucket: (patch: BucketPatchFields & Record<string, unknown>) => patch,
});

const SECRET_FORM: BucketObjectForm = Object.freeze({
  kind: 'Secret',
  resource: 'secrets',
  kubectlName: 'secret',
  toBucket: secretToBucket,
  fromBucket: bucketToSecret,
  patchFromBucket: (patch: BucketPatchFields & Record<string, unknown>) => {
    const { data, binaryData, ...rest } = patch;
    if (data === undefined && binaryData === undefined) return rest;
    return { ...rest, data: secretData(data, binaryData) };
  },
});

/** The form of `kind`. */
export function bucketForm(kind: BucketKind): BucketObjectForm {
  return kind === 'Secret' ? SECRET_FORM : CONFIGMAP_FORM;
}

/** A Secret as a bucket-form object; every other field (metadata, immutable) kept. */
function secretToBucket(object: unknown): BucketObject {
  const { data: raw, stringData: _s, type: _t, ...rest } = object as SecretObject & Record<string, unknown>;
  if (raw === undefined || raw === null) return rest;
  // Null prototype: a key named __proto__ is data.
  const data = Object.create(null) as Record<string, string>;
  const binaryData = Object.create(null) as Record<string, string>;
  const bytesOnly = rest.metadata?.annotations?.[CHUNK_KIND_ANNOTATION] === 'value';
  for (const key in raw) {
    if (!Object.hasOwn(raw, key)) continue;
    const stored = raw[key]!;
    const bytes = Buffer.from(stored, 'base64');
    const text = bytesOnly || hasMagic(bytes) ? undefined : utf8(bytes);
    if (text === undefined) binaryData[key] = stored;
    else data[key] = text;
  }
  const out = rest as BucketObject;
  if (Object.keys(data).length > 0) out.data = { ...data };
  if (Object.keys(binaryData).length > 0) out.binaryData = { ...binaryData };
  return out;
}

/** A bucket-form object as a Secret of {@link SECRET_TYPE} (a create keeps the type; an update must not change it). */
function bucketToSecret(object: BucketObject): SecretObject {
  const { data, binaryData, ...rest } = object;
  const secret: SecretObject = { ...rest, type: SECRET_TYPE };
  if (data !== undefined || binaryData !== undefined) secret.data = secretData(data, binaryData) as Record<string, string>;
  return secret;
}

/** One Secret `data` map from bucket-form fields: text as base64 of its UTF-8, base64 as is; a key set in one field wins over its removal in the other. */
function secretData(data: Readonly<Record<string, string | null>> | undefined, binaryData: Readonly<Record<string, string | null>> | undefined): Record<string, string | null> {
  const out = Object.create(null) as Record<string, string | null>;
  for (const key in data ?? {}) {
    if (!Object.hasOwn(data!, key)) continue;
    const text = data![key]!;
    out[key] = text === null ? null : Buffer.from(text, 'utf8').toString('base64');
  }
  for (const key in binaryData ?? {}) {
    if (!Object.hasOwn(binaryData!, key)) continue;
    const stored = binaryData![key]!;
    if (stored !== null || !Object.hasOwn(out, key)) out[key] = stored;
  }
  return { ...out };
}

// fatal: invalid UTF-8 is bytes, not text with U+FFFD. ignoreBOM: keep a leading BOM.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

function hasMagic(bytes: Uint8Array): boolean {
  return bytes.length >= VALUE_MAGIC.length && VALUE_MAGIC.every((b, i) => bytes[i] === b);
}
