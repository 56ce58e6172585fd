/**
 * The validators of the state workload (README.md, "State workload"): plain
 * invariants over the merged history (state-history.ts), each able to fail
 * with a message that names the records involved.
 *
 * 1. Leadership intervals (`leader` to `leader-end` of one replica process)
 *    of different replicas never overlap, except where the older one's
 *    process was SIGSTOPped when the newer began and the overlap ends within
 *    `resumeSlackMs` of its SIGCONT (it cannot notice its loss while
 *    frozen). A SIGKILLed leader's interval ends at the kill.
 * 2. Epoch order, from the observer's committed states: the epoch annotation
 *    never decreases; an increment acknowledged under epoch e never first
 *    appears after a state whose epoch exceeds e; where no state can have
 *    been missed, it appears in a state annotated exactly e, stored with e.
 * 3. The counter: every acknowledged increment is in the final bucket once,
 *    with the acknowledged value; counter = number of ops keys, values are
 *    exactly 1..counter, no ops key the clients never sent; acked <= counter
 *    <= acked + unknown; between observed states the counter moves by the
 *    ops added, and no ops key disappears.
 * 4. Every replica's cache reached the final revision and holds the final
 *    counter and ops (digest).
 * 5. After each fault heals, some replica leads (for at least `stableMs`, to
 *    the end, or until the next fault) starting no later than heal +
 *    (leaseDuration + 1.2 x retryPeriod) / slowest clock rate in effect +
 *    `failoverSlackMs`.
 */
import type { StateTimings } from './state-protocol.js';
import {
  opsDigest,
  type AckRecord,
  type AppliedRecord,
  type LeaderRecord,
  type StateRecord,
  type StateRecordAny,
} from './state-history.js';

/** Tolerances of the validators, in ms. */
export interface StateValidatorOptions {
  timings: StateTimings;
  /** Replica indexes that must report a cache (validator 4). */
  replicas: number;
  /** Wall time the run stopped its replicas: open intervals end here, later failover deadlines go unchecked. */
  endAt: number;
  /** How long a resumed (SIGCONT) leader may take to notice it lost office. Default 1000. */
  resumeSlackMs?: number;
  /** What a 2-core machine may add to a handover (scheduling, GC, process start). Default 2500, as test/integration/state/failover.test.ts. */
  failoverSlackMs?: number;
  /** How long a leadership must last to count as "a leader exists again". Default 1000. */
  stableMs?: number;
}

/** One leadership of one replica process. */
export interface Interval {
  replica: number;
  inc: number;
  identity: string;
  epoch: number;
  start: number;
  end: number;
  /** The abort reason's code, or KILLED / GONE (a later incarnation started) / OPEN (still leading at the end). */
  endReason: string;
}

/** A fault from its start to its heal (or error, or the end of the run). */
export interface FaultSpan {
  kind: string;
  replica: number | undefined;
  member: number | undefined;
  rate: number | undefined;
  start: number;
  heal: number;
}

/** One measured handover. */
export interface Failover {
  kind: string;
  /** From the fault's start to the next leader's `leader` record. */
  ms: number;
  boundMs: number;
}

/** What the validators found. */
export interface StateVerdict {
  violations: string[];
  /** Why the history cannot be judged (missing records); exit 2 unless there is a violation. */
  inconclusive: string[];
  intervals: Interval[];
  /** Leadership changes (intervals - 1). */
  rounds: number;
  maxOverlapMs: number;
  maxToleratedOverlapMs: number;
  failovers: Failover[];
  /** Faults whose failover deadline fell after the end (not checked). */
  uncheckedFaults: number;
  acked: number;
  unknown: number;
  finalCounter: number | undefined;
  states: number;
  gaps: number;
  maxEpoch: number;
}

const of = <T extends StateRecordAny['t']>(records: StateRecordAny[], t: T) => records.filter((r): r is Extract<StateRecordAny, { t: T }> => r.t === t);
const ts = (at: number) => new Date(at).toISOString().slice(11, 23);

/** Runs every validator over `records` (any order of files; each file's own order kept). */
export function validateState(records: StateRecordAny[], options: StateValidatorOptions): StateVerdict {
  const intervals = leadershipIntervals(records, options.endAt);
  const faults = faultSpans(records, options.endAt);
  const overlap = checkOverlap(intervals, faults, options.resumeSlackMs ?? 1000);
  const epochs = checkEpochs(records);
  const counter = checkCounter(records);
  const caches = checkCaches(records, options.replicas);
  const failover = checkFailover(intervals, faults, options);
  const inconclusive = [...counter.inconclusive, ...caches.inconclusive];
  if (intervals.length === 0) inconclusive.push('no replica ever led');
  if (epochs.states === 0) inconclusive.push('the observer recorded no state of the bucket');
  return {
    violations: [...overlap.violations, ...epochs.violations, ...counter.violations, ...caches.violations, ...failover.violations],
    inconclusive,
    intervals,
    rounds: Math.max(0, intervals.length - 1),
    maxOverlapMs: overlap.maxOverlapMs,
    maxToleratedOverlapMs: overlap.maxToleratedMs,
    failovers: failover.failovers,
    uncheckedFaults: failover.unchecked,
    acked: counter.acked,
    unknown: counter.unknown,
    finalCounter: counter.finalCounter,
    states: epochs.states,
    gaps: epochs.gaps,
    maxEpoch: epochs.maxEpoch,
  };
}

