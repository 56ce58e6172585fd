/**
 * `kubekv leader <name>` and `kubekv locks [bucket]`: the Leases kubekv
 * elects with, read as client-go reads them. Ages and states are judged
 * against this machine's clock (the record's times are the holder's), so
 * clock skew shifts them.
 *
 * @module
 */
import { BUCKET_LABEL, decodeKey } from '../../codec/index.js';
import { LeaseNotFoundError } from '../../errors.js';
import { validateName } from '../../kube/config.js';
import { LOCK_COMPONENT, LOCK_KEY_ANNOTATION, lockValueOf } from '../../lock/names.js';
import { getLease, listLeases, type LeaseInfo } from '../cluster-reads.js';
import type { Command } from '../command.js';
import { bucketName, notFound } from '../connection.js';
import { formatAge } from '../duration.js';
import { holderAddressOf, preferredHolderOf, stepDownRequested } from '../../election/lease-lock.js';
import { leaseState, type LeaseState } from '../leadership.js';
import { steerLeader, type SteerResult } from '../steer-leader.js';
import { renderFields, renderTable, safeCell } from '../output.js';

/** A Lease as `leader -o json` shows it. */
export interface LeaderView {
  namespace: string;
  lease: string;
  /** "" when released. */
  holder: string;
  state: LeaseState;
  /** The holder's epoch (its term: leaseTransitions), present while held. */
  epoch?: number | undefined;
  /** The holder's term: the Lease's leaseTransitions (its epoch under a StateManager). */
  term: number;
  /** The holder's advertised address (its `advertise` option), when it gave one. */
  address?: string | undefined;
  /** The replica the Lease is to be handed to (spec.preferredHolder or kubekv's annotation), when one is named. */
  preferredHolder?: string | undefined;
  /** True when the holder was asked to step down (`--resign`) and has not yet. */
  stepDownRequested?: boolean | undefined;
  /** What `--handoff` / `--resign` did, when given. */
  steered?: { request: SteerResult['request']; askedOf: string; tookMs: number } | undefined;
  transitions: number;
  leaseDurationSeconds: number;
  acquireTime: string | undefined;
  renewTime: string | undefined;
  /** Seconds since renewTime, by this machine's clock. */
  sinceRenewSeconds: number | undefined;
}

/** The view of a Lease at wall time `nowMs`. */
export function leaderView(lease: LeaseInfo, nowMs: number): LeaderView {
  const state = leaseState(lease, nowMs);
  return {
    namespace: lease.namespace,
    lease: lease.name,
    holder: lease.holderIdentity,
    state,
    epoch: state === 'held' ? lease.leaseTransitions : undefined,
    term: lease.leaseTransitions,
    address: holderAddressOf(lease.annotations, lease.holderIdentity),
    preferredHolder: lease.preferredHolder ?? preferredHolderOf(lease.annotations, lease.leaseTransitions),
    stepDownRequested: stepDownRequested(lease.annotations, lease) || undefined,
    transitions: lease.leaseTransitions,
    leaseDurationSeconds: lease.leaseDurationSeconds,
    acquireTime: lease.acquireTime?.toISOString(),
    renewTime: lease.renewTime?.toISOString(),
    sinceRenewSeconds: lease.renewTime ? Math.max(0, Math.round((nowMs - lease.renewTime.getTime()) / 1000)) : undefined,
  };
}

function stateCell(view: LeaderView, nowMs: number): string {
  if (view.state !== 'held' || !view.renewTime) return view.state;
  return `held (expires in ${formatAge(Date.parse(view.renewTime) + view.leaseDurationSeconds * 1000 - nowMs)})`;
}

function when(iso: string | undefined, nowMs: number): string {
  return iso ? `${iso} (${formatAge(nowMs - Date.parse(iso))} ago)` : '<none>';
}

