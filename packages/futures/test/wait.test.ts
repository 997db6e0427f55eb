/**
 * wait / waitAsync: CPython's `Lib/test/test_concurrent_futures/test_wait.py` (ThreadPoolWaitTests)
 * ported to ThreadPoolExecutor on real worker threads, plus what a Node port adds: the async
 * form with an AbortSignal, futures completed by workers while the main thread blocks or awaits,
 * a future already watched by another thread (polled), wait() inside a pool worker on futures of
 * the same pool, and argument checks.
 *
 * CPython's 1.5 s sleeps become short sleeps or gates (Tandem Events a task waits on), so the
 * assertions are about which futures are done, never about durations. The main thread only
 * blocks in wait() with a timeout (BLOCK, 20 s: far above what a passing run needs, below ava's
 * 60 s inactivity timeout).
 * Skipped: the ProcessPool variants of WaitTests (no ProcessPoolExecutor here yet; fork/spawn
 * contexts have no Node equivalent).
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { Future } from '../src/future.ts'
import { ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, wait, waitAsync, type DoneAndNotDone } from '../src/wait.ts'
import * as root from '../src/index.ts'
import { Event } from '../../sync/src/event.ts'
import { sharedInts, sleep, spawn } from '../../sync/test/_helpers.ts'
import { BLOCK, fixtures, joinAll, LONG, makeFuture, newPool, runChild, until } from './_helpers.ts'
import type { Thread } from '../../sync/src/thread.ts'

const WAIT_URL = new URL('../src/wait.ts', import.meta.url).href

/** A gate for a spawned thread: the target sets [0] = 1 and then waits for [1] (`await go(gate)`). */
function threadGate(): Int32Array {
  return sharedInts(2)
}

/** Waits (async) until the thread behind `gate` runs, then lets it go. */
async function go(gate: Int32Array): Promise<void> {
  await until(() => Atomics.load(gate, 0) === 1, 'the thread to start')
  Atomics.store(gate, 1, 1)
  Atomics.notify(gate, 1)
}

/**
 * Starts a worker that awaits `f` first, so `f`'s watch slot is that worker's and this thread
 * has to poll `f`. box[1] becomes 1 when the worker got `f`'s result.
 */
async function watchElsewhere(f: Future<string>): Promise<{ watcher: Thread; box: Int32Array }> {
  const box = sharedInts(2)
  const watcher = spawn(
    async (f: Future<string>, box: Int32Array) => {
      const p = f.resultAsync(60_000) // claims f's watch slot for this worker
      Atomics.store(box, 0, 1)
      Atomics.store(box, 1, typeof (await p) === 'string' ? 1 : -1)
    },
    f,
    box,
  )
  await until(() => Atomics.load(box, 0) === 1, 'the watcher to await f')
  return { watcher, box }
}

function sets(t: ExecutionContext, r: DoneAndNotDone<Future<unknown>>, names: Record<string, Future<unknown>>, done: string[], notDone: string[]): void {
  const byFuture = new Map<Future<unknown>, string>()
  for (const [k, f] of Object.entries(names)) byFuture.set(f, k)
  const label = (s: Set<Future<unknown>>): string[] => [...s].map((f) => byFuture.get(f) ?? '<unknown future>').sort()
  t.deepEqual(label(r.done), [...done].sort(), 'done')
  t.deepEqual(label(r.notDone), [...notDone].sort(), 'notDone')
}

// Task functions (shipped by source: only parameters, globals and their own imports).
const mul = (x: number, y: number): number => x * y
const sleepMs = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}
const gated = (g: Event): void => {
  g.wait(60_000)
}
const divmod = (a: number, b: number): number => {
  if (b === 0) throw new RangeError('integer division or modulo by zero')
  return Math.floor(a / b)
}

const FORMS = [
  // The main thread blocks here: never longer than BLOCK.
  {
    name: 'wait',
    run: (fs: Iterable<Future<unknown>>, opts?: Parameters<typeof wait>[1]) => Promise.resolve(wait(fs, { ...opts, timeout: Math.min(opts?.timeout ?? BLOCK, BLOCK) })),
  },
  { name: 'waitAsync', run: (fs: Iterable<Future<unknown>>, opts?: Parameters<typeof wait>[1]) => waitAsync(fs, opts) },
] as const

