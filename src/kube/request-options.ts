/**
 * client-node request options that carry an AbortSignal. client-node's
 * generated APIs take no signal argument; a middleware that sets it on the
 * request context is the supported way (its fetch passes the context's
 * signal on), so timeouts and cancellation live here, once.
 */
import { Observable, type ConfigurationOptions, type RequestContext, type ResponseContext } from '@kubernetes/client-node';

/** `extra` (if any) plus a middleware that makes the request use `signal`. */
export function withSignal(signal: AbortSignal, extra?: ConfigurationOptions): ConfigurationOptions {
  const setSignal = {
    pre: (context: RequestContext) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
  };
  return { ...extra, middleware: [...(extra?.middleware ?? []), setSignal], middlewareMergeStrategy: 'append' };
}
