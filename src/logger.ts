/**
 * The logger kubekv writes to: any pino-compatible object (pino itself,
 * a pino child, or a console adapter). kubekv logs operational events only
 * (leadership changes, reconnects, retries); it never logs keys, values or
 * credentials, so passing your production logger is safe.
 */

/** One pino-style log method: an optional context object, then a message. */
export interface LogFn {
  (obj: Record<string, unknown>, msg?: string): void;
  (msg: string): void;
}

/** A pino-compatible logger. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** A logger that adds `bindings` to every record, as pino's child(). */
  child(bindings: Record<string, unknown>): Logger;
}

const noop = (): void => {};

/** A logger that discards everything; the default. */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};
