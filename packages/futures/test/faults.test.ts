/**
 * ThreadPoolExecutor faults: a worker that dies never leaves a Future pending. Ports the cases of
 * CPython 3.13's `Lib/test/test_concurrent_futures/test_deadlock.py` that apply to threads, and
 * the fault list of the futures issue:
 * - process.exit() in a task (test_exit_during_func_exec_on_worker): its future and every queued
 *   one fail with BrokenThreadPool naming the worker and the cause; later submits throw it
 * - a worker out of memory under `resourceLimits` (the closest thing to test_crash_during_func_exec)
 * - a blocking result() on the main thread while the worker exits (test_shutdown_deadlock's "no hang")
 * - exit after shutdown began (test_shutdown_deadlock); map over big items to a dying task (test_crash_big_data)
 * - initializers that throw, reject, exit, or cannot be loaded
 * - an un-cloneable result (test_error_during_result_pickle_on_worker), a getter that throws or
 *   exits while the result is serialized (test_exit/crash_during_result_pickle_on_worker)
 * - an un-cloneable argument (test_error_at_task_pickle): TypeError ERR_NOT_SHAREABLE at submit
 * - a task error keeps its class name, message, code, cause and the worker's stack
 *   (test_error_during_func_exec_on_worker)
 * - an error escaping a task later (a timer, an unhandled rejection) kills the worker: BrokenThreadPool
 * Skipped: the *_at_task_unpickle and *_result_unpickle_in_result_handler cases (structured clone runs
 * no user code while decoding, so nothing can fail or exit there), test_gh105829 (process pool's wakeup
 * pipe), test_shutdown_deadlock_pickle (arguments are cloned synchronously in submit: see the
 * ERR_NOT_SHAREABLE test).
 *
 * Every wait is bounded; the main thread blocks only with a timeout.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { ThreadPoolExecutor, ThreadPoolExecutorOptions } from '../src/thread-pool-executor.ts'
import { BrokenThreadPool } from '../src/errors.ts'
import type { Future } from '../src/future.ts'
import { Event } from '../../sync/src/event.ts'
import { moduleRef } from '../../sync/src/task.ts'
import { LONG, makePool, untilSubmitThrows } from './_helpers.ts'

type CodedError = Error & { code?: string }

/** The error a future failed with (async, bounded). */
async function errorOf(f: Future<unknown>): Promise<CodedError> {
  return (await f.exceptionAsync(LONG)) as CodedError
}

/** Checks a BrokenThreadPool as it arrives through a future (its class name and code). */
function isBroken(t: ExecutionContext, err: CodedError | undefined, what = 'error'): void {
  t.is(err?.name, 'BrokenThreadPool', `${what}: ${err?.stack ?? err}`)
  t.is(err?.code, 'ERR_BROKEN_THREAD_POOL', what)
}

/** The error submit() throws now. */
function submitError(t: ExecutionContext, pool: ThreadPoolExecutor): CodedError {
  return t.throws(() => pool.submit(() => 1), { instanceOf: BrokenThreadPool, code: 'ERR_BROKEN_THREAD_POOL' } as never) as CodedError
}

/** A task that allocates until its worker runs out of heap. */
const allocateForever = (): never => {
  const hoard: unknown[] = []
  for (;;) hoard.push(new Array(100_000).fill(hoard.length))
}

// ---- a worker that exits ----------------------------------------------------------------------

