/**
 * `kubekv leader <name> --handoff <identity>` and `--resign`: writes the
 * request on the Lease (src/election/lease-requests.ts), then waits, by
 * reading the Lease every 100 ms, until the change asked for is seen: the
 * named replica holds it (handoff), or the holder asked is no longer it
 * (resign: another replica, or released).
 *
 * Outcomes: the request is written and the change seen (done); refused
 * before anything was written (NOT_LEADER: nobody holds it, or the named
 * replica already does; LEASE_NOT_FOUND); written but the change not seen
 * by the deadline (DEADLINE_EXCEEDED: the holder may not be kubekv, or the
 * named replica may not be running; see docs/cli.md).
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { requestStepDown } from '../election/lease-requests.js';
import { DeadlineExceededError } from '../errors.js';
import { resolveAccess } from '../kube/api.js';
import { getLease, type LeaseInfo } from './cluster-reads.js';
import type { Connection } from './connection.js';

/** What `--handoff` / `--resign` did. */
export interface SteerResult {
  /** 'handoff' or 'resign'. */
  request: 'handoff' | 'resign';
  /** The holder the request was addressed to ('' for a handoff of a released Lease). */
  askedOf: string;
  /** The Lease as seen once the change happened. */
  lease: LeaseInfo;
  /** Milliseconds from the request's write to the change being seen. */
  tookMs: number;
}

/** How often the Lease is read while waiting. */
const pollMs = 100;

/**
 * Writes the request on Lease `lease` and waits at most `timeoutMs` for
 * the change. `target` undefined: resign.
 *
 * @throws NotLeaderError, LeaseNotFoundError before writing; DeadlineExceededError after writing, when the change was not seen in time
 */
export async function steerLeader(conn: Connection, lease: LeaseInfo, target: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<SteerResult> {
  const { api } = resolveAccess({ kubeConfig: conn.kc, namespace: conn.namespace });
  const asked = await requestStepDown(api.leases(conn.namespace), lease.name, target, signal);
  const writtenAt = performance.now();
  const done = (now: LeaseInfo | undefined) => now !== undefined && (target === undefined ? now.holderIdentity !== asked.holder : now.holderIdentity === target);
  for (;;) {
    const now = await getLease(conn, lease.name, signal);
    const tookMs = Math.round(performance.now() - writtenAt);
    if (now && done(now)) return { request: target === undefined ? 'resign' : 'handoff', askedOf: asked.holder, lease: now, tookMs };
    if (tookMs >= timeoutMs) {
      const what = target === undefined ? `${asked.holder} to step down` : `${target} to take the Lease`;
      throw new DeadlineExceededError(
        `the request is written on lease ${conn.namespace}/${lease.name}, but waited ${timeoutMs} ms for ${what} in vain (holder now: ${now?.holderIdentity || '<none>'}); a holder that is not kubekv ignores it`,
      );
    }
    await sleep(pollMs, undefined, { signal });
  }
}
