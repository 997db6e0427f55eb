/**
 * Value/Array on shared memory for threads: every typecode's round trip and ctypes-style
 * wrapping, argument errors, indices and slices, the lock (a 4-thread counter), sharing with real
 * worker threads both ways, raw objects, and the refusal to cross to a process. Also ports of
 * CPython's `_TestValue` (test_value, test_rawvalue, test_getobj_getlock) and `_TestArray`
 * (test_array, test_rawarray, test_array_from_size, test_getobj_getlock_obj) from
 * `Lib/test/_test_multiprocessing.py`, with worker threads instead of processes (a thread-side
 * Value cannot reach a process; the manager's will).
 */
import test from 'ava'
import { Event } from '@tandem/sync/event'
import { Lock } from '@tandem/sync/lock'
import { RLock } from '@tandem/sync/rlock'
import { encode } from '@tandem/sync/shareable'
import { Array as SharedArray, RawArray, RawValue, SynchronizedArray, SynchronizedValue, type Typecode, Value } from '../src/shared.ts'
import { joinAll, spawn } from '../../sync/test/_helpers.ts'

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

// ---- typecodes -------------------------------------------------------------------------------

/** [typecode, value written, value read back] */
const WRAPS: [Typecode, unknown, unknown][] = [
  ['b', 200, -56],
  ['b', -128, -128],
  ['B', -1, 255],
  ['B', 256, 0],
  ['h', 40_000, -25_536],
  ['H', -1, 65_535],
  ['i', 2 ** 31, -(2 ** 31)],
  ['i', 2n ** 40n + 5n, 5],
  ['i', 2n ** 64n + 7n, 7],
  ['I', -1, 4_294_967_295],
  ['l', -1n, -1n],
  ['l', 2n ** 63n, -(2n ** 63n)],
  ['L', -1n, 2n ** 64n - 1n],
  ['L', 7, 7n],
  ['q', 2n ** 64n + 3n, 3n],
  ['q', -(2n ** 63n) - 1n, 2n ** 63n - 1n],
  ['Q', -1n, 18_446_744_073_709_551_615n],
  ['f', 0.1, Math.fround(0.1)],
  ['f', 3.5, 3.5],
  ['d', 0.1, 0.1],
  ['d', -4.25, -4.25],
  ['c', 'x', 'x'],
  ['c', '\u00ff', '\u00ff'],
]

test('Value: each typecode round-trips and wraps as ctypes does', (t) => {
  for (const [tc, written, read] of WRAPS) {
    t.is(Value(tc, written as never).value as unknown, read, `${tc} ${String(written)} at creation`)
    const raw = Value(tc, undefined, { lock: false })
    raw.value = written as never
    t.is(raw.value as unknown, read, `${tc} ${String(written)} assigned`)
    const arr = SharedArray(tc, [written] as never)
    t.is(arr.get(0) as unknown, read, `${tc} ${String(written)} in an Array`)
  }
})

test('Value: default 0 (0n for 64-bit codes, NUL for c)', (t) => {
  for (const tc of ['b', 'B', 'h', 'H', 'i', 'I', 'f', 'd'] as const) t.is(Value(tc).value, 0, tc)
  for (const tc of ['l', 'L', 'q', 'Q'] as const) t.is(Value(tc).value, 0n, tc)
  t.is(Value('c').value, '\0')
})

