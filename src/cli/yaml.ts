/**
 * A small YAML emitter for the plain data the CLI prints (objects, arrays,
 * strings, finite numbers, booleans, null): block style, two-space indent,
 * as kubectl prints. No dependency, and no ambiguity: a string is written
 * plain only when no YAML 1.1 or 1.2 reader could take it for anything but
 * that string (so `"true"`, `"123"`, `"2026-01-01"`, `"null"` are quoted);
 * everything else is double-quoted with JSON's escapes (a subset of YAML's)
 * plus `\u` escapes for the characters YAML does not allow unescaped.
 *
 * @module
 */

/** Characters written plain: a letter or `_` first, then letters, digits and `_./-`. */
const PLAIN = /^[A-Za-z_][A-Za-z0-9_./-]*$/;
/** Plain words YAML 1.1 (still read by many tools) takes for booleans or null. */
const RESERVED = new Set(['true', 'false', 'yes', 'no', 'on', 'off', 'y', 'n', 'null']);
/**
 * Characters YAML does not allow unescaped in a double-quoted scalar (outside
 * c-printable, or read as line breaks by YAML 1.1), and the BOM, which a
 * reader may strip.
 */
const UNPRINTABLE = /[\u007f-\u0084\u0086-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g;

/** The YAML document for `value`, ending with a newline. Properties whose value is undefined are left out, as in JSON. */
export function toYaml(value: unknown): string {
  return block(value, '');
}

/** `value` as lines at `indent`, each ending with a newline. */
function block(value: unknown, indent: string): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return `${indent}[]\n`;
    return value.map((item) => `${indent}-${after(item, `${indent}  `, true)}`).join('');
  }
  if (isObject(value)) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length > 0) return entries.map(([k, v]) => `${indent}${scalar(k)}:${after(v, `${indent}  `, false)}`).join('');
    return `${indent}{}\n`;
  }
  return `${indent}${scalar(value)}\n`;
}

/** What follows `key:` or `-`: a scalar on the same line, or a nested block. */
function after(value: unknown, childIndent: string, inSequence: boolean): string {
  const nested = (Array.isArray(value) && value.length > 0) || (isObject(value) && Object.values(value).some((v) => v !== undefined));
  if (!nested) return ` ${Array.isArray(value) ? '[]' : isObject(value) ? '{}' : scalar(value)}\n`;
  const text = block(value, childIndent);
  // A sequence item starts its block on the dash line: "- key: value".
  return inSequence ? ` ${text.slice(childIndent.length)}` : `\n${text}`;
}

function scalar(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  const text = typeof value === 'string' ? value : typeof value === 'bigint' ? value.toString() : JSON.stringify(value);
  if (PLAIN.test(text) && !RESERVED.has(text.toLowerCase())) return text;
  return JSON.stringify(text).replace(UNPRINTABLE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
