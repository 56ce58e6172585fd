/**
 * Lock, driven by a fake clock and an in-memory Lease with the API server's
 * CAS semantics: the Lease name, option validation, and the lock life cycle
 * (acquire, hand over, tokens, abort, loss, close). No test sleeps. The same
 * behaviour is proven against the real control plane in
 * test/integration/lock/.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { AbortedError, ClosedError, ForbiddenError, LockHeldError, InvalidKeyError, InvalidOptionError, NotLeaderError } from '../../../src/errors.js';
import { validateName } from '../../../src/kube/config.js';
import { Lock, lockLeaseName, type LockOptions } from '../../../src/lock/index.js';
import { FakeClock } from '../../support/fake-clock.js';
import { MemoryLeaseLock } from '../../support/memory-lease-lock.js';

const T0 = Date.UTC(2030, 0, 1);
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function setup() {
  const clock = new FakeClock(T0);
  const lease = new MemoryLeaseLock();
  let closed = 0;
  const make = (identity: string, options: LockOptions = {}) =>
    new Lock({ bucket: 'app', namespace: 'ns', key: 'jobs/nightly', leaseLock: lease, clock, options: { identity, ttlMs: 3000, ...options }, onClose: () => closed++ });
  return { clock, lease, make, closedCount: () => closed };
}

/** Follows a promise without awaiting it, so a test can check whether it has settled yet. */
function track<T>(promise: Promise<T>) {
  const s: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then((value) => Object.assign(s, { settled: true, value }), (error: unknown) => Object.assign(s, { settled: true, error }));
  return s;
}

const holderOf = (lease: MemoryLeaseLock) => lease.current?.record.holderIdentity;
const holders = (lease: MemoryLeaseLock) => lease.writes.map((w) => w.record?.holderIdentity);

describe('lockLeaseName', () => {
  it('is <bucket>-lock-<16 hex of sha256(key)>, deterministic', () => {
    const expected = `app-lock-${createHash('sha256').update('jobs/nightly').digest('hex').slice(0, 16)}`;
    assert.equal(lockLeaseName('app', 'jobs/nightly'), expected);
    assert.equal(lockLeaseName('app', 'jobs/nightly'), expected);
  });

  it('is a valid DNS subdomain of at most 253 characters for long and unicode keys and long buckets', () => {
    const buckets = ['a', 'app.example.com', 'b'.repeat(253), `${'c'.repeat(229)}.d-e`, `${'x'.repeat(230)}--${'y'.repeat(21)}`];
    const keys = ['k', 'jobs/nightly', 'é'.repeat(40), '🔒/ünïcödé key', 'k'.repeat(253), 'UPPER_case.Key'];
    for (const bucket of buckets) {
      validateName('bucket', bucket);
      for (const key of keys) {
        const name = lockLeaseName(bucket, key);
        assert.ok(name.length <= 253, `${name.length} characters`);
        assert.match(name, dnsSubdomain);
        validateName('name', name);
      }
    }
  });

  it('differs for distinct keys, and for distinct long buckets that share their first 231 characters', () => {
    const names = new Set(Array.from({ length: 2000 }, (_, i) => lockLeaseName('app', `key/${i}`)));
    assert.equal(names.size, 2000);
    assert.notEqual(lockLeaseName('app', 'a'), lockLeaseName('app', 'A'));
    assert.notEqual(lockLeaseName('app', 'k'), lockLeaseName('other', 'k'));
    const long = 'p'.repeat(240);
    assert.notEqual(lockLeaseName(`${long}-one`, 'k'), lockLeaseName(`${long}-two`, 'k'));
  });
});

