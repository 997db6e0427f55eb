/**
 * PriorityQueue ordering: Python's comparison of numbers, strings and tuples (arrays here),
 * lowest first, ties in insertion order, within one thread and across producer and consumer
 * worker threads. Tandem's documented extensions where Python raises TypeError: numbers <
 * strings < arrays, and values Python could not order (objects, null) compare equal, so
 * insertion order decides. Strings order by UTF-16 code units (JavaScript's default sort).
 */
import test from 'ava'
import { Barrier } from '@tandem/sync/barrier'
import { PriorityQueue } from '../src/priority-queue.ts'
import { LONG, joinAll, range, slotted, until } from '../../../test/fixtures/qtests-helpers.ts'
import { sharedInts, spawn, spawnMany } from '../../sync/test/_helpers.ts'

/** Puts `items` in order, then gets them all (non-blocking). */
function drain<T>(items: T[], maxsize = 0): T[] {
  const q = new PriorityQueue<T>(maxsize)
  for (const x of items) q.putNowait(x)
  const out: T[] = []
  while (!q.empty()) out.push(q.getNowait())
  return out
}

/** Deterministic pseudo-random numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 2 ** 32
  }
}

function shuffled<T>(xs: T[], seed: number): T[] {
  const r = rng(seed)
  const a = xs.slice()
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}

test('PriorityQueue orders numbers by value: negatives, zero, fractions, int32 and beyond, infinities', (t) => {
  const values = [
    0,
    -1,
    1,
    2.5,
    -2.5,
    1e300,
    -1e300,
    Number.MIN_VALUE,
    -Number.MIN_VALUE,
    2 ** 31,
    -(2 ** 31),
    2 ** 31 - 1,
    2 ** 53,
    -(2 ** 53),
    0.1,
    0.2,
    0.30000000000000004,
    0.3,
    Infinity,
    -Infinity,
    42,
    41.999999,
    1e-10,
    -1e-10,
    255,
    256,
    65535,
    65536,
  ]
  const expected = values.slice().sort((a, b) => a - b)
  for (let seed = 1; seed <= 5; seed++) t.deepEqual(drain(shuffled(values, seed)), expected)
  const r = rng(7)
  const many = range(2000).map(() => Math.round((r() - 0.5) * 1e6) / (r() < 0.5 ? 1 : 7))
  t.deepEqual(
    drain(many),
    many.slice().sort((a, b) => a - b),
  )
})

test('PriorityQueue treats -0 and 0 as equal and booleans as 0 and 1, like Python', (t) => {
  // Equal first elements: the second element decides.
  const out = drain<unknown>([
    [0, 'a'],
    [-0, 'b'],
    [false, 'c'],
    [0, 'd'],
    [true, 'e'],
    [1, 'a'],
    [0.5, 'x'],
  ])
  t.deepEqual(out, [
    [0, 'a'],
    [-0, 'b'],
    [false, 'c'],
    [0, 'd'],
    [0.5, 'x'],
    [1, 'a'],
    [true, 'e'],
  ])
  t.true(Object.is((out[1] as number[])[0], -0), '-0 round-trips as -0')
  // Equal first elements and uncomparable payloads: insertion order decides.
  t.deepEqual(
    drain<unknown>([
      [-0, { n: 1 }],
      [false, { n: 2 }],
      [0, { n: 3 }],
      [true, { n: 4 }],
      [1, { n: 5 }],
    ]),
    [
      [-0, { n: 1 }],
      [false, { n: 2 }],
      [0, { n: 3 }],
      [true, { n: 4 }],
      [1, { n: 5 }],
    ],
  )
  t.deepEqual(drain<unknown>([true, 0, false, 1, 0.5]), [0, false, 0.5, true, 1])
})

test('PriorityQueue orders strings by UTF-16 code units: prefixes first, case, non-Latin-1 and astral characters', (t) => {
  const values = [
    '',
    'a',
    'ab',
    'abc',
    'b',
    'B',
    'A',
    'Z',
    'z',
    'aa',
    'a\u0000',
    'é',
    'e',
    'f',
    '\u00ff',
    '\u0100',
    '中文',
    '中',
    '\u{1F600}',
    '\uffff',
    'long-'.repeat(100),
    'long-'.repeat(99),
    ' ',
    '~',
  ]
  const expected = values.slice().sort()
  for (let seed = 1; seed <= 5; seed++) t.deepEqual(drain(shuffled(values, seed)), expected)
})

test('PriorityQueue orders [priority, payload] arrays lexicographically, shorter prefixes first, nested arrays included', (t) => {
  const items = [
    [2, 'b'],
    [1, 'z'],
    [1, 'a'],
    [1],
    [],
    [1, 'a', 0],
    [0, 'zzz'],
    [-5, 'neg'],
    [1.5, 'mid'],
    [[1, 2], 'x'],
    [[1], 'y'],
    [[1, 2, 3], 'w'],
    [[0, 9], 'v'],
    ['s', 1],
    ['r', 2],
  ]
  // Python: numbers and arrays/strings in the same position would raise; Tandem orders numbers < strings < arrays.
  const expected = [
    [],
    [-5, 'neg'],
    [0, 'zzz'],
    [1],
    [1, 'a'],
    [1, 'a', 0],
    [1, 'z'],
    [1.5, 'mid'],
    [2, 'b'],
    ['r', 2],
    ['s', 1],
    [[0, 9], 'v'],
    [[1], 'y'],
    [[1, 2], 'x'],
    [[1, 2, 3], 'w'],
  ]
  for (let seed = 1; seed <= 5; seed++) t.deepEqual(drain(shuffled(items, seed)), expected)
})

test('PriorityQueue orders values of different kinds numbers < strings < arrays', (t) => {
  const items: unknown[] = ['a', [0], 5, '', [], -1e9, 'zz', [[]], Infinity]
  t.deepEqual(drain(shuffled(items, 3)), [-1e9, 5, Infinity, '', 'a', 'zz', [], [0], [[]]])
})

test('PriorityQueue keeps insertion order among equal priorities: 1000 items with 10 priorities come out in put order within each', (t) => {
  const r = rng(11)
  const items = range(1000).map((seq) => [Math.floor(r() * 10), { seq }] as [number, { seq: number }])
  const out = drain(items)
  t.is(out.length, 1000)
  const expected = range(10).flatMap((p) => items.filter((x) => x[0] === p))
  t.deepEqual(out, expected)
  // The same with plain equal numbers carried in objects Python could not compare.
  const objs = range(300).map((seq) => ({ seq }))
  t.deepEqual(drain(objs), objs)
  // And with identical keys followed by uncomparable payloads (null, objects, Maps).
  const mixed: unknown[] = [
    [3, null],
    [3, { a: 1 }],
    [3, new Map([[1, 1]])],
    [3, null],
    [1, { b: 2 }],
  ]
  t.deepEqual(drain(mixed), [
    [1, { b: 2 }],
    [3, null],
    [3, { a: 1 }],
    [3, new Map([[1, 1]])],
    [3, null],
  ])
})

test('PriorityQueue matches a stable-sort model under 5000 random interleaved puts and gets (heap invariants)', (t) => {
  const r = rng(99)
  const q = new PriorityQueue<[number, number]>()
  const model: [number, number][] = []
  let seq = 0
  for (let op = 0; op < 5000; op++) {
    if (model.length === 0 || r() < 0.55) {
      const item: [number, number] = [Math.floor(r() * 20) - 5, seq++]
      // Payload seq increases, so a stable model is "min priority, then oldest".
      q.putNowait([item[0], item[1]])
      model.push(item)
    } else {
      let best = 0
      for (let i = 1; i < model.length; i++) if (model[i]![0] < model[best]![0]) best = i
      const want = model.splice(best, 1)[0]!
      const got = q.getNowait()
      if (got[0] !== want[0] || got[1] !== want[1]) {
        t.fail(`op ${op}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`)
        return
      }
    }
    if (q.qsize() !== model.length) {
      t.fail(`op ${op}: qsize ${q.qsize()} != ${model.length}`)
      return
    }
  }
  t.pass()
})

test('PriorityQueue items round-trip intact: payloads of every kind next to their priority', (t) => {
  const items: unknown[] = [
    [3, { nested: { deep: [1, 2, { x: 'y' }] } }],
    [1, new Map([['k', [1, 2]]])],
    [2, new Set(['a', 'b'])],
    [0, new Date(0)],
    [4, new Uint8Array([1, 2, 3])],
    [5, 'x'.repeat(10_000)],
    [6, undefined],
    [7, 2n ** 70n],
  ]
  const out = drain(items)
  t.deepEqual(out, [items[3], items[1], items[2], items[0], items[4], items[5], items[6], items[7]])
})

test(
  'PriorityQueue filled by 4 producer threads, drained by 3 consumer threads: each consumer gets a sorted run, all items exactly once',
  slotted(async (t) => {
    t.timeout(2 * LONG)
    const q = new PriorityQueue<[number, number, number]>()
    const producers = 4
    const per = 2000
    const start = new Barrier(producers + 3 + 1)
    const filled = new Barrier(producers + 3)
    spawnMany(
      producers,
      (id: number, q: PriorityQueue<[number, number, number]>, per: number, start: Barrier, filled: Barrier) => {
        let s = 1234567 + id * 7919
        start.wait()
        for (let i = 0; i < per; i++) {
          s = (s * 1103515245 + 12345) & 0x7fffffff
          q.put([s % 1000, id, i])
        }
        filled.wait()
      },
      q,
      per,
      start,
      filled,
    )
    // log: per consumer, slot 0 = count, then (priority * 1e4 + id * 2000 + i) encoded keys, + 1.
    const logs = range(3).map(() => sharedInts(1 + producers * per))
    const consumers = logs.map((log) =>
      spawn(
        (q: PriorityQueue<[number, number, number]>, log: Int32Array, start: Barrier, filled: Barrier) => {
          start.wait()
          filled.wait() // consumers start once every item is in the queue
          for (;;) {
            let item: [number, number, number]
            try {
              item = q.getNowait()
            } catch (err) {
              if ((err as { code?: string }).code === 'ERR_QUEUE_EMPTY') return
              throw err
            }
            const [p, id, i] = item
            Atomics.store(log, 1 + Atomics.add(log, 0, 1), p * 10_000 + id * 2000 + i + 1)
          }
        },
        q,
        log,
        start,
        filled,
      ),
    )
    await start.waitAsync(LONG)
    await joinAll(consumers, 2 * LONG)
    const all: number[] = []
    for (const [c, log] of logs.entries()) {
      const got = Array.from(log.subarray(1, 1 + Atomics.load(log, 0)), (v) => v - 1)
      let sortedRun = true
      for (let k = 1; k < got.length; k++) if (got[k]! < got[k - 1]!) sortedRun = false
      t.true(sortedRun, `consumer ${c} got items out of priority order`)
      all.push(...got)
    }
    t.is(all.length, producers * per)
    t.is(new Set(all).size, producers * per, 'an item was got twice')
    t.true(q.empty())
  }),
)

test(
  "PriorityQueue ties across 4 producer threads: within a priority, each producer's items come out in its put order",
  slotted(async (t) => {
    t.timeout(2 * LONG)
    const q = new PriorityQueue<[number, { id: number; i: number }]>()
    const producers = spawnMany(
      4,
      (id: number, q: PriorityQueue<[number, { id: number; i: number }]>) => {
        for (let i = 0; i < 1000; i++) q.put([i % 10, { id, i }])
      },
      q,
    )
    await joinAll(producers)
    t.is(q.qsize(), 4000)
    let lastPriority = -1
    const last = new Map<string, number>()
    let ok = true
    for (let k = 0; k < 4000; k++) {
      const [p, { id, i }] = q.getNowait()
      if (p < lastPriority) ok = false
      lastPriority = p
      const key = `${p}/${id}`
      if ((last.get(key) ?? -1) >= i) ok = false
      last.set(key, i)
    }
    t.true(ok, 'priority order or per-producer insertion order among ties was broken')
    t.true(q.empty())
  }),
)

test(
  'PriorityQueue bounded at 3: a worker blocked on put is released by a get; the item it put then comes first',
  slotted(async (t) => {
    t.timeout(LONG)
    const q = new PriorityQueue<number>(3)
    for (const x of [50, 40, 30]) q.put(x)
    const state = sharedInts(1)
    const th = spawn(
      (q: PriorityQueue<number>, state: Int32Array) => {
        Atomics.store(state, 0, 1)
        q.put(10) // blocks: full
        Atomics.store(state, 0, 2)
      },
      q,
      state,
    )
    await until(() => Atomics.load(state, 0) >= 1, 'worker to start')
    await new Promise((r) => setTimeout(r, 200))
    t.is(Atomics.load(state, 0), 1, 'put() on a full PriorityQueue did not block')
    t.is(q.getNowait(), 30, 'the blocked item must not be visible before it is put')
    await joinAll([th])
    t.deepEqual([q.getNowait(), q.getNowait(), q.getNowait()], [10, 40, 50])
  }),
)
