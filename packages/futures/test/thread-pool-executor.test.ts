/**
 * ThreadPoolExecutor: the essence of CPython's `Lib/test/test_concurrent_futures`
 * (test_thread_pool, executor, test_shutdown, test_init) on real worker threads.
 *
 * Task functions are shipped by source: they may only use their parameters, globals and
 * modules they import themselves. Submit arguments are copied through a queue, so shared state
 * reaches tasks as Tandem primitives (Event, Barrier, Queue) or SharedArrayBuffer views (which
 * arrive as the same memory). The main thread never blocks without a timeout.
 */
import test from 'ava'
import { ThreadPoolExecutor } from '../src/thread-pool-executor.ts'
import { BrokenThreadPool, CancelledError, TimeoutError } from '../src/errors.ts'
import { Barrier } from '../../sync/src/barrier.ts'
import { Event } from '../../sync/src/event.ts'
import { Queue } from '../../queue/src/queue.ts'
import { sharedInts } from '../../sync/test/_helpers.ts'
import { LONG, untilSubmitThrows } from './_helpers.ts'

const THREAD_URL = new URL('../../sync/src/thread.ts', import.meta.url).href

test('ThreadPoolExecutor.submit() returns a Future with the result of a sync function', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 2 })
  try {
    const f = pool.submit((a: number, b: number) => a ** b, 2, 8)
    t.is(f.result(LONG), 256)
    const g = pool.submit((s: string, o: { k: number[] }) => `${s}:${o.k.join(',')}`, 'x', { k: [1, 2, 3] })
    t.is(await g, 'x:1,2,3')
    t.true(f.done())
  } finally {
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor.submit() runs an async function and resolves with its awaited result', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 2 })
  try {
    const f = pool.submit(async (n: number) => {
      await new Promise((r) => setTimeout(r, 20))
      return n + 1
    }, 41)
    t.is(await f.resultAsync(LONG), 42)
    const g = pool.submit(async () => {
      await new Promise((r) => setTimeout(r, 5))
      throw new RangeError('late')
    })
    const err = (await g.exceptionAsync(LONG)) as Error
    t.is(err.name, 'RangeError')
    t.is(err.message, 'late')
  } finally {
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor.submit(): an exception in the task arrives with its class name and message', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 })
  try {
    const f = pool.submit((m: string) => {
      class ZeroDivisionError extends Error {
        override name = 'ZeroDivisionError'
      }
      throw new ZeroDivisionError(m)
    }, 'division by zero')
    const err = t.throws(() => f.result(LONG)) as Error
    t.is(err.name, 'ZeroDivisionError')
    t.is(err.message, 'division by zero')
    const e2 = (await pool
      .submit(() => {
        throw new TypeError('bad type')
      })
      .exceptionAsync(LONG)) as Error
    t.true(e2 instanceof TypeError)
    t.is(e2.message, 'bad type')
    // The worker survives a failing task.
    t.is(await pool.submit(() => 'still alive').resultAsync(LONG), 'still alive')
  } finally {
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor.map() yields results in input order, with for...of and for await', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 3 })
  try {
    const xs = Array.from({ length: 20 }, (_, i) => i)
    // Earlier items sleep longer, so completion order differs from input order.
    const sq = (x: number): number => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, (20 - x) * 2)
      return x * x
    }
    const blocking: number[] = []
    for (const r of pool.map(sq, xs, { timeout: LONG })) blocking.push(r)
    t.deepEqual(
      blocking,
      xs.map((x) => x * x),
    )

    const asyncResults: number[] = []
    for await (const r of pool.map(async (x: number) => x * x, xs)) asyncResults.push(r)
    t.deepEqual(
      asyncResults,
      xs.map((x) => x * x),
    )

    // Several iterables are zipped, stopping at the shortest (like Python's map(pow, a, b)).
    const zipped = [...pool.map((a: number, b: number) => a ** b, [2, 3, 4, 5], [3, 2, 1], { timeout: LONG })]
    t.deepEqual(zipped, [8, 9, 4])
    t.deepEqual([...pool.map((x: number) => x, [], { timeout: LONG })], [])
    t.deepEqual([...pool.map((x: number) => x + 1, [1, 2, 3], { chunksize: 2, timeout: LONG })], [2, 3, 4])
  } finally {
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor.map() raises an exception of a call when iteration reaches it', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 2 })
  try {
    const it = pool
      .map(
        (x: number) => {
          if (x === 2) throw new RangeError(`bad ${x}`)
          return x
        },
        [0, 1, 2, 3],
        { timeout: LONG },
      )
      [Symbol.iterator]()
    t.deepEqual(it.next(), { value: 0, done: false })
    t.deepEqual(it.next(), { value: 1, done: false })
    const err = t.throws(() => it.next()) as Error
    t.is(err.name, 'RangeError')
    t.is(err.message, 'bad 2')
  } finally {
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor.map() with a timeout throws TimeoutError (ERR_TIMEOUT) when a task is slow', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 2 })
  const gate = new Event()
  try {
    const fn = (g: Event, x: number): number => {
      if (x !== 0) g.wait(60_000)
      return x
    }
    const results: number[] = []
    const err = t.throws(() => {
      for (const r of pool.map(fn, [gate, gate], [0, 1], { timeout: 300 })) results.push(r)
    }) as Error & { code?: string }
    t.true(err instanceof TimeoutError)
    t.is(err.code, 'ERR_TIMEOUT')
    // The fast item may or may not make it within the deadline on a busy machine; the slow one never does.
    t.true(results.length <= 1 && !results.includes(1), `got ${results.join(', ')}`)

    const results2: number[] = []
    const err2 = await t.throwsAsync(async () => {
      for await (const r of pool.map(fn, [gate, gate], [0, 2], { timeout: 300 })) results2.push(r)
    })
    t.is((err2 as Error & { code?: string }).code, 'ERR_TIMEOUT')
    // The fast item may or may not make it within the deadline on a busy machine; the slow one never does.
    t.true(results2.length <= 1 && !results2.includes(2), `got ${results2.join(', ')}`)
  } finally {
    gate.set()
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor reuses idle workers: sequential tasks on maxWorkers 2 see at most 2 threads', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 2 })
  try {
    const ids = new Set<number>()
    for (let i = 0; i < 30; i++) {
      ids.add(await pool.submit(async () => (await import('node:worker_threads')).threadId).resultAsync(LONG))
    }
    t.true(ids.size >= 1 && ids.size <= 2, `distinct threads: ${[...ids].join(', ')}`)
    t.false(ids.has(0), 'tasks run off the main thread')

    // Concurrent submission also stays within maxWorkers.
    const fs = Array.from({ length: 40 }, () =>
      pool.submit(async () => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2)
        return (await import('node:worker_threads')).threadId
      }),
    )
    const all = new Set(await Promise.all(fs.map((f) => f.resultAsync(LONG))))
    t.true(all.size <= 2, `distinct threads: ${[...all].join(', ')}`)
  } finally {
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor threadNamePrefix names the worker threads', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 2, threadNamePrefix: 'SpecialPool' })
  // Both tasks meet at the barrier, so both workers are used.
  const gate = new Barrier(2)
  try {
    const task = async (url: string, b: Barrier): Promise<string> => {
      b.wait(60_000)
      return (await import(url)).currentThread().name
    }
    const names = await Promise.all([pool.submit(task, THREAD_URL, gate), pool.submit(task, THREAD_URL, gate)].map((f) => f.resultAsync(LONG)))
    for (const n of names) t.regex(n, /^SpecialPool/)
    t.is(new Set(names).size, 2)

    // Default prefix: ThreadPoolExecutor-N.
    const dflt = new ThreadPoolExecutor({ maxWorkers: 1 })
    try {
      const n = await dflt.submit(async (url: string) => (await import(url)).currentThread().name, THREAD_URL).resultAsync(LONG)
      t.regex(n, /^ThreadPoolExecutor-\d+/)
    } finally {
      await dflt.shutdownAsync()
    }
  } finally {
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor initializer runs once in each worker, before its tasks, with initargs', async (t) => {
  t.timeout(LONG)
  const counter = sharedInts(1)
  const pool = new ThreadPoolExecutor({
    maxWorkers: 2,
    initializer: (c: Int32Array, tag: string) => {
      const g = globalThis as { __tpeInit?: number; __tpeTag?: string }
      g.__tpeInit = (g.__tpeInit ?? 0) + 1
      g.__tpeTag = tag
      Atomics.add(c, 0, 1)
    },
    initargs: [counter, 'initialized'],
  })
  try {
    const fs = Array.from({ length: 20 }, () =>
      pool.submit(async () => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2)
        const g = globalThis as { __tpeInit?: number; __tpeTag?: string }
        return { inits: g.__tpeInit, tag: g.__tpeTag, id: (await import('node:worker_threads')).threadId }
      }),
    )
    const rs = await Promise.all(fs.map((f) => f.resultAsync(LONG)))
    for (const r of rs) {
      t.is(r.inits, 1)
      t.is(r.tag, 'initialized')
    }
    await pool.shutdownAsync()
    const workers = new Set(rs.map((r) => r.id)).size
    // One run per started worker: at least the workers that ran tasks (a started worker may
    // get no task), at most maxWorkers.
    const inits = Atomics.load(counter, 0)
    t.true(inits >= workers && inits <= 2, `initializer ran ${inits} times for ${workers} busy workers`)
  } finally {
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor: a throwing initializer breaks the pool (BrokenThreadPool, ERR_BROKEN_THREAD_POOL)', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({
    maxWorkers: 2,
    initializer: () => {
      throw new Error('init failed')
    },
  })
  try {
    const fs = [pool.submit(() => 1), pool.submit(() => 2), pool.submit(() => 3)]
    for (const f of fs) {
      const err = (await f.exceptionAsync(LONG)) as Error & { code?: string }
      t.is(err?.code, 'ERR_BROKEN_THREAD_POOL')
      t.is(err?.name, 'BrokenThreadPool')
    }
    await untilSubmitThrows(pool)
    const err = t.throws(() => pool.submit(() => 4)) as Error & { code?: string }
    t.true(err instanceof BrokenThreadPool)
    t.is(err.code, 'ERR_BROKEN_THREAD_POOL')
  } finally {
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor.shutdownAsync({ wait: true }) waits for running and queued tasks', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 2 })
  const gate = new Event()
  const done = new Queue<number>()
  try {
    const task = (g: Event, d: Queue<number>, x: number): number => {
      g.wait(60_000)
      d.put(x)
      return x
    }
    const fs = Array.from({ length: 5 }, (_, i) => pool.submit(task, gate, done, i))
    let finished = false
    const p = pool.shutdownAsync().then(() => (finished = true))
    await new Promise((r) => setTimeout(r, 200))
    t.false(finished, 'shutdown waits while tasks are blocked')
    t.true(fs.every((f) => !f.cancelled()))
    gate.set()
    await p
    t.is(done.qsize(), 5)
    t.deepEqual(
      fs.map((f) => f.result(LONG)),
      [0, 1, 2, 3, 4],
    )
  } finally {
    gate.set()
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor.shutdown({ wait: true }) blocks until queued tasks finish', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 2 })
  const done = new Queue<number>()
  const fs = Array.from({ length: 6 }, (_, i) =>
    pool.submit(
      (d: Queue<number>, x: number) => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
        d.put(x)
        return x
      },
      done,
      i,
    ),
  )
  // Tasks are finite (and workers are daemons), so a blocking shutdown cannot hang here.
  await fs[0]!.resultAsync(LONG)
  pool.shutdown({ wait: true })
  t.is(done.qsize(), 6)
  t.true(fs.every((f) => f.done()))
})