test('wait, waitAsync and the returnWhen constants are exported from the package root', (t) => {
  t.is(root.wait, wait)
  t.is(root.waitAsync, waitAsync)
  t.is(root.FIRST_COMPLETED, 'FIRST_COMPLETED')
  t.is(root.FIRST_EXCEPTION, 'FIRST_EXCEPTION')
  t.is(root.ALL_COMPLETED, 'ALL_COMPLETED')
})

for (const { name, run } of FORMS) {
  // CPython test_20369 (bpo-20369): a future given twice is waited for once and reported once.
  test(`${name}() collapses a duplicated future: [f, f] gives done = {f}`, async (t) => {
    t.timeout(LONG + 10_000)
    const pool = await newPool(t, 1)
    const f = pool.submit(sleepMs, 50)
    const r = await run([f, f], { returnWhen: ALL_COMPLETED, timeout: LONG })
    sets(t, r, { f }, ['f'], [])
  })

  // CPython test_first_completed.
  test(`${name}(FIRST_COMPLETED) returns the first finished future; a cancelled future not acknowledged by an executor stays in notDone`, async (t) => {
    t.timeout(LONG + 10_000)
    const gate = new Event()
    const pool = await newPool(t, 2, gate)
    const { CANCELLED } = fixtures()
    const future1 = pool.submit(mul, 21, 2)
    const future2 = pool.submit(gated, gate)
    const r = await run([CANCELLED, future1, future2], { returnWhen: FIRST_COMPLETED, timeout: LONG })
    sets(t, r, { CANCELLED, future1, future2 }, ['future1'], ['CANCELLED', 'future2'])
    t.is(future1.result(0), 42)
  })

  // CPython test_first_completed_some_already_completed.
  test(`${name}(FIRST_COMPLETED) returns at once with every already-done future`, async (t) => {
    t.timeout(LONG + 10_000)
    const gate = new Event()
    const pool = await newPool(t, 1, gate)
    const { CANCELLED_AND_NOTIFIED, SUCCESSFUL } = fixtures()
    const future1 = pool.submit(gated, gate)
    const r = await run([CANCELLED_AND_NOTIFIED, SUCCESSFUL, future1], { returnWhen: FIRST_COMPLETED, timeout: LONG })
    sets(t, r, { CANCELLED_AND_NOTIFIED, SUCCESSFUL, future1 }, ['CANCELLED_AND_NOTIFIED', 'SUCCESSFUL'], ['future1'])
    t.false(future1.done())
  })

  // CPython test_first_exception. The raising task waits for future1 (passed to it as an
  // argument) instead of sleeping, so future1 is always done first.
  test(`${name}(FIRST_EXCEPTION) returns when a task raises, with the futures done by then`, async (t) => {
    t.timeout(LONG + 10_000)
    const gate = new Event()
    const pool = await newPool(t, 3, gate)
    const future1 = pool.submit(mul, 2, 21)
    const future2 = pool.submit((f1: Future<number>) => {
      f1.result(60_000)
      throw new Error('this is an exception')
    }, future1)
    const future3 = pool.submit(gated, gate)
    const r = await run([future1, future2, future3], { returnWhen: FIRST_EXCEPTION, timeout: LONG })
    sets(t, r, { future1, future2, future3 }, ['future1', 'future2'], ['future3'])
    t.is((future2.exception(0) as Error).message, 'this is an exception')
  })

  // CPython test_first_exception_some_already_complete.
  test(`${name}(FIRST_EXCEPTION) with done futures: a cancelled-and-notified one is done, a merely cancelled one is not`, async (t) => {
    t.timeout(LONG + 10_000)
    const gate = new Event()
    const pool = await newPool(t, 2, gate)
    const { SUCCESSFUL, CANCELLED, CANCELLED_AND_NOTIFIED } = fixtures()
    const future1 = pool.submit(divmod, 21, 0)
    const future2 = pool.submit(gated, gate)
    const r = await run([SUCCESSFUL, CANCELLED, CANCELLED_AND_NOTIFIED, future1, future2], { returnWhen: FIRST_EXCEPTION, timeout: LONG })
    sets(t, r, { SUCCESSFUL, CANCELLED, CANCELLED_AND_NOTIFIED, future1, future2 }, ['SUCCESSFUL', 'CANCELLED_AND_NOTIFIED', 'future1'], ['CANCELLED', 'future2'])
    t.is((future1.exception(0) as Error).name, 'RangeError')
  })

  // CPython test_first_exception_one_already_failed.
  test(`${name}(FIRST_EXCEPTION) returns at once when a future has already failed`, async (t) => {
    t.timeout(LONG + 10_000)
    const gate = new Event()
    const pool = await newPool(t, 1, gate)
    const { EXCEPTION } = fixtures()
    const future1 = pool.submit(gated, gate)
    const r = await run([EXCEPTION, future1], { returnWhen: FIRST_EXCEPTION, timeout: LONG })
    sets(t, r, { EXCEPTION, future1 }, ['EXCEPTION'], ['future1'])
  })

  test(`${name}(FIRST_EXCEPTION) waits for all when none raises`, async (t) => {
    t.timeout(LONG + 10_000)
    const pool = await newPool(t, 2)
    const { SUCCESSFUL } = fixtures()
    const future1 = pool.submit(mul, 6, 7)
    const future2 = pool.submit((ms: number) => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
      return 'slow'
    }, 100)
    const r = await run([SUCCESSFUL, future1, future2], { returnWhen: FIRST_EXCEPTION, timeout: LONG })
    sets(t, r, { SUCCESSFUL, future1, future2 }, ['SUCCESSFUL', 'future1', 'future2'], [])
    t.is(future2.result(0), 'slow')
  })

  // CPython test_all_completed.
  test(`${name}(ALL_COMPLETED) returns every future done, failed ones included`, async (t) => {
    t.timeout(LONG + 10_000)
    const pool = await newPool(t, 2)
    const { SUCCESSFUL, CANCELLED_AND_NOTIFIED, EXCEPTION } = fixtures()
    const future1 = pool.submit(divmod, 2, 0)
    const future2 = pool.submit(mul, 2, 21)
    const r = await run([SUCCESSFUL, CANCELLED_AND_NOTIFIED, EXCEPTION, future1, future2], { returnWhen: ALL_COMPLETED, timeout: LONG })
    sets(t, r, { SUCCESSFUL, CANCELLED_AND_NOTIFIED, EXCEPTION, future1, future2 }, ['SUCCESSFUL', 'CANCELLED_AND_NOTIFIED', 'EXCEPTION', 'future1', 'future2'], [])
  })

  test(`${name}() defaults to ALL_COMPLETED`, async (t) => {
    t.timeout(LONG + 10_000)
    const pool = await newPool(t, 2)
    const fs = [10, 60, 30].map((ms) => pool.submit(sleepMs, ms))
    const r = await run(fs, { timeout: LONG })
    t.is(r.done.size, 3)
    t.is(r.notDone.size, 0)
    t.true(fs.every((f) => r.done.has(f)))
  })

  // CPython test_timeout: a timeout is not an error, it returns what was done by then.
  test(`${name}(timeout) returns the futures done by the deadline and the rest in notDone (no error)`, async (t) => {
    t.timeout(LONG + 10_000)
    const gate = new Event()
    const pool = await newPool(t, 1, gate)
    const { CANCELLED_AND_NOTIFIED, EXCEPTION, SUCCESSFUL } = fixtures()
    const future = pool.submit(gated, gate)
    for (const timeout of [0, 50]) {
      const r = await run([CANCELLED_AND_NOTIFIED, EXCEPTION, SUCCESSFUL, future], { timeout, returnWhen: ALL_COMPLETED })
      sets(t, r, { CANCELLED_AND_NOTIFIED, EXCEPTION, SUCCESSFUL, future }, ['CANCELLED_AND_NOTIFIED', 'EXCEPTION', 'SUCCESSFUL'], ['future'])
    }
    t.false(future.done())
  })

  test(`${name}() of no futures returns two empty sets at once`, async (t) => {
    t.timeout(10_000)
    for (const returnWhen of [FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED] as const) {
      const r = await run([], { returnWhen })
      t.is(r.done.size, 0)
      t.is(r.notDone.size, 0)
    }
  })

  test(`${name}() accepts any iterable (a Set, a generator) and returns fresh disjoint sets`, async (t) => {
    t.timeout(LONG + 10_000)
    const { SUCCESSFUL, PENDING, RUNNING } = fixtures()
    const input = new Set([SUCCESSFUL, PENDING])
    const r1 = await run(input, { timeout: 0 })
    sets(t, r1, { SUCCESSFUL, PENDING }, ['SUCCESSFUL'], ['PENDING'])
    t.not(r1.done, input)
    function* gen(): Generator<Future<unknown>> {
      yield RUNNING
      yield SUCCESSFUL
      yield RUNNING
    }
    const r2 = await run(gen(), { timeout: 0 })
    sets(t, r2, { SUCCESSFUL, RUNNING }, ['SUCCESSFUL'], ['RUNNING'])
  })

  // CPython ThreadPoolWaitTests.test_pending_calls_race (issue #14406): many futures completing
  // at once while waiting on all of them.
  test(`${name}(ALL_COMPLETED) over 100 futures released at once sees every completion`, async (t) => {
    t.timeout(LONG + 10_000)
    const event = new Event()
    const pool = await newPool(t, 5, event)
    const fs = new Set(Array.from({ length: 100 }, () => pool.submit(gated, event)))
    event.set()
    const r = await run(fs, { returnWhen: ALL_COMPLETED, timeout: LONG })
    t.is(r.done.size, 100)
    t.is(r.notDone.size, 0)
  })

  test(`${name}() returns when worker threads complete bare futures: FIRST_COMPLETED, then ALL_COMPLETED`, async (t) => {
    t.timeout(LONG + 10_000)
    const a = new Future<number>()
    const b = new Future<number>()
    const c = new Future<number>()
    const gate = threadGate()
    const phase2 = sharedInts(1)
    // Completes b, then (after the main thread has seen b) a and c.
    const th = spawn(
      (a: Future<number>, b: Future<number>, c: Future<number>, gate: Int32Array, phase2: Int32Array) => {
        Atomics.store(gate, 0, 1)
        Atomics.wait(gate, 1, 0, 60_000)
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50) // the main thread waits meanwhile
        b.setResult(2)
        Atomics.wait(phase2, 0, 0, 60_000)
        a.setResult(1)
        c.setException(new TypeError('c failed'))
      },
      a,
      b,
      c,
      gate,
      phase2,
    )
    t.teardown(() => {
      Atomics.store(phase2, 0, 1)
      Atomics.notify(phase2, 0)
    })
    await go(gate)
    const r1 = await run([a, b, c], { returnWhen: FIRST_COMPLETED, timeout: LONG })
    sets(t, r1, { a, b, c }, ['b'], ['a', 'c'])
    Atomics.store(phase2, 0, 1)
    Atomics.notify(phase2, 0)
    const r2 = await run([a, b, c], { timeout: LONG })
    sets(t, r2, { a, b, c }, ['a', 'b', 'c'], [])
    t.is((c.exception(0) as Error).name, 'TypeError')
    await joinAll([th])
  })

  // Cancellation is counted by wait only once an executor acknowledged it
  // (setRunningOrNotifyCancel), as in CPython: cancel() alone does not wake the waiter.
  test(`${name}() counts a cancelled future as done only once setRunningOrNotifyCancel() acknowledges it (from a worker)`, async (t) => {
    t.timeout(LONG + 10_000)
    const { CANCELLED, CANCELLED_AND_NOTIFIED } = fixtures()
    sets(t, await run([CANCELLED], { timeout: 20 }), { CANCELLED }, [], ['CANCELLED'])
    sets(t, await run([CANCELLED_AND_NOTIFIED], { timeout: 20 }), { CANCELLED_AND_NOTIFIED }, ['CANCELLED_AND_NOTIFIED'], [])
    t.true(CANCELLED.cancelled() && CANCELLED.done(), 'done() and cancelled() do count it')

    // A future cancelled by another thread while we wait stays in notDone until acknowledged.
    const f = new Future<number>()
    const cancelled = sharedInts(1)
    const canceller = spawn(
      (f: Future<number>, box: Int32Array) => {
        Atomics.store(box, 0, f.cancel() ? 1 : -1)
      },
      f,
      cancelled,
    )
    await joinAll([canceller])
    t.is(Atomics.load(cancelled, 0), 1)
    sets(t, await run([f], { returnWhen: FIRST_COMPLETED, timeout: 50 }), { f }, [], ['f'])

    // A worker acknowledges it while we wait: now it is done.
    const gate = threadGate()
    const acker = spawn(
      (f: Future<number>, gate: Int32Array) => {
        Atomics.store(gate, 0, 1)
        Atomics.wait(gate, 1, 0, 60_000)
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50) // the main thread waits meanwhile
        if (f.setRunningOrNotifyCancel()) throw new Error('expected false for a cancelled future')
      },
      f,
      gate,
    )
    await go(gate)
    const r = await run([f, makeFuture('pending')], { returnWhen: FIRST_COMPLETED, timeout: LONG })
    t.true(r.done.has(f))
    t.is(r.notDone.size, 1)
    await joinAll([acker])
  })

  test(`${name}(): a queued call cancelled by the caller becomes done when the pool's worker reaches and skips it`, async (t) => {
    t.timeout(LONG + 10_000)
    const started = new Event()
    const gate = new Event()
    const pool = await newPool(t, 1, gate)
    const first = pool.submit(
      (s: Event, g: Event) => {
        s.set()
        g.wait(60_000)
        return 'first'
      },
      started,
      gate,
    )
    t.true(await started.waitAsync(LONG))
    const queued = pool.submit(mul, 1, 2)
    t.true(queued.cancel())
    sets(t, await run([queued], { timeout: 30 }), { queued }, [], ['queued'])
    // The worker acknowledges the cancellation when it takes the item; a task behind it proves it did.
    const after = pool.submit(mul, 3, 4)
    gate.set()
    const r = await run([queued, after, first], { timeout: LONG })
    sets(t, r, { queued, after, first }, ['queued', 'after', 'first'], [])
    t.true(queued.cancelled())
    t.is(after.result(0), 12)
  })

  // A future another thread already watches (it awaited it first) is polled rather than
  // delivered through this thread's mailbox; completion must still end the wait.
  // A future another thread already watches (it awaited it first) is polled rather than
  // delivered through this thread's mailbox; completion must still end the wait.
  test(`${name}() sees a future completed elsewhere even when another worker thread watches it first`, async (t) => {
    t.timeout(LONG + 10_000)
    const f = new Future<string>()
    const own = new Future<string>()
    const { watcher, box } = await watchElsewhere(f)
    const gate = threadGate()
    const completer = spawn(
      (f: Future<string>, own: Future<string>, gate: Int32Array) => {
        Atomics.store(gate, 0, 1)
        Atomics.wait(gate, 1, 0, 60_000)
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50)
        f.setResult('x')
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50)
        own.setResult('y')
      },
      f,
      own,
      gate,
    )
    await go(gate)
    const r1 = await run([f], { returnWhen: FIRST_COMPLETED, timeout: LONG })
    sets(t, r1, { f }, ['f'], [])
    const r2 = await run([f, own], { timeout: LONG })
    sets(t, r2, { f, own }, ['f', 'own'], [])
    await joinAll([watcher, completer])
    t.is(Atomics.load(box, 1), 1)
  })

  // Regression guard: the wait ended by a mailbox-watched future must still report a polled
  // future that completed before it (CPython puts every future completed before the waiter is
  // removed in done).
  test(`${name}(FIRST_COMPLETED) also reports a polled future that completed before the one that ended the wait`, async (t) => {
    t.timeout(LONG + 10_000)
    const f = new Future<string>()
    const own = new Future<string>()
    const { watcher } = await watchElsewhere(f)
    let r: DoneAndNotDone<Future<string>>
    if (name === 'waitAsync') {
      const p = waitAsync([f, own], { returnWhen: FIRST_COMPLETED, timeout: LONG })
      f.setResult('first')
      own.setResult('second')
      r = await p
    } else {
      // Another thread completes both, back to back, while this one blocks.
      const gate = threadGate()
      const completer = spawn(
        (f: Future<string>, own: Future<string>, gate: Int32Array) => {
          Atomics.store(gate, 0, 1)
          Atomics.wait(gate, 1, 0, 60_000)
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100) // the main thread blocks meanwhile
          f.setResult('first')
          own.setResult('second')
        },
        f,
        own,
        gate,
      )
      await go(gate)
      r = wait([f, own], { returnWhen: FIRST_COMPLETED, timeout: BLOCK })
      await joinAll([completer])
    }
    t.true(r.done.has(own) || r.done.has(f), 'the wait ended with a future done')
    if (r.done.has(own)) t.true(r.done.has(f), 'f completed before own, so it is done too')
    await joinAll([watcher])
  })

  test(`${name}() rejects bad arguments: ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE`, async (t) => {
    t.timeout(10_000)
    const f = makeFuture('successful')
    const bad = async (fs: unknown, opts: unknown, Ctor: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor, code: string): Promise<void> => {
      // The blocking form throws synchronously, the async form rejects.
      const err = name === 'wait' ? t.throws(() => wait(fs as never, opts as never)) : await t.throwsAsync(waitAsync(fs as never, opts as never))
      t.true(err instanceof Ctor, `${String(fs)} / ${JSON.stringify(opts)}: ${err?.name}`)
      t.is((err as { code?: string }).code, code, `${String(fs)} / ${JSON.stringify(opts)}`)
    }
    for (const fs of [42, null, undefined, 'abc', { length: 0 }, f]) await bad(fs, undefined, TypeError, 'ERR_INVALID_ARG_TYPE')
    for (const fs of [[42], [f, {}], [Promise.resolve(1)], [f, null]]) await bad(fs, undefined, TypeError, 'ERR_INVALID_ARG_TYPE')
    for (const returnWhen of ['first_completed', 'ANY', 0, true]) await bad([f], { returnWhen }, RangeError, 'ERR_INVALID_ARG_VALUE')
    for (const timeout of [-1, -0.5, Number.NaN]) await bad([f], { timeout }, RangeError, 'ERR_OUT_OF_RANGE')
    await bad([f], { timeout: '10' }, TypeError, 'ERR_INVALID_ARG_TYPE')
    await bad([f], 5, TypeError, 'ERR_INVALID_ARG_TYPE')
  })
}

