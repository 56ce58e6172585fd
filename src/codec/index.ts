/**
 * The codec: how a bucket's logical content (keys, byte values, revisions)
 * maps to the fields of one ConfigMap and back. Pure code, no API calls.
 *
 * For use inside kubekv only: nothing here is part of the public API, which
 * src/index.ts names.
 *
 * @module
 */
export { BUCKET_KINDS, SECRET_TYPE, bucketForm } from './bucket-kind.js';
export type { BucketKind, BucketObject, BucketObjectForm, BucketPatchFields } from './bucket-kind.js';
export { MAX_CONFIGMAP_KEY_LENGTH, decodeKey, encodeKey, isValidConfigMapKey } from './key.js';
export {
  DEFAULT_COMPRESSION,
  ENCODING_CHUNKS,
  ENCODING_GZIP,
  ENCODING_RAW,
  VALUE_HEADER_LENGTH,
  VALUE_MAGIC,
  checkValueSize,
  decodeStoredBytes,
  decodeValue,
  encodeValue,
  validateValue,
} from './value.js';
export type { CompressionOptions, EncodedValue } from './value.js';
export {
  ANNOTATION_PREFIX,
  APP_NAME_LABEL,
  BUCKET_LABEL,
  CHUNKED_FORMAT_VERSION,
  MANIFEST_FORMAT_VERSION,
  EPOCH_ANNOTATION,
  LEADER_ANNOTATION,
  FORMAT_ANNOTATION,
  FORMAT_VERSION,
  INDEX_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  MAX_ANNOTATIONS_BYTES,
  MAX_DATA_BYTES,
  REVISION_ANNOTATION,
  annotationsSize,
  checkBucketSize,
  dataSize,
  base64DecodedLength,
  parseFormatVersion,
  parseIndex,
  serializeIndex,
} from './format.js';
export {
  MAP_ENTRY_OVERHEAD,
  MAX_STORED_BYTES,
  REQUEST_OVERHEAD_BYTES,
  entryStoredSize,
  metadataStoredSize,
  storedSize,
} from './stored-size.js';
export {
  LEGACY_RECENT_WRITES_ANNOTATION,
  MAX_WRITERS,
  WRITERS_ANNOTATION,
  WRITERS_PRUNED_ANNOTATION,
  commitStatus,
  parseWriters,
  recordCommit,
} from './writers.js';
export type { CommitStatus, WriterEntry } from './writers.js';
export {
  CHUNKS_ANNOTATION,
  CHUNK_ANNOTATION_BYTES,
  CHUNK_DATA_BYTES,
  CHUNK_KIND_ANNOTATION,
  CHUNK_LABEL,
  CHUNK_REUSE_REVISIONS,
  CHUNK_STORED_BYTES,
  CHUNKS_IN_MANIFEST,
  MANIFEST_ANNOTATION,
  MANIFEST_INLINE_REFS,
  MANIFEST_KEY,
  MAX_CHUNKED_VALUE_BYTES,
  PART_KEY,
  SINCE_REVISION_ANNOTATION,
  TOMBSTONES_ANNOTATION,
  chunkKind,
  chunkSinceRevision,
  decodeValueRef,
  decodeValueRefBytes,
  encodeValueRef,
  entriesChunkObject,
  manifestChunkObject,
  newChunkName,
  parseManifest,
  parseHeadChunks,
  parseManifestRef,
  parseTombstones,
  serializeManifest,
  serializeManifestRef,
  serializeTombstones,
  valueChunkObject,
} from './chunk-format.js';
export type { ChunkOwner, ChunkRef, HeadChunks, ManifestRef, StoredEntry, ValueRef } from './chunk-format.js';
export { EXPIRED_ANNOTATION, EXPIRY_ANNOTATION, expiryRecordBytes, parseExpired, parseExpiry, serializeExpired, serializeExpiry } from './expiry.js';
export type { ExpiryRecord } from './expiry.js';
