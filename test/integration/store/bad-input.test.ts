/**
 * Bad input to ConfigMapStore is refused with a typed error (class and
 * `code`), and the bucket is exactly as before: same resourceVersion, labels,
 * annotations, data and binaryData. This file covers what the store refuses
 * locally (keys, values, sizes, conditions, batches, options, aborted and
 * closed calls); bad-input-cluster.test.ts covers bad state found on the
 * cluster (corrupt entries, newer formats, RBAC, a deleted bucket).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  AbortedError,
  BucketFullError,
  ClosedError,
  ConfigMapStore,
  InvalidKeyError,
  InvalidOptionError,
  InvalidValueError,
  ValueTooLargeError,
  type OpenStoreOptions,
  type Store,
} from '../../../src/index.js';
import { testControlPlane } from '../../controlplane/remote.js';
import { expectApiStatus } from '../../support/kube.js';
import { serverPort, TcpProxy } from '../../support/tcp-proxy.js';
import {
  adminClients,
  expectBucketUnchanged,
  expectKubekvError,
  openBucket,
  readRaw,
  type OpenedBucket,
} from '../../support/store.js';

/** A hang fails the test after a minute, naming it, instead of stalling the run. */
const bounded = { timeout: 60_000 };

const cp = testControlPlane();
const MiB = 1_048_576;

/** A bucket holding a text and a binary value, so "unchanged" has something to compare. */
async function seeded(name: string, options: Parameters<typeof openBucket>[1] = {}): Promise<OpenedBucket> {
  const b = await openBucket(name, options);
  await b.store.put('seed/a', 'one');
  await b.store.put('seed/bin', Uint8Array.from([0xff, 0x01]));
  return b;
}

/** Every call taking a key, with `key` in the key's place. */
function keyedCalls(store: Store, key: unknown): Array<[string, () => unknown]> {
  const k = key as string;
  return [
    ['get', () => store.get(k)],
    ['get consistent', () => store.get(k, { consistent: true })],
    ['exists', () => store.exists(k)],
    ['watch', () => store.watch(k)],
    ['put', () => store.put(k, 'v')],
    ['delete', () => store.delete(k)],
    ['atomicPut', () => store.atomicPut(k, 'v')],
    ['atomicPut with previous', () => store.atomicPut(k, 'v', 1)],
    ['atomicDelete', () => store.atomicDelete(k, 1)],
    ['batch put', () => store.batch([{ op: 'put', key: 'fine', value: 'v' }, { op: 'put', key: k, value: 'v' }])],
    ['batch delete', () => store.batch([{ op: 'put', key: 'fine', value: 'v' }, { op: 'delete', key: k }])],
  ];
}

async function expectInvalidKey(b: OpenedBucket, key: unknown): Promise<void> {
  await expectBucketUnchanged(b, async () => {
    for (const [name, call] of keyedCalls(b.store, key)) {
      const err = await expectKubekvError(call, InvalidKeyError, 'INVALID_KEY').catch((e: unknown) => {
        throw new Error(`${name}(${JSON.stringify(String(key)).slice(0, 40)}): ${String(e)}`);
      });
      assert.ok(err.reason.length > 0);
    }
  });
  assert.equal(await b.store.exists('fine'), false, 'a batch with an invalid key applied its valid operation');
}

/** Every write taking a value, with `value` in the value's place. */
function valueCalls(store: Store, value: unknown): Array<[string, () => unknown]> {
  const v = value as string;
  return [
    ['put', () => store.put('k', v)],
    ['atomicPut', () => store.atomicPut('k', v)],
    ['batch', () => store.batch([{ op: 'put', key: 'fine', value: 'v' }, { op: 'put', key: 'k', value: v }])],
  ];
}

async function expectInvalidValue(b: OpenedBucket, value: unknown): Promise<void> {
  await expectBucketUnchanged(b, async () => {
    for (const [name, call] of valueCalls(b.store, value)) {
      await assert.doesNotReject(expectKubekvError(call, InvalidValueError, 'INVALID_VALUE'), `${name} with ${String(value)}`);
    }
  });
  assert.deepEqual((await b.store.list('')).map((p) => p.key), ['seed/a', 'seed/bin']);
}