// ---- the blocking form specifically ------------------------------------------------------------

test('wait(timeout) blocking the main thread returns as soon as pool workers finish the calls', async (t) => {
  t.timeout(LONG + 10_000)
  const pool = await newPool(t, 3)
  const started = new Event()
  // Each call waits until the main thread is (about to be) blocked, then sleeps a little.
  const fs = [30, 60, 90].map((ms) =>
    pool.submit(
      (s: Event, ms: number) => {
        s.wait(60_000)
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
        return ms
      },
      started,
      ms,
    ),
  )
  await sleep(50)
  started.set()
  const r = wait(fs, { timeout: BLOCK })
  t.is(r.done.size, 3)
  t.is(r.notDone.size, 0)
  t.deepEqual(
    fs.map((f) => f.result(0)),
    [30, 60, 90],
  )
})

test('wait(FIRST_COMPLETED) blocking the main thread wakes for a future a worker completes mid-wait', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<number>()
  const never = new Future<number>()
  const box = sharedInts(1)
  const th = spawn(
    (f: Future<number>, box: Int32Array) => {
      Atomics.store(box, 0, 1)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100) // the main thread blocks meanwhile
      f.setResult(5)
    },
    f,
    box,
  )
  await until(() => Atomics.load(box, 0) === 1, 'the worker to start')
  const r = wait([never, f], { returnWhen: FIRST_COMPLETED, timeout: BLOCK })
  t.true(r.done.has(f))
  t.true(r.notDone.has(never))
  t.is(f.result(0), 5)
  await joinAll([th])
})