/** The leadership intervals: `leader` to the same process's `leader-end`, its kill, its successor's start, or `endAt`. */
export function leadershipIntervals(records: StateRecordAny[], endAt: number): Interval[] {
  const out: Interval[] = [];
  const open = new Map<string, LeaderRecord>();
  const key = (r: { replica: number; inc: number }) => `${r.replica}.${r.inc}`;
  const close = (start: LeaderRecord, end: number, endReason: string) => {
    open.delete(key(start));
    out.push({ replica: start.replica, inc: start.inc, identity: start.identity, epoch: start.epoch, start: start.at, end, endReason });
  };
  for (const r of [...records].sort((a, b) => a.at - b.at)) {
    if (r.t === 'leader') open.set(key(r), r);
    else if (r.t === 'leader-end') {
      const start = open.get(key(r));
      if (start) close(start, r.at, (r).reason);
    } else if (r.t === 'fault' && r.kind === 'kill' && r.phase === 'start' && r.replica !== undefined) {
      const start = open.get(`${r.replica}.${r.inc}`);
      if (start) close(start, r.at, 'KILLED');
    } else if (r.t === 'replica-start') {
      // A process that vanished without a kill (a crash) led no longer than this.
      for (const start of [...open.values()]) if (start.replica === r.replica && start.inc < r.inc) close(start, r.at, 'GONE');
    }
  }
  for (const start of [...open.values()]) close(start, endAt, 'OPEN');
  return out.sort((a, b) => a.start - b.start);
}

/** Fault spans from the nemesis's start / heal / error records. */
export function faultSpans(records: StateRecordAny[], endAt: number): FaultSpan[] {
  const spans: FaultSpan[] = [];
  const open = new Map<string, FaultSpan>();
  for (const r of of(records, 'fault')) {
    const k = `${r.kind}/${r.replica ?? ''}/${r.member ?? ''}`;
    if (r.phase === 'start') {
      const span: FaultSpan = { kind: r.kind, replica: r.replica, member: r.member, rate: r.rate, start: r.at, heal: endAt };
      open.set(k, span);
      spans.push(span);
    } else {
      // An error record may carry no victim: it ends the latest open fault of its kind.
      const span = open.get(k) ?? [...open.entries()].reverse().find(([key]) => key.startsWith(`${r.kind}/`))?.[1];
      if (!span) continue;
      span.heal = r.at;
      open.delete(`${span.kind}/${span.replica ?? ''}/${span.member ?? ''}`);
    }
  }
  return spans;
}

/** Validator 1. */
export function checkOverlap(intervals: Interval[], faults: FaultSpan[], resumeSlackMs: number): { violations: string[]; maxOverlapMs: number; maxToleratedMs: number } {
  const violations: string[] = [];
  let maxOverlapMs = 0;
  let maxToleratedMs = 0;
  const pauses = faults.filter((f) => f.kind === 'pause');
  for (let i = 0; i < intervals.length; i++) {
    for (let j = i + 1; j < intervals.length; j++) {
      const older = intervals[i]!;
      const newer = intervals[j]!;
      if (older.replica === newer.replica) continue;
      const from = Math.max(older.start, newer.start);
      const to = Math.min(older.end, newer.end);
      if (to <= from) continue;
      const ms = to - from;
      maxOverlapMs = Math.max(maxOverlapMs, ms);
      const frozen = pauses.find((p) => p.replica === older.replica && p.start <= from && to <= p.heal + resumeSlackMs);
      if (frozen) {
        maxToleratedMs = Math.max(maxToleratedMs, ms);
        continue;
      }
      violations.push(
        `leadership overlap of ${ms} ms: ${older.identity} (epoch ${older.epoch}, ${ts(older.start)}-${ts(older.end)} ${older.endReason}) and ` +
          `${newer.identity} (epoch ${newer.epoch}, ${ts(newer.start)}-${ts(newer.end)} ${newer.endReason}); ${older.identity} was not frozen by SIGSTOP then`,
      );
    }
  }
  return { violations, maxOverlapMs, maxToleratedMs };
}

