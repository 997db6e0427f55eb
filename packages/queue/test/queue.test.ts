/**
 * Queue, LifoQueue, PriorityQueue: CPython's `Lib/test/test_queue.py` BaseQueueTestMixin
 * (basic_queue_test, queue_join_test, task_done, negative timeouts, nowait) and FailingQueueTest,
 * ported. The other side of every blocking call runs in a real worker thread.
 *
 * Adaptations:
 * - CPython's `do_blocking_test` blocks the main thread without a timeout; here the main thread
 *   blocks with a long timeout (LONG) instead, and a separate test blocks a worker without one.
 * - FailingQueue injects failures into `_put`/`_get`, which Tandem queues do not expose; the
 *   failure that can happen at `put` is an item that cannot be cloned (TypeError
 *   ERR_NOT_SHAREABLE), so the same sequence runs with such items. There is no failing `get`.
 * - test_shrinking_queue assigns `maxsize`, which is read-only here (the bound lives in shared
 *   memory and is fixed at construction), so it is not ported.
 */
import test from 'ava'
import { Event } from '@tandem/sync/event'
import type { Thread } from '@tandem/sync/thread'
import { QueueEmpty, QueueFull } from '../src/errors.ts'
import { PriorityQueue } from '../src/priority-queue.ts'
import { LifoQueue } from '../src/lifo-queue.ts'
import { Queue } from '../src/queue.ts'
import type { BaseQueue } from '../src/internal/base-queue.ts'
import { KINDS, LONG, joinAll, slotted, sorted, range, until } from '../../../test/fixtures/qtests-helpers.ts'
import { sharedInts, spawn, spawnMany } from '../../sync/test/_helpers.ts'

const QUEUE_SIZE = 5

type AnyQueue = BaseQueue<unknown>

/** CPython's _TriggerThread: after ~100 ms sets `started`, then gets one item (or puts `item`). */
function trigger(q: AnyQueue, started: Event, action: 'get' | 'put', item?: unknown): Thread {
  return spawn(
    (q: AnyQueue, started: Event, action: string, item: unknown) => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
      started.set()
      if (action === 'get') q.get()
      else q.put(item)
    },
    q,
    started,
    action,
    item,
  )
}

/**
 * CPython's do_blocking_test: runs `block` on the main thread while a worker triggers the
 * release; `block` must not return before the trigger fired.
 */
async function blocking<R>(q: AnyQueue, block: () => R, action: 'get' | 'put', item?: unknown): Promise<{ result: R; startedFirst: boolean }> {
  const started = new Event()
  const th = trigger(q, started, action, item)
  const result = block()
  const startedFirst = started.isSet()
  await joinAll([th])
  return { result, startedFirst }
}

const ORDER: Record<string, number[]> = {
  Queue: [111, 333, 222],
  LifoQueue: [222, 333, 111],
  PriorityQueue: [111, 222, 333],
}