test('wait() inside a pool worker on futures of the same pool (nested) returns when they complete', async (t) => {
  t.timeout(LONG + 10_000)
  const gate = new Event()
  const pool = await newPool(t, 4, gate)
  const b = pool.submit((g: Event) => (g.wait(60_000), 'b'), gate)
  const c = pool.submit((g: Event) => (g.wait(60_000), 'c'), gate)
  const outer = pool.submit(
    async (url: string, b: Future<string>, c: Future<string>) => {
      const { wait, FIRST_COMPLETED } = await import(url)
      const first = wait([b, c], { returnWhen: FIRST_COMPLETED, timeout: 60_000 })
      const all = wait([b, c, b], { timeout: 60_000 })
      return { first: first.done.size, all: all.done.size, notDone: all.notDone.size, values: [b.result(0), c.result(0)] }
    },
    WAIT_URL,
    b,
    c,
  )
  await sleep(50) // let the outer call block in wait()
  t.false(outer.done())
  gate.set()
  const r = await outer.resultAsync(LONG)
  t.true(r.first >= 1)
  t.is(r.all, 2)
  t.is(r.notDone, 0)
  t.deepEqual(r.values, ['b', 'c'])
})

test('waitAsync() inside a pool worker on futures the main thread already watches (polled there) resolves', async (t) => {
  t.timeout(LONG + 10_000)
  const gate = new Event()
  const pool = await newPool(t, 4, gate)
  const b = pool.submit((g: Event) => (g.wait(60_000), 1), gate)
  const c = pool.submit((g: Event) => (g.wait(60_000), 2), gate)
  // The main thread watches b and c first, so the worker's wait finds them watched elsewhere.
  const mainSees = Promise.all([b.resultAsync(LONG), c.resultAsync(LONG)])
  const outer = pool.submit(
    async (url: string, b: Future<number>, c: Future<number>) => {
      const { waitAsync, wait } = await import(url)
      const r = await waitAsync([b, c], { timeout: 60_000 })
      const blocking = wait([b, c], { timeout: 60_000 })
      return [r.done.size, r.notDone.size, blocking.done.size]
    },
    WAIT_URL,
    b,
    c,
  )
  await sleep(50)
  gate.set()
  t.deepEqual(await outer.resultAsync(LONG), [2, 0, 2])
  t.deepEqual(await mainSees, [1, 2])
})

