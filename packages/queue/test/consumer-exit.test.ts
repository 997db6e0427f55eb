/**
 * Consumers that end: a consumer thread that returns, throws, or calls `process.exit()` between
 * operations leaves every remaining item to the other consumers, and the queue stays usable
 * (its shared state outlives the dead thread's handles). Also a consumer that exits while its
 * `getAsync()` is pending must not swallow the wakeup meant for a live consumer.
 * Worker code: test/fixtures/qtests-workers.ts (`consumeThenEnd`).
 */
import test from 'ava'
import { Lock } from '@tandem/sync/lock'
import type { Thread } from '@tandem/sync/thread'
import { LifoQueue } from '../src/lifo-queue.ts'
import { PriorityQueue } from '../src/priority-queue.ts'
import { Queue } from '../src/queue.ts'
import { SimpleQueue } from '../src/simple-queue.ts'
import { KINDS, LONG, joinAll, logEntries, range, slotted, sorted, startWorker } from '../../../test/fixtures/qtests-helpers.ts'
import type { Ending } from '../../../test/fixtures/qtests-workers.ts'
import { sharedInts, sleep, spawn, takeEscaped } from '../../sync/test/_helpers.ts'

const ENDINGS: Ending[] = ['return', 'throw', 'exit']

/** Waits for a thread that may end by throwing (its error is expected and discarded). */
async function ended(t: { true(v: boolean, m?: string): void }, th: Thread): Promise<void> {
  t.true(await th.joinAsync(LONG), `${th.name} did not end`)
  await sleep(20) // let an excepthook report arrive, then drop it
  takeEscaped()
}

for (const ending of ENDINGS) {
  for (const { name, Q } of [...KINDS, { name: 'SimpleQueue', Q: SimpleQueue }]) {
    test(
      `${name}: a consumer that ends by ${ending === 'exit' ? 'process.exit()' : ending === 'throw' ? 'throwing' : 'returning'} after 10 of 100 items leaves the other 90 to the next consumer; the queue stays usable`,
      slotted(async (t) => {
        t.timeout(2 * LONG)
        const q = new (Q as typeof Queue<number>)()
        for (let i = 0; i < 100; i++) q.put(i)
        const logA = sharedInts(1 + 100)
        const a = startWorker('consumeThenEnd', q, 10, logA, ending)
        await ended(t, a)
        t.is(logEntries(logA).length, 10)
        t.is(q.qsize(), 90)
        // Reuse memory a wrongly freed queue would have released, before touching the queue again.
        const churn = range(50).map(() => new Queue<number>(4))
        for (const c of churn) c.put(1)
        const logB = sharedInts(1 + 100)
        const b = startWorker('consumeThenEnd', q, 90, logB, 'return')
        await joinAll([b])
        const a10 = logEntries(logA)
        const b90 = logEntries(logB)
        t.deepEqual(sorted([...a10, ...b90]), range(100), 'every item got exactly once')
        if (name !== 'PriorityQueue' && name !== 'LifoQueue') {
          t.deepEqual(a10, range(10))
          t.deepEqual(b90, range(90, 10))
        }
        t.true(q.empty())
        // Still usable from both sides.
        q.put(1000)
        t.is(await q.getAsync(LONG), 1000)
        const c = spawn((q: Queue<number>) => q.put(2000), q)
        t.is(await q.getAsync(LONG), 2000)
        await joinAll([c])
        t.true(q.empty())
      }),
    )
  }
}

test(
  'Queue: consumers that end in every way at various points while a survivor keeps consuming: every item is got exactly once',
  slotted(async (t) => {
    t.timeout(2 * LONG)
    const q = new Queue<number>(50)
    // The producer runs until every quitter has ended (so none of them can starve while the
    // survivor competes for items), then puts the survivor's sentinel.
    const LIMIT = 1 << 24
    const control = sharedInts(2) // 0: stop flag, 1: items produced
    const producer = spawn(
      (q: Queue<number>, control: Int32Array, limit: number) => {
        let i = 0
        for (; i < limit && Atomics.load(control, 0) === 0; i++) q.put(i)
        Atomics.store(control, 1, i)
        q.put(-1)
      },
      q,
      control,
      LIMIT,
    )
    const logs: Int32Array[] = []
    const quitters: Thread[] = []
    for (const [k, ending] of (['return', 'throw', 'exit', 'exit', 'throw', 'return'] as Ending[]).entries()) {
      const take = 37 + 101 * k
      const log = sharedInts(1 + take)
      logs.push(log)
      quitters.push(startWorker('consumeThenEnd', q, take, log, ending))
    }
    const seen = new Uint8Array(new SharedArrayBuffer(LIMIT))
    const survivor = spawn(
      (q: Queue<number>, seen: Uint8Array) => {
        for (;;) {
          const v = q.get()
          if (v < 0) return
          Atomics.add(seen, v, 1)
        }
      },
      q,
      seen,
    )
    for (const th of quitters) await ended(t, th)
    Atomics.store(control, 0, 1)
    await joinAll([producer, survivor], 2 * LONG)
    const produced = Atomics.load(control, 1)
    t.true(produced < LIMIT, 'the producer hit its limit before the quitters ended')
    for (const log of logs) for (const v of logEntries(log)) Atomics.add(seen, v, 1)
    let bad = 0
    for (let i = 0; i < produced; i++) if (seen[i] !== 1) bad++
    t.is(bad, 0, `items got other than exactly once (of ${produced})`)
    t.true(q.empty())
  }),
)