describe('bad keys', () => {
  it('an empty key', bounded, async () => {
    await using b = await seeded('empty-key');
    await expectInvalidKey(b, '');
  });

  it('a key that is not a string (number, null, undefined, object)', bounded, async () => {
    await using b = await seeded('non-string-key');
    for (const key of [42, null, undefined, { toString: () => 'k' }]) await expectInvalidKey(b, key);
  });

  it('a key with a lone surrogate', bounded, async () => {
    await using b = await seeded('surrogate-key');
    for (const key of ['\uD800', 'a\uDC00b', 'tail\uD83D']) await expectInvalidKey(b, key);
  });

  it('a key too long once encoded: 100 x "é" (600 characters) is refused, 42 x "é" (252) accepted', bounded, async () => {
    await using b = await seeded('long-encoded-key');
    await expectInvalidKey(b, 'é'.repeat(100));
    await b.store.put('é'.repeat(42), 'fits');
    assert.equal((await readRaw(b.namespace, b.name)).data?.['_C3_A9'.repeat(42)], 'fits');
  });

  it('a 253-character plain key is accepted, a 254-character one refused', bounded, async () => {
    await using b = await seeded('key-length');
    await expectInvalidKey(b, 'k'.repeat(254));
    await b.store.put('k'.repeat(253), 'fits');
    assert.equal((await readRaw(b.namespace, b.name)).data?.['k'.repeat(253)], 'fits');
    assert.equal((await b.store.get('k'.repeat(253)))?.text, 'fits');
  });

  it('a prefix that is not a string, or has a lone surrogate, is an InvalidKeyError', bounded, async () => {
    await using b = await seeded('bad-prefix');
    await expectBucketUnchanged(b, async () => {
      for (const prefix of [5, null, undefined, {}, 'p\uD800']) {
        const p = prefix as string;
        for (const call of [() => b.store.list(p), () => b.store.deleteTree(p), () => b.store.watchTree(p)]) {
          await expectKubekvError(call, InvalidKeyError, 'INVALID_KEY');
        }
      }
    });
  });
});

describe('bad keys with the API server unreachable', () => {
  it('consistent reads of a bad key are refused before any request is sent', bounded, async () => {
    const b = await seeded('bad-key-offline');
    const proxy = await TcpProxy.start(serverPort(cp.adminKubeConfig()));
    const store = await ConfigMapStore.open({ name: b.name, namespace: b.namespace, kubeConfig: proxy.kubeConfigFor(cp.adminKubeConfig()), requestTimeoutMs: 2000 });
    try {
      // Unreachable: a request sent first would fail with UnavailableError.
      proxy.block();
      await expectKubekvError(store.get('', { consistent: true }), InvalidKeyError, 'INVALID_KEY');
      await expectKubekvError(store.exists('\ud800', { consistent: true }), InvalidKeyError, 'INVALID_KEY');
      await expectKubekvError(store.list(7 as unknown as string, { consistent: true }), InvalidKeyError, 'INVALID_KEY');
    } finally {
      proxy.heal();
      await store.close();
      await proxy.close();
      await b[Symbol.asyncDispose]();
    }
  });

  it('an invalid per-call timeoutMs -> InvalidOptionError naming "timeoutMs", nothing stored', bounded, async () => {
    await using b = await seeded('bad-call-timeout');
    await expectBucketUnchanged(b, async () => {
      for (const timeoutMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, '100']) {
        const err = await expectKubekvError(b.store.put('k', 'v', { timeoutMs: timeoutMs as number }), InvalidOptionError, 'INVALID_OPTION');
        assert.equal(err.option, 'timeoutMs');
      }
    });
  });
});

describe('bad values', () => {
  it('a number', bounded, async () => {
    await using b = await seeded('value-number');
    await expectInvalidValue(b, 42);
  });

  it('null and undefined', bounded, async () => {
    await using b = await seeded('value-null');
    await expectInvalidValue(b, null);
    await expectInvalidValue(b, undefined);
  });

  it('an object, an array, an ArrayBuffer and a non-byte typed array', bounded, async () => {
    await using b = await seeded('value-object');
    for (const value of [{ a: 1 }, [1, 2], new ArrayBuffer(4), new Uint16Array(2)]) await expectInvalidValue(b, value);
  });

  it('a string with a lone surrogate (it has no UTF-8 form)', bounded, async () => {
    await using b = await seeded('value-surrogate');
    await expectInvalidValue(b, 'half \uD800 a pair');
  });
});