// A worker's completion mailbox holds 1024 posts; many completions at once overflow it, and the
// overflow rescan must still find every future.
test.serial('wait() in a worker over 3000 futures completed at once by the main thread sees them all', async (t) => {
  t.timeout(LONG + 10_000)
  const fs = Array.from({ length: 3000 }, () => new Future<number>())
  const box = sharedInts(3)
  const th = spawn(
    async (url: string, fs: Future<number>[], box: Int32Array) => {
      const { wait } = await import(url)
      Atomics.store(box, 0, 1)
      const r = wait(fs, { timeout: 60_000 })
      Atomics.store(box, 1, r.done.size)
      Atomics.store(box, 2, r.notDone.size)
    },
    WAIT_URL,
    fs,
    box,
  )
  await until(() => Atomics.load(box, 0) === 1, 'the worker to start waiting')
  await sleep(50)
  fs.forEach((f, i) => f.setResult(i))
  await joinAll([th])
  t.is(Atomics.load(box, 1), 3000)
  t.is(Atomics.load(box, 2), 0)
})

// Regression guard (bug: a completion drained by a blocking wait just before it went to sleep was
// slept through): wait() without a timeout, in a worker, over many bursts of futures another
// worker completes back to back. A lost wakeup leaves the waiter blocked forever.
test.serial('wait() in a worker returns for every burst of futures another worker completes back to back (no lost wakeup)', async (t) => {
  t.timeout(LONG + 10_000)
  const ROUNDS = 2000
  const WIDTH = 3
  const fs = Array.from({ length: ROUNDS * WIDTH }, () => new Future<number>())
  const sync = sharedInts(2) // [round the waiter is in (1-based), rounds returned]
  const waiter = spawn(
    async (url: string, fs: Future<number>[], sync: Int32Array, rounds: number, width: number) => {
      const { wait, FIRST_COMPLETED, ALL_COMPLETED } = await import(url)
      for (let r = 0; r < rounds; r++) {
        Atomics.store(sync, 0, r + 1)
        Atomics.notify(sync, 0)
        const batch = fs.slice(r * width, (r + 1) * width)
        wait(batch, { returnWhen: r % 2 === 0 ? ALL_COMPLETED : FIRST_COMPLETED })
        wait(batch) // all of them, for the next round to start clean
        Atomics.store(sync, 1, r + 1)
      }
    },
    WAIT_URL,
    fs,
    sync,
    ROUNDS,
    WIDTH,
  )
  const completer = spawn(
    (fs: Future<number>[], sync: Int32Array, rounds: number, width: number) => {
      for (let r = 0; r < rounds; r++) {
        while (Atomics.load(sync, 0) < r + 1) Atomics.wait(sync, 0, r, 1000)
        // 0-100 µs: the burst lands before, while and after the waiter registers and blocks.
        const spinUntil = performance.now() + (r % 101) * 0.001
        while (performance.now() < spinUntil);
        for (let i = 0; i < width; i++) fs[r * width + i]!.setResult(i)
      }
    },
    fs,
    sync,
    ROUNDS,
    WIDTH,
  )
  await joinAll([completer])
  try {
    await joinAll([waiter])
  } finally {
    t.is(Atomics.load(sync, 1), ROUNDS, `the waiter returned from ${Atomics.load(sync, 1)} of ${ROUNDS} rounds`)
  }
})

