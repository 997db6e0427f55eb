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
import { registerShareable, SHARE } from '@tandem/sync/shareable'
import { toTaskSpec, type TaskFunction, type TaskSpec } from '@tandem/sync/task'
import type { HeapLimits, Thread } from '@tandem/sync/thread'
import { BrokenThreadPool, poolStateError } from './errors.ts'
import type { AsyncResult, ResultCallbacks } from './internal/async-result.ts'
import { ExecutorCore, executorNotShareable, MAX_WORKERS } from './internal/executor-core.ts'
import { applyCall, type IMapIterator, imapChunks, mapChunks, type PoolSubmitter } from './internal/pool-calls.ts'
import { startThreadWorker } from './internal/thread-workers.ts'

// The public AsyncResult is the one class every pool returns (defined beside the shared pool calls).
export { AsyncResult, type ResultCallbacks } from './internal/async-result.ts'
export type { IMapIterator } from './internal/pool-calls.ts'

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

const RUN = 0
const CLOSE = 1
const TERMINATE = 2

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
export class ThreadPool implements Disposable {
  /** @internal Shareable kind name (registered only to refuse sharing). */
  static readonly shareKind = 'tandem.futures.ThreadPool'
  readonly #threads: Thread[] = []
  readonly #size: number
  readonly #core: ExecutorCore
  readonly #name: string
  readonly #initializer: TaskSpec | undefined
  readonly #initargs: unknown[]
  readonly #limits: HeapLimits | undefined
  /** This pool as the pool calls see it (internal/pool-calls.ts, shared with the process Pool). */
  readonly #calls: PoolSubmitter
  #state = RUN