// The limits of the single-ConfigMap layout (chunks: false); a chunked
// bucket's limits are in chunks.test.ts.
describe('sizes', () => {
  it('one value over 1 MiB of incompressible bytes -> ValueTooLargeError with size and limit', bounded, async () => {
    await using b = await seeded('too-large', { chunks: false });
    const value = randomBytes(MiB + 50_000);
    const err = await expectBucketUnchanged(b, () => expectKubekvError(b.store.put('huge', value), ValueTooLargeError, 'VALUE_TOO_LARGE'));
    assert.equal(err.key, 'huge');
    assert.equal(err.limit, MiB);
    assert.ok(err.size > MiB && err.size >= value.length, `size ${err.size} does not describe a ${value.length}-byte value`);
    await using plain = await seeded('too-large-text', { compression: false, chunks: false });
    const text = await expectBucketUnchanged(plain, () => expectKubekvError(plain.store.put('huge', 'x'.repeat(MiB + 1)), ValueTooLargeError, 'VALUE_TOO_LARGE'));
    assert.equal(text.size, MiB + 1);
  });

  it('a put that would take the bucket over 1 MiB -> BucketFullError, and the keys already there stay intact', bounded, async () => {
    await using b = await seeded('full', { compression: false, chunks: false });
    await b.store.batch(Array.from({ length: 9 }, (_, i) => ({ op: 'put' as const, key: `fill/${i}`, value: String(i).repeat(100_000) })));
    const err = await expectBucketUnchanged(b, () => expectKubekvError(b.store.put('one-too-many', 'y'.repeat(200_000)), BucketFullError, 'BUCKET_FULL'));
    assert.equal(err.limit, MiB);
    assert.ok(err.size > MiB && err.size >= 1_100_000, `size ${err.size} is not the bucket's size with the write`);
    await expectBucketUnchanged(b, () => expectKubekvError(
      b.store.batch([{ op: 'put', key: 'small', value: 's' }, { op: 'put', key: 'big', value: 'z'.repeat(200_000) }]),
      BucketFullError,
      'BUCKET_FULL',
    ));
    const keys = (await b.store.list('')).map((p) => p.key);
    assert.deepEqual(keys, [...Array.from({ length: 9 }, (_, i) => `fill/${i}`), 'seed/a', 'seed/bin']);
    assert.equal((await b.store.get('fill/8'))?.text, '8'.repeat(100_000));
    // The bucket is full, not broken: a write that fits still goes through.
    await b.store.put('small', 's');
  });
});

describe('bad conditions and batches', () => {
  it('previous of the wrong type -> InvalidOptionError naming "previous"', bounded, async () => {
    await using b = await seeded('previous-type');
    const pair = (await b.store.get('seed/a'))!;
    await expectBucketUnchanged(b, async () => {
      for (const previous of ['3', null, {}, { lastIndex: '3' }, [pair.lastIndex], true]) {
        const p = previous as number;
        for (const call of [() => b.store.atomicPut('seed/a', 'x', p), () => b.store.atomicDelete('seed/a', p)]) {
          const err = await expectKubekvError(call, InvalidOptionError, 'INVALID_OPTION');
          assert.equal(err.option, 'previous');
        }
      }
    });
  });

  it('previous negative, fractional or not finite -> InvalidOptionError naming "previous" (a batch entry\'s "operations[i].expect")', bounded, async () => {
    await using b = await seeded('previous-range');
    await expectBucketUnchanged(b, async () => {
      for (const previous of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, { lastIndex: -2 }, 2 ** 60]) {
        const p = previous as number;
        for (const [call, option] of [
          [() => b.store.atomicPut('seed/a', 'x', p), 'previous'],
          [() => b.store.atomicDelete('seed/a', p), 'previous'],
          [() => b.store.batch([{ op: 'put', key: 'seed/a', value: 'x', expect: p }]), 'operations[0].expect'],
        ] as const) {
          const err = await expectKubekvError(call, InvalidOptionError, 'INVALID_OPTION');
          assert.equal(err.option, option);
        }
      }
    });
  });

  it('a batch with one invalid operation -> InvalidOptionError, and its valid operations are not applied', bounded, async () => {
    await using b = await seeded('batch-invalid-op');
    await expectBucketUnchanged(b, async () => {
      for (const bad of [{ op: 'upsert', key: 'x', value: 'y' }, null, { key: 'x', value: 'y' }, 'put']) {
        const ops = [{ op: 'put', key: 'valid', value: 'v' }, { op: 'delete', key: 'seed/a' }, bad] as unknown as Parameters<Store['batch']>[0];
        const err = await expectKubekvError(b.store.batch(ops), InvalidOptionError, 'INVALID_OPTION');
        assert.equal(err.option, 'operations[2].op');
      }
    });
    assert.equal(await b.store.exists('valid'), false);
    assert.equal((await b.store.get('seed/a'))?.text, 'one');
  });

  it('a batch that is not an array -> InvalidOptionError naming "operations"', bounded, async () => {
    await using b = await seeded('batch-not-array');
    await expectBucketUnchanged(b, async () => {
      for (const operations of [undefined, null, 'put', { op: 'put', key: 'k', value: 'v' }, 3]) {
        const err = await expectKubekvError(b.store.batch(operations as never), InvalidOptionError, 'INVALID_OPTION');
        assert.equal(err.option, 'operations');
      }
    });
  });
});

