/**
 * The API server's own time per request, read from its
 * apiserver_request_duration_seconds histogram (sum and count per verb) for
 * ConfigMaps. Scraped before and after a phase in which only one client
 * talks to the server, the difference is that client's mean server-side
 * time per request: what no client, however fast, can go below. The
 * transport benchmark prints it beside each client's own mean, so a ratio
 * target can be told apart from what the server makes possible.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeTransport } from '../src/kube/transport.js';

/** Cumulative seconds and request count per verb (GET, PUT, PATCH, ...) for ConfigMaps. */
export type RequestTimes = Map<string, { seconds: number; count: number }>;

/** Scrapes the server's /metrics (the admin identity may; the request itself is not a ConfigMap one, so it does not count). */
export async function scrapeRequestTimes(kc: KubeConfig): Promise<RequestTimes> {
  return requestTimesOf(await KubeTransport.for(kc).sendText({ method: 'GET', path: '/metrics' }));
}

/** The ConfigMap request times (sum and count per verb, subresources left out) in an API server's /metrics text. */
export function requestTimesOf(text: string): RequestTimes {
  const times: RequestTimes = new Map();
  for (const line of text.split('\n')) {
    const match = /^apiserver_request_duration_seconds_(sum|count)\{(.*)\} (\S+)$/.exec(line);
    if (!match || !/(^|,)resource="configmaps"/.test(match[2]!) || /(^|,)subresource="[^"]+"/.test(match[2]!)) continue;
    const verb = /(^|,)verb="([^"]+)"/.exec(match[2]!)?.[2];
    if (!verb) continue;
    const entry = times.get(verb) ?? { seconds: 0, count: 0 };
    if (match[1] === 'sum') entry.seconds += Number(match[3]);
    else entry.count += Number(match[3]);
    times.set(verb, entry);
  }
  return times;
}

/** Mean server-side ms per `verb` request between two scrapes; NaN when none was served. */
export function meanMs(before: RequestTimes, after: RequestTimes, verb: string): number {
  const a = before.get(verb) ?? { seconds: 0, count: 0 };
  const b = after.get(verb) ?? { seconds: 0, count: 0 };
  const count = b.count - a.count;
  return count > 0 ? ((b.seconds - a.seconds) * 1000) / count : Number.NaN;
}