test(
  'Queue: a producer blocked on a full queue keeps waiting when the only consumer exits, and a new consumer releases it',
  slotted(async (t) => {
    t.timeout(2 * LONG)
    const q = new Queue<number>(5)
    const done = sharedInts(1)
    const producer = spawn(
      (q: Queue<number>, done: Int32Array) => {
        for (let i = 0; i < 40; i++) q.put(i)
        Atomics.store(done, 0, 1)
      },
      q,
      done,
    )
    const logA = sharedInts(1 + 40)
    await ended(t, startWorker('consumeThenEnd', q, 12, logA, 'exit'))
    await sleep(200)
    t.is(Atomics.load(done, 0), 0, 'the producer cannot have finished: 28 items do not fit in 5 slots')
    t.true(q.full())
    const logB = sharedInts(1 + 40)
    await joinAll([startWorker('consumeThenEnd', q, 28, logB, 'return'), producer])
    t.deepEqual([...logEntries(logA), ...logEntries(logB)], range(40))
    t.true(q.empty())
  }),
)

for (const { name, Q } of [
  { name: 'Queue', Q: Queue },
  { name: 'LifoQueue', Q: LifoQueue },
  { name: 'PriorityQueue', Q: PriorityQueue },
]) {
  test(
    `${name}: a consumer that exits while its getAsync() is pending does not swallow the wakeup meant for a live consumer`,
    slotted(async (t) => {
      t.timeout(2 * LONG)
      const q = new Q<number>()
      const ready = sharedInts(2)
      // A waits first (async), then exits from a timer with its get still pending.
      const a = spawn(
        async (q: Queue<number>, ready: Int32Array) => {
          const pending = q.getAsync()
          Atomics.store(ready, 0, 1)
          // Wait (without blocking the event loop) until B is queued behind us, then exit.
          while (Atomics.load(ready, 1) === 0) await new Promise((r) => setTimeout(r, 5))
          setTimeout(() => process.exit(0), 100)
          await pending
          throw new Error('A got an item; the test expects it to exit first')
        },
        q as Queue<number>,
        ready,
      )
      while (Atomics.load(ready, 0) === 0) await sleep(5)
      const out = sharedInts(1)
      const b = spawn(
        (q: Queue<number>, ready: Int32Array, out: Int32Array) => {
          Atomics.store(ready, 1, 1)
          Atomics.store(out, 0, q.get() + 1)
        },
        q as Queue<number>,
        ready,
        out,
      )
      t.true(await a.joinAsync(LONG), 'A did not exit')
      await sleep(100)
      q.put(7) // the oldest waiter slot belongs to dead A
      await joinAll([b], 20_000)
      t.is(Atomics.load(out, 0), 8, 'B did not get the item')
      t.true(q.empty())
    }),
  )
}

test(
  'Queue: a consumer that exits while holding a Lock it got from the queue does not affect the queue (only the lock stays held)',
  slotted(async (t) => {
    t.timeout(LONG)
    const q = new Queue<Lock | number>()
    const lock = new Lock()
    q.put(lock)
    q.put(1)
    const a = spawn((q: Queue<Lock | number>) => {
      const lock = q.get() as Lock
      lock.acquire()
      process.exit(3)
    }, q)
    t.true(await a.joinAsync(LONG))
    t.true(lock.locked(), 'a Lock stays held by a dead thread (Python semantics: no owner tracking)')
    lock.release()
    t.is(q.qsize(), 1)
    t.is(await q.getAsync(LONG), 1)
  }),
)
