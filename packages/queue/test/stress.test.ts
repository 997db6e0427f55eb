/**
 * MPMC stress: 4 producer threads x 4 consumers on one bounded Queue (maxsize 1000, so
 * producers block too), each producer putting 100k `[producer, counter]` items, for three kinds
 * of consumers: blocking `get()`, timed `get({ timeout })` looping on QueueEmpty, and async
 * `getAsync()` loops (two per worker, in two workers). Every item must be got exactly once
 * (a shared per-item counter, plus per-producer counts and sums), and each consumer must see
 * each producer's items in increasing order (FIFO). LifoQueue and PriorityQueue get the same
 * run with blocking consumers at 25k items per producer (exactly-once only), and a last test
 * checks the happens-before guarantee with plain (non-atomic) writes. Worker code:
 * test/fixtures/qtests-workers.ts.
 *
 * The tests run one at a time (serial) so that each has the machine's 2 cores to itself.
 */
import test, { type ExecutionContext } from 'ava'
import type { Thread } from '@tandem/sync/thread'
import { LifoQueue } from '../src/lifo-queue.ts'
import { PriorityQueue } from '../src/priority-queue.ts'
import { Queue } from '../src/queue.ts'
import { LONG, joinAll, startWorker } from '../../../test/fixtures/qtests-helpers.ts'
import { spawn } from '../../sync/test/_helpers.ts'
import { newTally, STAT_DONE, STAT_EMPTY, STAT_ORDER, type Item, type Tally } from '../../../test/fixtures/qtests-workers.ts'

const PRODUCERS = 4
const CONSUMERS = 4
const PER_PRODUCER = 100_000
const MAXSIZE = 1000

/** Checks the tally: exactly once, per-producer count and sum, FIFO per consumer (if `fifo`). */
function check(t: ExecutionContext, tally: Tally, q: Queue<Item>, fifo = true): void {
  const { seen, counts, sums, stats, n } = tally
  let missing = 0
  let duplicated = 0
  for (let k = 0; k < seen.length; k++) {
    const v = Atomics.load(seen, k)
    if (v === 0) missing++
    else if (v > 1) duplicated++
  }
  t.is(missing, 0, 'items never got')
  t.is(duplicated, 0, 'items got more than once')
  const expectedSum = (n * (n - 1)) / 2
  for (let p = 0; p < PRODUCERS; p++) {
    t.is(Atomics.load(counts, p), n, `count of producer ${p}`)
    let sum = 0
    for (let c = 0; c < CONSUMERS; c++) sum += sums[c * PRODUCERS + p]!
    t.is(sum, expectedSum, `sum of producer ${p}`)
  }
  if (fifo) t.is(Atomics.load(stats, STAT_ORDER), 0, "a consumer saw a producer's items out of order")
  t.is(Atomics.load(stats, STAT_DONE), CONSUMERS, 'every consumer got its sentinel')
  t.true(q.empty())
}

/** Starts the producers; each puts one sentinel when done (4 producers, 4 consumers). */
function producers(q: Queue<Item>, n = PER_PRODUCER): Thread[] {
  return Array.from({ length: PRODUCERS }, (_, id) => startWorker('produce', q, id, n, 1))
}

test.serial('Queue MPMC: 4 producers x 4 blocking get() consumers, 100k items each through maxsize 1000, every item exactly once', async (t) => {
  t.timeout(2 * LONG)
  const q = new Queue<Item>(MAXSIZE)
  const tally = newTally(PRODUCERS, PER_PRODUCER, CONSUMERS)
  const threads = [...producers(q), ...Array.from({ length: CONSUMERS }, (_, c) => startWorker('consumeBlocking', q, tally, c))]
  await joinAll(threads, 2 * LONG)
  check(t, tally, q)
})

test.serial('Queue MPMC: 4 producers x 4 timed get({ timeout }) consumers looping on QueueEmpty, 100k items each, every item exactly once', async (t) => {
  t.timeout(2 * LONG)
  const q = new Queue<Item>(MAXSIZE)
  const tally = newTally(PRODUCERS, PER_PRODUCER, CONSUMERS)
  // A 1 ms timeout makes consumers time out often while producers refill the queue.
  const threads = [...producers(q), ...Array.from({ length: CONSUMERS }, (_, c) => startWorker('consumeTimed', q, tally, c, 1))]
  await joinAll(threads, 2 * LONG)
  check(t, tally, q)
  t.log(`QueueEmpty timeouts caught by consumers: ${Atomics.load(tally.stats, STAT_EMPTY)}`)
})

test.serial('Queue MPMC: 4 producers x 4 async getAsync() consumers (2 per worker, 2 workers), 100k items each, every item exactly once', async (t) => {
  t.timeout(2 * LONG)
  const q = new Queue<Item>(MAXSIZE)
  const tally = newTally(PRODUCERS, PER_PRODUCER, CONSUMERS)
  const threads = [...producers(q), startWorker('consumeAsync', q, tally, 0, 2), startWorker('consumeAsync', q, tally, 2, 2)]
  await joinAll(threads, 2 * LONG)
  check(t, tally, q)
})

for (const [name, Q] of [
  ['LifoQueue', LifoQueue],
  ['PriorityQueue', PriorityQueue],
] as const) {
  test.serial(`${name} MPMC: 4 producers x 4 blocking get() consumers, 25k items each through maxsize 1000, every item exactly once`, async (t) => {
    t.timeout(2 * LONG)
    const q = new Q<Item>(MAXSIZE) as unknown as Queue<Item>
    const n = 25_000 // a quarter of the FIFO runs: these orders are checked for exactly-once only
    const tally = newTally(PRODUCERS, n, CONSUMERS)
    const prods = Array.from({ length: PRODUCERS }, (_, id) => startWorker('produce', q, id, n, 0))
    const consumers = Array.from({ length: CONSUMERS }, (_, c) => startWorker('consumeBlocking', q, tally, c))
    await joinAll(prods, 2 * LONG)
    // LIFO and priority order would serve sentinels before the remaining items, so they are
    // put only once every item has been got and marked done.
    t.true(await q.joinAsync(2 * LONG))
    for (let c = 0; c < CONSUMERS; c++) await q.putAsync([-1, -1], LONG)
    await joinAll(consumers, 2 * LONG)
    check(t, tally, q, false)
  })
}

test.serial('Queue: plain (non-atomic) writes made before put(i) are visible after the get() that returns i (happens-before)', async (t) => {
  t.timeout(2 * LONG)
  const q = new Queue<number>(64)
  const N = 50_000
  const data = new Int32Array(new SharedArrayBuffer(4 * 4 * N))
  const bad = new Int32Array(new SharedArrayBuffer(4))
  const prods = [0, 1, 2, 3].map((id) =>
    spawn(
      (q: Queue<number>, data: Int32Array, id: number, n: number) => {
        for (let i = 0; i < n; i++) {
          const k = id * n + i
          data[k] = k * 3 + 1 // plain store, published only by the put below
          q.put(k)
        }
        q.put(-1)
      },
      q,
      data,
      id,
      N,
    ),
  )
  const cons = [0, 1, 2, 3].map(() =>
    spawn(
      (q: Queue<number>, data: Int32Array, bad: Int32Array) => {
        for (;;) {
          const k = q.get()
          if (k < 0) return
          if (data[k] !== k * 3 + 1) Atomics.add(bad, 0, 1) // plain load
        }
      },
      q,
      data,
      bad,
    ),
  )
  await joinAll([...prods, ...cons], 2 * LONG)
  t.is(Atomics.load(bad, 0), 0)
})