// ---- the async form specifically ---------------------------------------------------------------

test('waitAsync() does not block the event loop while pool workers run', async (t) => {
  t.timeout(LONG + 10_000)
  const gate = new Event()
  const pool = await newPool(t, 2, gate)
  const fs = [pool.submit((g: Event) => (g.wait(60_000), 1), gate), pool.submit((g: Event) => (g.wait(60_000), 2), gate)]
  let settled = false
  const p = waitAsync(fs, { timeout: LONG }).then((r) => ((settled = true), r))
  let ticks = 0
  const timer = setInterval(() => ticks++, 5)
  await until(() => ticks >= 5, 'timers to run while waitAsync is pending')
  clearInterval(timer)
  t.false(settled)
  gate.set()
  const r = await p
  t.is(r.done.size, 2)
  t.deepEqual(
    fs.map((f) => f.result(0)),
    [1, 2],
  )
})

test('waitAsync({ signal }) rejects with the signal reason when aborted; the futures are untouched', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<number>()
  const g = makeFuture('successful')
  const ac = new AbortController()
  const p = waitAsync([f, g], { timeout: LONG, signal: ac.signal })
  let settled = false
  p.then(
    () => (settled = true),
    () => (settled = true),
  )
  await sleep(30)
  t.false(settled)
  const reason = new Error('stop waiting')
  ac.abort(reason)
  t.is(await t.throwsAsync(p), reason)
  t.false(f.done())
  // Still usable: a later wait sees the completion.
  const again = waitAsync([f], { timeout: LONG })
  f.setResult(3)
  t.true((await again).done.has(f))

  // An already aborted signal rejects at once, even if the wait would be over at once.
  const aborted = AbortSignal.abort(new Error('early'))
  t.is(await t.throwsAsync(waitAsync([g], { signal: aborted })), aborted.reason)
  t.is(await t.throwsAsync(waitAsync([new Future()], { signal: aborted })), aborted.reason)
  // A signal that never aborts does not stop a normal return.
  const r = await waitAsync([g], { signal: new AbortController().signal })
  t.true(r.done.has(g))
})

