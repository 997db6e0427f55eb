/**
 * asCompleted: CPython's `Lib/test/test_concurrent_futures/test_as_completed.py`
 * (AsCompletedTests on ThreadPoolExecutor) ported to real worker threads, for both iteration
 * forms: `for...of` (blocking) and `for await`. Added: order of completion, already-done
 * futures first, futures completing during the iteration, leaving the loop early, the
 * TimeoutError contract ("N (of M) futures unfinished", ERR_TIMEOUT), `for await` yielding the
 * Future objects themselves, asCompleted inside a pool worker.
 *
 * The main thread only blocks (for...of) with a timeout; iterations without a timeout run in
 * worker threads, joined with a bound.
 * Skipped: the ProcessPool variants (no ProcessPoolExecutor here yet; fork/spawn contexts have
 * no Node equivalent).
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import v8 from 'node:v8'
import vm from 'node:vm'
import { Future } from '../src/future.ts'
import { asCompleted } from '../src/as-completed.ts'
import { TimeoutError } from '../src/errors.ts'
import * as root from '../src/index.ts'
import { Event } from '../../sync/src/event.ts'
import { sharedInts, sleep, spawn } from '../../sync/test/_helpers.ts'
import { BLOCK, fixtures, joinAll, LONG, makeFuture, newPool, runChild, until } from './_helpers.ts'

const AS_COMPLETED_URL = new URL('../src/as-completed.ts', import.meta.url).href

/** Names of futures, by identity (ava's deepEqual would find any two Futures equal). */
function namer(names: Record<string, Future<unknown>>): (fs: Iterable<Future<unknown>>) => string[] {
  const byFuture = new Map<Future<unknown>, string>()
  for (const [k, f] of Object.entries(names)) byFuture.set(f, k)
  return (fs) => [...fs].map((f) => byFuture.get(f) ?? '<unknown future>')
}

const sorted = (xs: string[]): string[] => [...xs].sort()

interface Outcome {
  yielded: Future<unknown>[]
  error: unknown
}

/** Iterates `asCompleted(fs, timeout)` in the given form, collecting what it yields and the error it ends with. */
async function collect(form: 'for...of' | 'for await', fs: Iterable<Future<unknown>>, timeout?: number, body?: (f: Future<unknown>) => void): Promise<Outcome> {
  const yielded: Future<unknown>[] = []
  try {
    if (form === 'for...of') {
      for (const f of asCompleted(fs, timeout)) {
        yielded.push(f)
        body?.(f)
      }
    } else {
      // (TypeScript types a for-await element as awaited; at run time it is the Future.)
      for await (const f of asCompleted(fs, timeout) as AsyncIterable<unknown>) {
        yielded.push(f as Future<unknown>)
        body?.(f as Future<unknown>)
      }
    }
    return { yielded, error: undefined }
  } catch (error) {
    return { yielded, error }
  }
}

function isTimeout(t: ExecutionContext, err: unknown, message?: string): void {
  t.true(err instanceof TimeoutError, `expected TimeoutError, got ${String(err)}`)
  t.is((err as { code?: string }).code, 'ERR_TIMEOUT')
  if (message !== undefined) t.is((err as Error).message, message)
}

// Task functions (shipped by source).
const mul = (x: number, y: number): number => x * y
const gated = (g: Event): void => {
  g.wait(60_000)
}

const FORMS = ['for...of', 'for await'] as const

test('asCompleted is exported from the package root and the as-completed subpath', async (t) => {
  t.is(root.asCompleted, asCompleted)
  const sub = await import('@tandem/futures/as-completed')
  t.is(sub.asCompleted, asCompleted)
})

