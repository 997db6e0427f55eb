/**
 * `ThreadPool`: Python's `multiprocessing.pool.ThreadPool` on Tandem worker threads, over the
 * same executor core as `ThreadPoolExecutor`: `apply`, `applyAsync`, `map`, `mapAsync`,
 * `imap`, `imapUnordered`, `starmap`, `starmapAsync`, `close`, `terminate`, `join`, and
 * {@link AsyncResult}.
 * @module
 */
import { availableParallelism } from 'node:os'
import { typeError } from '@tandem/sync/errors'
import { checkArray, checkHeapLimits, checkInt, describe } from '@tandem/sync/kit'
import { registerShareable } from '@tandem/sync/shareable'
import { toTaskSpec, type TaskFunction } from '@tandem/sync/task'
import type { HeapLimits } from '@tandem/sync/thread'
import { BrokenThreadPool } from './errors.ts'
import { executorNotShareable, MAX_WORKERS } from './internal/executor-core.ts'
import { PoolBase } from './internal/pool-base.ts'
import { startThreadWorker } from './internal/thread-workers.ts'

// The public AsyncResult is the one class every pool returns (defined beside the shared pool calls).
export { AsyncResult, type ResultCallbacks } from './internal/async-result.ts'
export type { IMapIterator } from './internal/pool-calls.ts'
export type { MapAsyncOptions } from './internal/pool-base.ts'

let poolCounter = 0

/** Options of `new ThreadPool()`. */
export interface ThreadPoolOptions {
  /** Task function run once in each worker before its first task. If it throws, the pool breaks. */
  initializer?: TaskFunction
  /** Arguments for `initializer`. */
  initargs?: unknown[]
  /** Heap limits of each worker (Node's `resourceLimits`; a Node extension). */
  resourceLimits?: HeapLimits
}

/**
 * A pool of worker threads with `multiprocessing.Pool`'s API.
 *
 * - Tasks are functions shipped by source (or `moduleRef`s), as for `ThreadPoolExecutor`.
 * - `map`/`starmap` split the input into chunks (default as CPython: about 4 chunks per
 *   worker); each chunk is one work item, so tiny calls cost little.
 * - `close()` then `join()` waits for the queued work; `terminate()` cancels what has not
 *   started (running calls finish: a thread cannot be killed safely) and its results fail with
 *   `CancelledError`. `using pool = new ThreadPool()` terminates on exit, as Python's `with`.
 * - A worker that dies breaks the pool: pending results fail with `BrokenThreadPool`.
 * - Workers are daemon threads: like CPython's ThreadPool, a pool does not keep the process
 *   alive for its calls (await the results, or `close()` then `joinAsync()`).
 *
 * @example
 * ```ts
 * import { ThreadPool } from '@tandem/futures/thread-pool'
 *
 * const pool = new ThreadPool(2)
 * console.log(pool.apply((a: number, b: number) => a + b, [1, 2])) // 3
 * console.log(pool.map((x: number) => x * x, [1, 2, 3])) // [ 1, 4, 9 ]
 * console.log(pool.starmap((a: number, b: number) => a * b, [[1, 2], [3, 4]])) // [ 2, 12 ]
 * for (const v of pool.imap((x: number) => x + 1, [1, 2, 3])) console.log(v) // 2, 3, 4
 * pool.close()
 * await pool.joinAsync() // the workers have exited
 * ```
 */
export class ThreadPool extends PoolBase {
  /** @internal Shareable kind name (registered only to refuse sharing). */
  static readonly shareKind = 'tandem.futures.ThreadPool'

  /**
   * @param threads number of worker threads (default `os.availableParallelism()`)
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if `threads` < 1
   */
  constructor(threads?: number, opts: ThreadPoolOptions = {}) {
    const size = threads === undefined || threads === null ? Math.max(1, availableParallelism()) : checkInt(threads, 'threads', 1, MAX_WORKERS)
    if (typeof opts !== 'object' || opts === null) throw typeError(`new ThreadPool(threads, opts): opts must be an object; received ${describe(opts)}`)
    const initializer = opts.initializer === undefined ? undefined : toTaskSpec(opts.initializer, 'initializer')
    const initargs = opts.initargs === undefined ? [] : checkArray(opts.initargs, 'initargs')
    const resourceLimits = checkHeapLimits(opts.resourceLimits, 'new ThreadPool()')
    const name = `ThreadPool-${++poolCounter}`
    super({
      what: 'ThreadPool',
      maxWorkers: size,
      broken: BrokenThreadPool,
      keepAlive: false,
      startWorker: (core, index) => startThreadWorker(core, index, { name: `${name}_${index}`, initializer, initargs, resourceLimits }),
    })
  }
}

registerShareable(ThreadPool.shareKind, import.meta.url, () => {
  throw executorNotShareable('ThreadPool')
})