test('A bad typecode is a TypeError ERR_INVALID_ARG_TYPE', (t) => {
  for (const tc of ['x', 'u', '', 'ii', 1, null, undefined]) {
    t.throws(() => Value(tc as never, 0 as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as never, String(tc))
    t.throws(() => SharedArray(tc as never, 1), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as never, String(tc))
  }
})

test('Values of the wrong type are TypeErrors ERR_INVALID_ARG_TYPE, and leave the old value', (t) => {
  const bad: [Typecode, unknown][] = [
    ['i', 1.5],
    ['i', '1'],
    ['i', Number.NaN],
    ['i', Number.POSITIVE_INFINITY],
    ['B', null],
    ['q', 1.5],
    ['q', '1'],
    ['Q', {}],
    ['f', 1n],
    ['d', '1.0'],
    ['c', 'xy'],
    ['c', ''],
    ['c', 120],
    ['c', '\u0100'],
  ]
  for (const [tc, v] of bad) {
    t.is(
      codeOf(() => Value(tc, v as never)),
      'ERR_INVALID_ARG_TYPE',
      `${tc} ${String(v)}`,
    )
    const val = Value(tc)
    const before = val.value
    t.throws(() => (val.value = v as never), { instanceOf: TypeError }, `${tc} ${String(v)}`)
    t.is(val.value, before)
    const arr = SharedArray(tc, 2)
    t.throws(() => arr.set(0, v as never), { instanceOf: TypeError })
    t.throws(() => SharedArray(tc, [v] as never), { instanceOf: TypeError })
  }
  t.is(
    codeOf(() => Value('i', 1, 'lock' as never)),
    'ERR_INVALID_ARG_TYPE',
  )
  t.is(
    codeOf(() => Value('i', 1, { lock: 'navalue' } as never)),
    'ERR_INVALID_ARG_TYPE',
  )
  t.is(
    codeOf(() => SharedArray('i', 1.5)),
    'ERR_INVALID_ARG_TYPE',
  )
  t.is(
    codeOf(() => SharedArray('i', '12' as never)),
    'ERR_INVALID_ARG_TYPE',
  )
  t.is(
    codeOf(() => SharedArray('i', -1)),
    'ERR_OUT_OF_RANGE',
  )
})

// ---- arrays ----------------------------------------------------------------------------------

test('Array from a size is zero-filled, from values holds them (CPython test_array_from_size)', (t) => {
  for (let round = 0; round < 3; round++) {
    const arr = SharedArray('i', 10)
    t.is(arr.length, 10)
    t.deepEqual([...arr], new globalThis.Array(10).fill(0))
    arr.setSlice(undefined, undefined, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    t.deepEqual([...arr], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  }
  t.deepEqual(SharedArray('q', 3).slice(), [0n, 0n, 0n])
  t.deepEqual(SharedArray('c', 'abc').slice(), ['a', 'b', 'c'])
  t.deepEqual(SharedArray('d', [0.5, -1]).slice(), [0.5, -1])
  t.is(SharedArray('i', 0).length, 0)
  t.deepEqual(SharedArray('i', []).slice(), [])
})

test('Array slices: negative and clamped bounds, setSlice of the same size only', (t) => {
  const arr = SharedArray('h', [0, 1, 2, 3, 4, 5])
  t.deepEqual(arr.slice(2, 4), [2, 3])
  t.deepEqual(arr.slice(-2), [4, 5])
  t.deepEqual(arr.slice(-100, 100), [0, 1, 2, 3, 4, 5])
  t.deepEqual(arr.slice(4, 2), [])
  arr.setSlice(-3, undefined, [30, 40, 50])
  t.deepEqual(arr.slice(), [0, 1, 2, 30, 40, 50])
  arr.setSlice(1, 1, [])
  const err = t.throws(() => arr.setSlice(0, 2, [1, 2, 3]), { instanceOf: RangeError })
  t.is((err as { code?: string }).code, 'ERR_INVALID_ARG_VALUE')
  t.deepEqual(arr.slice(), [0, 1, 2, 30, 40, 50], 'unchanged after a refused setSlice')
  t.throws(() => arr.setSlice(0, 2, [1, 'x' as never]), { instanceOf: TypeError })
  t.deepEqual(arr.slice(0, 2), [0, 1], 'no partial write on a bad item')
})

test('Array index: negative from the end; out of range is a RangeError ERR_OUT_OF_RANGE', (t) => {
  for (const arr of [SharedArray('i', [1, 2, 3]), SharedArray('i', [1, 2, 3], { lock: false })]) {
    t.is(arr.get(-1), 3)
    t.is(arr.get(-3), 1)
    arr.set(-1, 9)
    t.is(arr.get(2), 9)
    for (const i of [3, -4, 100]) {
      t.throws(() => arr.get(i), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as never, `get ${i}`)
      t.throws(() => arr.set(i, 0), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as never, `set ${i}`)
    }
    t.throws(() => arr.get(1.5), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as never)
    t.throws(() => arr.get('1' as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as never)
  }
  t.throws(() => SharedArray('i', 0).get(0), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as never)
})

// ---- locks -----------------------------------------------------------------------------------

test('getLock/getObj (CPython test_getobj_getlock, test_getobj_getlock_obj)', (t) => {
  const v1 = Value('i', 5)
  t.true(v1 instanceof SynchronizedValue)
  t.true(v1.getLock() instanceof RLock, 'an RLock by default, as CPython')
  t.true(v1.getObj() instanceof RawValue)
  t.is(v1.getObj().value, 5)
  const lock = new Lock()
  const v3 = Value('i', 5, { lock })
  t.is(v3.getLock(), lock, 'a lock given is used as is')
  const raw = Value('i', 5, { lock: false })
  t.true(raw instanceof RawValue)
  t.false('getLock' in raw)
  t.false('getObj' in raw)

  const a1 = SharedArray('i', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  t.true(a1 instanceof SynchronizedArray)
  t.true(a1.getLock() instanceof RLock)
  t.true(a1.getObj() instanceof RawArray)
  const rlock = new RLock()
  t.is(SharedArray('i', 3, { lock: rlock }).getLock(), rlock)
  const a4 = SharedArray('i', 3, { lock: false })
  t.true(a4 instanceof RawArray)
  t.false('getLock' in a4)
  t.false('getObj' in a4)
})

test('The RLock is re-entrant around value access (hold, then read/write under it)', (t) => {
  const v = Value('d', 1)
  {
    using _ = v.getLock().hold()
    v.value = v.value * 2
    t.true((v.getLock() as RLock).isOwned())
  }
  t.false(v.getLock().locked())
  t.is(v.value, 2)
})

test('4 workers x 10k increments under `using _ = v.getLock().hold()` give an exact total', async (t) => {
  t.timeout(120_000)
  const total = Value('i', 0)
  const big = Value('q', 0n)
  const threads = [0, 1, 2, 3].map(() =>
    spawn(
      (total: SynchronizedValue<'i'>, big: SynchronizedValue<'q'>) => {
        for (let i = 0; i < 10_000; i++) {
          using _ = total.getLock().hold()
          total.value += 1
          big.value += 1n
        }
      },
      total,
      big,
    ),
  )
  await joinAll(threads, 100_000)
  t.is(total.value, 40_000)
  t.is(big.value, 40_000n)
})

// ---- sharing ---------------------------------------------------------------------------------

test('An Array shared with a worker sees writes both ways (CPython test_array, on a thread)', async (t) => {
  t.timeout(60_000)
  const seq = [680, 626, 934, 821, 150, 233, 548, 982, 714, 831]
  for (const arr of [SharedArray('i', seq), SharedArray('i', seq, { lock: false })]) {
    t.is(arr.length, seq.length)
    t.is(arr.get(3), seq[3])
    t.deepEqual(arr.slice(2, 7), seq.slice(2, 7))
    const expected = [...seq]
    expected.splice(4, 4, 1, 2, 3, 4)
    arr.setSlice(4, 8, [1, 2, 3, 4])
    t.deepEqual(arr.slice(), expected)
    for (let i = 1; i < expected.length; i++) expected[i]! += expected[i - 1]!
    const ready = new Event()
    const back = new Event()
    const th = spawn(
      (a: RawArray<'i'> | SynchronizedArray<'i'>, ready: Event, back: Event) => {
        for (let i = 1; i < a.length; i++) a.set(i, a.get(i) + a.get(i - 1))
        ready.set()
        if (!back.wait(30_000)) throw new Error('main thread did not answer')
        if (a.get(0) !== -1) throw new Error(`worker saw ${a.get(0)} instead of -1`)
      },
      arr,
      ready,
      back,
    )
    t.true(await ready.waitAsync(30_000))
    t.deepEqual(arr.slice(), expected, 'the worker wrote into our memory')
    arr.set(0, -1)
    back.set()
    await joinAll([th])
  }
})

test('Values of every typecode shared with a worker (CPython test_value / test_rawvalue, on a thread)', async (t) => {
  t.timeout(60_000)
  const codesValues: [Typecode, unknown, unknown][] = [
    ['i', 4343, 24234],
    ['d', 3.625, -4.25],
    ['h', -232, 234],
    ['q', 2n ** 33n, 2n ** 34n],
    ['c', 'x', 'y'],
  ]
  for (const lock of [true, false]) {
    const values = codesValues.map(([tc, v]) => Value(tc, v as never, { lock }))
    for (const [k, sv] of values.entries()) t.is(sv.value as unknown, codesValues[k]![1])
    const th = spawn(
      (values: { value: unknown }[], news: unknown[]) => {
        for (const [k, sv] of values.entries()) sv.value = news[k]
      },
      values,
      codesValues.map((cv) => cv[2]),
    )
    await joinAll([th])
    for (const [k, sv] of values.entries()) t.is(sv.value as unknown, codesValues[k]![2], `${codesValues[k]![0]} lock=${lock}`)
  }
})

test('The lock arrives with the object: a worker holding it blocks our access', async (t) => {
  t.timeout(60_000)
  const v = Value('i', 1)
  const held = new Event()
  const go = new Event()
  const th = spawn(
    (v: SynchronizedValue<'i'>, held: Event, go: Event) => {
      using _ = v.getLock().hold()
      held.set()
      go.wait(30_000)
      v.value = 2
    },
    v,
    held,
    go,
  )
  t.true(await held.waitAsync(30_000))
  t.false(v.getLock().acquire({ blocking: false }), 'the worker holds the same lock')
  go.set()
  await joinAll([th])
  t.is(v.value, 2)
})

test('Passing one to a process is refused with TypeError ERR_NOT_SHAREABLE naming the manager', (t) => {
  const objects = [Value('i', 1), Value('i', 1, { lock: false }), SharedArray('d', 2), SharedArray('d', 2, { lock: false })]
  for (const o of objects) {
    for (const v of [o, { nested: [new Map([['o', o]])] }]) {
      const err = t.throws(() => encode(v, 'process'), { instanceOf: TypeError }, o.constructor.name)
      t.is((err as { code?: string }).code, 'ERR_NOT_SHAREABLE')
      t.regex(err!.message, /manager's (Value|Array)\(\)/)
    }
    t.notThrows(() => encode(o, 'thread'))
  }
})
