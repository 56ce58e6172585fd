/**
 * What a bucket's ConfigMap costs etcd: an upper estimate of the bytes etcd
 * stores for it, which is what its request limit (`--max-request-bytes`,
 * 1.5 MiB by default and in most clusters) bounds.
 *
 * The API server checks two limits of its own (1 MiB of values, 256 KiB of
 * annotations; see format.ts) but not this one: an object within both can
 * still be refused by etcd with HTTP 500 "etcdserver: request is too large",
 * because etcd stores the keys too, and each ConfigMap key of a kubekv bucket
 * is stored twice: in `data` (or `binaryData`) and in the per-key index
 * annotation. `metadata.managedFields` names every key a third time, but it
 * does not count toward the limit: when etcd refuses an update as too large,
 * the API server retries it once without managedFields (kubernetes#87508),
 * which is why a large bucket's managedFields vanish.
 *
 * Guaranteed: for an object encoded as the API server stores core objects by
 * default (protobuf), the estimate is not below what etcd stores without
 * managedFields; the rule is spelled out in docs/format.md ("Size limits").
 *
 * Not guaranteed: exactness (it overestimates by a few hundred bytes), nor a
 * server configured to store JSON (`--storage-media-type`), whose objects
 * are larger; there the server's refusal is the backstop, and kubekv reports
 * it as BucketFullError too (a definite "not stored").
 *
 * @module
 */
import type { ConfigMapObject } from '../kube/types.js';
import { base64DecodedLength } from './format.js';

/** etcd's default `--max-request-bytes` (1.5 MiB): the most one stored object can take, request overhead included. */
export const MAX_STORED_BYTES = 1_572_864;

/**
 * Bytes of the etcd request beyond the object that the estimate leaves out
 * of {@link storedSize}: the etcd key (`/registry/configmaps/<ns>/<name>`),
 * the transaction around the put and the raft entry's own header. Writes are
 * admitted while `storedSize + REQUEST_OVERHEAD_BYTES <= MAX_STORED_BYTES`.
 */
export const REQUEST_OVERHEAD_BYTES = 512;

/**
 * Protobuf framing of one map entry (`data`, `binaryData`, `annotations`,
 * `labels`): the entry's tag and length, the key's and the value's tag and
 * length. 8 covers lengths up to 2 MiB (three-byte varints).
 */
export const MAP_ENTRY_OVERHEAD = 8;

/** Protobuf framing of the object, its type meta, name, namespace, uid and timestamps, beyond their lengths. */
const OBJECT_OVERHEAD = 256;

/**
 * Upper estimate of the bytes etcd stores for `cm` (protobuf encoding), not
 * counting {@link REQUEST_OVERHEAD_BYTES}: {@link metadataStoredSize} plus
 * {@link entryStoredSize} of every `data` and `binaryData` entry.
 */
export function storedSize(cm: ConfigMapObject): number {
  let size = metadataStoredSize(cm);
  for (const [key, value] of Object.entries(cm.data ?? {})) size += entryStoredSize(key, utf8(value));
  for (const [key, value] of Object.entries(cm.binaryData ?? {})) size += entryStoredSize(key, base64DecodedLength(value));
  return size;
}

/** Bytes etcd stores for one `data` / `binaryData` entry: its key, its value's `size` (decoded bytes for binaryData) and the framing. */
export function entryStoredSize(cmKey: string, size: number): number {
  return cmKey.length + size + MAP_ENTRY_OVERHEAD;
}

/**
 * Upper estimate of the bytes etcd stores for everything of `cm` but its
 * `data`, `binaryData` and managedFields (see the module doc): the object's
 * framing, name, labels, annotations and owner references.
 */
export function metadataStoredSize(cm: ConfigMapObject): number {
  const meta = cm.metadata ?? {};
  let size = OBJECT_OVERHEAD + utf8(meta.name) + utf8(meta.namespace) + utf8(meta.uid) + utf8(meta.generateName);
  size += mapSize(meta.labels) + mapSize(meta.annotations);
  for (const owner of meta.ownerReferences ?? []) size += 64 + utf8(owner.apiVersion) + utf8(owner.kind) + utf8(owner.name) + utf8(owner.uid);
  for (const finalizer of meta.finalizers ?? []) size += 4 + utf8(finalizer);
  return size;
}

/** UTF-8 bytes of a map's keys and values, each entry with its framing. */
function mapSize(map: Readonly<Record<string, string>> | undefined): number {
  let size = 0;
  for (const key in map ?? {}) {
    if (!Object.hasOwn(map!, key)) continue;
    size += utf8(key) + utf8(map![key]) + MAP_ENTRY_OVERHEAD;
  }
  return size;
}

function utf8(text: string | undefined): number {
  return text === undefined ? 0 : Buffer.byteLength(text, 'utf8');
}