test('waitAsync({ signal }) aborted while pool calls run: they still complete and a new wait sees them', async (t) => {
  t.timeout(LONG + 10_000)
  const gate = new Event()
  const pool = await newPool(t, 2, gate)
  const fs = [pool.submit(gated, gate), pool.submit(gated, gate)]
  const ac = new AbortController()
  const p = waitAsync(fs, { signal: ac.signal })
  await sleep(20)
  ac.abort()
  // AbortController.abort() without a reason rejects with a DOMException AbortError.
  const err = await t.throwsAsync(p, { any: true })
  t.is((err as { name?: string }).name, 'AbortError')
  gate.set()
  const r = await waitAsync(fs, { timeout: LONG })
  t.is(r.done.size, 2)
})

// ---- child processes -------------------------------------------------------------------------

test('waitAsync(): a wait that timed out or was aborted does not keep the process alive (child process)', async (t) => {
  t.timeout(LONG + 10_000)
  // On futures nobody completes: a watch left behind would hold the event loop forever.
  const r = await runChild('abandoned-wait-async')
  t.is(r.signal, null, `killed after the timeout (it did not exit); stdout: ${r.stdout}`)
  t.is(r.code, 0, r.stderr)
  t.is(r.stderr, '')
  t.deepEqual(
    r.stdout.split('\n').filter((l) => l !== ''),
    ['timeout notDone 1', 'aborted abandon', 'end'],
  )
})