for (const form of FORMS) {
  // The main thread blocks in for...of, so it gets a timeout; for await needs none.
  const bound = form === 'for...of' ? BLOCK : undefined

  // CPython test_no_timeout.
  test(`asCompleted() ${form} yields every future once: done ones and pool calls`, async (t) => {
    t.timeout(LONG + 10_000)
    const pool = await newPool(t, 2)
    const { CANCELLED_AND_NOTIFIED, EXCEPTION, SUCCESSFUL } = fixtures()
    const future1 = pool.submit(mul, 2, 21)
    const future2 = pool.submit(mul, 7, 6)
    const names = namer({ CANCELLED_AND_NOTIFIED, EXCEPTION, SUCCESSFUL, future1, future2 })
    const { yielded, error } = await collect(form, [CANCELLED_AND_NOTIFIED, EXCEPTION, SUCCESSFUL, future1, future2], bound)
    t.is(error, undefined)
    t.deepEqual(sorted(names(yielded)), sorted(['CANCELLED_AND_NOTIFIED', 'EXCEPTION', 'SUCCESSFUL', 'future1', 'future2']))
    t.is(future1.result(0), 42)
  })

  // CPython test_future_times_out.
  test(`asCompleted(fs, timeout) ${form} yields the done futures, then throws TimeoutError before the slow one`, async (t) => {
    t.timeout(LONG + 10_000)
    const gate = new Event()
    const pool = await newPool(t, 2, gate)
    for (const timeout of [0, 100]) {
      const { CANCELLED_AND_NOTIFIED, EXCEPTION, SUCCESSFUL } = fixtures()
      const future = pool.submit(gated, gate)
      const names = namer({ CANCELLED_AND_NOTIFIED, EXCEPTION, SUCCESSFUL, future })
      const { yielded, error } = await collect(form, new Set([CANCELLED_AND_NOTIFIED, EXCEPTION, SUCCESSFUL, future]), timeout)
      t.deepEqual(sorted(names(yielded)), sorted(['CANCELLED_AND_NOTIFIED', 'EXCEPTION', 'SUCCESSFUL']), `timeout ${timeout}`)
      isTimeout(t, error, '1 (of 4) futures unfinished')
      t.false(future.done())
    }
  })

  // CPython test_duplicate_futures (bpo-20367, bpo-31641: any iterable).
  test(`asCompleted() ${form} yields a duplicated future once, from any iterable`, async (t) => {
    t.timeout(LONG + 10_000)
    const pool = await newPool(t, 1)
    const future1 = pool.submit((ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms), 50)
    function* repeat<T>(x: T, n: number): Generator<T> {
      for (let i = 0; i < n; i++) yield x
    }
    const { yielded, error } = await collect(form, repeat(future1, 3), bound)
    t.is(error, undefined)
    t.is(yielded.length, 1)
    t.is(yielded[0], future1)
  })

  // CPython test_correct_timeout_exception_msg.
  test(`asCompleted(fs, 0) ${form} throws TimeoutError "2 (of 4) futures unfinished"`, async (t) => {
    t.timeout(10_000)
    const { CANCELLED_AND_NOTIFIED, PENDING, RUNNING, SUCCESSFUL } = fixtures()
    const { yielded, error } = await collect(form, [CANCELLED_AND_NOTIFIED, PENDING, RUNNING, SUCCESSFUL], 0)
    isTimeout(t, error, '2 (of 4) futures unfinished')
    t.is(yielded.length, 2)
    // M counts distinct futures; a cancelled future not acknowledged by an executor is unfinished.
    const { CANCELLED } = fixtures()
    const again = await collect(form, [PENDING, SUCCESSFUL, PENDING, CANCELLED, SUCCESSFUL], 0)
    isTimeout(t, again.error, '2 (of 3) futures unfinished')
    t.deepEqual(again.yielded, [SUCCESSFUL])
  })

  test(`asCompleted(fs, 0) ${form} yields all without error when every future is already done`, async (t) => {
    t.timeout(10_000)
    const { CANCELLED_AND_NOTIFIED, EXCEPTION, SUCCESSFUL } = fixtures()
    const r = await collect(form, [SUCCESSFUL, EXCEPTION, CANCELLED_AND_NOTIFIED], 0)
    t.is(r.error, undefined)
    t.is(r.yielded.length, 3)
    const empty = await collect(form, [], 0)
    t.is(empty.error, undefined)
    t.is(empty.yielded.length, 0)
  })

  test(`asCompleted() ${form} yields the already-done futures first, then the others as they complete`, async (t) => {
    t.timeout(LONG + 10_000)
    const gate = new Event()
    const pool = await newPool(t, 2, gate)
    const { CANCELLED_AND_NOTIFIED, EXCEPTION, SUCCESSFUL } = fixtures()
    const slow = pool.submit((g: Event) => (g.wait(60_000), 'slow'), gate)
    const names = namer({ CANCELLED_AND_NOTIFIED, EXCEPTION, SUCCESSFUL, slow })
    // Released from the loop body: the pending future cannot complete before the done ones are yielded.
    const { yielded, error } = await collect(form, [slow, EXCEPTION, SUCCESSFUL, CANCELLED_AND_NOTIFIED], bound, () => gate.set())
    t.is(error, undefined)
    const order = names(yielded)
    t.deepEqual(sorted(order.slice(0, 3)), sorted(['CANCELLED_AND_NOTIFIED', 'EXCEPTION', 'SUCCESSFUL']))
    t.is(order[3], 'slow')
  })

  test(`asCompleted() ${form} follows the order of completion of pool calls released from the loop body`, async (t) => {
    t.timeout(LONG + 10_000)
    const gates = [new Event(), new Event(), new Event(), new Event()]
    const pool = await newPool(t, 4, ...gates)
    const fs = gates.map((g, i) => pool.submit((g: Event, i: number) => (g.wait(60_000), i), g, i))
    // Completion order 2, 0, 3, 1: each call is released when the previous one is yielded.
    const plan = [2, 0, 3, 1]
    gates[plan[0]!]!.set()
    let step = 0
    const { yielded, error } = await collect(form, fs, bound, () => {
      step++
      if (step < plan.length) gates[plan[step]!]!.set()
    })
    t.is(error, undefined)
    t.deepEqual(
      yielded.map((f) => (fs as Future<unknown>[]).indexOf(f)),
      plan,
    )
    t.deepEqual(
      yielded.map((f) => f.result(0)),
      plan,
    )
  })

  test(`asCompleted() ${form} yields futures completed one by one by a worker thread in completion order`, async (t) => {
    t.timeout(LONG + 10_000)
    const fs = Array.from({ length: 6 }, () => new Future<number>())
    const order = [3, 1, 5, 0, 4, 2]
    const gate = sharedInts(2) // [started, go]: the main thread does not block while the thread boots
    // How many futures the iteration has yielded: the thread completes the next one only then, so
    // the order holds however late the main thread gets to look (a loaded machine).
    const seen = sharedInts(1)
    const th = spawn(
      (fs: Future<number>[], order: number[], gate: Int32Array, seen: Int32Array) => {
        Atomics.store(gate, 0, 1)
        Atomics.wait(gate, 1, 0, 60_000)
        for (let k = 0; k < order.length; k++) {
          for (let n = Atomics.load(seen, 0), tries = 0; n < k && tries < 600; n = Atomics.load(seen, 0), tries++) Atomics.wait(seen, 0, n, 100)
          fs[order[k]!]!.setResult(order[k]!)
        }
      },
      fs,
      order,
      gate,
      seen,
    )
    await until(() => Atomics.load(gate, 0) === 1, 'the completing thread to start')
    Atomics.store(gate, 1, 1)
    Atomics.notify(gate, 1)
    const { yielded, error } = await collect(form, fs, bound, () => {
      Atomics.add(seen, 0, 1)
      Atomics.notify(seen, 0)
    })
    t.is(error, undefined)
    t.deepEqual(
      yielded.map((f) => f.result(0)),
      order,
    )
    await joinAll([th])
  })

  test(`asCompleted() ${form}: leaving the loop early neither hangs nor disturbs the futures; a new iteration works`, async (t) => {
    t.timeout(LONG + 10_000)
    const gate = new Event()
    const pool = await newPool(t, 2, gate)
    const { SUCCESSFUL } = fixtures()
    const a = pool.submit((g: Event) => (g.wait(60_000), 'a'), gate)
    const b = pool.submit((g: Event) => (g.wait(60_000), 'b'), gate)
    const first: Future<unknown>[] = []
    if (form === 'for...of') {
      for (const f of asCompleted([a, SUCCESSFUL, b], BLOCK)) {
        first.push(f)
        break
      }
    } else {
      for await (const f of asCompleted([a, SUCCESSFUL, b]) as AsyncIterable<unknown>) {
        first.push(f as Future<unknown>)
        break
      }
    }
    t.deepEqual(first, [SUCCESSFUL])
    gate.set()
    const { yielded, error } = await collect(form, [a, b], bound)
    t.is(error, undefined)
    t.deepEqual(sorted(yielded.map((f) => f.result(0) as string)), ['a', 'b'])
  })

  test(`asCompleted() ${form}: a queued call cancelled by the caller is yielded once the pool's worker skips it`, async (t) => {
    t.timeout(LONG + 10_000)
    const started = new Event()
    const gate = new Event()
    const pool = await newPool(t, 1, gate)
    const first = pool.submit((s: Event, g: Event) => (s.set(), g.wait(60_000), 'first'), started, gate)
    t.true(await started.waitAsync(LONG))
    const queued = pool.submit(mul, 1, 2)
    t.true(queued.cancel())
    const early = await collect(form, [queued], 30)
    isTimeout(t, early.error, '1 (of 1) futures unfinished')
    gate.set()
    const names = namer({ first, queued })
    const { yielded, error } = await collect(form, [queued, first], bound)
    t.is(error, undefined)
    t.deepEqual(sorted(names(yielded)), ['first', 'queued'])
    t.true(queued.cancelled())
  })

  test(`asCompleted() ${form} rejects bad arguments when called: ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE`, (t) => {
    const f = makeFuture('successful')
    for (const fs of [42, null, undefined, 'abc', f, [1], [f, {}], [Promise.resolve(1)]]) {
      const err = t.throws(() => asCompleted(fs as never), undefined, String(fs))
      t.true(err instanceof TypeError)
      t.is((err as { code?: string }).code, 'ERR_INVALID_ARG_TYPE')
    }
    for (const timeout of [-1, Number.NaN]) {
      const err = t.throws(() => asCompleted([f], timeout))
      t.true(err instanceof RangeError)
      t.is((err as { code?: string }).code, 'ERR_OUT_OF_RANGE')
    }
    t.throws(() => asCompleted([f], '5' as never), { instanceOf: TypeError })
  })
}

