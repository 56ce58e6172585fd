/**
 * Service discovery with sessions: each replica registers its address under
 * members/<id>, bound to a session it keeps alive; readers follow
 * watchTree('members/') and see replicas join and leave.
 *
 * - A replica that shuts down closes its session: its key is deleted at
 *   once, in one commit (readers see a delete with reason 'expired').
 * - A replica that dies (SIGKILL, a lost node) stops renewing: its key is
 *   deleted once a sweeper (any store of the bucket that sweeps; here every
 *   replica's and the reader's) has seen its session Lease unrenewed for
 *   ttlMs, never before. Readers see it leave within ttlMs plus the time to
 *   notice (a watch event) and to commit the delete.
 * - A replica whose session is lost while it runs (cut off from the API
 *   server past 2/3 of ttlMs) registers again with a new session once it
 *   can: its old key may be deleted meanwhile, so readers may see it leave
 *   and join again.
 *
 * Run a few replicas and a reader against a cluster:
 *   node --import tsx examples/service-discovery.ts member --id a --address 10.0.0.1:8080 [--namespace ns] [--kubeconfig path]
 *   node --import tsx examples/service-discovery.ts watch [--namespace ns] [--kubeconfig path]
 * then `kill -9` a member and watch it leave.
 */
import { parseArgs } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { AbortedError, ConfigMapStore, SessionClosedError, type Store } from 'kubekv';
import { aborted, clusterFlags, clusterOptions, isMain, stopSignal } from './cli.js';

/** The bucket the members register in. */
export const BUCKET = 'service-members';
/** The prefix of member keys. */
export const PREFIX = 'members/';

/** A change of membership, as {@link followMembers} reports it. */
export type MembershipEvent =
  | { type: 'join'; id: string; address: string; revision: number }
  | { type: 'leave'; id: string; reason: 'deleted' | 'expired'; revision: number };

/**
 * Registers `address` as member `id` until `signal` aborts, then
 * deregisters (closing the session deletes the key). A lost session is
 * replaced by a new one and the key written again.
 */
export async function register(store: Store, id: string, address: string, options: { ttlMs: number; signal: AbortSignal }): Promise<void> {
  while (!options.signal.aborted) {
    let session;
    try {
      session = await store.session({ ttlMs: options.ttlMs, signal: options.signal });
    } catch (err) {
      if (err instanceof AbortedError) return;
      throw err;
    }
    try {
      await store.put(`${PREFIX}${id}`, address, { session, signal: options.signal });
      // Until we stop, or the session is lost (then register again).
      await Promise.race([aborted(options.signal), aborted(session.signal)]);
    } catch (err) {
      if (!(err instanceof SessionClosedError) && !(err instanceof AbortedError)) throw err;
    } finally {
      await session.close();
    }
  }
}

/** The members now, then every join and leave, until `signal` aborts. */
export async function* followMembers(store: Store, signal: AbortSignal): AsyncGenerator<MembershipEvent> {
  for await (const event of store.watchTree(PREFIX, { signal })) {
    if (event.type === 'snapshot') {
      for (const pair of event.pairs) yield { type: 'join', id: pair.key.slice(PREFIX.length), address: pair.text, revision: event.revision };
    } else if (event.type === 'put') {
      yield { type: 'join', id: event.pair.key.slice(PREFIX.length), address: event.pair.text, revision: event.revision };
    } else {
      yield { type: 'leave', id: event.key.slice(PREFIX.length), reason: event.reason, revision: event.revision };
    }
  }
}

/** Options of {@link main}. */
export interface MainOptions {
  role: 'member' | 'watch';
  /** The member's id and address (role member). */
  id?: string | undefined;
  address?: string | undefined;
  /** Session TTL in ms (whole seconds). @defaultValue 5000 */
  ttlMs?: number | undefined;
  namespace?: string | undefined;
  kubeConfig?: KubeConfig | undefined;
  signal: AbortSignal;
  /** Receives membership changes (role watch); default: print them. */
  onEvent?: ((event: MembershipEvent) => void) | undefined;
}

/** Runs a member or a reader until `signal` aborts. */
export async function main(options: MainOptions): Promise<void> {
  const store = await ConfigMapStore.open({ name: BUCKET, create: true, namespace: options.namespace, kubeConfig: options.kubeConfig });
  try {
    if (options.role === 'member') {
      if (!options.id || !options.address) throw new Error('a member needs --id and --address');
      await register(store, options.id, options.address, { ttlMs: options.ttlMs ?? 5000, signal: options.signal });
      return;
    }
    const print = options.onEvent ?? ((event: MembershipEvent) => console.log(JSON.stringify(event)));
    for await (const event of followMembers(store, options.signal)) print(event);
  } catch (err) {
    if (!(err instanceof AbortedError) || !options.signal.aborted) throw err;
  } finally {
    await store.close();
  }
}

if (isMain(import.meta.url)) {
  const { values, positionals } = parseArgs({
    options: { ...clusterFlags, id: { type: 'string' }, address: { type: 'string' }, ttl: { type: 'string' } },
    allowPositionals: true,
  });
  const role = positionals[0] === 'member' ? 'member' : 'watch';
  await main({ role, id: values.id, address: values.address, ttlMs: values.ttl ? Number(values.ttl) : undefined, signal: stopSignal(), ...clusterOptions(values) });
}
