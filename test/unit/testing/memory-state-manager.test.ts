/**
 * MemoryStateManager (kubekv/testing): the StateManager's public surface
 * (checked at compile time against the real class), its option checks, and
 * the leadership life cycle under the test controls: elect, depose, fence,
 * another replica's election, close with its grace on an injected clock.
 * Each expectation is what the real StateManager does in the same situation
 * (test/integration/state/ proves those against the control plane).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ClosedError,
  ConflictError,
  FencedError,
  NotLeaderError,
  UnavailableError,
  type FollowerContext,
  type LeaderContext,
  type Logger,
  type StateManager,
} from '../../../src/index.js';
import { ManualClock, MemoryCluster, MemoryStateManager, MemoryStore, type StateManagerApi } from '../../../src/testing/index.js';
import type { StateManagerApi as MainEntryStateManagerApi } from '../../../src/index.js';
import { expectKubekvError } from '../../support/store.js';

// Compile-time checks: the interface is the real StateManager's public
// surface (every public member of the class is in it, and the class fits
// it), and the double fits it too. A member added to StateManager and not
// here, or a change of signature on either side, fails the type check.
type Missing = Exclude<keyof StateManager, keyof StateManagerApi>;
const noMemberMissing: [Missing] extends [never] ? true : Missing = true;
const realFits = (manager: StateManager): StateManagerApi => manager;
// Apps import the type from the main entry (issue 17): the same type.
const fromMainEntry = (api: StateManagerApi): MainEntryStateManagerApi => api;
const doubleFits = (manager: MemoryStateManager): StateManagerApi => manager;
void [noMemberMissing, realFits, doubleFits, fromMainEntry];

/** Resolves once `signal` has aborted (at once if it already has). */
function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Code written against the StateManager's surface, as an app would: a heartbeat written while leading. */
function runApp(state: StateManagerApi, log: string[]): void {
  state.onLeader(async ({ signal, store, epoch }: LeaderContext) => {
    log.push(`leader ${epoch}`);
    await store.put('heartbeat', `epoch ${epoch}`);
    await untilAborted(signal);
    log.push(`leader work ended: ${(signal.reason as Error).name}`);
  });
  state.onFollower(({ leader }: FollowerContext) => {
    log.push(`follower of ${leader ?? 'nobody'}`);
  });
}

