/**
 * `ThreadPoolExecutor`: Python's `concurrent.futures.ThreadPoolExecutor` on Tandem Threads, fed
 * through one shared `@tandem/queue` Queue of work items (CPython's design: a work queue, an
 * idle semaphore so idle workers are reused before new ones start, a `null` sentinel to stop).
 *
 * Each work item carries its Future (a shareable completed by the worker through shared
 * memory), the task (function source or module reference) and the arguments (structured-cloned;
 * Tandem shareables arrive live).
 *
 * @module
 */
import { availableParallelism } from 'node:os'
import { typeError } from '@tandem/sync/errors'
import { checkArray, checkHeapLimits, checkInt, checkString, describe } from '@tandem/sync/kit'
import { registerShareable } from '@tandem/sync/shareable'
import { toTaskSpec, type TaskFunction } from '@tandem/sync/task'
import type { HeapLimits } from '@tandem/sync/thread'
import { BrokenThreadPool } from './errors.ts'
import { PoolExecutor } from './internal/executor-base.ts'
import { executorNotShareable, MAX_WORKERS } from './internal/executor-core.ts'
import { startThreadWorker } from './internal/thread-workers.ts'

export type { ShutdownOptions } from './internal/executor-base.ts'
export type { MapOptions, MapResult } from './internal/map.ts'

let poolCounter = 0

/** Options of `new ThreadPoolExecutor()`. */
export interface ThreadPoolExecutorOptions {
  /**
   * Most worker threads. Workers start on demand and are reused when idle.
   * @default os.availableParallelism(): Node workers run JavaScript in parallel (no GIL), so
   * CPython's min(32, cpu + 4), sized for threads that mostly wait, would oversubscribe the cores
   */
  maxWorkers?: number
  /** Prefix of the worker threads' names. @default `ThreadPoolExecutor-N` */
  threadNamePrefix?: string
  /** Task function run once in each worker before its first task. If it throws, the pool breaks. */
  initializer?: TaskFunction
  /** Arguments for `initializer`. */
  initargs?: unknown[]
  /**
   * Heap limits of each worker (Node's `resourceLimits`, a Node extension): a worker over its
   * limit is terminated and breaks the pool, noticed within about a second even by a wait
   * blocked meanwhile (its running call and the queued ones fail with BrokenThreadPool).
   */
  resourceLimits?: HeapLimits
}

/**
 * A pool of worker threads running submitted calls.
 *
 * - `submit(fn, ...args)` returns a {@link Future} at once; `fn` is shipped by source (or a
 *   `moduleRef`), its arguments are cloned (Tandem shareables arrive live), and it may be async.
 * - Workers start on demand up to `maxWorkers` and are reused when idle.
 * - `shutdown({ wait, cancelFutures })` stops accepting work; `using`/`await using` shut down
 *   with `wait: true`.
 * - A worker that dies breaks the pool: its running future and every queued one fail with
 *   {@link BrokenThreadPool}, and later submits throw it.
 * - Memory: actions before `submit` happen-before the call; the call's actions happen-before the
 *   return of `result()` on its future.
 *
 * @example
 * ```ts
 * import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'
 *
 * {
 *   using pool = new ThreadPoolExecutor({ maxWorkers: 2 })
 *   const f = pool.submit((a: number, b: number) => a + b, 20, 22)
 *   console.log(f.result(10_000)) // 42 (blocking)
 *   console.log(await pool.submit(async (s: string) => s.toUpperCase(), 'hi')) // HI (awaited)
 *   console.log([...pool.map((x: number) => x * x, [1, 2, 3])]) // [ 1, 4, 9 ]
 *   for await (const p of pool.map((x: number, y: number) => x * y, [1, 2], [10, 20], { chunksize: 2 })) console.log(p) // 10, then 40
 * } // leaving the block shuts the pool down and waits for its workers
 * ```
 */
export class ThreadPoolExecutor extends PoolExecutor {
  /** @internal Shareable kind name (registered only to refuse sharing). */
  static readonly shareKind = 'tandem.futures.ThreadPoolExecutor'
  readonly #maxWorkers: number

  /**
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if `maxWorkers` < 1 or a `resourceLimits` entry is not positive
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-function initializer, a non-string
   *   `threadNamePrefix`, non-array `initargs` or non-object `resourceLimits`
   */
  constructor(opts: ThreadPoolExecutorOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw typeError(`new ThreadPoolExecutor(opts): opts must be an object; received ${describe(opts)}`)
    const maxWorkers = opts.maxWorkers === undefined ? Math.max(1, availableParallelism()) : checkInt(opts.maxWorkers, 'maxWorkers', 1, MAX_WORKERS)
    poolCounter++
    const prefix = opts.threadNamePrefix === undefined ? `ThreadPoolExecutor-${poolCounter}` : checkString(opts.threadNamePrefix, 'threadNamePrefix')
    const initializer = opts.initializer === undefined ? undefined : toTaskSpec(opts.initializer, 'initializer')
    const initargs = opts.initargs === undefined ? [] : checkArray(opts.initargs, 'initargs')
    const resourceLimits = checkHeapLimits(opts.resourceLimits, 'new ThreadPoolExecutor()')
    super({
      what: 'ThreadPoolExecutor',
      maxWorkers,
      broken: BrokenThreadPool,
      startWorker: (core, index) => startThreadWorker(core, index, { name: `${prefix}_${index}`, initializer, initargs, resourceLimits }),
    })
    this.#maxWorkers = maxWorkers
  }

  /** Most worker threads. */
  get maxWorkers(): number {
    return this.#maxWorkers
  }
}

registerShareable(ThreadPoolExecutor.shareKind, import.meta.url, () => {
  throw executorNotShareable('ThreadPoolExecutor')
})