  /**
   * @param threads number of worker threads (default `os.availableParallelism()`)
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if `threads` < 1
   */
  constructor(threads?: number, opts: ThreadPoolOptions = {}) {
    this.#size = threads === undefined || threads === null ? Math.max(1, availableParallelism()) : checkInt(threads, 'threads', 1, MAX_WORKERS)
    if (typeof opts !== 'object' || opts === null) throw typeError(`new ThreadPool(threads, opts): opts must be an object; received ${describe(opts)}`)
    this.#initializer = opts.initializer === undefined ? undefined : toTaskSpec(opts.initializer, 'initializer')
    this.#initargs = opts.initargs === undefined ? [] : checkArray(opts.initargs, 'initargs')
    this.#limits = checkHeapLimits(opts.resourceLimits, 'new ThreadPool()')
    this.#name = `ThreadPool-${++poolCounter}`
    this.#core = new ExecutorCore({ maxWorkers: this.#size, startWorker: (i) => this.#startWorker(i), broken: BrokenThreadPool, keepAlive: false })
    const core = this.#core
    this.#calls = {
      check: (what) => this.#check(what),
      task: (fn) => core.task(fn),
      submit: (task, mode, payload) => core.submit(task, mode, payload),
      size: this.#size,
    }
  }

  /** Number of worker threads. */
  get size(): number {
    return this.#size
  }

  #startWorker(index: number): void {
    this.#threads.push(
      startThreadWorker(this.#core, index, {
        name: `${this.#name}_${index}`,
        initializer: this.#initializer,
        initargs: this.#initargs,
        resourceLimits: this.#limits,
      }),
    )
  }

  #check(what: string): void {
    if (this.#state !== RUN) throw poolStateError(`ThreadPool.${what}(): the pool is not running (closed or terminated)`, 'ERR_POOL_NOT_RUNNING')
    if (this.#core.shared.broken.isSet()) throw this.#core.brokenError()
  }

  /**
   * Calls `fn(...args)` on a worker and blocks for its result.
   * @throws {Error} `ERR_POOL_NOT_RUNNING` after close/terminate; the call's error if it fails
   */
  apply<A extends unknown[], R>(fn: TaskFunction<A, R>, args?: A): Awaited<R> {
    return this.applyAsync(fn, args).get()
  }

  /**
   * Calls `fn(...args)` on a worker.
   * @returns an {@link AsyncResult}; `callback`/`errorCallback` run in this thread when it is ready
   */
  applyAsync<A extends unknown[], R>(fn: TaskFunction<A, R>, args?: A, callbacks?: ResultCallbacks<Awaited<R>>): AsyncResult<Awaited<R>> {
    return applyCall(this.#calls, fn, args, callbacks, 'ThreadPool')
  }

  /**
   * `fn` over each item, in chunks; blocks for the results (in order).
   * @throws the first failing call's error
   */
  map<T, R>(fn: TaskFunction<[T], R>, iterable: Iterable<T>, chunksize?: number): Awaited<R>[] {
    return this.mapAsync(fn, iterable, chunksize).get()
  }

  /** Async form of {@link map}: an {@link AsyncResult} of the results array. */
  mapAsync<T, R>(fn: TaskFunction<[T], R>, iterable: Iterable<T>, chunksize?: number, callbacks?: ResultCallbacks<Awaited<R>[]>): AsyncResult<Awaited<R>[]> {
    return mapChunks(this.#calls, fn, iterable, chunksize, false, callbacks, 'ThreadPool')
  }

  /** Like {@link map} with argument arrays: `fn(...args)` for each. */
  starmap<A extends unknown[], R>(fn: TaskFunction<A, R>, iterable: Iterable<A>, chunksize?: number): Awaited<R>[] {
    return this.starmapAsync(fn, iterable, chunksize).get()
  }

  /** Async form of {@link starmap}. */
  starmapAsync<A extends unknown[], R>(fn: TaskFunction<A, R>, iterable: Iterable<A>, chunksize?: number, callbacks?: ResultCallbacks<Awaited<R>[]>): AsyncResult<Awaited<R>[]> {
    return mapChunks(this.#calls, fn, iterable, chunksize, true, callbacks, 'ThreadPool')
  }

  /**
   * `fn` over each item, results in order as they become available (submitted at once, in
   * chunks of `chunksize`, default 1).
   */
  imap<T, R>(fn: TaskFunction<[T], R>, iterable: Iterable<T>, chunksize = 1): IMapIterator<Awaited<R>> {
    return imapChunks(this.#calls, fn, iterable, chunksize, true, 'ThreadPool')
  }

  /** Like {@link imap}, in completion order (of chunks). */
  imapUnordered<T, R>(fn: TaskFunction<[T], R>, iterable: Iterable<T>, chunksize = 1): IMapIterator<Awaited<R>> {
    return imapChunks(this.#calls, fn, iterable, chunksize, false, 'ThreadPool')
  }

  /** No more tasks: the workers exit once the queued work is done. */
  close(): void {
    if (this.#state !== RUN) return
    this.#state = CLOSE
    this.#core.shutdown(false)
  }

  /**
   * Stops at once: queued tasks are cancelled (their results fail with CancelledError), also
   * after `close()`; running calls finish.
   */
  terminate(): void {
    this.#state = TERMINATE
    this.#core.shutdown(true)
  }

  /**
   * Blocks until every worker has exited (after `close()` or `terminate()`).
   * @throws {Error} `ERR_POOL_RUNNING` if the pool is still running (Python's ValueError)
   */
  join(): void {
    this.#checkJoin('join')
    for (const t of this.#threads) t.join()
    this.#core.freeTasks()
  }

  /** Async form of {@link join}. */
  async joinAsync(): Promise<void> {
    this.#checkJoin('joinAsync')
    await Promise.all(this.#threads.map((t) => t.joinAsync()))
    this.#core.freeTasks()
  }

  #checkJoin(what: string): void {
    if (this.#state === RUN) throw poolStateError(`ThreadPool.${what}(): call close() or terminate() first`, 'ERR_POOL_RUNNING')
  }

  /** `using pool = new ThreadPool()` terminates the pool on exit (Python's `with`). */
  [Symbol.dispose](): void {
    this.terminate()
  }

  /** @internal A pool stays in the thread that created it. */
  [SHARE](): never {
    throw executorNotShareable('ThreadPool')
  }
}

registerShareable(ThreadPool.shareKind, import.meta.url, () => {
  throw executorNotShareable('ThreadPool')
})