test('asCompleted() for await yields the Future objects themselves, not their results; failed ones do not throw', async (t) => {
  t.timeout(LONG + 10_000)
  const pool = await newPool(t, 2)
  const { EXCEPTION, SUCCESSFUL } = fixtures()
  const ok = pool.submit(mul, 6, 7)
  const bad = pool.submit(() => {
    throw new TypeError('task failed')
  })
  const input: Future<unknown>[] = [SUCCESSFUL, EXCEPTION, ok, bad]
  const yielded: unknown[] = []
  for await (const f of asCompleted(input)) yielded.push(f)
  t.is(yielded.length, 4)
  for (const f of yielded) {
    t.true(f instanceof Future)
    t.true(input.includes(f as Future<unknown>))
  }
  t.is(await ok, 42)
  t.is(((await bad.exceptionAsync(0)) as Error).message, 'task failed')
  // The blocking form yields futures too.
  const sync = [...asCompleted([SUCCESSFUL], 0)]
  t.is(sync[0], SUCCESSFUL)
})

test('asCompleted() for await does not block the event loop while waiting', async (t) => {
  t.timeout(LONG + 10_000)
  const gate = new Event()
  const pool = await newPool(t, 1, gate)
  const f = pool.submit((g: Event) => (g.wait(60_000), 1), gate)
  let ticks = 0
  const timer = setInterval(() => ticks++, 5)
  // Boxed: an async function returning a Future would resolve to its result.
  const got = (async () => {
    for await (const x of asCompleted([f]) as AsyncIterable<unknown>) return { x }
    return undefined
  })()
  await until(() => ticks >= 5, 'timers to run during for await')
  clearInterval(timer)
  gate.set()
  t.is((await got)?.x, f)
})

