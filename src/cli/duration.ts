/**
 * Durations on the command line and in tables, written as kubectl writes
 * them: `500ms`, `30s`, `2m`, `1h` in; `45s`, `3m12s`, `5h2m`, `3d4h` out.
 *
 * @module
 */
import { InvalidOptionError } from '../errors.js';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
/** Node's timers cannot wait longer (about 24.8 days). */
const MAX_MS = 2 ** 31 - 1;

/**
 * Milliseconds of a positive duration: a number followed by ms, s, m or h
 * (`1.5s`), or a bare number of seconds.
 *
 * @throws InvalidOptionError naming `option` for anything else, zero, or more than about 24.8 days
 */
export function parseDuration(option: string, raw: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw);
  const ms = match ? Number(match[1]) * UNIT_MS[(match[2] ?? 's') as keyof typeof UNIT_MS] : Number.NaN;
  if (!(ms >= 1 && ms <= MAX_MS)) {
    throw new InvalidOptionError(option, raw, 'a positive duration such as 500ms, 30s, 2m or 1h (at most 24 days)');
  }
  return Math.round(ms);
}

/** A compact age, kubectl style: 45s, 3m12s, 5h2m, 3d4h. Negative (a clock ahead of ours) reads 0s. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
}
