/**
 * Asking a Lease's holder to step down, or to hand over, from outside the
 * election (`kubekv leader <name> --resign | --handoff <identity>`): one
 * conditional merge patch of the Lease's annotations (and, for a handoff,
 * spec.preferredHolder), which every kubekv holder watching the Lease
 * honours (see lease-elector.ts).
 *
 * Guarantees: the patch is a CAS on the resourceVersion read just before,
 * and changes nothing of the election record itself (holder, times,
 * transitions), so it can never make two holders; a request names the
 * leadership period it is for (holder and leaseTransitions), so it never
 * reaches a later one.
 *
 * Non-guarantees: a holder that is not kubekv (a client-go elector outside
 * coordinated mode) ignores both; the Lease then changes hands at its
 * expiry only, and for a handoff the other kubekv contenders wait for the
 * preferred one at most a lease duration first.
 */
import { InvalidOptionError, LeaseNotFoundError, NotLeaderError, UnavailableError } from '../errors.js';
import type { MergePatch, ResourceClient } from '../kube/api.js';
import type { LeaseObject } from '../kube/types.js';
import { fromSpec, PREFERRED_HOLDER_ANNOTATION, STEP_DOWN_ANNOTATION } from './lease-lock.js';

/** What was asked, and of whom. */
export interface LeaseRequestResult {
  /** The holder the request is addressed to ('' when the Lease was released: a handoff then only names who goes first). */
  holder: string;
  /** The leaseTransitions (term) the request is bound to. */
  leaseTransitions: number;
  /** The resourceVersion the patch produced. */
  resourceVersion: string;
}

/** How many times a request is re-planned when the Lease moves between its read and its patch (a renewal every retry period). */
const attempts = 5;

/**
 * Asks the holder of Lease `name` to step down (`preferred` undefined) or
 * to hand over to `preferred`. Resolves once the request is written (done);
 * rejects before writing anything with NotLeaderError when nobody holds
 * the Lease (a resign) or `preferred` already holds it, LeaseNotFoundError
 * when it does not exist, InvalidOptionError for an empty identity, and
 * UnavailableError when the Lease kept moving; a lost answer is the
 * OutcomeUnknownError of the patch (the request may have been written).
 */
export async function requestStepDown(leases: ResourceClient<LeaseObject>, name: string, preferred: string | undefined, signal?: AbortSignal): Promise<LeaseRequestResult> {
  if (preferred !== undefined && (typeof preferred !== 'string' || preferred === '')) throw new InvalidOptionError('handoff', preferred, 'a non-empty replica identity');
  for (let attempt = 0; attempt < attempts; attempt++) {
    const lease = await leases.get(name, { signal });
    if (!lease) throw new LeaseNotFoundError(leases.namespace, name);
    const record = fromSpec(lease.spec);
    const resourceVersion = lease.metadata?.resourceVersion ?? '';
    const { holderIdentity: holder, leaseTransitions } = record;
    if (preferred === undefined && holder === '') throw new NotLeaderError(undefined, { cause: new Error(`lease ${leases.namespace}/${name} is not held: nothing to resign`) });
    if (preferred !== undefined && holder === preferred) throw new NotLeaderError(holder, { cause: new Error(`${preferred} already holds lease ${leases.namespace}/${name}`) });
    const annotation: Record<string, string> = preferred === undefined
      ? { [STEP_DOWN_ANNOTATION]: JSON.stringify({ holder, leaseTransitions }) }
      : { [PREFERRED_HOLDER_ANNOTATION]: JSON.stringify({ holder: preferred, leaseTransitions }) };
    const patch: MergePatch = {
      metadata: { resourceVersion, annotations: annotation },
      // Only beside a strategy: with the CoordinatedLeaderElection gate a
      // preferredHolder without one is refused (422); without the gate it is
      // dropped. The annotation carries it everywhere.
      ...(preferred !== undefined && lease.spec?.strategy !== undefined ? { spec: { preferredHolder: preferred } } : {}),
    };
    const result = await leases.patch(name, patch, { signal });
    if (result.ok) return { holder, leaseTransitions, resourceVersion: result.object ? result.object.metadata?.resourceVersion ?? '' : result.resourceVersion };
    if (result.reason === 'not-found') throw new LeaseNotFoundError(leases.namespace, name);
  }
  throw new UnavailableError(`lease ${leases.namespace}/${name} changed under each of ${attempts} attempts to write the request`);
}