test('ThreadPoolExecutor.shutdown({ cancelFutures: true }) cancels queued futures and lets the running one finish', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 })
  const started = new Event()
  const gate = new Event()
  try {
    const first = pool.submit(
      (s: Event, g: Event) => {
        s.set()
        g.wait(60_000)
        return 'first'
      },
      started,
      gate,
    )
    t.true(await started.waitAsync(LONG), 'first task started')
    const queued = Array.from({ length: 5 }, (_, i) => pool.submit((x: number) => x, i))
    const p = pool.shutdownAsync({ cancelFutures: true })
    t.true(queued.every((f) => f.cancelled()))
    t.false(first.cancelled())
    gate.set()
    await p
    t.is(first.result(LONG), 'first')
    for (const f of queued) {
      t.true(f.cancelled())
      const err = t.throws(() => f.result(LONG)) as Error & { code?: string }
      t.true(err instanceof CancelledError)
      t.is(err.code, 'ERR_CANCELLED')
    }
  } finally {
    gate.set()
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor.submit() after shutdown throws ERR_EXECUTOR_SHUT_DOWN', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 })
  t.is(await pool.submit(() => 1).resultAsync(LONG), 1)
  await pool.shutdownAsync()
  const err = t.throws(() => pool.submit(() => 2)) as Error & { code?: string }
  t.is(err.code, 'ERR_EXECUTOR_SHUT_DOWN')
  t.throws(() => pool.map((x: number) => x, [1]), { code: 'ERR_EXECUTOR_SHUT_DOWN' })
  // shutdown is idempotent.
  await pool.shutdownAsync()
  pool.shutdown({ wait: false })
  // Shut down without wait on a fresh pool as well.
  const p2 = new ThreadPoolExecutor({ maxWorkers: 1 })
  p2.shutdown({ wait: false })
  t.throws(() => p2.submit(() => 3), { code: 'ERR_EXECUTOR_SHUT_DOWN' })
})