test("asCompleted() for...of inside a pool worker yields the pool's futures as they complete (nested)", async (t) => {
  t.timeout(LONG + 10_000)
  const gates = [new Event(), new Event()]
  const pool = await newPool(t, 4, ...gates)
  const a = pool.submit((g: Event) => (g.wait(60_000), 'a'), gates[0]!)
  const b = pool.submit((g: Event) => (g.wait(60_000), 'b'), gates[1]!)
  const outer = pool.submit(
    async (url: string, a: Future<string>, b: Future<string>, ga: Event) => {
      const { asCompleted } = await import(url)
      const seen: string[] = []
      for (const f of asCompleted([a, b], 60_000)) {
        seen.push((f as Future<string>).result(0))
        ga.set() // b was released by the main thread; a is released from here
      }
      return seen
    },
    AS_COMPLETED_URL,
    a,
    b,
    gates[0]!,
  )
  await sleep(50)
  gates[1]!.set()
  t.deepEqual(await outer.resultAsync(LONG), ['b', 'a'])
})

// Regression guard (bug: a completion posted to the mailbox before the blocking wait drained it
// was slept through): the next step of a blocking iteration must yield a future completed in
// the loop body, by this thread or by another one. Run in workers without a timeout, so a lost
// wakeup shows as a worker that never finishes.
test('asCompleted() for...of yields a future completed in the loop body by the iterating thread itself', async (t) => {
  t.timeout(LONG + 10_000)
  const box = sharedInts(4)
  const th = spawn(
    async (url: string, box: Int32Array) => {
      const { asCompleted } = await import(url)
      const { Future } = await import(url.replace('as-completed.ts', 'future.ts'))
      const fs = [new Future(), new Future(), new Future(), new Future()]
      fs[0].setResult(0)
      let n = 0
      for (const f of asCompleted(fs)) {
        Atomics.store(box, n++, f.result(0) + 1)
        if (n < fs.length) fs[n].setResult(n)
      }
    },
    AS_COMPLETED_URL,
    box,
  )
  await joinAll([th])
  t.deepEqual([...box], [1, 2, 3, 4])
})

