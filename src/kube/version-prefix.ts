/**
 * Reads an object's metadata.resourceVersion from the start of its JSON, as
 * the API server writes it, without parsing the rest: a store that already
 * holds that version (its own commit, delivered by both the write's answer
 * and the watch) need not parse a 1 MiB object a second time.
 *
 * The server (Go's encoding of the API types) writes kind, apiVersion, then
 * metadata, whose only fields before resourceVersion are plain strings
 * (name, generateName, namespace, selfLink, uid). The patterns are anchored
 * and every field they skip must be one of those, with no escape in it, so
 * what they capture can only be the object's own metadata.resourceVersion;
 * JSON written any other way yields undefined and is simply parsed.
 */

const OBJECT =
  '\\{"kind":"[A-Za-z0-9]+","apiVersion":"[^"\\\\]*","metadata":\\{(?:"(?:name|generateName|namespace|selfLink|uid)":"[^"\\\\]*",)*"resourceVersion":"(\\d+)"';
const OBJECT_PREFIX = new RegExp(`^${OBJECT}`);
const EVENT_PREFIX = new RegExp(`^\\{"type":"(?:ADDED|MODIFIED)","object":${OBJECT}`);

/** The resourceVersion of an object's JSON, read from its prefix; undefined when it does not start as the server writes it. */
export function objectVersion(json: string): string | undefined {
  return OBJECT_PREFIX.exec(json)?.[1];
}

/** The resourceVersion of an ADDED or MODIFIED watch event line, read from its prefix; undefined for any other line. */
export function eventVersion(line: string): string | undefined {
  return EVENT_PREFIX.exec(line)?.[1];
}