test('ThreadPoolExecutor: await using shuts the pool down after its tasks', async (t) => {
  t.timeout(LONG)
  let fs: { done(): boolean; result(timeout?: number): number }[] = []
  let escaped: ThreadPoolExecutor | undefined
  {
    await using pool = new ThreadPoolExecutor({ maxWorkers: 2 })
    escaped = pool
    fs = Array.from({ length: 4 }, (_, i) =>
      pool.submit((x: number) => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
        return x * 10
      }, i),
    )
  }
  t.true(fs.every((f) => f.done()))
  t.deepEqual(
    fs.map((f) => f.result(LONG)),
    [0, 10, 20, 30],
  )
  t.throws(() => escaped!.submit(() => 0), { code: 'ERR_EXECUTOR_SHUT_DOWN' })
})

test('ThreadPoolExecutor: process.exit in a task gives BrokenThreadPool on that future and on later submits', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 })
  try {
    t.is(await pool.submit(() => 'ok').resultAsync(LONG), 'ok')
    const f = pool.submit(() => process.exit(3))
    // Blocking result() on the main thread returns (throws) the error rather than hanging.
    const err = t.throws(() => f.result(LONG)) as Error & { code?: string }
    t.is(err.code, 'ERR_BROKEN_THREAD_POOL')
    t.is(err.name, 'BrokenThreadPool')
    await untilSubmitThrows(pool)
    const e2 = t.throws(() => pool.submit(() => 1)) as Error & { code?: string }
    t.true(e2 instanceof BrokenThreadPool)
    t.is(e2.code, 'ERR_BROKEN_THREAD_POOL')
  } finally {
    await pool.shutdownAsync({ wait: false })
  }
})

