/**
 * SimpleQueue: CPython's `Lib/test/test_queue.py` BaseSimpleQueueTest, ported, with feeders and
 * consumers as real worker threads, plus its narrower type (no maxsize, taskDone, join,
 * shutdown).
 *
 * Adaptations:
 * - CPython's feeders pop from one shared Python list; here feeder k puts inputs k, k + N, ...
 *   (the same set of items overall), with the same random short pauses.
 * - test_many_threads* use N = 50 feeders and 50 consumers; booting 100 worker threads on a
 *   2-core machine takes tens of seconds, so N = 6 here (still many more threads than cores).
 * - test_references (items released once got) does not apply: items are copies, never shared
 *   references. test_reentrancy (put from a `__del__` during put) has no JavaScript analogue
 *   (finalizers never run inside a call).
 */
import test, { type ExecutionContext } from 'ava'
import type { Thread } from '@tandem/sync/thread'
import { QueueEmpty } from '../src/errors.ts'
import { Queue } from '../src/queue.ts'
import { SimpleQueue } from '../src/simple-queue.ts'
import { LONG, joinAll, logEntries, range, slotted, sorted } from '../../../test/fixtures/qtests-helpers.ts'
import { sharedInts, spawn } from '../../sync/test/_helpers.ts'

const _SENTINEL = -1

type ConsumeKind = 'block' | 'nonblock' | 'timeout'

/** CPython's feed: puts its share of `inputs`, pausing up to 1 ms half of the time, then a sentinel. */
function feeder(q: SimpleQueue<number>, k: number, n: number, inputs: number[]): Thread {
  return spawn(
    (q: SimpleQueue<number>, k: number, n: number, inputs: number[]) => {
      let seed = 42 + k
      const rnd = () => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff
        return seed / 0x7fffffff
      }
      const sleeper = new Int32Array(new SharedArrayBuffer(4))
      for (let i = k; i < inputs.length; i += n) {
        q.put(inputs[i]!)
        if (rnd() > 0.5) Atomics.wait(sleeper, 0, 0, rnd())
      }
      q.put(-1)
    },
    q,
    k,
    n,
    inputs,
  )
}

/** CPython's consume / consume_nonblock / consume_timeout: appends to `log` until a sentinel. */
function consumer(q: SimpleQueue<number>, kind: ConsumeKind, log: Int32Array): Thread {
  return spawn(
    (q: SimpleQueue<number>, kind: string, log: Int32Array) => {
      const sleeper = new Int32Array(new SharedArrayBuffer(4))
      for (;;) {
        let v: number
        if (kind === 'block') v = q.get()
        else {
          for (;;) {
            try {
              v = kind === 'nonblock' ? q.get({ block: false }) : q.get({ timeout: 0.01 })
              break
            } catch (err) {
              if ((err as { code?: string }).code !== 'ERR_QUEUE_EMPTY') throw err
              if (kind === 'nonblock') Atomics.wait(sleeper, 0, 0, 0.01)
            }
          }
        }
        if (v === -1) return
        Atomics.store(log, 1 + Atomics.add(log, 0, 1), v + 1)
      }
    },
    q,
    kind,
    log,
  )
}

/** CPython's run_threads: `n` feeders and `n` consumers; returns what the consumers got. */
async function runThreads(t: ExecutionContext, n: number, q: SimpleQueue<number>, inputs: number[], kind: ConsumeKind): Promise<number[]> {
  const log = sharedInts(1 + inputs.length + n)
  const threads = [...range(n).map((k) => feeder(q, k, n, inputs)), ...range(n).map(() => consumer(q, kind, log))]
  await joinAll(threads, 2 * LONG)
  t.true(q.empty())
  t.is(q.qsize(), 0)
  return logEntries(log)
}

test('SimpleQueue: put/get/putNowait/getNowait, qsize and empty, QueueEmpty from non-blocking and timed gets (CPython test_basic)', (t) => {
  const q = new SimpleQueue<number>()
  t.true(q.empty())
  t.is(q.qsize(), 0)
  q.put(1)
  t.false(q.empty())
  t.is(q.qsize(), 1)
  q.put(2)
  q.putNowait(3)
  q.put(4, { block: true, timeout: 10 })
  t.false(q.empty())
  t.is(q.qsize(), 4)
  t.is(q.get(), 1)
  t.is(q.qsize(), 3)
  t.is(q.getNowait(), 2)
  t.is(q.qsize(), 2)
  t.is(q.get({ block: false }), 3)
  t.false(q.empty())
  t.is(q.qsize(), 1)
  t.is(q.get({ timeout: 100 }), 4)
  t.true(q.empty())
  t.is(q.qsize(), 0)
  t.throws(() => q.get({ block: false }), { instanceOf: QueueEmpty, code: 'ERR_QUEUE_EMPTY' })
  t.throws(() => q.get({ timeout: 1 }), { instanceOf: QueueEmpty, code: 'ERR_QUEUE_EMPTY' })
  t.throws(() => q.getNowait(), { instanceOf: QueueEmpty, code: 'ERR_QUEUE_EMPTY' })
  t.true(q.empty())
  t.is(q.qsize(), 0)
})

