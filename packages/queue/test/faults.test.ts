/**
 * The queue's fault suite (issue 9): a thread dies holding the queue's mutex, for each way a
 * thread can die (throws, returns, `process.exit(3)`, terminated from the main thread, out of
 * memory under `resourceLimits`); and a worker whose `getAsync()`/`putAsync()` is pending runs
 * out of memory after it received the wake-up meant for a live thread.
 *
 * - Died between changes (DIRTY 0): the poison is cleared and the queue works; a blocked worker
 *   consumer, a blocked main-thread consumer and an async one each get one of the items put.
 * - Died in the middle of a change (DIRTY word, index 8 of the control cell, set to 1 while it
 *   held the mutex): every operation throws OwnerDiedError, and never hands out an item.
 * - The swallowed wake-up: the live blocked consumer (producer) still gets the item (the room).
 *
 * Worker targets: fixtures/fault-workers.ts. The Worker of a daemon Thread is caught when
 * `start()` unrefs it (Worker.prototype.unref is wrapped below), to terminate it.
 */
import test, { type ExecutionContext } from 'ava'
import type { Condition } from '@tandem/sync/condition'
import { int32At, type CellRef } from '@tandem/sync/kit'
import { SHARE } from '@tandem/sync/shareable'
import type { Thread } from '@tandem/sync/thread'
import { Queue } from '../src/queue.ts'
import { go, sharedInts, sleep, takeEscaped, until } from '../../sync/test/_helpers.ts'
import { ACQUIRED, codeOf, GO, HOLDING, OWNER_DIED, READY, RESULTS } from '../../sync/test/fixtures/fault-workers.ts'
import * as Q from './fixtures/fault-workers.ts'
import { DEATHS, died, fixtureStarter, HOW, LIMITS, LONG, workerOf } from '../../sync/test/_faults.ts'

const FIXTURES = new URL('./fixtures/fault-workers.ts', import.meta.url)
const start = fixtureStarter<typeof Q>(FIXTURES)

async function finished(t: ExecutionContext, th: Thread): Promise<void> {
  t.true(await th.joinAsync(LONG), `${th.name} did not finish (a wait hung)`)
  await sleep(20)
  for (const e of takeEscaped()) t.fail(`${e.thread.name} threw ${String(e.excValue)}`)
}

async function holding(t: ExecutionContext, f: Int32Array, victim: Thread): Promise<void> {
  await until(() => Atomics.load(f, HOLDING) === 1 || !victim.isAlive(), LONG, `${victim.name} to take the mutex`)
  t.is(Atomics.load(f, HOLDING), 1, `${victim.name} ended before it took the mutex (could it start under its resourceLimits?)`)
}

/** Waiters linked in a Condition's FIFO (word LINKED of its cell; internal). */
function linked(cond: Condition): number {
  const shared = (cond as unknown as { [SHARE](ctx: unknown): { cell: CellRef } })[SHARE]({ target: 'thread', encode: (v: unknown) => v })
  return Atomics.load(int32At(shared.cell.at, shared.cell.n), 5)
}

/** What a call ended with: { value } or { code } (OWNER_DIED for OwnerDiedError). */
function outcome(fn: () => number): { value?: number; code?: number } {
  try {
    return { value: fn() }
  } catch (err) {
    return { code: codeOf(err) }
  }
}

async function outcomeAsync(p: Promise<number | void>): Promise<{ value?: number; code?: number }> {
  try {
    return { value: (await p) ?? 0 }
  } catch (err) {
    return { code: codeOf(err) }
  }
}

