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
  /** Detail useful only when debugging kubekv itself. */
  debug: LogFn;
  /** Lifecycle events: leadership gained or lost, locks acquired and released, relists. */
  info: LogFn;
  /** Trouble kubekv retries or works around: a failed request or renewal, a fence, a deleted bucket. */
  warn: LogFn;
  /** What needs attention: a handler that threw, a bucket that cannot be decoded. */
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
