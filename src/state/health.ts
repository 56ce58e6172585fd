/**
 * Probe endpoints for a replica, as a plain node:http request handler:
 *
 * - GET /livez  200 while the manager is running (not closed) and, if it
 *   believes it holds the Lease, has renewed it within leaseDurationMs +
 *   `livenessToleranceMs`, measured on the monotonic clock (client-go's
 *   leader-election health adaptor: a leader whose renewals are stuck acts
 *   as leader while others have taken over, so it should be restarted; a
 *   wall-clock step changes nothing).
 * - GET /readyz 200 when every bucket's cache is synced and its watch is
 *   connected or heard from the server within `maxStalenessMs`. Readiness
 *   deliberately does NOT depend on leadership: a Deployment whose followers
 *   were never ready could not finish a rolling update.
 * - GET /leader 200 on the leader, 503 on followers (for routing writes).
 *
 * Each answers a JSON body with the manager's status (no keys or values).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StateManager } from './state-manager.js';

/** Options of {@link healthHandler}. */
export interface HealthOptions {
  /** A disconnected cache counts as ready for this long, in ms. @default 30000 */
  maxStalenessMs?: number;
  /** How long past leaseDurationMs without a renewal a replica that believes it leads stays live, in ms. @default 20000 */
  livenessToleranceMs?: number;
}

/**
 * A request handler serving /livez, /readyz and /leader for `manager` (a
 * StateManager, or kubekv/testing's MemoryStateManager); other paths get 404.
 */
export function healthHandler(manager: Pick<StateManager, 'status' | 'closed' | 'isLive'>, options: HealthOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const maxStalenessMs = options.maxStalenessMs ?? 30_000;
  const livenessToleranceMs = options.livenessToleranceMs ?? 20_000;
  return (req, res) => {
    const status = manager.status();
    const closed = manager.closed;
    const path = (req.url ?? '').split('?')[0];
    let ok: boolean;
    if (path === '/livez') ok = !closed && manager.isLive(livenessToleranceMs);
    else if (path === '/readyz') ok = !closed && Object.values(status.buckets).every((b) => b.synced && (b.connected || b.stalenessMs <= maxStalenessMs));
    else if (path === '/leader') ok = status.isLeader;
    else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    // Errors as name and code only: their messages may name keys.
    const body = JSON.stringify(status, (_key, value: unknown) =>
      value instanceof Error ? { name: value.name, code: (value as { code?: string }).code } : value);
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
  };
}