test('asCompleted() for...of yields a future another thread completed while the loop body ran', async (t) => {
  t.timeout(LONG + 10_000)
  const a = new Future<number>()
  const b = new Future<number>()
  const box = sharedInts(4) // [first, second, started, finished]
  const iterating = spawn(
    async (url: string, a: Future<number>, b: Future<number>, box: Int32Array) => {
      const { asCompleted } = await import(url)
      let n = 0
      Atomics.store(box, 2, 1)
      for (const f of asCompleted([a, b])) {
        Atomics.store(box, n++, f.result(0))
        // Busy for a while: b completes now, before the next step.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200)
      }
      Atomics.store(box, 3, 1)
    },
    AS_COMPLETED_URL,
    a,
    b,
    box,
  )
  // a completes while the worker blocks in the iteration (so it watches both futures).
  await until(() => Atomics.load(box, 2) === 1, 'the worker to start iterating')
  await sleep(50)
  a.setResult(1)
  await until(() => Atomics.load(box, 0) === 1, 'a to be yielded')
  b.setResult(2)
  await joinAll([iterating])
  t.deepEqual([...box], [1, 2, 1, 1])
})

// CPython test_free_reference_yielded_future (bpo-27144): the iteration must not keep a
// yielded future alive once the caller has dropped it.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0))