/** Lets promise chains run (handlers, the onFollower that follows a drained leader period). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function captureLogger(): { logger: Logger; lines: unknown[] } {
  const lines: unknown[] = [];
  const fn = (...args: unknown[]) => void lines.push(args);
  const logger: Logger = { debug: fn, info: fn, warn: fn, error: fn, child: () => logger };
  return { logger, lines };
}

describe('MemoryStateManager.start', () => {
  it('refuses bad options with the InvalidOptionError StateManager.start gives, naming the option', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name: 'Bad_Name' }, 'name'],
      [{ name: 'app', leaseDurationMs: -1 }, 'leaseDurationMs'],
      [{ name: 'app', leaseDurationMs: 1500 }, 'leaseDurationMs'],
      [{ name: 'app', leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }, 'leaseDurationMs'],
      [{ name: 'app', renewDeadlineMs: 2_000 }, 'renewDeadlineMs'],
      [{ name: 'app', buckets: [] }, 'buckets'],
      [{ name: 'app', buckets: ['a', 'a'] }, 'buckets'],
      [{ name: 'app', buckets: ['ok', 'Not OK'] }, 'buckets[1]'],
      [{ name: 'app', identity: '' }, 'identity'],
      [{ name: 'app', shutdownGraceMs: -1 }, 'shutdownGraceMs'],
      [{ name: 'app', signal: 'stop' }, 'signal'],
      [{ name: 'app', elect: 'yes' }, 'elect'],
    ];
    for (const [options, option] of cases) {
      await assert.rejects(MemoryStateManager.start(options as never), { code: 'INVALID_OPTION', option }, JSON.stringify(options));
    }
    await assert.rejects(MemoryStateManager.start(null as never), { code: 'INVALID_OPTION', option: 'options' });
  });

  it('leads by default (epoch 0, writes allowed); with elect: false it follows and writes reject with NotLeaderError', async () => {
    const cluster = new MemoryCluster();
    await using lone = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-a' });
    assert.deepEqual([lone.isLeader, lone.leader, lone.epoch], [true, 'pod-a', 0]);
    await lone.store.put('k', 'v');
    await using follower = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-b' });
    assert.deepEqual([follower.isLeader, follower.leader, follower.epoch], [false, 'pod-a', undefined]);
    assert.equal((await follower.store.get('k'))?.text, 'v', 'a follower does not read the shared bucket');
    const err = await expectKubekvError(follower.store.put('k', 'w'), NotLeaderError, 'NOT_LEADER');
    assert.equal(err.leader, 'pod-a');
    await using idle = await MemoryStateManager.start({ name: 'other', elect: false, identity: 'pod-c' });
    assert.deepEqual([idle.isLeader, idle.leader], [false, undefined]);
    await expectKubekvError(idle.store.delete('k'), NotLeaderError, 'NOT_LEADER');
  });
});

describe('leadership controls', () => {
  it('elect() raises the epoch, aborts follower work and runs onLeader; writes from the leader context land', async () => {
    await using state = await MemoryStateManager.start({ name: 'app', elect: false, identity: 'pod-a' });
    const log: string[] = [];
    let followerSignal: AbortSignal | undefined;
    state.onFollower(({ signal }) => void (followerSignal = signal));
    runApp(state, log);
    assert.deepEqual(log, ['follower of nobody']);
    await state.elect();
    await settle();
    assert.equal(followerSignal?.aborted, true);
    assert.deepEqual(log, ['follower of nobody', 'leader 0']);
    assert.equal((await state.store.get('heartbeat'))?.text, 'epoch 0');
    assert.deepEqual([state.status().isLeader, state.status().holdsLease, state.status().epoch], [true, true, 0]);
  });

  it('depose(): the leader signal aborts with NotLeaderError, onFollower runs after the handler returned, writes name the new leader', async () => {
    await using state = await MemoryStateManager.start({ name: 'app', identity: 'pod-a' });
    const log: string[] = [];
    runApp(state, log);
    await settle();
    await state.depose({ leader: 'pod-b' });
    assert.deepEqual(log, ['leader 0', 'leader work ended: NotLeaderError', 'follower of pod-b']);
    assert.deepEqual([state.isLeader, state.leader, state.epoch], [false, 'pod-b', undefined]);
    const err = await expectKubekvError(state.store.put('k', 'v'), NotLeaderError, 'NOT_LEADER');
    assert.equal(err.leader, 'pod-b');
    // Leading again is a new term: a greater epoch.
    await state.elect();
    assert.ok(state.epoch! > 0, `epoch ${state.epoch} did not grow`);
  });

  it('a write made while leading but decided after the leadership ended is refused (never sent under a later term)', async () => {
    await using state = await MemoryStateManager.start({ name: 'app', identity: 'pod-a' });
    // The write's request is held while the leadership ends and another writer moves the bucket on:
    // its conflict makes the store plan it again, and the guard then refuses it.
    const interposed = state.store.beforeNextWrite(async (other) => {
      await state.depose();
      await other.put('by', 'someone else');
    });
    await expectKubekvError(state.store.put('late', 'v'), NotLeaderError, 'NOT_LEADER');
    await interposed;
    await state.elect();
    assert.equal(await state.store.exists('late', { consistent: true }), false);
  });

  it('fence(): the leader does not notice until its next write, which rejects FencedError; it then resigns and follows', async () => {
    await using state = await MemoryStateManager.start({ name: 'app', identity: 'pod-a', buckets: ['one', 'two'] });
    const log: string[] = [];
    runApp(state, log);
    await settle();
    await state.fence({ leader: 'pod-z' });
    assert.equal(state.isLeader, true, 'a fenced leader noticed before writing');
    const fenced = await expectKubekvError(state.bucket('two').put('k', 'v'), FencedError, 'FENCED');
    assert.equal(fenced.heldEpoch, 0);
    assert.ok(fenced.currentEpoch > 0);
    await settle();
    // Its follower period begins before it has read the Lease again: the new leader is not known yet.
    assert.deepEqual(log, ['leader 0', 'leader work ended: FencedError', 'follower of nobody']);
    assert.deepEqual([state.isLeader, state.leader], [false, 'pod-z']);
    assert.equal(state.status().lastError?.name, 'FencedError');
    const after = await expectKubekvError(state.store.put('k', 'v'), NotLeaderError, 'NOT_LEADER');
    assert.equal(after.leader, 'pod-z');
    assert.equal(await state.bucket('two').exists('k'), false);
    // Elected again, it takes a term above the fencing leader's.
    await state.elect();
    assert.ok(state.epoch! > fenced.currentEpoch);
    await state.bucket('two').put('k', 'v');
  });

  it('fence() on Secret buckets (kind: \'Secret\'): the leader\'s next write rejects with FencedError', async () => {
    await using state = await MemoryStateManager.start({ name: 'app', identity: 'pod-a', kind: 'Secret' });
    await state.store.put('k', 'v');
    await state.fence({ leader: 'pod-z' });
    await expectKubekvError(state.store.put('k', 'w'), FencedError, 'FENCED');
    assert.equal((await state.store.get('k', { consistent: true }))?.text, 'v');
  });

  it('two replicas on one cluster: the other\'s elect() deposes the leader, which then writes nothing', async () => {
    const cluster = new MemoryCluster();
    await using a = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-a' });
    await using b = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-b' });
    const logA: string[] = [];
    const logB: string[] = [];
    runApp(a, logA);
    runApp(b, logB);
    await settle();
    await b.elect();
    await settle();
    assert.deepEqual(logA, ['leader 0', 'leader work ended: NotLeaderError', 'follower of pod-b']);
    assert.deepEqual(logB, ['follower of pod-a', 'leader 1']);
    assert.deepEqual([a.isLeader, a.leader, b.isLeader, b.epoch], [false, 'pod-b', true, 1]);
    assert.equal((await a.store.get('heartbeat'))?.text, 'epoch 1');
    await expectKubekvError(a.store.put('heartbeat', 'stale'), NotLeaderError, 'NOT_LEADER');
  });

  it('elect({ notifyPrevious: false }): a paused leader keeps acting as leader until its write is fenced', async () => {
    const cluster = new MemoryCluster();
    await using a = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-a' });
    await using b = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-b' });
    await b.elect({ notifyPrevious: false });
    assert.deepEqual([a.isLeader, b.isLeader], [true, true], 'both believe they lead (split brain)');
    await b.store.put('owner', 'pod-b');
    await expectKubekvError(a.store.put('owner', 'pod-a'), FencedError, 'FENCED');
    assert.equal((await b.store.get('owner', { consistent: true }))?.text, 'pod-b');
    await settle();
    assert.deepEqual([a.isLeader, a.leader], [false, 'pod-b']);
  });
});

describe('leadership controls, edges', () => {
  it('depose() on a follower: it loses every race until elect(), even for a Lease its leader released', async () => {
    const cluster = new MemoryCluster();
    const a = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-a' });
    await using b = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-b' });
    await b.depose();
    await a.close();
    // The release reaches b at once; a b that contended would lead within these turns.
    await settle();
    assert.equal(b.isLeader, false);
    await b.elect();
    assert.equal(b.isLeader, true);
  });

  it('elect() for two replicas at once: the later one leads, the other\'s elect() rejects with ConflictError', async () => {
    const cluster = new MemoryCluster();
    await using a = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-a' });
    await using b = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-b' });
    await using c = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-c' });
    const outcomes = await Promise.allSettled([b.elect(), c.elect()]);
    const rejected = outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason as unknown);
    assert.equal(rejected.length, 1);
    assert.ok(rejected[0] instanceof ConflictError && rejected[0].code === 'CONFLICT', String(rejected[0]));
    assert.equal([a, b, c].filter((r) => r.isLeader).length, 1);
  });

  it('the controls write past FakeCluster faults, which stay laid for the replicas\' own requests', async () => {
    const cluster = new MemoryCluster();
    await using a = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-a', retryPeriodMs: 200 });
    await using b = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-b', retryPeriodMs: 200 });
    cluster.fake.refuseNext(503, { match: { resource: 'leases', verb: 'update' } });
    // The control's own Lease write passes; b's takeover (its own update) meets the 503 and retries.
    await b.elect();
    assert.deepEqual([a.isLeader, b.isLeader], [false, true]);
  });

  it('fence() takes no fault either, its bucket watch included: the fault stays for the next request of the code under test', async () => {
    const cluster = new MemoryCluster();
    await using a = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-a' });
    cluster.fake.refuseNext(503);
    await a.fence();
    await assert.rejects(cluster.fake.api.configMaps('default').get('app'), UnavailableError);
  });
});

describe('bucket controls', () => {
  it('apply to the leader handlers\' writes: a lost answer is OutcomeUnknownError there, and the replica goes on leading and writing', async () => {
    await using state = await MemoryStateManager.start({ name: 'app', identity: 'pod-a' });
    state.store.loseNextAnswer({ landed: true });
    const outcome = Promise.withResolvers<string>();
    state.onLeader(({ store }) => store.put('k', 'v').then(() => outcome.resolve('stored'), (err: { code?: string }) => outcome.resolve(err.code ?? 'no code')));
    assert.equal(await outcome.promise, 'OUTCOME_UNKNOWN');
    // The outage ended with the write: the bucket is readable and writable again, at once.
    assert.equal((await state.store.get('k', { consistent: true }))?.text, 'v');
    await state.store.put('k2', 'v2');
    assert.equal(state.isLeader, true);
  });
});

describe('docs/testing.md', () => {
  it('fails over; a lost answer of the old leader\'s last write is settled by the real store', async () => {
    const cluster = new MemoryCluster();
    await using a = await MemoryStateManager.start({ name: 'my-app', identity: 'pod-a', cluster });
    await using b = await MemoryStateManager.start({ name: 'my-app', identity: 'pod-b', cluster });
    cluster.fake.loseNextAnswer({ match: { verb: 'patch', resource: 'configmaps' } });
    await a.store.put('owner', 'pod-a');
    await b.elect();
    assert.equal(a.isLeader, false);
    await assert.rejects(a.store.put('owner', 'stale'), NotLeaderError);
    assert.equal((await b.store.get('owner'))?.text, 'pod-a');
    assert.ok(b.epoch! > 0);
  });
});

describe('close', () => {
  it('aborts leader work with ClosedError, lets the handler\'s last write land, then refuses writes and releases the Lease', async () => {
    const cluster = new MemoryCluster();
    const a = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-a' });
    await using b = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-b' });
    let reason: unknown;
    a.onLeader(async ({ signal, store }) => {
      await untilAborted(signal);
      reason = signal.reason;
      await store.put('farewell', 'written during the handover');
    });
    await settle();
    await a.close();
    assert.ok(reason instanceof ClosedError);
    assert.deepEqual([a.closed, a.isLive()], [true, false]);
    await expectKubekvError(a.store.put('k', 'v'), ClosedError, 'CLOSED');
    await assert.rejects(a.elect(), ClosedError);
    // The Lease was released: the follower takes over at once, with the next term.
    await b.elect();
    assert.equal(b.epoch, 1);
    assert.equal((await b.store.get('farewell'))?.text, 'written during the handover');
  });

  it('closes while a bucket\'s watch is paused (the held-back stream ends with the watch)', async () => {
    const cluster = new MemoryCluster();
    const state = await MemoryStateManager.start({ name: 'app', cluster, identity: 'pod-a' });
    await using other = await MemoryStore.open({ name: 'app-state', cluster });
    state.store.pauseWatch();
    await other.put('k', 'held back');
    const hung = new Promise((resolve) => setTimeout(resolve, 5_000, 'still closing after 5 s').unref());
    assert.equal(await Promise.race([state.close().then(() => 'closed'), hung]), 'closed');
  });

  it('waits at most shutdownGraceMs (on the injected clock) for a handler that does not return, and logs it', async () => {
    const clock = new ManualClock();
    const { logger, lines } = captureLogger();
    const state = await MemoryStateManager.start({ name: 'app', clock, logger, shutdownGraceMs: 5_000 });
    state.onLeader(() => new Promise(() => {}));
    let closed = false;
    const closing = state.close().then(() => (closed = true));
    await clock.advance(4_999);
    assert.equal(closed, false, 'close() did not wait for the handler');
    await clock.advance(1);
    await closing;
    assert.ok(JSON.stringify(lines).includes('still running after shutdownGraceMs'));
  });
});

describe('status and handlers', () => {
  it('status() reports leadership and every bucket; handlers registered while leading run at once; a handler\'s failure is logged by code', async () => {
    const clock = new ManualClock();
    const { logger, lines } = captureLogger();
    await using state = await MemoryStateManager.start({ name: 'app', clock, logger, buckets: ['app-state', 'audit'] });
    const status = state.status();
    assert.deepEqual(Object.keys(status.buckets), ['app-state', 'audit']);
    assert.deepEqual([status.isLeader, status.holdsLease, status.lastRenewAt, status.leaseDurationMs], [true, true, clock.now(), 15_000]);
    assert.equal(state.isLive(), true);
    let ran = false;
    state.onLeader((ctx) => {
      ran = ctx.bucket('audit').name === 'audit';
      throw new Error('secret-key-name');
    });
    await settle();
    assert.equal(ran, true);
    assert.ok(JSON.stringify(lines).includes('onLeader handler failed'));
    assert.ok(!JSON.stringify(lines).includes('secret-key-name'), 'a handler error message (which may name keys) was logged');
    assert.throws(() => state.bucket('missing'), { code: 'INVALID_OPTION', option: 'bucket' });
  });
});