describe('Lock options', () => {
  it('rejects each invalid option with an InvalidOptionError naming it, before any request', () => {
    const lease = new MemoryLeaseLock();
    const cases: Array<[unknown, string]> = [
      [{ ttlMs: 0 }, 'ttlMs'],
      [{ ttlMs: 500 }, 'ttlMs'],
      [{ ttlMs: 1500 }, 'ttlMs'],
      [{ ttlMs: -1000 }, 'ttlMs'],
      [{ ttlMs: Number.NaN }, 'ttlMs'],
      [{ ttlMs: '15000' }, 'ttlMs'],
      [{ ttlMs: 86_401_000 }, 'ttlMs'],
      [{ identity: '' }, 'identity'],
      [{ identity: 7 }, 'identity'],
      [{ logger: {} }, 'logger'],
      [{ clock: { now: () => 0 } }, 'clock'],
      // The issue text says `{ ttl }`: a misspelt option must not silently get the default.
      [{ ttl: 5000 }, 'ttl'],
      ['fast', 'options'],
    ];
    for (const [options, name] of cases) {
      assert.throws(
        () => new Lock({ bucket: 'app', namespace: 'ns', key: 'k', leaseLock: lease, options: options as LockOptions }),
        (err: unknown) => err instanceof InvalidOptionError && err.option === name && err.message.includes(name),
        `expected InvalidOptionError(${name}) for ${JSON.stringify(options)}`,
      );
    }
    for (const ttlMs of [1000, 15_000, 86_400_000]) new Lock({ bucket: 'app', namespace: 'ns', key: 'k', leaseLock: lease, options: { ttlMs } });
    assert.equal(lease.totalCalls, 0);
  });

  it('validates the key like a store key', () => {
    for (const key of ['', 5, '\uD800', 'x'.repeat(254)]) {
      assert.throws(() => new Lock({ bucket: 'app', namespace: 'ns', key: key as string, leaseLock: new MemoryLeaseLock() }), InvalidKeyError);
    }
  });

  it('defaults the identity to host name + random hex, different for every Lock; defaults the TTL to 15 s', () => {
    const { make } = setup();
    const a = new Lock({ bucket: 'app', namespace: 'ns', key: 'k', leaseLock: new MemoryLeaseLock() });
    const b = new Lock({ bucket: 'app', namespace: 'ns', key: 'k', leaseLock: new MemoryLeaseLock() });
    assert.ok(a.identity.startsWith(`${hostname()}-`) && /-[0-9a-f]{12}$/.test(a.identity), a.identity);
    assert.notEqual(a.identity, b.identity);
    assert.equal(a.ttlMs, 15_000);
    assert.equal(make('me').leaseName, lockLeaseName('app', 'jobs/nightly'));
  });

  it('rejects a lock() signal that is not an AbortSignal, and unknown lock() options', async () => {
    const { make } = setup();
    await assert.rejects(make('me').lock({ signal: 'soon' as unknown as AbortSignal }), (e: unknown) => e instanceof InvalidOptionError && e.option === 'signal');
    await assert.rejects(make('me').lock({ timeoutMs: 5 } as never), (e: unknown) => e instanceof InvalidOptionError && e.option === 'timeoutMs');
  });
});