// Serial, so the main event loop is idle: then the pool's joinAsync watcher runs as soon as the
// thread is marked finished, which happens before the worker's own exit handler has told the pool
// why it died; the error must still give the exit code, not "terminated abruptly".
test.serial('ThreadPoolExecutor: process.exit() in a task fails it and every queued future with BrokenThreadPool naming the worker and the exit code', async (t) => {
  t.timeout(LONG)
  const started = new Event()
  const gate = new Event()
  const pool = makePool(t, { maxWorkers: 1, threadNamePrefix: 'Faulty' }, gate)
  const f = pool.submit(
    (s: Event, g: Event) => {
      s.set()
      g.wait(60_000)
      process.exit(7)
    },
    started,
    gate,
  )
  t.true(await started.waitAsync(LONG), 'the exiting task started')
  const queued = [1, 2, 3, 4].map((i) => pool.submit((x: number) => x, i))
  gate.set()
  for (const [i, q] of [f, ...queued].entries()) {
    const err = await errorOf(q)
    isBroken(t, err, `future ${i}`)
    t.regex(err?.message ?? '', /Faulty_0/, `future ${i} names the worker`)
    t.regex(err?.message ?? '', /exit code 7/, `future ${i} gives the cause`)
  }
  await untilSubmitThrows(pool)
  submitError(t, pool)
  t.throws(() => pool.map((x: number) => x, [1]), { instanceOf: BrokenThreadPool, code: 'ERR_BROKEN_THREAD_POOL' } as never)
})

test('ThreadPoolExecutor: after a worker died, submit() throws BrokenThreadPool naming the worker and the cause', async (t) => {
  t.timeout(LONG * 2)
  // process.exit
  const exiting = makePool(t, { maxWorkers: 1, threadNamePrefix: 'Exiting' })
  isBroken(t, await errorOf(exiting.submit(() => process.exit(7))))
  await untilSubmitThrows(exiting)
  const e1 = submitError(t, exiting)
  t.regex(e1?.message ?? '', /Exiting_0/, 'names the worker that exited')
  t.regex(e1?.message ?? '', /exit code 7/, 'gives the exit code')

  // out of memory
  const hungry = makePool(t, { maxWorkers: 1, threadNamePrefix: 'Greedy', resourceLimits: { maxOldGenerationSizeMb: 32 } })
  isBroken(t, await errorOf(hungry.submit(allocateForever)))
  await untilSubmitThrows(hungry)
  const e2 = submitError(t, hungry)
  t.regex(e2?.message ?? '', /Greedy_0/, 'names the worker out of memory')
  t.regex(e2?.message ?? '', /out of memory/, 'says it ran out of memory')

  // initializer
  const badInit = makePool(t, {
    maxWorkers: 1,
    threadNamePrefix: 'BadInit',
    initializer: () => {
      throw new RangeError('no config')
    },
  })
  isBroken(t, await errorOf(badInit.submit(() => 1)))
  await untilSubmitThrows(badInit)
  const e3 = submitError(t, badInit)
  t.regex(e3?.message ?? '', /BadInit_0/, 'names the worker whose initializer failed')
  t.regex(e3?.message ?? '', /RangeError: no config/, "gives the initializer's error")
})

test('ThreadPoolExecutor: a blocking result() on the main thread returns BrokenThreadPool when the worker exits while it waits', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 1, threadNamePrefix: 'Blocked' })
  t.is(await pool.submit(() => 'up').resultAsync(LONG), 'up')
  // The worker exits only after the main thread is (very likely) already blocked in result().
  const f = pool.submit(() => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200)
    process.exit(5)
  })
  const queued = pool.submit(() => 'never')
  const err = t.throws(() => f.result(LONG)) as CodedError
  isBroken(t, err)
  t.regex(err?.message ?? '', /Blocked_0/)
  isBroken(t, t.throws(() => queued.result(LONG)) as CodedError, 'queued future')
  isBroken(t, queued.exception(LONG) as CodedError, 'queued future exception()')
})

test('ThreadPoolExecutor.map(): iterating over calls whose worker exits throws BrokenThreadPool instead of hanging (CPython test_crash_big_data)', async (t) => {
  t.timeout(LONG)
  const data = 'a'.repeat(1 << 20)
  const pool = makePool(t, { maxWorkers: 2 })
  const err = t.throws(() => {
    for (const _ of pool.map((_d: string) => process.exit(1), Array(10).fill(data), { timeout: LONG }));
  }) as CodedError
  isBroken(t, err)

  const pool2 = makePool(t, { maxWorkers: 2 })
  const err2 = await t.throwsAsync(async () => {
    for await (const _ of pool2.map((_d: string) => process.exit(1), Array(10).fill(data)));
  })
  isBroken(t, err2 as CodedError, 'for await')
})