test('ThreadPoolExecutor: process.exit in a task fails the queued futures with BrokenThreadPool', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 })
  const started = new Event()
  const gate = new Event()
  try {
    const f = pool.submit(
      (s: Event, g: Event) => {
        s.set()
        g.wait(60_000)
        process.exit(1)
      },
      started,
      gate,
    )
    t.true(await started.waitAsync(LONG), 'the exiting task started')
    const queued = Array.from({ length: 4 }, (_, i) => pool.submit((x: number) => x, i))
    gate.set()
    for (const q of [f, ...queued]) {
      const err = (await q.exceptionAsync(LONG)) as Error & { code?: string }
      t.is(err?.code, 'ERR_BROKEN_THREAD_POOL')
    }
  } finally {
    gate.set()
    await pool.shutdownAsync({ wait: false })
  }
})

test('ThreadPoolExecutor runs 1000 tiny tasks with correct results', async (t) => {
  t.timeout(LONG * 2)
  const pool = new ThreadPoolExecutor({ maxWorkers: 2 })
  try {
    const fs = Array.from({ length: 1000 }, (_, i) => pool.submit((x: number) => x * 2 + 1, i))
    const rs = await Promise.all(fs.map((f) => f.resultAsync(LONG)))
    t.deepEqual(
      rs,
      Array.from({ length: 1000 }, (_, i) => i * 2 + 1),
    )
    t.deepEqual(
      [
        ...pool.map(
          (x: number) => -x,
          Array.from({ length: 1000 }, (_, i) => i),
          { timeout: LONG },
        ),
      ],
      Array.from({ length: 1000 }, (_, i) => -i),
    )
  } finally {
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor rejects bad arguments', async (t) => {
  t.timeout(LONG)
  t.throws(() => new ThreadPoolExecutor({ maxWorkers: 0 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as never)
  t.throws(() => new ThreadPoolExecutor({ maxWorkers: -1 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as never)
  t.throws(() => new ThreadPoolExecutor({ initializer: 42 as never }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as never)
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 })
  try {
    t.is(pool.maxWorkers, 1)
    t.throws(() => pool.submit(42 as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as never)
    t.throws(() => pool.submit('x => x' as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as never)
    t.throws(() => pool.map(null as never, [1]), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as never)
    t.throws(() => pool.map((x: number) => x, [1], { chunksize: 0 }), { instanceOf: RangeError } as never)
    t.throws(() => pool.map((x: number) => x, [1], { timeout: -1 }), { instanceOf: RangeError } as never)
    // Submit arguments are copied, except shared memory, which arrives shared.
    const shared = new Int32Array(new SharedArrayBuffer(4))
    t.is(await pool.submit((x: Int32Array) => (x[0] = 5), shared).resultAsync(LONG), 5)
    t.is(shared[0], 5)
    // The pool still works after rejected calls.
    t.is(await pool.submit(() => 7).resultAsync(LONG), 7)
  } finally {
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor.submit(): an uncloneable result or a non-Error throw fails only that future', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 })
  try {
    const f = pool.submit(() => () => 1)
    const err = (await f.exceptionAsync(LONG)) as Error
    t.truthy(err)
    const g = pool.submit(() => {
      throw 42
    })
    t.true(g.exception(LONG) !== undefined && g.exception(LONG) !== null)
    t.is(await pool.submit(() => 'after').resultAsync(LONG), 'after')
  } finally {
    await pool.shutdownAsync()
  }
})

test('ThreadPoolExecutor.map(): leaving the iteration early cancels the calls not yet started', async (t) => {
  t.timeout(LONG)
  const pool = new ThreadPoolExecutor({ maxWorkers: 1 })
  const gate = new Event()
  const ran = new Queue<number>()
  try {
    const fn = (g: Event, q: Queue<number>, x: number): number => {
      q.put(x)
      if (x === 1) g.wait(60_000)
      return x
    }
    const items = [0, 1, 2, 3, 4]
    // One worker: call 0 returns, call 1 holds the worker until the gate opens, 2..4 wait in the queue.
    const res = pool.map(
      fn,
      items.map(() => gate),
      items.map(() => ran),
      items,
      { timeout: LONG },
    )
    for await (const r of res) {
      t.is(r, 0)
      break
    }
    gate.set()
    await pool.shutdownAsync()
    // Calls 2..4 had not started when iteration stopped: they were cancelled and never ran.
    t.true(ran.qsize() <= 2, `${ran.qsize()} calls ran`)
  } finally {
    gate.set()
    await pool.shutdownAsync()
  }
})
