/**
 * `shutdown(immediate)` (Python 3.13) on Queue, LifoQueue, PriorityQueue: CPython's
 * `Lib/test/test_queue.py` test_shutdown_* cases ported, with their threads as real worker
 * threads, plus callers that are already blocked (in workers, and async on the main thread) when
 * the queue shuts down.
 *
 * Worker outcomes are written to shared Int32Arrays as OUTCOME codes. CPython's
 * `q.unfinished_tasks` has no Tandem counterpart; `join(0)` stands in for "no unfinished tasks".
 */
import test from 'ava'
import { Barrier } from '@tandem/sync/barrier'
import { Event } from '@tandem/sync/event'
import { QueueEmpty, QueueShutDown } from '../src/errors.ts'
import type { BaseQueue } from '../src/internal/base-queue.ts'
import { KINDS, LONG, joinAll, slotted, sorted, until } from '../../../test/fixtures/qtests-helpers.ts'
import { sharedInts, sleep, spawn } from '../../sync/test/_helpers.ts'

type AnyQueue = BaseQueue<unknown>

/** Worker outcomes (shared Int32Array slots). */
const PENDING = 0
const GOT = 1 // get() returned an item / put() returned
const SHUT = 2 // QueueShutDown
const _OTHER = 3 // another error
const JOINED = 4 // join() returned true

const shutDown = { instanceOf: QueueShutDown, code: 'ERR_QUEUE_SHUT_DOWN' }

/** CPython's _get / _get_shutdown: waits for `go`, then one blocking get. */
function getter(q: AnyQueue, go: Event, out: Int32Array, slot: number, taskDone = false) {
  return spawn(
    (q: AnyQueue, go: Event, out: Int32Array, slot: number, taskDone: boolean) => {
      go.wait()
      try {
        q.get()
        if (taskDone) q.taskDone()
        Atomics.store(out, slot, 1)
      } catch (err) {
        Atomics.store(out, slot, (err as { code?: string }).code === 'ERR_QUEUE_SHUT_DOWN' ? 2 : 3)
      }
    },
    q,
    go,
    out,
    slot,
    taskDone,
  )
}

/** CPython's _put / _put_shutdown: waits for `go`, then one blocking put. */
function putter(q: AnyQueue, go: Event, out: Int32Array, slot: number, item: unknown) {
  return spawn(
    (q: AnyQueue, go: Event, out: Int32Array, slot: number, item: unknown) => {
      go.wait()
      try {
        q.put(item)
        Atomics.store(out, slot, 1)
      } catch (err) {
        Atomics.store(out, slot, (err as { code?: string }).code === 'ERR_QUEUE_SHUT_DOWN' ? 2 : 3)
      }
    },
    q,
    go,
    out,
    slot,
    item,
  )
}

/** CPython's _join: one blocking join. */
function joiner(q: AnyQueue, out: Int32Array, slot: number) {
  return spawn(
    (q: AnyQueue, out: Int32Array, slot: number) => {
      try {
        Atomics.store(out, slot, q.join() ? 4 : 3)
      } catch (err) {
        Atomics.store(out, slot, (err as { code?: string }).code === 'ERR_QUEUE_SHUT_DOWN' ? 2 : 3)
      }
    },
    q,
    out,
    slot,
  )
}

/**
 * A worker that marks `ready[slot]` and then runs one blocking call (`get`, `put` of 'blocked',
 * `join`, or `get` with a LONG timeout), recording its outcome in `out[slot]`.
 */
function blockedCall(q: AnyQueue, call: 'get' | 'put' | 'join' | 'timedGet', ready: Int32Array, out: Int32Array, slot: number, long: number) {
  return spawn(
    (q: AnyQueue, call: string, ready: Int32Array, out: Int32Array, slot: number, long: number) => {
      Atomics.store(ready, slot, 1)
      try {
        if (call === 'get') q.get()
        else if (call === 'timedGet') q.get({ timeout: long })
        else if (call === 'put') q.put('blocked')
        else {
          Atomics.store(out, slot, q.join() ? 4 : 3)
          return
        }
        Atomics.store(out, slot, 1)
      } catch (err) {
        Atomics.store(out, slot, (err as { code?: string }).code === 'ERR_QUEUE_SHUT_DOWN' ? 2 : 3)
      }
    },
    q,
    call,
    ready,
    out,
    slot,
    long,
  )
}