test('ThreadPoolExecutor: a call running on another worker still completes when a sibling worker exits', async (t) => {
  t.timeout(LONG)
  const started = new Event()
  const gate = new Event()
  const pool = makePool(t, { maxWorkers: 2 }, gate)
  // Submitted together, so both workers start.
  const a = pool.submit(
    (s: Event, g: Event) => {
      s.set()
      return g.wait(60_000) ? 'A' : 'gate never opened'
    },
    started,
    gate,
  )
  const b = pool.submit((s: Event) => {
    s.wait(60_000)
    process.exit(2)
  }, started)
  isBroken(t, await errorOf(b))
  t.false(a.done(), 'A is still running')
  gate.set()
  t.is(await a.resultAsync(LONG), 'A')
  await pool.shutdownAsync()
})

test('ThreadPoolExecutor.shutdownAsync() returns and the future fails when its worker exits after shutdown began (CPython test_shutdown_deadlock)', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 2 })
  const f = pool.submit(() => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
    process.exit(1)
  })
  await pool.shutdownAsync()
  isBroken(t, await errorOf(f))
})

// ---- out of memory ----------------------------------------------------------------------------

test('ThreadPoolExecutor: a worker out of memory under resourceLimits fails its future and the queued ones with BrokenThreadPool', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 1, threadNamePrefix: 'Hungry', resourceLimits: { maxOldGenerationSizeMb: 32 } })
  t.is(await pool.submit(() => 'up').resultAsync(LONG), 'up')
  const f = pool.submit(allocateForever)
  const queued = [1, 2, 3].map((i) => pool.submit((x: number) => x, i))
  for (const [i, q] of [f, ...queued].entries()) {
    const err = await errorOf(q)
    isBroken(t, err, `future ${i}`)
    t.regex(err?.message ?? '', /Hungry_0/, `future ${i} names the worker`)
    t.regex(err?.message ?? '', /out of memory/, `future ${i} gives the cause`)
  }
  await untilSubmitThrows(pool)
  submitError(t, pool)
})

// ---- initializers -----------------------------------------------------------------------------

test('ThreadPoolExecutor: an initializer that rejects, exits or cannot be loaded breaks the pool', async (t) => {
  t.timeout(LONG * 2)
  const cases: [string, ThreadPoolExecutorOptions['initializer'], RegExp][] = [
    [
      'async initializer rejecting',
      async () => {
        await new Promise((r) => setTimeout(r, 5))
        throw new TypeError('async init failed')
      },
      /TypeError: async init failed/,
    ],
    ['initializer calling process.exit', () => process.exit(9), /Init_0/],
    ['moduleRef to a missing export', moduleRef('node:util', 'noSuchExport'), /noSuchExport/],
  ]
  for (const [what, initializer, message] of cases) {
    const pool = makePool(t, { maxWorkers: 1, threadNamePrefix: 'Init', initializer })
    const fs = [pool.submit(() => 1), pool.submit(() => 2)]
    for (const f of fs) {
      const err = await errorOf(f)
      isBroken(t, err, what)
      t.regex(err?.message ?? '', message, what)
    }
    await untilSubmitThrows(pool)
    submitError(t, pool)
  }
})

test('ThreadPoolExecutor: an initializer that throws a non-Error breaks the pool and the message shows the value', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, {
    maxWorkers: 1,
    threadNamePrefix: 'Init',
    initializer: () => {
      throw 42
    },
  })
  const err = await errorOf(pool.submit(() => 1))
  isBroken(t, err)
  t.regex(err?.message ?? '', /\b42\b/)
  t.notRegex(err?.message ?? '', /undefined/)
})