describe('Lock life cycle', () => {
  it('hands over at once on unlock (client-go release record); tokens strictly increase across holders', async () => {
    const { clock, lease, make } = setup();
    const a = make('a');
    const b = make('b');
    const first = await a.lock();
    assert.equal(first.token, 0);
    assert.equal(a.held, true);
    const waiting = track(b.lock());
    await clock.advance(10_000);
    assert.equal(waiting.settled, false, 'b acquired while a renewed');
    await first.unlock();
    assert.equal(first.signal.aborted, true);
    assert.ok(first.signal.reason instanceof ClosedError);
    // The write after a's last one is its release (b may have acquired since).
    const afterA = lease.writes[lease.writes.findLastIndex((w) => w.record?.holderIdentity === 'a') + 1]?.record;
    assert.deepEqual(afterA && { ...afterA, acquireTime: 0, renewTime: 0 },
      { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0, acquireTime: 0, renewTime: 0 });
    await clock.advance(0);
    assert.equal(waiting.settled, true, 'b did not acquire at once after the release');
    const second = waiting.value!;
    assert.equal(second.token, 1);
    const again = track(a.lock());
    await clock.advance(0);
    await second.unlock();
    await clock.advance(0);
    assert.equal(again.value?.token, 2);
    const writesBefore = lease.writes.length;
    await first.unlock(); // idempotent: nothing more is written
    assert.equal(lease.writes.length, writesBefore);
    await again.value?.unlock();
  });

  it('rejects lock() with LockHeldError while the same Lock holds or is acquiring', async () => {
    const { clock, make } = setup();
    const other = await make('other').lock();
    const me = make('me');
    const waiting = track(me.lock());
    await assert.rejects(me.lock(), (err: unknown) => err instanceof LockHeldError && err.code === 'LOCK_HELD');
    await other.unlock();
    await clock.advance(0);
    assert.ok(waiting.value);
    await assert.rejects(me.lock(), (err: unknown) => err instanceof LockHeldError && err.code === 'LOCK_HELD');
    await waiting.value.unlock();
    const again = await me.lock();
    await again.unlock();
  });

  it('an aborted lock() rejects with AbortedError and never acquires later', async () => {
    const { clock, lease, make } = setup();
    const holder = await make('holder').lock();
    const waiter = make('waiter');
    const controller = new AbortController();
    const waiting = waiter.lock({ signal: controller.signal });
    await clock.advance(1000);
    controller.abort(new Error('gave up'));
    await assert.rejects(waiting, AbortedError);
    await holder.unlock();
    await clock.advance(30_000);
    assert.ok(!holders(lease).includes('waiter'), `the aborted waiter wrote the lease: ${holders(lease).join(', ')}`);
    assert.equal(lease.current?.record.holderIdentity, '');
    // The Lock stays usable.
    assert.equal((await waiter.lock()).token, 1);
    // A signal aborted before the call rejects without a request.
    const calls = lease.totalCalls;
    await assert.rejects(make('x').lock({ signal: AbortSignal.abort() }), AbortedError);
    assert.equal(lease.totalCalls, calls);
  });

  it('aborts the handle when renewals fail for 2/3 of the TTL, and does not re-acquire behind the caller', async () => {
    for (const ttlMs of [3000, 15_000]) {
      const { clock, lease, make } = setup();
      const lock = make('me', { ttlMs });
      const handle = await lock.lock();
      lease.fail('update');
      await clock.advance((ttlMs * 2) / 3 - 1);
      assert.equal(handle.signal.aborted, false, `ttl ${ttlMs}: gave up early`);
      await clock.advance(1);
      assert.equal(handle.signal.aborted, true, `ttl ${ttlMs}: still held at the renew deadline`);
      assert.ok(handle.signal.reason instanceof NotLeaderError);
      assert.equal(lock.held, false);
      lease.fail('update', null);
      const writes = lease.writes.length;
      await clock.advance(10 * ttlMs);
      assert.equal(lease.writes.length, writes, 'a lost lock was written again without lock()');
    }
  });

  it('aborts the handle when the Lease is deleted or taken over, and then writes nothing', async () => {
    const { clock, lease, make } = setup();
    const lock = make('me');
    const first = await lock.lock();
    lease.remove();
    await clock.advance(0);
    assert.ok(first.signal.reason instanceof NotLeaderError);
    await clock.advance(10_000);
    assert.equal(lease.current, undefined, 'the lost lock recreated the lease');

    const second = await lock.lock();
    lease.write({ holderIdentity: 'intruder', leaseDurationSeconds: 3, acquireTime: new Date(), renewTime: new Date(), leaseTransitions: 7 });
    await clock.advance(0);
    assert.ok(second.signal.aborted);
    await second.unlock();
    await clock.advance(1000);
    assert.equal(holderOf(lease), 'intruder', 'unlock after a takeover overwrote the new holder');
  });

  it('close() rejects a waiting lock() with ClosedError, releases a held lock, and refuses lock() after', async () => {
    const { clock, lease, make, closedCount } = setup();
    const holder = make('holder');
    const handle = await holder.lock();
    const waiter = make('waiter');
    const waiting = waiter.lock();
    await clock.advance(0);
    await waiter.close();
    await assert.rejects(waiting, ClosedError);
    await holder.close();
    assert.ok(handle.signal.reason instanceof ClosedError);
    assert.equal(lease.current?.record.holderIdentity, '');
    await assert.rejects(holder.lock(), ClosedError);
    await holder.close();
    assert.equal(closedCount(), 2);
    assert.ok(!holders(lease).includes('waiter'));
  });

  it('rejects lock() at once on an error no retry can fix; keeps waiting through network failures', async () => {
    const { clock, lease, make } = setup();
    lease.fail('create', new ForbiddenError('create', 'leases', undefined, 'ns'));
    const refused = track(make('me').lock());
    await clock.advance(0);
    assert.ok(refused.error instanceof ForbiddenError, `lock() did not reject with the ForbiddenError: ${refused.settled ? String(refused.error) : 'still waiting'}`);

    lease.fail('create', null);
    lease.fail('get');
    lease.fail('create');
    const waiting = track(make('me').lock());
    await clock.advance(30_000);
    assert.equal(waiting.settled, false, `gave up on a transient failure: ${String(waiting.error)}`);
    lease.fail('get', null);
    lease.fail('create', null);
    await clock.advance(3000);
    assert.equal(waiting.value?.token, 0);
  });
});