/** `kubekv leader <name>`. */
export const leaderCommand: Command = {
  name: 'leader',
  options: ['handoff', 'resign', 'timeout'],
  positionals: ['name'],
  summary: 'show a leader Lease: holder, address, term, time since renew (<name> or <name>-leader); --handoff <identity> / --resign steer it',
  details: 'A StateManager named <app> elects with the Lease <app>-leader: `kubekv leader <app>` finds it.\n'
    + '--handoff <identity> asks the holder to hand over to that replica and waits until it leads; --resign asks the holder to step down and '
    + 'waits until it no longer holds the Lease. Both wait at most --timeout (default: 3 lease durations, at least 30s); kubekv holders honour them, '
    + 'a client-go holder does not (see docs/cli.md).',
  async run(ctx) {
    const name = validateName('name', ctx.positionals[0]);
    const conn = await ctx.connection();
    // A StateManager's Lease is `<name>-leader` by default: accept the app name too.
    const lease = (await getLease(conn, name, ctx.signal)) ?? (name.endsWith('-leader') ? undefined : await getLease(conn, `${name}-leader`, ctx.signal));
    if (!lease) throw await notFound(conn, new LeaseNotFoundError(conn.namespace, `${name}${name.endsWith('-leader') ? '' : ` (nor ${name}-leader)`}`), ctx.signal);
    let shown = lease;
    let steered: SteerResult | undefined;
    if (ctx.options.handoff !== undefined || ctx.options.resign) {
      const timeoutMs = ctx.options.timeoutMs ?? Math.max(30_000, 3 * lease.leaseDurationSeconds * 1000);
      steered = await steerLeader(conn, lease, ctx.options.handoff, timeoutMs, ctx.signal);
      shown = steered.lease;
    }
    const now = Date.now();
    const view: LeaderView = { ...leaderView(shown, now), ...(steered ? { steered: { request: steered.request, askedOf: steered.askedOf, tookMs: steered.tookMs } } : {}) };
    await ctx.print(view, () =>
      renderFields([
        ...(steered ? [[steered.request === 'handoff' ? 'Handed over' : 'Resigned', `${safeCell(steered.askedOf || '<none>')} -> ${safeCell(view.holder || '<none>')} in ${steered.tookMs} ms`] as [string, string]] : []),
        ['Lease', `${view.namespace}/${view.lease}`],
        ['Holder', view.holder ? safeCell(view.holder) : '<none>'],
        ['Address', view.address ? safeCell(view.address) : '<none>'],
        ['Term', String(view.term)],
        ...(view.preferredHolder ? [['Preferred holder', safeCell(view.preferredHolder)] as [string, string]] : []),
        ...(view.stepDownRequested ? [['Step down', 'requested'] as [string, string]] : []),
        ['State', stateCell(view, now)],
        ['Epoch', view.epoch === undefined ? '<none>' : String(view.epoch)],
        ['Transitions', String(view.transitions)],
        ['Lease duration', `${view.leaseDurationSeconds}s`],
        ['Acquired', when(view.acquireTime, now)],
        ['Renewed', when(view.renewTime, now)],
      ]),
    );
  },
};

/** A lock as `locks -o json` shows it. */
export interface LockView {
  /** The lock key (from the Lease's kubekv.dev/lock-key annotation). */
  key: string;
  lease: string;
  holder: string;
  state: LeaseState;
  /** Fencing token of the holder: the Lease's leaseTransitions. */
  token: number;
  /** The value the holder published with the lock (LockOptions.value), if any. */
  value?: string | undefined;
  ttlSeconds: number;
  renewTime: string | undefined;
  sinceRenewSeconds: number | undefined;
}

/** `kubekv locks [bucket]`. */
export const locksCommand: Command = {
  name: 'locks',
  options: ['bucket'],
  positionals: ['bucket?'],
  summary: 'list the locks of a bucket (its lock Leases): key, holder, state, fencing token, the holder\'s value',
  async run(ctx) {
    const bucket = bucketName(ctx.options, ctx.positionals[0]);
    const { bucketLabel } = await import('../../store/inputs.js');
    const selector = `${BUCKET_LABEL}=${bucketLabel(bucket)},app.kubernetes.io/component=${LOCK_COMPONENT}`;
    const now = Date.now();
    const locks = (await listLeases(await ctx.connection(), selector, ctx.signal)).map((lease): LockView => {
      const view = leaderView(lease, now);
      const encoded = lease.annotations[LOCK_KEY_ANNOTATION];
      return {
        key: encoded === undefined ? '' : decodeKey(encoded),
        lease: lease.name,
        holder: view.holder,
        state: view.state,
        token: view.transitions,
        value: lockValueOf(lease.annotations, lease.holderIdentity),
        ttlSeconds: view.leaseDurationSeconds,
        renewTime: view.renewTime,
        sinceRenewSeconds: view.sinceRenewSeconds,
      };
    });
    if (ctx.options.output === 'table' && locks.length === 0) {
      await ctx.note(`No locks found for bucket ${bucket}.`);
      return;
    }
    await ctx.print(locks, () =>
      renderTable({
        columns: ['KEY', 'HOLDER', 'STATE', 'TOKEN', 'VALUE', 'TTL', 'RENEWED', 'LEASE'],
        rows: locks.map((l) => [
          l.key ? safeCell(l.key) : '<unknown>',
          l.holder ? safeCell(l.holder) : '<none>',
          l.state,
          String(l.token),
          l.value === undefined ? '<none>' : safeCell(l.value),
          `${l.ttlSeconds}s`,
          l.sinceRenewSeconds === undefined ? '<never>' : `${formatAge(l.sinceRenewSeconds * 1000)} ago`,
          l.lease,
        ]),
      }),
    );
  },
};