/** Validator 2. */
export function checkEpochs(records: StateRecordAny[]): { violations: string[]; states: number; gaps: number; maxEpoch: number } {
  const violations: string[] = [];
  const states = of(records, 'state');
  const firstIn = new Map<string, number>();
  const maxBefore: number[] = [];
  let max = -Infinity;
  states.forEach((s, k) => {
    maxBefore.push(max);
    if (!Number.isFinite(s.epoch)) violations.push(`state rv ${s.rv} has no numeric epoch annotation`);
    else if (s.epoch < max) violations.push(`the epoch went back: state rv ${s.rv} has epoch ${s.epoch} after a state with epoch ${max} (rv ${states.slice(0, k).reverse().find((p) => p.epoch === max)?.rv})`);
    max = Math.max(max, s.epoch);
    for (const op of s.added) {
      if (!firstIn.has(op.id)) firstIn.set(op.id, k);
      if (k > 0 && !s.gap && op.epoch !== s.epoch) violations.push(`increment ${op.id} is stored with epoch ${op.epoch} but landed in state rv ${s.rv} annotated epoch ${s.epoch}`);
    }
  });
  const claims: { id: string; epoch: number; who: string }[] = [
    ...of(records, 'ack').map((a: AckRecord) => ({ id: a.id, epoch: a.epoch, who: `acked to client ${a.client} by ${a.by}` })),
    ...of(records, 'applied').map((a: AppliedRecord) => ({ id: a.id, epoch: a.epoch, who: `applied by replica ${a.replica}.${a.inc}` })),
  ];
  const reported = new Set<string>();
  for (const c of claims) {
    const k = firstIn.get(c.id);
    // Absent (validator 3's business) or already in the first state seen (nothing before it to compare).
    if (k === undefined || k === 0 || reported.has(c.id)) continue;
    const s = states[k]!;
    if (maxBefore[k]! > c.epoch) {
      reported.add(c.id);
      violations.push(`increment ${c.id} (${c.who} under epoch ${c.epoch}) first appears in state rv ${s.rv}, after a state with epoch ${maxBefore[k]}: a deposed leader's write landed`);
    } else if (!s.gap && s.epoch !== c.epoch) {
      reported.add(c.id);
      violations.push(`increment ${c.id} (${c.who} under epoch ${c.epoch}) landed in state rv ${s.rv} annotated epoch ${s.epoch}`);
    }
  }
  return { violations, states: states.length, gaps: states.filter((s, k) => k > 0 && s.gap).length, maxEpoch: Math.max(0, max) };
}

/** Validator 3. */
export function checkCounter(records: StateRecordAny[]): { violations: string[]; inconclusive: string[]; acked: number; unknown: number; finalCounter: number | undefined } {
  const violations: string[] = [];
  const final = of(records, 'final').at(-1);
  const invoked = new Set(of(records, 'invoke').map((r) => r.id));
  const acks = new Map<string, AckRecord>();
  for (const a of of(records, 'ack')) if (!acks.has(a.id)) acks.set(a.id, a);
  const unknown = [...invoked].filter((id) => !acks.has(id)).length;
  if (!final) return { violations, inconclusive: ['no final read of the bucket'], acked: acks.size, unknown, finalCounter: undefined };

  const stored = new Map(final.ops.map((o) => [o.id, o]));
  if (stored.size !== final.ops.length) violations.push(`the final read lists ${final.ops.length} ops keys but only ${stored.size} distinct ids`);
  for (const [id, ack] of acks) {
    const op = stored.get(id);
    if (!op) violations.push(`lost ack: increment ${id} was acknowledged (value ${ack.value}, epoch ${ack.epoch}, by ${ack.by}) but is not in the final bucket`);
    else if (op.value !== ack.value || op.epoch !== ack.epoch) violations.push(`increment ${id} was acknowledged as value ${ack.value} epoch ${ack.epoch} but is stored as value ${op.value} epoch ${op.epoch}`);
  }
  for (const id of stored.keys()) if (!invoked.has(id)) violations.push(`phantom increment ${id}: in the bucket, never sent by a client`);
  if (final.counter !== final.ops.length) violations.push(`double count or lost record: the counter is ${final.counter} but ${final.ops.length} increments are recorded`);
  const values = final.ops.map((o) => o.value).sort((a, b) => a - b);
  const dupes = values.filter((v, i) => i > 0 && values[i - 1] === v);
  if (dupes.length > 0) violations.push(`counted twice: value(s) ${[...new Set(dupes)].slice(0, 10).join(', ')} were given to more than one increment`);
  else if (values.some((v, i) => v !== i + 1)) violations.push(`the recorded values are not exactly 1..${values.length} (first gap at ${values.findIndex((v, i) => v !== i + 1) + 1})`);
  if (final.counter < acks.size || final.counter > acks.size + unknown) {
    violations.push(`the final counter ${final.counter} is outside [acked ${acks.size}, acked + unknown ${acks.size + unknown}]`);
  }

  let prev: StateRecord | undefined;
  for (const s of of(records, 'state')) {
    if (s.removed.length > 0) violations.push(`state rv ${s.rv} lost ops keys ${s.removed.slice(0, 5).join(', ')}`);
    if (prev && s.counter - prev.counter !== s.added.length - s.removed.length) {
      violations.push(`state rv ${s.rv}: the counter moved by ${s.counter - prev.counter} since rv ${prev.rv} but ${s.added.length - s.removed.length} increments were recorded`);
    }
    prev = s;
  }
  return { violations, inconclusive: [], acked: acks.size, unknown, finalCounter: final.counter };
}