describe('aborted and closed calls', () => {
  it('an already-aborted signal -> AbortedError, and nothing is stored', bounded, async () => {
    await using b = await seeded('aborted');
    const signal = AbortSignal.abort(new Error('caller gave up'));
    await expectBucketUnchanged(b, async () => {
      for (const call of [
        () => b.store.put('k', 'v', { signal }),
        () => b.store.delete('seed/a', { signal }),
        () => b.store.deleteTree('seed/', { signal }),
        () => b.store.atomicPut('k', 'v', undefined, { signal }),
        () => b.store.batch([{ op: 'put', key: 'k', value: 'v' }], { signal }),
        () => b.store.get('seed/a', { signal, consistent: true }),
      ]) {
        const err = await expectKubekvError(call, AbortedError, 'ABORTED');
        assert.equal((err.cause as Error | undefined)?.message, 'caller gave up');
      }
    });
    assert.equal(await b.store.get('k', { consistent: true }), undefined);
    assert.equal((await b.store.get('seed/a'))?.text, 'one');
  });

  it('get, put, watch and list after close -> ClosedError', bounded, async () => {
    const b = await seeded('use-after-close');
    await b.store.close();
    await expectBucketUnchanged(b, async () => {
      await expectKubekvError(b.store.get('seed/a'), ClosedError, 'CLOSED');
      await expectKubekvError(b.store.put('seed/a', 'changed'), ClosedError, 'CLOSED');
      await expectKubekvError(() => b.store.watch('seed/a'), ClosedError, 'CLOSED');
      await expectKubekvError(b.store.list(''), ClosedError, 'CLOSED');
    });
  });
});

describe('bad open() options', () => {
  /** Opens with `options` on the seeded bucket's namespace and expects InvalidOptionError naming `option`; nothing changes. */
  async function expectBadOption(b: OpenedBucket, options: Partial<OpenStoreOptions>, option: string): Promise<void> {
    const core = adminClients().core;
    const names = async () => (await core.listNamespacedConfigMap({ namespace: b.namespace })).items.map((i) => i.metadata?.name).sort();
    const before = await names();
    await expectBucketUnchanged(b, async () => {
      const err = await expectKubekvError(
        ConfigMapStore.open({ name: b.name, namespace: b.namespace, kubeConfig: cp.adminKubeConfig(), create: true, ...options }),
        InvalidOptionError,
        'INVALID_OPTION',
      );
      assert.equal(err.option, option, `options ${JSON.stringify(options)}: ${err.message}`);
    });
    assert.deepEqual(await names(), before, `options ${JSON.stringify(options)} created a ConfigMap`);
  }

  it('an invalid bucket name -> InvalidOptionError naming "name"', bounded, async () => {
    await using b = await seeded('bad-name');
    for (const name of ['Bad_Name', '', 'a'.repeat(254), '-leading', 'has space', 42, undefined]) {
      await expectBadOption(b, { name: name as string }, 'name');
    }
  });

  it('an invalid namespace -> InvalidOptionError naming "namespace"', bounded, async () => {
    await using b = await seeded('bad-namespace');
    for (const namespace of ['Bad_NS', 'a'.repeat(64), 'dotted.ns', 7]) await expectBadOption(b, { namespace: namespace as string }, 'namespace');
  });

  it('an invalid compression -> InvalidOptionError naming the compression option', bounded, async () => {
    await using b = await seeded('bad-compression');
    await expectBadOption(b, { compression: 'yes' as never }, 'compression');
    await expectBadOption(b, { compression: 1 as never }, 'compression');
    await expectBadOption(b, { compression: { minSavings: 1.5 } }, 'compression.minSavings');
    await expectBadOption(b, { compression: { minSavings: -0.1 } }, 'compression.minSavings');
    await expectBadOption(b, { compression: { minBytes: -1 } }, 'compression.minBytes');
    await expectBadOption(b, { compression: { minBytes: Number.NaN } }, 'compression.minBytes');
  });

  it('an invalid timeoutMs / requestTimeoutMs -> InvalidOptionError naming the option', bounded, async () => {
    await using b = await seeded('bad-timeouts');
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '3']) {
      await expectBadOption(b, { timeoutMs: bad as number }, 'timeoutMs');
      await expectBadOption(b, { requestTimeoutMs: bad as number }, 'requestTimeoutMs');
    }
  });

  it('an invalid app label value -> InvalidOptionError naming "app", and create makes nothing', bounded, async () => {
    await using b = await seeded('bad-app');
    await expectBadOption(b, { app: 'not a label!' }, 'app');
    await expectBadOption(b, { app: 'a'.repeat(64) }, 'app');
    await expectKubekvError(
      ConfigMapStore.open({ name: 'never-made', namespace: b.namespace, kubeConfig: cp.adminKubeConfig(), create: true, app: '-x-' }),
      InvalidOptionError,
      'INVALID_OPTION',
    );
    await expectApiStatus(readRaw(b.namespace, 'never-made'), 404);
  });
});