// ---- results that cannot cross ----------------------------------------------------------------

test('ThreadPoolExecutor: an un-cloneable result fails only that future with ERR_NOT_SHAREABLE; the worker keeps serving', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 1 })
  const worker = async (): Promise<number> => (await import('node:worker_threads')).threadId
  const before = await pool.submit(worker).resultAsync(LONG)
  const fn = await errorOf(pool.submit(() => () => 1))
  t.true(fn instanceof TypeError)
  t.is(fn?.code, 'ERR_NOT_SHAREABLE')
  // (A view on a SharedArrayBuffer is no longer refused: it arrives as the same memory, see data-crossing.test.ts.)
  const sym = await errorOf(pool.submit(() => ({ tag: Symbol('not cloneable') })))
  t.is(sym?.code, 'ERR_NOT_SHAREABLE')
  const nested = await errorOf(pool.submit(() => ({ ok: [1, 2], bad: { cb: () => 0 } })))
  t.is(nested?.code, 'ERR_NOT_SHAREABLE')
  // The same worker runs the next call.
  t.is(await pool.submit(worker).resultAsync(LONG), before)

  // With chunks, the chunk holding the un-cloneable result fails; earlier chunks are yielded.
  const got: unknown[] = []
  const err = t.throws(() => {
    for (const r of pool.map((x: number) => (x === 4 ? () => x : x), [0, 1, 2, 3, 4, 5, 6], { chunksize: 3, timeout: LONG })) got.push(r)
  }) as CodedError
  t.is(err?.code, 'ERR_NOT_SHAREABLE')
  t.deepEqual(got, [0, 1, 2])
})

test("ThreadPoolExecutor: a result whose getter throws while it is serialized fails that future with the getter's error (CPython test_error_during_result_pickle_on_worker)", async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 1 })
  const err = await errorOf(
    pool.submit(() => ({
      get x(): number {
        throw new RangeError('Error in pickle')
      },
    })),
  )
  t.true(err instanceof RangeError)
  t.is(err?.message, 'Error in pickle')
  t.is(await pool.submit(() => 'after').resultAsync(LONG), 'after')
})

test('ThreadPoolExecutor: a result whose getter calls process.exit while it is serialized breaks the pool (CPython test_exit_during_result_pickle_on_worker)', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 1, threadNamePrefix: 'Pickle' })
  const f = pool.submit(() => ({
    get x(): number {
      return process.exit(3)
    },
  }))
  const queued = pool.submit(() => 'never')
  const err = await errorOf(f)
  isBroken(t, err)
  t.regex(err?.message ?? '', /Pickle_0/)
  isBroken(t, await errorOf(queued), 'queued future')
  await untilSubmitThrows(pool)
})

// ---- arguments that cannot cross --------------------------------------------------------------

test('ThreadPoolExecutor.submit() with an un-cloneable argument throws TypeError ERR_NOT_SHAREABLE and queues nothing (CPython test_error_at_task_pickle)', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 1 })
  const bad: [string, unknown][] = [
    ['a function', () => 1],
    ['a nested function', { deep: [{ f() {} }] }],
    ['a symbol', Symbol('s')],
    ['a WeakMap', new WeakMap()],
  ]
  for (const [what, arg] of bad) {
    t.throws(() => pool.submit((x: unknown) => x, arg), { instanceOf: TypeError, code: 'ERR_NOT_SHAREABLE' } as never, what)
  }
  // map: an un-cloneable item throws from the call, or, with buffersize, from the iteration.
  t.throws(() => pool.map((x: unknown) => x, [1, 2, () => 3]), { instanceOf: TypeError, code: 'ERR_NOT_SHAREABLE' } as never)
  const it = pool.map((x: unknown) => x, [1, () => 2, 3], { buffersize: 1, timeout: LONG })[Symbol.iterator]()
  t.throws(
    () => {
      it.next()
      it.next()
    },
    { instanceOf: TypeError, code: 'ERR_NOT_SHAREABLE' } as never,
  )
  // The pool is not broken, and shutting down waits for nothing stranded.
  t.is(await pool.submit((x: number) => x + 1, 1).resultAsync(LONG), 2)
  await pool.shutdownAsync()
})