/** Validator 4: the last cache record of each replica against the final read. */
export function checkCaches(records: StateRecordAny[], replicas: number): { violations: string[]; inconclusive: string[] } {
  const violations: string[] = [];
  const inconclusive: string[] = [];
  const final = of(records, 'final').at(-1);
  if (!final) return { violations, inconclusive };
  const digest = opsDigest(final.ops.map((o) => `${o.id}=${o.value}`).sort());
  for (let replica = 0; replica < replicas; replica++) {
    const cache = of(records, 'cache').filter((c) => c.replica === replica).at(-1);
    if (!cache) {
      inconclusive.push(`replica ${replica} did not report its cache`);
      continue;
    }
    const who = `replica ${replica}.${cache.inc}`;
    if (!cache.caughtUp) violations.push(`${who}: its cache did not reach the final revision ${final.revision} (it holds ${cache.revision})`);
    else if (cache.counter !== final.counter || cache.ops !== final.ops.length || cache.digest !== digest) {
      violations.push(`${who}: its cache at revision ${cache.revision} holds counter ${cache.counter} and ${cache.ops} ops (digest ${cache.digest}); the final read: counter ${final.counter}, ${final.ops.length} ops (digest ${digest})`);
    }
  }
  return { violations, inconclusive };
}

/** Validator 5. */
export function checkFailover(intervals: Interval[], faults: FaultSpan[], options: StateValidatorOptions): { violations: string[]; failovers: Failover[]; unchecked: number } {
  const { leaseDurationMs, retryPeriodMs } = options.timings;
  const slack = options.failoverSlackMs ?? 2500;
  const stable = options.stableMs ?? 1000;
  const violations: string[] = [];
  const failovers: Failover[] = [];
  let unchecked = 0;
  const skews = faults.filter((f) => f.kind === 'clock-skew');
  for (const f of faults) {
    if (f.kind === 'clock-skew') continue;
    const reach = f.heal + (leaseDurationMs + 1.2 * retryPeriodMs) / 0.8 + slack;
    const rates = skews.filter((s) => s.start < reach && s.heal > f.start).map((s) => s.rate ?? 1);
    const base = (leaseDurationMs + 1.2 * retryPeriodMs) / Math.min(1, ...rates);
    const deadline = f.heal + base + slack;
    if (deadline > options.endAt) {
      unchecked++;
      continue;
    }
    const nextFault = faults.find((g) => g.kind !== 'clock-skew' && g.start > f.start)?.start ?? Infinity;
    // A leadership counts if it lasted, or until the next fault cut it short (that one's own check follows).
    const lasting = (i: Interval) => i.end >= Math.max(f.heal, i.start) + stable || i.endReason === 'OPEN' || i.end >= nextFault;
    const leads = intervals.some((i) => i.start <= deadline && lasting(i));
    const victim = f.replica !== undefined ? ` of replica ${f.replica}` : f.member !== undefined ? ` of member ${f.member}` : '';
    if (!leads) {
      violations.push(
        `no leader after ${f.kind}${victim} (${ts(f.start)}, healed ${f.heal - f.start} ms later): none led for ${stable} ms (or until the next fault) from before ` +
          `heal + ${Math.round(base)} ms + ${slack} ms slack (${ts(deadline)})`,
      );
      continue;
    }
    // A handover is measured when this fault ended the leadership it found (`<=`: a SIGKILLed leader's
    // interval ends at the kill's own record) before the next fault began; a leadership that ends later
    // is the next fault's doing, and with none found the previous fault's failover is still running.
    const before = intervals.filter((i) => i.start <= f.start && f.start <= i.end).at(-1);
    if (!before || before.end > deadline || before.end >= nextFault) continue;
    const next = intervals.find((i) => i !== before && i.start >= f.start && lasting(i));
    if (next) failovers.push({ kind: f.kind, ms: next.start - f.start, boundMs: Math.round(deadline - f.start) });
  }
  return { violations, failovers, unchecked };
}