test('SimpleQueue.get with a negative timeout throws RangeError ERR_OUT_OF_RANGE and takes nothing (CPython test_negative_timeout_raises_exception)', async (t) => {
  const q = new SimpleQueue<number>()
  q.put(1)
  t.throws(() => q.get({ timeout: -1 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  await t.throwsAsync(() => q.getAsync(-1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.is(q.qsize(), 1)
  t.is(q.getNowait(), 1)
})

test('SimpleQueue is unbounded: put never blocks, putAsync resolves at once', async (t) => {
  const q = new SimpleQueue<number>()
  for (let i = 0; i < 5000; i++) q.put(i, { block: false })
  await q.putAsync(5000)
  t.is(q.qsize(), 5001)
  for (let i = 0; i <= 5000; i++) t.is(q.getNowait(), i)
})

test('SimpleQueue has no maxsize, full, taskDone, join, joinAsync, shutdown or isShutdown, in its type or at runtime', (t) => {
  const q = new SimpleQueue<string>()
  for (const name of ['maxsize', 'full', 'taskDone', 'join', 'joinAsync', 'shutdown', 'isShutdown']) {
    t.false(name in q, name)
  }
  t.false(q instanceof Queue)
  if (q.qsize() < 0) {
    // Type-level checks only (never runs).
    // @ts-expect-error SimpleQueue has no taskDone()
    q.taskDone()
    // @ts-expect-error SimpleQueue has no join()
    q.join()
    // @ts-expect-error SimpleQueue has no joinAsync()
    void q.joinAsync()
    // @ts-expect-error SimpleQueue has no shutdown()
    q.shutdown()
    // @ts-expect-error SimpleQueue has no maxsize
    void q.maxsize
    // @ts-expect-error SimpleQueue has no full()
    q.full()
    // @ts-expect-error SimpleQueue<string> takes strings
    q.put(1)
  }
  const s: string = q.getNowait.length === 0 ? 'ok' : 'no'
  t.is(s, 'ok')
})

test(
  'SimpleQueue.getAsync on the main thread receives items a worker puts, in order',
  slotted(async (t) => {
    t.timeout(LONG)
    const q = new SimpleQueue<{ i: number; s: string }>()
    const th = spawn((q: SimpleQueue<{ i: number; s: string }>) => {
      for (let i = 0; i < 200; i++) q.put({ i, s: `item-${i}` })
    }, q)
    for (let i = 0; i < 200; i++) t.deepEqual(await q.getAsync(LONG), { i, s: `item-${i}` })
    await joinAll([th])
    t.true(q.empty())
  }),
)

test(
  'SimpleQueue: one feeder and one consumer thread see the items in put order (CPython test_order)',
  slotted(async (t) => {
    t.timeout(2 * LONG)
    const q = new SimpleQueue<number>()
    const inputs = range(100)
    const results = await runThreads(t, 1, q, inputs, 'block')
    t.deepEqual(results, inputs)
  }),
)

for (const [kind, count, what] of [
  ['block', 10000, 'get()'],
  ['nonblock', 10000, 'get({ block: false })'],
  ['timeout', 1000, 'get({ timeout })'],
] as const) {
  test(
    `SimpleQueue: 6 feeder and 6 consumer threads using ${what} get every item exactly once (CPython test_many_threads${kind === 'block' ? '' : `_${kind}`})`,
    slotted(async (t) => {
      t.timeout(3 * LONG)
      const q = new SimpleQueue<number>()
      const inputs = range(count)
      const results = await runThreads(t, 6, q, inputs, kind)
      t.deepEqual(sorted(results), inputs)
    }),
  )
}

test(
  'SimpleQueue passed inside another queue item is the same queue in the worker',
  slotted(async (t) => {
    t.timeout(LONG)
    const carrier = new Queue<{ reply: SimpleQueue<string> }>()
    const reply = new SimpleQueue<string>()
    const th = spawn((carrier: Queue<{ reply: SimpleQueue<string> }>) => {
      const { reply } = carrier.get()
      const before = reply.qsize()
      const ping = reply.getNowait() // put by the main thread before the queue crossed
      reply.put(`${ping}-pong-${before}`)
    }, carrier)
    reply.put('ping')
    carrier.put({ reply })
    await joinAll([th])
    t.is(reply.qsize(), 1)
    t.is(await reply.getAsync(LONG), 'ping-pong-1')
  }),
)