for (const form of FORMS) {
  test(`asCompleted() ${form} does not keep a yielded future alive after the caller drops it`, async (t) => {
    t.timeout(LONG)
    const list: Future<unknown>[] = Array.from({ length: 8 }, () => new Future<unknown>())
    list.push(makeFuture('cancelledAndNotified'), makeFuture('successful')) // no other reference to them

    const iterate = (fs: Future<unknown>[], timeout?: number) =>
      form === 'for...of' ? asCompleted(fs, timeout)[Symbol.iterator]() : asCompleted(fs, timeout)[Symbol.asyncIterator]()
    /** One step: takes the yielded future out of `list` and returns only a weak reference to it. */
    const step = async (it: ReturnType<typeof iterate>): Promise<WeakRef<Future<unknown>> | undefined> => {
      const r = await it.next()
      if (r.done) return undefined
      list.splice(list.indexOf(r.value), 1)
      return new WeakRef(r.value)
    }
    const collected = async (wr: WeakRef<Future<unknown>>): Promise<boolean> => {
      // A WeakRef target survives until the end of the job that created (or last dereferenced)
      // it: collect on later turns, a few times.
      for (let i = 0; i < 5; i++) {
        await tick()
        gc()
        if (wr.deref() === undefined) return true
      }
      return false
    }

    /**
     * Iterates `asCompleted(list, timeout)` step by step and counts the yielded futures that can
     * be collected while the iteration object is still alive: each one is checked once the next
     * step has run (V8 may keep the value a generator last yielded in its suspended frame), the
     * last one once the iteration has ended.
     */
    const iterateChecking = async (timeout: number, afterStep?: () => void): Promise<{ steps: number; freed: number; error: Error | undefined }> => {
      const it = iterate(list, timeout)
      let steps = 0
      let freed = 0
      let previous: WeakRef<Future<unknown>> | undefined
      let error: Error | undefined
      try {
        for (let wr; (wr = await step(it)) !== undefined; steps++) {
          if (previous !== undefined && (await collected(previous))) freed++
          previous = wr
          afterStep?.()
        }
      } catch (err) {
        // Only a copy leaves: a V8 error's unformatted stack holds the generator's frame, and
        // with it the futures not yet yielded (not what this test is about).
        const e = err as Error & { code?: string }
        error = err instanceof TimeoutError ? new TimeoutError(e.message) : Object.assign(new Error(e.message), { code: e.code })
      }
      if (previous !== undefined && (await collected(previous))) freed++
      void it // the iteration object is alive until here
      return { steps, freed, error }
    }

    // Phase 1: timeout 0 yields the two done futures, then times out.
    const p1 = await iterateChecking(0)
    isTimeout(t, p1.error, '8 (of 10) futures unfinished')
    t.is(p1.steps, 2)
    t.is(p1.freed, 2, 'each yielded future is collectable while the iteration goes on')
    t.is(list.length, 8)

    // Phase 2: CPython completes the next future from the loop body. The blocking form has all
    // of them completed up front (a completion from the body is covered by the lost-wakeup tests above).
    // (A helper, so no stale register of this async function holds the last future.)
    const completeAll = (fs: Future<unknown>[]): void => fs.forEach((f) => f.setResult('test'))
    if (form === 'for...of') completeAll(list)
    else list[0]!.setResult('test')
    const p2 = await iterateChecking(BLOCK, () => {
      if (form === 'for await' && list.length > 0) list[0]!.setResult('test')
    })
    t.is(p2.error, undefined)
    t.is(p2.steps, 8)
    t.is(p2.freed, 8, 'each yielded future is collectable while the iteration goes on')
  })
}

// ---- child processes -------------------------------------------------------------------------

test('asCompleted(): an iteration left by break or ended by its timeout does not keep the process alive (child process)', async (t) => {
  t.timeout(LONG + 10_000)
  // On futures nobody completes: a watch left behind would hold the event loop forever.
  const r = await runChild('abandoned-as-completed')
  t.is(r.signal, null, `killed after the timeout (it did not exit); stdout: ${r.stdout}`)
  t.is(r.code, 0, r.stderr)
  t.is(r.stderr, '')
  t.deepEqual(
    r.stdout.split('\n').filter((l) => l !== ''),
    ['sync first true', 'async first true', 'timeout ERR_TIMEOUT', 'end'],
  )
})