for (const { name, Q } of KINDS) {
  test(
    `${name}: basic put/get order, full/empty, nowait and timed forms, blocking put and get released by a worker (CPython basic_queue_test, twice on one queue)`,
    slotted(async (t) => {
      t.timeout(4 * LONG)
      const q: AnyQueue = new Q(QUEUE_SIZE)
      t.is(q.maxsize, QUEUE_SIZE)
      for (let round = 0; round < 2; round++) {
        t.is(q.qsize(), 0)
        t.true(q.empty())
        t.false(q.full())
        q.put(111)
        q.put(333)
        q.put(222)
        t.deepEqual([q.get(), q.get(), q.get()], ORDER[name])
        for (let i = 0; i < QUEUE_SIZE - 1; i++) {
          q.put(i)
          t.true(q.qsize() > 0)
        }
        t.false(q.full())
        const last = 2 * QUEUE_SIZE
        const full = 3 * 2 * QUEUE_SIZE
        q.put(last)
        t.true(q.full())
        t.false(q.empty())
        t.is(q.qsize(), QUEUE_SIZE)
        t.throws(() => q.put(full, { block: false }), { instanceOf: QueueFull, code: 'ERR_QUEUE_FULL' })
        t.throws(() => q.put(full, { timeout: 10 }), { instanceOf: QueueFull, code: 'ERR_QUEUE_FULL' })
        t.is(q.qsize(), QUEUE_SIZE)
        // Blocking puts on the full queue, each released by a get in a worker.
        const p1 = await blocking(q, () => q.put(full, { timeout: LONG }), 'get')
        t.true(p1.startedFirst, 'put() on a full queue returned before the worker got an item')
        const p2 = await blocking(q, () => q.put(full, { block: true, timeout: LONG }), 'get')
        t.true(p2.startedFirst, 'put({ block: true }) on a full queue returned before the worker got an item')
        t.is(q.qsize(), QUEUE_SIZE)
        // Empty it.
        for (let i = 0; i < QUEUE_SIZE; i++) q.get()
        t.is(q.qsize(), 0)
        t.true(q.empty())
        t.throws(() => q.get({ block: false }), { instanceOf: QueueEmpty, code: 'ERR_QUEUE_EMPTY' })
        t.throws(() => q.get({ timeout: 10 }), { instanceOf: QueueEmpty, code: 'ERR_QUEUE_EMPTY' })
        // Blocking gets on the empty queue, each released by a put in a worker.
        const g1 = await blocking(q, () => q.get({ timeout: LONG }), 'put', 'empty')
        t.true(g1.startedFirst, 'get() on an empty queue returned before the worker put an item')
        t.is(g1.result, 'empty')
        const g2 = await blocking(q, () => q.get({ block: true, timeout: LONG }), 'put', 'empty')
        t.true(g2.startedFirst)
        t.is(g2.result, 'empty')
        t.true(q.empty())
      }
    }),
  )

  test(
    `${name}: put() and get() without a timeout block a worker until the main thread makes room or puts`,
    slotted(async (t) => {
      t.timeout(2 * LONG)
      const q: AnyQueue = new Q(1)
      q.put('first')
      // phase[0]: 1 = about to put, 2 = put returned, 3 = about to get, 4 = get returned;
      // phase[1]: 1 if the get returned 'third'; phase[2]: set to 1 by main to let the worker get.
      const phase = sharedInts(3)
      const th = spawn(
        (q: AnyQueue, phase: Int32Array) => {
          Atomics.store(phase, 0, 1)
          q.put('second') // blocks: the queue is full
          Atomics.store(phase, 0, 2)
          while (Atomics.load(phase, 2) === 0) Atomics.wait(phase, 2, 0, 1000)
          Atomics.store(phase, 0, 3)
          const v = q.get() // blocks until main puts
          Atomics.store(phase, 1, v === 'third' ? 1 : -1)
          Atomics.store(phase, 0, 4)
        },
        q,
        phase,
      )
      await until(() => Atomics.load(phase, 0) >= 1, 'worker started')
      await new Promise((r) => setTimeout(r, 200))
      t.is(Atomics.load(phase, 0), 1, 'put() on a full queue did not block')
      t.is(q.getNowait(), 'first')
      await until(() => Atomics.load(phase, 0) >= 2, 'blocked put to return')
      t.is(q.getNowait(), 'second')
      Atomics.store(phase, 2, 1)
      Atomics.notify(phase, 2)
      await until(() => Atomics.load(phase, 0) >= 3, 'worker to reach get')
      await new Promise((r) => setTimeout(r, 200))
      t.is(Atomics.load(phase, 0), 3, 'get() on an empty queue did not block')
      q.putNowait('third')
      await joinAll([th])
      t.is(Atomics.load(phase, 1), 1, 'blocked get() returned the wrong item')
      t.true(q.empty())
    }),
  )

  test(
    `${name}.join() returns once every item is got and taskDone()d by worker consumers (CPython queue_join_test, twice), then taskDone() throws`,
    slotted(async (t) => {
      t.timeout(4 * LONG)
      const q: AnyQueue = new Q()
      for (let round = 0; round < 2; round++) {
        const cum = sharedInts(1)
        const workers = spawnMany(
          2,
          (_i: number, q: AnyQueue, cum: Int32Array) => {
            for (;;) {
              const x = q.get() as number
              if (x < 0) {
                q.taskDone()
                return
              }
              Atomics.add(cum, 0, x)
              q.taskDone()
            }
          },
          q,
          cum,
        )
        for (let i = 0; i < 100; i++) q.put(i)
        // Round 0 joins with the blocking form (bounded), round 1 with the async form.
        const joined = round === 0 ? q.join(LONG) : await q.joinAsync(LONG)
        t.true(joined)
        t.is(Atomics.load(cum, 0), 4950, 'join() returned before every task was done')
        q.put(-1)
        q.put(-1)
        t.true(round === 0 ? await q.joinAsync(LONG) : q.join(LONG), 'second join')
        await joinAll(workers)
        t.true(q.empty())
      }
      t.throws(() => q.taskDone(), { instanceOf: RangeError, code: 'ERR_TASK_DONE_TOO_MANY' })
    }),
  )

  test(
    `${name}.join() with a timeout returns false while tasks are unfinished, and joinAsync honours its timeout`,
    slotted(async (t) => {
      t.timeout(LONG)
      const q: AnyQueue = new Q()
      t.true(q.join(0), 'join() on a queue with no unfinished tasks')
      q.put('x')
      t.false(q.join(0))
      t.false(q.join(20))
      t.false(await q.joinAsync(20))
      t.is(q.get({ timeout: 0 }), 'x')
      t.false(q.join(0), 'got but not taskDone() is still unfinished')
      q.taskDone()
      t.true(q.join(0))
      t.true(await q.joinAsync(0))
    }),
  )

  test(
    `${name}.taskDone() on a fresh queue throws RangeError ERR_TASK_DONE_TOO_MANY (CPython test_queue_task_done)`,
    slotted((t) => {
      const q: AnyQueue = new Q()
      t.throws(() => q.taskDone(), { instanceOf: RangeError, code: 'ERR_TASK_DONE_TOO_MANY' })
      q.put(1)
      q.get({ timeout: 0 })
      q.taskDone()
      t.throws(() => q.taskDone(), { instanceOf: RangeError, code: 'ERR_TASK_DONE_TOO_MANY' })
      t.true(q.join(0), 'a rejected taskDone() left the count at zero')
    }),
  )

  test(
    `${name}: a negative or NaN timeout throws RangeError ERR_OUT_OF_RANGE and changes nothing (CPython test_negative_timeout_raises_exception)`,
    slotted(async (t) => {
      const q: AnyQueue = new Q(QUEUE_SIZE)
      for (const bad of [-1, -0.5, Number.NaN, -Infinity]) {
        t.throws(() => q.put(1, { timeout: bad }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
        t.throws(() => q.get({ timeout: bad }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
        t.throws(() => q.join(bad), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
        await t.throwsAsync(() => q.putAsync(1, bad), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
        await t.throwsAsync(() => q.putAsync(1, { timeout: bad }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
        await t.throwsAsync(() => q.getAsync(bad), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
        await t.throwsAsync(() => q.joinAsync(bad), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
      }
      t.is(q.qsize(), 0, 'a rejected put enqueued an item')
      t.true(q.join(0), 'a rejected put counted an unfinished task')
      q.put(7)
      t.throws(() => q.get({ timeout: -1 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
      t.is(q.qsize(), 1, 'a rejected get took an item')
      t.is(q.get({ timeout: 0 }), 7)
    }),
  )

  test(
    `${name}.putNowait()/getNowait() throw QueueFull/QueueEmpty at the bounds (CPython test_nowait)`,
    slotted((t) => {
      const q: AnyQueue = new Q(QUEUE_SIZE)
      for (let i = 0; i < QUEUE_SIZE; i++) q.putNowait(1)
      t.throws(() => q.putNowait(1), { instanceOf: QueueFull, code: 'ERR_QUEUE_FULL' })
      t.is(q.qsize(), QUEUE_SIZE)
      for (let i = 0; i < QUEUE_SIZE; i++) t.is(q.getNowait(), 1)
      t.throws(() => q.getNowait(), { instanceOf: QueueEmpty, code: 'ERR_QUEUE_EMPTY' })
      t.is(q.qsize(), 0)
    }),
  )

  test(
    `${name}: QueueFull carries the item that was not put (putNowait, put with block false, put with a timeout, putAsync with a timeout)`,
    slotted(async (t) => {
      const q: AnyQueue = new Q(1)
      q.put({ first: true })
      const a = { name: 'a', nested: [1, 2, 3] }
      const e1 = t.throws(() => q.putNowait(a), { instanceOf: QueueFull })
      t.is(e1?.item, a)
      const b = 'b-string'
      const e2 = t.throws(() => q.put(b, { block: false }), { instanceOf: QueueFull })
      t.is(e2?.item, b)
      const c = [3, 'c']
      const e3 = t.throws(() => q.put(c, { timeout: 5 }), { instanceOf: QueueFull })
      t.is(e3?.item, c)
      const d = { d: new Map([[1, 2]]) }
      const e4 = await t.throwsAsync(() => q.putAsync(d, 5), { instanceOf: QueueFull })
      t.is((e4 as QueueFull | undefined)?.item, d)
      t.is(q.qsize(), 1)
      t.deepEqual(q.getNowait(), { first: true })
    }),
  )

  test(
    `${name}: a non-positive maxsize makes an unbounded queue, a non-integer maxsize throws RangeError ERR_OUT_OF_RANGE`,
    slotted((t) => {
      for (const m of [0, -1, -100]) {
        const q: AnyQueue = new Q(m)
        for (let i = 0; i < 300; i++) q.putNowait(i)
        t.false(q.full())
        t.is(q.qsize(), 300)
      }
      for (const m of [1.5, Number.NaN, Infinity]) {
        t.throws(() => new Q(m), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
      }
    }),
  )

  test(
    `${name}.put of an uncloneable item (function, symbol, nested) throws TypeError ERR_NOT_SHAREABLE and the queue stays usable (CPython failing_queue_test, twice)`,
    slotted(async (t) => {
      t.timeout(4 * LONG)
      const bad: unknown[] = [() => 1, function named() {}, Symbol('s'), { f: () => 1 }, [1, Symbol.iterator], new Map([[1, () => 2]])]
      const q: AnyQueue = new Q(QUEUE_SIZE)
      const notShareable = { instanceOf: TypeError, code: 'ERR_NOT_SHAREABLE' }
      for (let round = 0; round < 2; round++) {
        t.is(q.qsize(), 0)
        for (let i = 0; i < QUEUE_SIZE - 1; i++) q.put(i)
        for (const item of bad) {
          t.throws(() => q.put(item, { block: false }), notShareable)
          t.throws(() => q.put(item, { timeout: 100 }), notShareable)
          t.throws(() => q.putNowait(item), notShareable)
          await t.throwsAsync(() => q.putAsync(item), notShareable)
        }
        t.is(q.qsize(), QUEUE_SIZE - 1, 'a failed put changed the queue')
        q.put('last')
        t.true(q.full())
        // On a full queue the item is refused at once, not after waiting for room.
        for (const item of bad) t.throws(() => q.put(item, { timeout: 5_000 }), notShareable)
        t.true(q.full())
        // A blocking put still works after the failures.
        const p = await blocking(q, () => q.put('full', { timeout: LONG }), 'get')
        t.true(p.startedFirst)
        t.true(q.full())
        q.get()
        t.false(q.full())
        q.put('last')
        t.true(q.full())
        // Empty it; items are intact.
        const got: unknown[] = []
        for (let i = 0; i < QUEUE_SIZE; i++) got.push(q.get({ timeout: 0 }))
        t.is(got.length, QUEUE_SIZE)
        t.true(
          got.every((x) => typeof x === 'number' || x === 'last' || x === 'full'),
          `unexpected items ${JSON.stringify(got)}`,
        )
        t.true(q.empty())
        t.false(q.join(0), 'unfinished tasks are counted for real items')
        // Items put in this round: QUEUE_SIZE - 1 numbers, 'last', 'full', 'last' again.
        for (let i = 0; i < QUEUE_SIZE + 2; i++) q.taskDone()
        t.throws(() => q.taskDone(), { instanceOf: RangeError, code: 'ERR_TASK_DONE_TOO_MANY' }, 'a failed put counted an unfinished task')
      }
    }),
  )

  test(
    `${name}: a failed put does not wake a getter blocked in a worker; the next real item does`,
    slotted(async (t) => {
      t.timeout(2 * LONG)
      const q: AnyQueue = new Q()
      const out = sharedInts(2)
      const th = spawn(
        (q: AnyQueue, out: Int32Array) => {
          Atomics.store(out, 0, 1)
          const v = q.get()
          Atomics.store(out, 1, v === 'real' ? 1 : -1)
        },
        q,
        out,
      )
      await until(() => Atomics.load(out, 0) === 1, 'worker started')
      await new Promise((r) => setTimeout(r, 100))
      t.throws(() => q.put(() => 'nope'), { instanceOf: TypeError, code: 'ERR_NOT_SHAREABLE' })
      t.throws(() => q.put({ deep: { deeper: [Symbol('x')] } }), { instanceOf: TypeError, code: 'ERR_NOT_SHAREABLE' })
      q.put('real')
      await joinAll([th])
      t.is(Atomics.load(out, 1), 1, 'the blocked get returned something other than the real item')
      t.true(q.empty())
    }),
  )

  test(
    `${name}: a worker putting an uncloneable item gets TypeError ERR_NOT_SHAREABLE and can go on putting`,
    slotted(async (t) => {
      t.timeout(LONG)
      const q: AnyQueue = new Q(QUEUE_SIZE)
      const out = sharedInts(1)
      const th = spawn(
        (q: AnyQueue, out: Int32Array) => {
          try {
            q.put(() => 1)
          } catch (err) {
            if ((err as { code?: string }).code === 'ERR_NOT_SHAREABLE' && err instanceof TypeError) Atomics.store(out, 0, 1)
          }
          q.put(42)
        },
        q,
        out,
      )
      await joinAll([th])
      t.is(Atomics.load(out, 0), 1)
      t.is(q.get({ timeout: 0 }), 42)
      t.true(q.empty())
    }),
  )
}

test(
  'Queue, LifoQueue and PriorityQueue hand each item to exactly one of several worker getters',
  slotted(async (t) => {
    t.timeout(2 * LONG)
    for (const Q of [Queue, LifoQueue, PriorityQueue]) {
      const q = new Q<number>(10)
      const log = sharedInts(1 + 400)
      const workers = spawnMany(
        4,
        (_i: number, q: Queue<number>, log: Int32Array) => {
          for (;;) {
            const v = q.get()
            q.taskDone()
            if (v < 0) return
            Atomics.store(log, 1 + Atomics.add(log, 0, 1), v + 1)
          }
        },
        q as Queue<number>,
        log,
      )
      for (let i = 0; i < 300; i++) await q.putAsync(i, LONG)
      // Sentinels only once every item is done (LIFO and priority order would serve them first).
      t.true(await q.joinAsync(LONG))
      for (let i = 0; i < 4; i++) await q.putAsync(-1, LONG)
      await joinAll(workers)
      const got = Array.from(log.subarray(1, 1 + Atomics.load(log, 0)), (v) => v - 1)
      t.deepEqual(sorted(got), range(300), Q.name)
    }
  }),
)

test('Queue<T>, LifoQueue<T>, PriorityQueue<T>: put takes T and get/getAsync return T (type-level)', async (t) => {
  const q = new Queue<number>()
  const l = new LifoQueue<{ id: string }>()
  const p = new PriorityQueue<[number, string]>()
  if (q.qsize() < 0) {
    // Type-level checks only (never runs).
    // @ts-expect-error Queue<number> takes numbers
    q.put('x')
    // @ts-expect-error LifoQueue<{ id: string }> takes objects with an id
    l.put({ id: 1 })
    // @ts-expect-error PriorityQueue<[number, string]> takes pairs
    p.put([1, 2])
    // @ts-expect-error QueueFull.item is typed from its type argument
    const wrong: string = new QueueFull<number>(1).item
    void wrong
  }
  q.put(1)
  l.put({ id: 'a' })
  p.put([1, 'a'])
  const n: number = q.getNowait()
  const o: { id: string } = await l.getAsync(0)
  const pair: [number, string] = p.get({ timeout: 0 })
  t.deepEqual([n, o, pair], [1, { id: 'a' }, [1, 'a']])
})
