/**
 * ThreadPoolExecutor nested and at scale: CPython's "submit from a task" and nested-pool cases
 * (test_thread_pool.py), adapted, since an executor is not shareable: a task creates its own
 * ThreadPoolExecutor inside its worker (`await import('@tandem/futures')`) and blocks on
 * `result()` there; Futures are shareable, so one made on the main thread is completed (or
 * awaited) by a task that received it as an argument. Then 100k tiny tasks and maps over 100k
 * items (chunksize, buffersize), every result checked.
 *
 * Workers may block without a timeout only where the main thread bounds them; the main thread
 * never blocks without a timeout.
 */
import test from 'ava'
import { Future } from '../src/future.ts'
import { CancelledError } from '../src/errors.ts'
import { Event } from '../../sync/src/event.ts'
import { LONG, makePool } from './_helpers.ts'

const N = 100_000

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}

// ---- nested pools -------------------------------------------------------------------------------

test('ThreadPoolExecutor: a task creates its own pool in its worker and blocks on result() and map() there', async (t) => {
  t.timeout(LONG * 2)
  const pool = makePool(t, { maxWorkers: 2 })
  const outer = async (n: number): Promise<{ one: number; mapped: number[]; two: number; name: string; innerName: string }> => {
    const { ThreadPoolExecutor } = await import('@tandem/futures')
    const { currentThread } = await import('@tandem/sync/thread')
    const inner = new ThreadPoolExecutor({ maxWorkers: 2, threadNamePrefix: 'Inner' })
    try {
      const one = inner.submit((x: number) => x * 3, n).result(60_000)
      const mapped = [...inner.map((x: number) => x * x, [1, 2, 3], { timeout: 60_000 })]
      // Two levels: the inner task makes a pool of its own.
      const two = inner
        .submit(async (x: number) => {
          const { ThreadPoolExecutor } = await import('@tandem/futures')
          const innermost = new ThreadPoolExecutor({ maxWorkers: 1 })
          try {
            return innermost.submit((y: number) => y + 1, x).result(60_000)
          } finally {
            innermost.shutdown()
          }
        }, n)
        .result(60_000)
      const innerName = await inner.submit(async () => (await import('@tandem/sync/thread')).currentThread().name).resultAsync(60_000)
      return { one, mapped, two, name: currentThread().name, innerName }
    } finally {
      inner.shutdown()
    }
  }
  const [a, b] = await Promise.all([pool.submit(outer, 10), pool.submit(outer, 20)].map((f) => f.resultAsync(LONG)))
  t.deepEqual([a!.one, a!.mapped, a!.two], [30, [1, 4, 9], 11])
  t.deepEqual([b!.one, b!.mapped, b!.two], [60, [1, 4, 9], 21])
  t.regex(a!.name, /^ThreadPoolExecutor-\d+_[01]$/)
  t.regex(a!.innerName, /^Inner_[01]$/)
})

test('ThreadPoolExecutor: an error in a nested pool reaches the main thread through both futures with its class name', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 1 })
  const err = (await pool
    .submit(async () => {
      const { ThreadPoolExecutor } = await import('@tandem/futures')
      const inner = new ThreadPoolExecutor({ maxWorkers: 1 })
      try {
        return inner
          .submit(() => {
            class LookupError extends Error {
              override name = 'LookupError'
            }
            throw new LookupError('deep inside')
          })
          .result(60_000)
      } finally {
        inner.shutdown()
      }
    })
    .exceptionAsync(LONG)) as Error
  t.is(err?.name, 'LookupError')
  t.is(err?.message, 'deep inside')
})

// ---- futures crossing threads -------------------------------------------------------------------

test('Future: one made on the main thread is completed by a task that received it as an argument', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 2 })
  const ok = new Future<{ n: number }>()
  const seen: unknown[] = []
  ok.addDoneCallback((f) => seen.push(f.result(0)))
  t.is(await pool.submit((f: Future<{ n: number }>) => (f.setResult({ n: 99 }), 'set'), ok).resultAsync(LONG), 'set')
  t.deepEqual(await ok.resultAsync(LONG), { n: 99 })
  t.deepEqual(ok.result(LONG), { n: 99 })
  await new Promise((r) => setImmediate(r))
  t.deepEqual(seen, [{ n: 99 }], 'the main-thread callback ran')

  const bad = new Future<number>()
  await pool.submit((f: Future<number>) => f.setException(new RangeError('from the task')), bad).resultAsync(LONG)
  const err = (await bad.exceptionAsync(LONG)) as Error
  t.true(err instanceof RangeError)
  t.is(err.message, 'from the task')

  // Completing twice from a task raises InvalidStateError there.
  const code = await pool
    .submit((f: Future<{ n: number }>) => {
      try {
        f.setResult({ n: 0 })
        return 'no error'
      } catch (e) {
        return (e as { code?: string }).code
      }
    }, ok)
    .resultAsync(LONG)
  t.is(code, 'ERR_INVALID_STATE')
  t.deepEqual(await ok.resultAsync(LONG), { n: 99 }, 'the first result stays')
})

