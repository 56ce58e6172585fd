/**
 * What a store run did with TTLs and sessions (issue 20), counted from the
 * merged history and, at the end, the session Leases left in the
 * namespace. For the summary; the verdicts are the checker's.
 */
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { HistoryRecord } from './history.js';

/** The run's TTL and session figures. */
export interface SessionCounters {
  /** Keys deleted by expiry (a TTL ran out or a session ended), as distinct (key, revision) watch deletes with reason 'expired'. */
  expiries: number;
  /** Sessions whose sessionOpen returned. */
  opened: number;
  /** sessionClose operations invoked. */
  closed: number;
  /** Sessions abandoned by a freeze of their owner (sessionAbandon). */
  abandoned: number;
  /** Of the abandoned: those no sweeper had ended when their owner thawed, closed then (sessionClose). */
  closedOnThaw: number;
  /** Sessions their owner lost (sessionLost: renewals failed past the renew deadline, or a sweeper ended the session; abandoned ones included), whatever came after. */
  lost: number;
  /** Sessions opened and neither closed, abandoned nor lost: their owner was SIGKILLed. */
  killed: number;
  /** Sessions opened and never closed (abandoned and not closed on thaw, lost, or owner killed). */
  unclosed: number;
  /** Of the unclosed: those whose Lease was gone at the end (a sweeper ended them and deleted it). */
  sweptAtEnd: number;
  /** Session Leases of the bucket left at the end, whoever's. */
  leasesLeft: number;
}

/** Counts from the merged history; `leases` are the names of the bucket's session Leases at the end (undefined: not listed). */
export function countSessions(records: HistoryRecord[], leases: Set<string> | undefined): SessionCounters {
  const openIds = new Map<string, string>(); // op id -> its kind, for session ops
  const opened = new Set<string>();
  const closed = new Set<string>();
  const abandoned = new Set<string>();
  const lost = new Set<string>();
  const expiries = new Set<string>();
  for (const r of records) {
    if (r.t === 'invoke' && r.op === 'sessionOpen') openIds.set(r.id, r.op);
    else if (r.t === 'invoke' && r.op === 'sessionClose') closed.add(r.session);
    else if (r.t === 'invoke' && r.op === 'sessionAbandon') abandoned.add(r.session);
    else if (r.t === 'invoke' && r.op === 'sessionLost') lost.add(r.session);
    else if (r.t === 'ok' && openIds.has(r.id) && 'session' in r.result) opened.add(r.result.session);
    else if (r.t === 'watch' && r.type === 'delete' && r.reason === 'expired') expiries.add(`${JSON.stringify(r.key)}@${r.revision}`);
  }
  const unclosed = [...opened].filter((id) => !closed.has(id));
  return {
    expiries: expiries.size,
    opened: opened.size,
    closed: closed.size,
    abandoned: abandoned.size,
    closedOnThaw: [...abandoned].filter((id) => closed.has(id)).length,
    unclosed: unclosed.length,
    lost: lost.size,
    killed: unclosed.filter((id) => !abandoned.has(id) && !lost.has(id)).length,
    sweptAtEnd: leases === undefined ? 0 : unclosed.filter((id) => !leases.has(id)).length,
    leasesLeft: leases?.size ?? 0,
  };
}

/** The names of bucket `bucket`'s session Leases (app.kubernetes.io/component=session, named `<bucket>-session-...`). */
export async function listSessionLeases(kubeConfig: KubeConfig, namespace: string, bucket: string): Promise<Set<string>> {
  const api = kubeConfig.makeApiClient(CoordinationV1Api);
  const list = await api.listNamespacedLease({ namespace, labelSelector: 'app.kubernetes.io/component=session' });
  return new Set(list.items.map((l) => l.metadata?.name ?? '').filter((name) => name.startsWith(`${bucket}-session-`)));
}
