/**
 * A logger for tests that keeps the message of every info, warn and error
 * record (debug is dropped), so a test can count what a user's log shows.
 */
import type { Logger } from '../../src/logger.js';

/** A Logger whose info / warn / error messages land in `messages`, in order. */
export function messageLogger(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const record = (obj: unknown, msg?: string) => void messages.push(typeof obj === 'string' ? obj : (msg ?? ''));
  const logger: Logger = { debug: () => {}, info: record, warn: record, error: record, child: () => logger };
  return { logger, messages };
}