test('Future: a task blocks on a main-thread Future until the main thread sets or cancels it', async (t) => {
  t.timeout(LONG)
  const started = new Event()
  const pool = makePool(t, { maxWorkers: 2 })
  const waitOn = (f: Future<string>, s: Event): string => {
    s.set()
    try {
      return `got ${f.result(60_000)}`
    } catch (e) {
      return (e as { code?: string }).code ?? String(e)
    }
  }
  const value = new Future<string>()
  const w = pool.submit(waitOn, value, started)
  t.true(await started.waitAsync(LONG))
  value.setResult('hello')
  t.is(await w.resultAsync(LONG), 'got hello')

  const cancelled = new Future<string>()
  started.clear()
  const w2 = pool.submit(waitOn, cancelled, started)
  t.true(await started.waitAsync(LONG))
  t.true(cancelled.cancel())
  t.is(await w2.resultAsync(LONG), 'ERR_CANCELLED')
  await t.throwsAsync(() => cancelled.resultAsync(LONG), { instanceOf: CancelledError })
})

test('Future: one task completes a Future another task of the same pool is blocked on', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 2 })
  const shared = new Future<number>()
  // Submitted together, so both workers start and the waiter cannot hold the only worker.
  const waiter = pool.submit((f: Future<number>) => f.result(60_000) * 2, shared)
  const setter = pool.submit((f: Future<number>) => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50)
    f.setResult(21)
  }, shared)
  t.is(await waiter.resultAsync(LONG), 42)
  await setter.resultAsync(LONG)
  t.is(shared.result(0), 21)
})

// ---- at scale -----------------------------------------------------------------------------------

test.serial('ThreadPoolExecutor runs 100k tiny tasks, every result correct (sum and per index)', async (t) => {
  t.timeout(LONG * 3)
  const pool = makePool(t, { maxWorkers: 2 })
  const fs = range(N).map((i) => pool.submit((x: number) => x * 2 + 1, i))
  const rs = await Promise.all(fs.map((f) => f.resultAsync(LONG * 2)))
  t.is(rs.length, N)
  t.is(
    rs.reduce((a, b) => a + b, 0),
    N * N, // sum of 2i + 1 for i < N
  )
  const wrong = rs.findIndex((r, i) => r !== i * 2 + 1)
  t.is(wrong, -1, `first wrong result at index ${wrong}: ${rs[wrong]}`)
  t.true(fs.every((f) => f.done() && !f.cancelled()))
})

test.serial('ThreadPoolExecutor.map() over 100k items with chunksize 1000, blocking and async', async (t) => {
  t.timeout(LONG * 3)
  const pool = makePool(t, { maxWorkers: 2 })
  const xs = range(N)
  const check = (rs: number[], what: string): void => {
    t.is(rs.length, N, what)
    t.is(
      rs.reduce((a, b) => a + b, 0),
      (3 * N * (N - 1)) / 2,
      `${what}: sum`,
    )
    const wrong = rs.findIndex((r, i) => r !== i * 3)
    t.is(wrong, -1, `${what}: first wrong result at index ${wrong}`)
  }
  check([...pool.map((x: number) => x * 3, xs, { chunksize: 1000, timeout: LONG * 2 })], 'for...of')
  const got: number[] = []
  for await (const r of pool.map(async (x: number) => x * 3, xs, { chunksize: 1000 })) got.push(r)
  check(got, 'for await, async fn')
})

test.serial('ThreadPoolExecutor.map() over 100k lazily generated items with buffersize, with and without chunks', async (t) => {
  t.timeout(LONG * 3)
  const pool = makePool(t, { maxWorkers: 2 })
  let read = 0
  function* items(): Generator<number> {
    for (let i = 0; i < N; i++) {
      read++
      yield i
    }
  }
  const runs: [string, { buffersize: number; chunksize?: number }][] = [
    ['buffersize 256', { buffersize: 256 }],
    ['buffersize 4, chunksize 1000', { buffersize: 4, chunksize: 1000 }],
  ]
  for (const [what, opts] of runs) {
    read = 0
    let i = 0
    let wrong = -1
    let sum = 0
    const ahead = opts.buffersize * (opts.chunksize ?? 1)
    let mostAhead = 0
    for await (const r of pool.map((x: number) => -x, items(), opts)) {
      if (r !== -i && wrong < 0) wrong = i
      sum += r
      i++
      mostAhead = Math.max(mostAhead, read - i)
    }
    t.is(i, N, what)
    t.is(wrong, -1, `${what}: first wrong result at index ${wrong}`)
    t.is(sum, -(N * (N - 1)) / 2, `${what}: sum`)
    // The input is read lazily: never more than buffersize items (chunks) ahead of the results.
    t.true(mostAhead <= ahead + (opts.chunksize ?? 1), `${what}: read ${mostAhead} items ahead of the results`)
  }
  // Blocking form with buffersize.
  read = 0
  let n = 0
  for (const r of pool.map((x: number) => x + 1, items(), { buffersize: 64, timeout: LONG * 2 })) {
    if (r !== n + 1) break
    n++
  }
  t.is(n, N)
})