for (const how of DEATHS) {
  test.serial(
    `Queue: a thread ${HOW[how]} holding the mutex between changes; the poison is cleared and a blocked worker, a blocked main thread and an async consumer each get an item`,
    async (t) => {
      t.timeout(4 * LONG)
      const q = new Queue<number>()
      const f = sharedInts(16)
      const victim = start(t, 'holdMutexAndDie', [q, how, f, false], how === 'oom' ? LIMITS : undefined)
      await holding(t, f, victim)
      const consumer = start(t, 'getBlocking', [q, f, 0])
      await until(() => Atomics.load(f, READY) >= 1, LONG, 'the consumer')
      const pending = outcomeAsync(q.getAsync(LONG))
      if (how === 'terminate') void workerOf(victim).terminate()
      // Blocks for the mutex: only the liveness sweep can tell this thread of a terminated worker.
      const puts = [1, 2, 3].map((v) => outcome(() => (q.put(v, { timeout: LONG }), v)))
      t.deepEqual(puts, [{ value: 1 }, { value: 2 }, { value: 3 }], 'puts succeed once the poison is cleared')
      const mine = outcome(() => q.get({ timeout: LONG }))
      await died(t, victim)
      await finished(t, consumer)
      const theirs = await pending
      t.is(Atomics.load(f, RESULTS), ACQUIRED, 'the worker consumer got an item')
      const got = [mine.value, theirs.value, Atomics.load(f, Q.VALUES)].sort()
      t.deepEqual(got, [1, 2, 3], 'each consumer got one item, each item once')
      t.false(q.mutex.poisoned)
      t.false(q.mutex.locked())
      q.put(4)
      t.is(await q.getAsync(LONG), 4, 'the queue goes on working')
    },
  )

  test.serial(`Queue: a thread ${HOW[how]} holding the mutex in the middle of a change (DIRTY); every operation throws OwnerDiedError, never an item`, async (t) => {
    t.timeout(4 * LONG)
    const q = new Queue<number>()
    q.put(10)
    q.put(11)
    const f = sharedInts(16)
    const victim = start(t, 'holdMutexAndDie', [q, how, f, true], how === 'oom' ? LIMITS : undefined)
    await holding(t, f, victim)
    const consumer = start(t, 'getBlocking', [q, f, 0])
    await until(() => Atomics.load(f, READY) >= 1, LONG, 'the consumer')
    const pendingGet = outcomeAsync(q.getAsync(LONG))
    const pendingPut = outcomeAsync(q.putAsync(12, LONG))
    if (how === 'terminate') void workerOf(victim).terminate()
    const mainGet = outcome(() => q.get({ timeout: LONG }))
    await died(t, victim)
    await finished(t, consumer)
    t.deepEqual(
      {
        worker: Atomics.load(f, RESULTS),
        mainGet,
        mainGetAsync: await pendingGet,
        mainPutAsync: await pendingPut,
        put: outcome(() => (q.put(13, { timeout: LONG }), 13)),
        getNowait: outcome(() => q.getNowait()),
        getAgain: await outcomeAsync(q.getAsync(LONG)),
      },
      {
        worker: OWNER_DIED,
        mainGet: { code: OWNER_DIED },
        mainGetAsync: { code: OWNER_DIED },
        mainPutAsync: { code: OWNER_DIED },
        put: { code: OWNER_DIED },
        getNowait: { code: OWNER_DIED },
        getAgain: { code: OWNER_DIED },
      },
    )
    t.is(Atomics.load(f, Q.VALUES), 0, 'the worker consumer got no item')
  })
}

test.serial("Queue: a worker whose pending getAsync() received the put's wake-up runs out of memory; the live blocked consumer still gets the item", async (t) => {
  t.timeout(4 * LONG)
  const q = new Queue<number>()
  const f = sharedInts(16)
  const doomed = start(t, 'getAsyncThenOom', [q, f], LIMITS)
  await holding(t, f, doomed) // its getAsync is in notEmpty's FIFO, oldest
  const consumer = start(t, 'getBlocking', [q, f, 0])
  await until(() => linked(q.notEmpty) === 2, LONG, 'the consumer to wait behind the doomed getter')
  q.put(42, { timeout: LONG })
  t.is(linked(q.notEmpty), 1, 'the put woke the doomed getter (alive, oldest), not the consumer')
  go(f, GO)
  await died(t, doomed)
  await finished(t, consumer)
  t.is(Atomics.load(f, RESULTS), ACQUIRED)
  t.is(Atomics.load(f, Q.VALUES), 42, 'the consumer got the item')
  t.is(q.qsize(), 0)
})

test.serial("Queue(1): a worker whose pending putAsync() received the get's wake-up runs out of memory; the live blocked producer still puts its item", async (t) => {
  t.timeout(4 * LONG)
  const q = new Queue<number>(1)
  q.put(1)
  const f = sharedInts(16)
  const doomed = start(t, 'putAsyncThenOom', [q, f, 99], LIMITS)
  await holding(t, f, doomed) // its putAsync is in notFull's FIFO, oldest
  const producer = start(t, 'putBlocking', [q, f, 0, 2])
  await until(() => linked(q.notFull) === 2, LONG, 'the producer to wait behind the doomed putter')
  t.is(q.get({ timeout: LONG }), 1)
  t.is(linked(q.notFull), 1, 'the get woke the doomed putter (alive, oldest), not the producer')
  go(f, GO)
  await died(t, doomed)
  await finished(t, producer)
  t.is(Atomics.load(f, RESULTS), ACQUIRED, 'the producer put its item')
  t.is(q.get({ timeout: LONG }), 2)
  t.true(q.empty(), "the doomed putter's item never arrived")
})