// ---- task errors --------------------------------------------------------------------------------

test("ThreadPoolExecutor: a task error keeps its class name, message, code, properties, cause and the worker's stack", async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 1 })
  const err = await errorOf(
    pool.submit((why: string) => {
      class RuntimeError extends Error {
        override name = 'RuntimeError'
      }
      const e = new RuntimeError(why, { cause: new RangeError('inner') }) as RuntimeError & { code: string; detail: number[] }
      e.code = 'E_RUNTIME'
      e.detail = [1, 2]
      throw e
    }, 'went wrong'),
  )
  t.is(err?.name, 'RuntimeError')
  t.is(err?.message, 'went wrong')
  t.is(err?.code, 'E_RUNTIME')
  t.deepEqual((err as CodedError & { detail?: number[] }).detail, [1, 2])
  t.true(err?.cause instanceof RangeError)
  t.is((err?.cause as Error | undefined)?.message, 'inner')
  // The stack is the worker's: it runs through the pool's worker loop, not this file.
  t.regex(err?.stack ?? '', /went wrong/)
  t.regex(err?.stack ?? '', /workerLoop/)
  t.notRegex(err?.stack ?? '', /faults\.test\.ts/)

  // Thrown after an await, the stack is still the worker's.
  const late = await errorOf(
    pool.submit(async () => {
      await new Promise((r) => setTimeout(r, 5))
      throw new SyntaxError('late')
    }),
  )
  t.true(late instanceof SyntaxError)
  t.regex(late?.stack ?? '', /workerLoop/)

  // Non-Error values arrive as themselves (cloned).
  t.is(await pool.submit(() => Promise.reject(42)).exceptionAsync(LONG), 42)
  t.deepEqual(
    await pool
      .submit(() => {
        throw { reason: 'plain' }
      })
      .exceptionAsync(LONG),
    { reason: 'plain' },
  )
  // The worker survives every one of them.
  t.is(await pool.submit(() => 'alive').resultAsync(LONG), 'alive')
})

test('ThreadPoolExecutor: an error escaping a task later (a timer, an unhandled rejection) kills the worker and breaks the pool', async (t) => {
  t.timeout(LONG)
  const timer = makePool(t, { maxWorkers: 1 })
  const f = timer.submit(async () => {
    setTimeout(() => {
      throw new Error('late timer')
    }, 5)
    await new Promise((r) => setTimeout(r, 500))
    return 'finished'
  })
  isBroken(t, await errorOf(f), 'timer')
  await untilSubmitThrows(timer)

  const rejection = makePool(t, { maxWorkers: 1 })
  const g = rejection.submit(async () => {
    void Promise.reject(new Error('nobody handles me'))
    await new Promise((r) => setTimeout(r, 500))
    return 'finished'
  })
  isBroken(t, await errorOf(g), 'unhandled rejection')
  await untilSubmitThrows(rejection)
})

test('BrokenThreadPool from a future failed by the pool is an instance of BrokenThreadPool', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, {
    maxWorkers: 1,
    initializer: () => {
      throw new Error('init')
    },
  })
  const err = await errorOf(pool.submit(() => 1))
  t.is(err?.code, 'ERR_BROKEN_THREAD_POOL')
  // `catch (e) { if (e instanceof BrokenThreadPool) ... }` must work for the futures' errors too,
  // as for the error submit() throws (CPython: except BrokenExecutor).
  t.true(err instanceof BrokenThreadPool, `got ${err?.constructor?.name} named ${err?.name}`)
})
