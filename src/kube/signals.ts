/**
 * Abort helpers for requests. A request's signal reaches fetch only after
 * authentication (an exec credential plugin, a token file read), so a hang
 * there would outlive the request's timeout: racing the whole request with
 * its signal bounds it.
 */
import { systemClock, type Clock } from '../clock.js';

/** `promise`, or a rejection with the signal's reason as soon as it aborts (the promise is then left to settle unobserved). */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      promise.catch(() => {});
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The reason a request's own deadline aborts it with (named like AbortSignal.timeout's, so isAbort() knows it). */
export class RequestTimedOut extends Error {
  /** @param timeoutMs - the deadline that passed */
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * Runs `request` with a signal that aborts after `timeoutMs` (reason:
 * RequestTimedOut) or with `outer`, and races it with that signal. The
 * timer is cleared when the request ends (AbortSignal.timeout's would fire
 * later for every finished request). It is set on `clock`, so a test's
 * ManualClock decides when a held request times out; the system clock's
 * timer is an unref'd setTimeout, as AbortSignal.timeout's would be.
 */
export async function withDeadline<T>(timeoutMs: number, outer: AbortSignal | undefined, request: (signal: AbortSignal) => Promise<T>, clock: Clock = systemClock): Promise<T> {
  const deadline = new AbortController();
  const timer = clock.setTimer(() => deadline.abort(new RequestTimedOut(timeoutMs)), timeoutMs);
  // One controller for both (cheaper per request than AbortSignal.any).
  const forward = () => deadline.abort(outer?.reason);
  if (outer?.aborted) forward();
  else outer?.addEventListener('abort', forward, { once: true });
  try {
    return await raceSignal(request(deadline.signal), deadline.signal);
  } finally {
    timer.cancel();
    outer?.removeEventListener('abort', forward);
  }
}