function outcomes(out: Int32Array, n: number): number[] {
  return Array.from(out.subarray(0, n))
}

/** Waits until `n` workers marked ready, then a little longer so they are inside their call. */
async function allBlocked(ready: Int32Array, n: number): Promise<void> {
  await until(() => outcomes(ready, n).every((r) => r === 1), 'workers to start')
  await sleep(300)
}

for (const { name, Q } of KINDS) {
  test(
    `${name}.shutdown() on an empty queue: put, putNowait, putAsync throw QueueShutDown; get, getNowait, getAsync throw QueueShutDown (CPython test_shutdown_empty)`,
    slotted(async (t) => {
      const q: AnyQueue = new Q()
      q.shutdown()
      t.throws(() => q.put('data'), shutDown)
      t.throws(() => q.putNowait('data'), shutDown)
      await t.throwsAsync(() => q.putAsync('data'), shutDown)
      t.throws(() => q.get({ timeout: LONG }), shutDown)
      t.throws(() => q.getNowait(), shutDown)
      await t.throwsAsync(() => q.getAsync(LONG), shutDown)
      t.is(q.qsize(), 0)
      t.true(q.join(0))
    }),
  )

  test(
    `${name}.shutdown() on a non-empty queue: get drains the items, then throws QueueShutDown (CPython test_shutdown_nonempty)`,
    slotted(async (t) => {
      const q: AnyQueue = new Q()
      q.put('data')
      q.put('more')
      q.shutdown()
      t.throws(() => q.put('late'), shutDown)
      t.is(q.qsize(), 2)
      const first = q.get({ timeout: LONG })
      const second = await q.getAsync(LONG)
      t.deepEqual(sorted2([first, second]), ['data', 'more'])
      t.throws(() => q.get({ timeout: LONG }), shutDown)
      await t.throwsAsync(() => q.getAsync(LONG), shutDown)
    }),
  )

  test(
    `${name}.shutdown(true) discards the items: get throws QueueShutDown at once (CPython test_shutdown_immediate)`,
    slotted((t) => {
      const q: AnyQueue = new Q()
      q.put('data')
      q.put({ big: 'x'.repeat(1000) })
      q.shutdown(true)
      t.is(q.qsize(), 0)
      t.true(q.empty())
      t.throws(() => q.get({ timeout: LONG }), shutDown)
      t.throws(() => q.getNowait(), shutDown)
    }),
  )

  test(
    `${name}.isShutdown follows shutdown() then shutdown(true) then shutdown(false) (CPython test_shutdown_allowed_transitions)`,
    slotted((t) => {
      const q: AnyQueue = new Q()
      t.false(q.isShutdown)
      q.shutdown()
      t.true(q.isShutdown)
      q.shutdown(true)
      t.true(q.isShutdown)
      q.shutdown(false)
      t.true(q.isShutdown)
    }),
  )

  for (const immediate of [false, true]) {
    test(
      `${name}.shutdown(${immediate}): every method in one thread (CPython test_shutdown${immediate ? '_immediate' : ''}_all_methods_in_one_thread)`,
      slotted(async (t) => {
        const q: AnyQueue = new Q(2)
        q.put('L')
        q.putNowait('O')
        q.shutdown(immediate)
        t.throws(() => q.put('E'), shutDown)
        t.throws(() => q.putNowait('W'), shutDown)
        if (immediate) {
          t.throws(() => q.get({ timeout: LONG }), shutDown)
          t.throws(() => q.getNowait(), shutDown)
          t.throws(() => q.taskDone(), { instanceOf: RangeError, code: 'ERR_TASK_DONE_TOO_MANY' })
          t.true(q.join(LONG))
        } else {
          const a = q.get({ timeout: LONG }) as string
          t.true('LO'.includes(a))
          q.taskDone()
          const b = q.get({ timeout: LONG }) as string
          t.true('LO'.includes(b))
          t.not(a, b)
          q.taskDone()
          t.true(q.join(LONG))
          t.throws(() => q.get({ timeout: LONG }), shutDown)
          t.throws(() => q.getNowait(), shutDown)
          t.throws(() => q.get({ block: true, timeout: 1000 }), shutDown)
          await t.throwsAsync(() => q.getAsync(LONG), shutDown)
        }
      }),
    )

    test.serial(
      `${name}.shutdown(${immediate}) in a run of 4 writer, 6 reader${immediate ? ', 2 joiner' : ''} and 1 shutdown worker threads ends every thread (CPython test_shutdown${immediate ? '_immediate' : ''}_all_methods_in_many_threads)`,
      slotted(async (t) => {
        t.timeout(3 * LONG)
        const q: AnyQueue = new Q()
        const writers = 4
        const readers = 6
        const joiners = 2
        // CPython uses 64k messages; 16k keeps this well inside the time budget on 2 cores with
        // 6 busy-polling readers, and still shuts down mid-run.
        const nbMsgs = 1024 * 16
        const nbMsgsW = nbMsgs / writers
        const whenShutdown = nbMsgsW / 2
        const barrier = new Barrier(writers + readers + (immediate ? joiners : 0))
        const evShutdown = new Event()
        // res: 0 writers that triggered the shutdown, 1 writers stopped by QueueShutDown,
        // 2 readers stopped by QueueShutDown, 3 shutdown thread: 1 + (qsize() === 0), 4 joiners returned
        const res = sharedInts(8)
        const threads = []
        for (let i = 0; i < writers; i++) {
          threads.push(
            spawn(
              (q: AnyQueue, n: number, res: Int32Array, when: number, ev: Event, barrier: Barrier) => {
                for (let i = 0; i < when / 2; i++) q.put([i, 'LOYD'])
                barrier.wait()
                for (let i = when / 2; i < n; i++) {
                  try {
                    q.put([i, 'YDLO'])
                  } catch (err) {
                    if ((err as { code?: string }).code !== 'ERR_QUEUE_SHUT_DOWN') throw err
                    Atomics.add(res, 1, 1)
                    break
                  }
                  if (i === when && !ev.isSet()) {
                    ev.set()
                    Atomics.add(res, 0, 1)
                  }
                }
              },
              q,
              nbMsgsW,
              res,
              whenShutdown,
              evShutdown,
              barrier,
            ),
          )
        }
        for (let i = 0; i < readers; i++) {
          threads.push(
            spawn(
              (q: AnyQueue, res: Int32Array, barrier: Barrier) => {
                q.get()
                q.taskDone()
                barrier.wait()
                for (;;) {
                  try {
                    q.getNowait()
                    q.taskDone()
                  } catch (err) {
                    const code = (err as { code?: string }).code
                    if (code === 'ERR_QUEUE_SHUT_DOWN') {
                      Atomics.add(res, 2, 1)
                      return
                    }
                    if (code !== 'ERR_QUEUE_EMPTY') throw err
                  }
                }
              },
              q,
              res,
              barrier,
            ),
          )
        }
        threads.push(
          spawn(
            (q: AnyQueue, res: Int32Array, ev: Event, immediate: boolean) => {
              ev.wait()
              q.shutdown(immediate)
              Atomics.store(res, 3, 1 + (q.qsize() === 0 ? 1 : 0))
            },
            q,
            res,
            evShutdown,
            immediate,
          ),
        )
        if (immediate) {
          for (let i = 0; i < joiners; i++) {
            threads.push(
              spawn(
                (q: AnyQueue, res: Int32Array, barrier: Barrier) => {
                  barrier.wait()
                  if (q.join()) Atomics.add(res, 4, 1)
                },
                q,
                res,
                barrier,
              ),
            )
          }
        }
        await joinAll(threads, 2 * LONG)
        t.true(Atomics.load(res, 0) >= 1, 'no writer triggered the shutdown')
        t.is(Atomics.load(res, 2), readers, 'every reader ends with QueueShutDown')
        t.true(q.isShutdown)
        if (immediate) {
          t.is(Atomics.load(res, 3), 2, 'shutdown(true) left items in the queue')
          t.true(q.empty())
          t.is(Atomics.load(res, 4), joiners)
        } else {
          t.true(Atomics.load(res, 3) > 0, 'the shutdown thread ran')
          t.true(q.empty(), 'readers drained the queue')
        }
        t.throws(() => q.get({ timeout: LONG }), shutDown)
      }),
    )

    test(
      `${name}.shutdown(${immediate}) then worker getters: ${immediate ? 'both throw QueueShutDown' : 'two get the items, one throws QueueShutDown'} (CPython test_shutdown${immediate ? '_immediate' : ''}_get)`,
      slotted(async (t) => {
        t.timeout(2 * LONG)
        const q: AnyQueue = new Q(2)
        const go = new Event()
        q.put('Y')
        q.put('D')
        const n = immediate ? 2 : 3
        const out = sharedInts(n)
        const threads = Array.from({ length: n }, (_, i) => getter(q, go, out, i))
        q.shutdown(immediate)
        go.set()
        await joinAll(threads)
        if (immediate) t.deepEqual(outcomes(out, n), [SHUT, SHUT])
        else t.deepEqual(sorted(outcomes(out, n)), [GOT, GOT, SHUT])
        t.true(q.empty())
      }),
    )

    test(
      `${name}.shutdown(${immediate}) then worker putters on a full queue: both throw QueueShutDown (CPython test_shutdown${immediate ? '_immediate' : ''}_put)`,
      slotted(async (t) => {
        t.timeout(2 * LONG)
        const q: AnyQueue = new Q(2)
        const go = new Event()
        q.put('Y')
        q.put('D')
        const out = sharedInts(2)
        const threads = [putter(q, go, out, 0, 'E'), putter(q, go, out, 1, 'W')]
        q.shutdown(immediate)
        go.set()
        await joinAll(threads)
        t.deepEqual(outcomes(out, 2), [SHUT, SHUT])
        t.is(q.qsize(), immediate ? 0 : 2)
      }),
    )

    test(
      `${name}.shutdown(${immediate}) releases worker joiners once the items are ${immediate ? 'discarded' : 'got and done'} (CPython test_shutdown${immediate ? '_immediate' : ''}_join)`,
      slotted(async (t) => {
        t.timeout(2 * LONG)
        const q: AnyQueue = new Q()
        q.put('Y')
        const go = new Event()
        const out = sharedInts(3)
        const threads = [joiner(q, out, 0), joiner(q, out, 1)]
        if (!immediate) threads.push(getter(q, go, out, 2, true))
        q.shutdown(immediate)
        go.set()
        await joinAll(threads)
        t.deepEqual(outcomes(out, 2), [JOINED, JOINED])
        if (!immediate) t.is(Atomics.load(out, 2), GOT)
        t.true(q.join(0))
      }),
    )

    test(
      `${name}.shutdown(${immediate}) with a worker putter and a worker joiner: the put throws QueueShutDown, the join returns (CPython test_shutdown${immediate ? '_immediate' : ''}_put_join)`,
      slotted(async (t) => {
        t.timeout(2 * LONG)
        const q: AnyQueue = new Q(2)
        const go = new Event()
        q.put('Y')
        const out = sharedInts(2)
        const threads = [putter(q, go, out, 0, 'E'), joiner(q, out, 1)]
        t.false(q.join(0), 'one unfinished task')
        q.shutdown(immediate)
        go.set()
        if (immediate) {
          t.throws(() => q.getNowait(), shutDown)
        } else {
          t.is(q.get({ timeout: LONG }), 'Y')
          q.taskDone()
        }
        await joinAll(threads)
        t.deepEqual(outcomes(out, 2), [SHUT, JOINED])
      }),
    )

    test(
      `${name}.shutdown(${immediate}) wakes worker getters blocked on an empty queue with QueueShutDown (blocking and timed get)`,
      slotted(async (t) => {
        t.timeout(2 * LONG)
        const q: AnyQueue = new Q()
        const ready = sharedInts(4)
        const out = sharedInts(4)
        const threads = [
          blockedCall(q, 'get', ready, out, 0, LONG),
          blockedCall(q, 'get', ready, out, 1, LONG),
          blockedCall(q, 'get', ready, out, 2, LONG),
          blockedCall(q, 'timedGet', ready, out, 3, LONG),
        ]
        await allBlocked(ready, 4)
        t.deepEqual(outcomes(out, 4), [PENDING, PENDING, PENDING, PENDING], 'a get returned on an empty queue')
        q.shutdown(immediate)
        await joinAll(threads)
        t.deepEqual(outcomes(out, 4), [SHUT, SHUT, SHUT, SHUT])
      }),
    )

    test(
      `${name}.shutdown(${immediate}) wakes worker putters blocked on a full queue with QueueShutDown; ${immediate ? 'the items are discarded' : 'the items stay to be drained'}`,
      slotted(async (t) => {
        t.timeout(2 * LONG)
        const q: AnyQueue = new Q(2)
        q.put('a')
        q.put('b')
        const ready = sharedInts(3)
        const out = sharedInts(3)
        const threads = [0, 1, 2].map((i) => blockedCall(q, 'put', ready, out, i, LONG))
        await allBlocked(ready, 3)
        t.deepEqual(outcomes(out, 3), [PENDING, PENDING, PENDING], 'a put returned on a full queue')
        q.shutdown(immediate)
        await joinAll(threads)
        t.deepEqual(outcomes(out, 3), [SHUT, SHUT, SHUT])
        if (immediate) {
          t.is(q.qsize(), 0)
          t.true(q.join(0), 'discarded items count as done')
        } else {
          t.is(q.qsize(), 2)
          t.deepEqual(sorted2([q.getNowait(), q.getNowait()]), ['a', 'b'])
          t.throws(() => q.getNowait(), shutDown)
        }
      }),
    )

    test(
      `${name}.shutdown(${immediate}) ${immediate ? 'releases' : 'does not release'} worker joiners blocked on unfinished items`,
      slotted(async (t) => {
        t.timeout(2 * LONG)
        const q: AnyQueue = new Q()
        q.put(1)
        q.put(2)
        const ready = sharedInts(2)
        const out = sharedInts(2)
        const threads = [blockedCall(q, 'join', ready, out, 0, LONG), blockedCall(q, 'join', ready, out, 1, LONG)]
        await allBlocked(ready, 2)
        t.deepEqual(outcomes(out, 2), [PENDING, PENDING])
        q.shutdown(immediate)
        if (!immediate) {
          await sleep(300)
          t.deepEqual(outcomes(out, 2), [PENDING, PENDING], 'shutdown(false) released join() with tasks unfinished')
          for (let i = 0; i < 2; i++) {
            q.getNowait()
            q.taskDone()
          }
        }
        await joinAll(threads)
        t.deepEqual(outcomes(out, 2), [JOINED, JOINED])
      }),
    )

    test(
      `${name}.shutdown(${immediate}) rejects pending main-thread getAsync and putAsync with QueueShutDown`,
      slotted(async (t) => {
        t.timeout(LONG)
        const empty: AnyQueue = new Q(1)
        const gets = [empty.getAsync(LONG), empty.getAsync({ timeout: LONG }), empty.getAsync()]
        const full: AnyQueue = new Q(1)
        full.put('kept')
        const puts = [full.putAsync('p1', LONG), full.putAsync('p2')]
        await sleep(50)
        empty.shutdown(immediate)
        full.shutdown(immediate)
        for (const p of [...gets, ...puts]) await t.throwsAsync(p, shutDown)
        t.is(empty.qsize(), 0)
        if (immediate) t.is(full.qsize(), 0)
        else t.is(full.getNowait(), 'kept')
      }),
    )
  }

  test(
    `${name}: worker getters and joiners with shutdown(false): items got, tasks done, joins return (CPython test_shutdown_get_task_done_join)`,
    slotted(async (t) => {
      t.timeout(2 * LONG)
      const q: AnyQueue = new Q(2)
      const go = new Event()
      q.put('Y')
      q.put('D')
      const out = sharedInts(4)
      const threads = [getter(q, go, out, 0, true), getter(q, go, out, 1, true), joiner(q, out, 2), joiner(q, out, 3)]
      go.set()
      q.shutdown(false)
      await joinAll(threads)
      t.deepEqual(outcomes(out, 4), [GOT, GOT, JOINED, JOINED])
    }),
  )

  test(
    `${name}: a worker's pending get() ends with QueueShutDown after shutdown() (CPython test_shutdown_pending_get)`,
    slotted(async (t) => {
      t.timeout(LONG)
      const q: AnyQueue = new Q()
      const go = new Event()
      go.set()
      const out = sharedInts(1)
      const th = getter(q, go, out, 0)
      q.shutdown(false)
      await joinAll([th], 10_000 + LONG)
      t.false(th.isAlive())
      t.is(Atomics.load(out, 0), SHUT)
    }),
  )

  test(
    `${name}.shutdown(true) resolves a pending joinAsync; shutdown(false) does not`,
    slotted(async (t) => {
      t.timeout(LONG)
      const q: AnyQueue = new Q()
      q.put('a')
      q.put('b')
      let settled = false
      const joined = q.joinAsync(LONG).finally(() => {
        settled = true
      })
      q.shutdown(false)
      await sleep(100)
      t.false(settled, 'shutdown(false) released joinAsync with tasks unfinished')
      q.shutdown(true)
      t.true(await joined)
    }),
  )

  test(
    `${name}.shutdown(true) discards only queued items: an item got but not done keeps join() waiting until taskDone()`,
    slotted((t) => {
      const q: AnyQueue = new Q()
      q.put(1)
      q.put(2)
      q.put(3)
      q.getNowait()
      q.shutdown(true)
      t.is(q.qsize(), 0)
      t.false(q.join(0))
      q.taskDone()
      t.true(q.join(0))
      t.throws(() => q.taskDone(), { instanceOf: RangeError, code: 'ERR_TASK_DONE_TOO_MANY' })
    }),
  )

  test(
    `${name}.shutdown() called in a worker wakes a main-thread getAsync and a worker getter`,
    slotted(async (t) => {
      t.timeout(2 * LONG)
      const q: AnyQueue = new Q()
      const ready = sharedInts(1)
      const out = sharedInts(1)
      const getterThread = blockedCall(q, 'get', ready, out, 0, LONG)
      const pending = q.getAsync(LONG)
      await allBlocked(ready, 1)
      const closer = spawn((q: AnyQueue) => q.shutdown(), q)
      await t.throwsAsync(pending, shutDown)
      await joinAll([getterThread, closer])
      t.is(Atomics.load(out, 0), SHUT)
      t.true(q.isShutdown)
    }),
  )

  test(
    `${name}: a timed get on a shut-down empty queue throws QueueShutDown, not QueueEmpty`,
    slotted((t) => {
      const q: AnyQueue = new Q()
      q.shutdown()
      const err = t.throws(() => q.get({ timeout: 10 }))
      t.true(err instanceof QueueShutDown)
      t.false(err instanceof QueueEmpty)
    }),
  )
}

function sorted2(xs: unknown[]): string[] {
  return (xs as string[]).slice().sort()
}
