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
import { checkArray, checkHeapLimits, checkInt, checkOptions, checkString, describe } from '@tandem/sync/kit'
import { registerShareable, SHARE } from '@tandem/sync/shareable'
import { toTaskSpec, type TaskFunction, type TaskSpec } from '@tandem/sync/task'
import type { Thread, HeapLimits } from '@tandem/sync/thread'
import { BrokenThreadPool, executorShutDown } from './errors.ts'
import type { Future } from './future.ts'
import { CALL, ExecutorCore, executorNotShareable, MAX_WORKERS } from './internal/executor-core.ts'
import { type MapOptions, type MapResult, type MapSubmitter, mapCalls } from './internal/map.ts'
import { startThreadWorker } from './internal/thread-workers.ts'

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

/** Options of `shutdown`. */
export interface ShutdownOptions {
  /** Wait for running and queued tasks to finish. @default true */
  wait?: boolean
  /** Cancel the futures of tasks that have not started. @default false */
  cancelFutures?: boolean
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
export class ThreadPoolExecutor implements Disposable, AsyncDisposable {
  /** @internal Shareable kind name (registered only to refuse sharing). */
  static readonly shareKind = 'tandem.futures.ThreadPoolExecutor'
  readonly #maxWorkers: number
  readonly #prefix: string
  readonly #threads: Thread[] = []
  readonly #initializer: TaskSpec | undefined
  readonly #initargs: unknown[]
  readonly #core: ExecutorCore
  readonly #limits: HeapLimits | undefined
  /** This pool as `map` sees it (internal/map.ts, shared with the process executor). */
  readonly #calls: MapSubmitter

  /**
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if `maxWorkers` < 1 or a `resourceLimits` entry is not positive
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-function initializer, a non-string
   *   `threadNamePrefix`, non-array `initargs` or non-object `resourceLimits`
   */
  constructor(opts: ThreadPoolExecutorOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw typeError(`new ThreadPoolExecutor(opts): opts must be an object; received ${describe(opts)}`)
    this.#maxWorkers = opts.maxWorkers === undefined ? Math.max(1, availableParallelism()) : checkInt(opts.maxWorkers, 'maxWorkers', 1, MAX_WORKERS)
    poolCounter++
    this.#prefix = opts.threadNamePrefix === undefined ? `ThreadPoolExecutor-${poolCounter}` : checkString(opts.threadNamePrefix, 'threadNamePrefix')
    this.#initializer = opts.initializer === undefined ? undefined : toTaskSpec(opts.initializer, 'initializer')
    this.#initargs = opts.initargs === undefined ? [] : checkArray(opts.initargs, 'initargs')
    this.#limits = checkHeapLimits(opts.resourceLimits, 'new ThreadPoolExecutor()')
    this.#core = new ExecutorCore({ maxWorkers: this.#maxWorkers, startWorker: (i) => this.#startWorker(i), broken: BrokenThreadPool })
    const core = this.#core
    this.#calls = {
      check: (what) => this.#check(what),
      task: (fn) => core.task(fn),
      submit: (task, mode, payload) => core.submit(task, mode, payload),
      get isShutdown() {
        return core.isShutdown
      },
    }
  }

  /** Most worker threads. */
  get maxWorkers(): number {
    return this.#maxWorkers
  }

  #startWorker(index: number): void {
    this.#threads.push(
      startThreadWorker(this.#core, index, {
        name: `${this.#prefix}_${index}`,
        initializer: this.#initializer,
        initargs: this.#initargs,
        resourceLimits: this.#limits,
      }),
    )
  }

  #check(what: string): void {
    if (this.#core.shared.broken.isSet()) throw this.#core.brokenError()
    if (this.#core.isShutdown) {
      throw executorShutDown(`ThreadPoolExecutor.${what}(): cannot schedule new futures after shutdown`)
    }
  }

  /**
   * Schedules `fn(...args)` on a worker.
   * @returns a Future for the call's result
   * @throws {Error} `ERR_EXECUTOR_SHUT_DOWN` after shutdown; {BrokenThreadPool} if the pool is broken
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-function; `ERR_NOT_SHAREABLE` for un-cloneable
   *   args (a function, a symbol). Args are copied, except Tandem shareables and SharedArrayBuffers
   *   (and views on them), which arrive as the same state and memory
   */
  submit<A extends unknown[], R>(fn: TaskFunction<A, R>, ...args: A): Future<Awaited<R>> {
    this.#check('submit')
    return this.#core.submit(this.#core.task(fn), CALL, args)
  }

  /**
   * Like `Array.prototype.map` over the zipped iterables, run on the pool; results in order.
   * The calls are submitted by `map` itself (or, with `buffersize`, as the results are taken).
   * Leaving the iteration early cancels the calls not yet started.
   * @returns an object iterable both blocking (`for...of`) and async (`for await`)
   * @throws {TimeoutError} from the iteration if a result is not ready `timeout` ms after the call
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for `chunksize` or `buffersize` < 1, a negative timeout
   */
  map<A extends unknown[], R>(fn: TaskFunction<A, R>, ...iterablesAndOpts: [...Iterable<unknown>[], MapOptions] | Iterable<unknown>[]): MapResult<Awaited<R>> {
    return mapCalls(this.#calls, fn, iterablesAndOpts, 'ThreadPoolExecutor') as MapResult<Awaited<R>>
  }

  /**
   * Stops accepting work and, with `wait`, blocks until every running and queued task is done.
   * @param opts `wait` (default true), `cancelFutures` (default false)
   */
  shutdown(opts: ShutdownOptions = {}): void {
    opts = checkOptions(opts, 'ThreadPoolExecutor.shutdown()', '{ wait?, cancelFutures? }')
    this.#core.shutdown(opts.cancelFutures ?? false)
    if (opts.wait ?? true) {
      for (const t of this.#threads) t.join()
      this.#core.freeTasks()
    }
  }

  /** Async form of {@link shutdown}: resolves when the workers are done (with `wait`). */
  async shutdownAsync(opts: ShutdownOptions = {}): Promise<void> {
    opts = checkOptions(opts, 'ThreadPoolExecutor.shutdownAsync()', '{ wait?, cancelFutures? }')
    this.#core.shutdown(opts.cancelFutures ?? false)
    if (opts.wait ?? true) {
      await Promise.all(this.#threads.map((t) => t.joinAsync()))
      this.#core.freeTasks()
    }
  }

  [Symbol.dispose](): void {
    this.shutdown({ wait: true })
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdownAsync({ wait: true })
  }

  /** @internal A pool stays in the thread that created it. */
  [SHARE](): never {
    throw executorNotShareable('ThreadPoolExecutor')
  }
}

registerShareable(ThreadPoolExecutor.shareKind, import.meta.url, () => {
  throw executorNotShareable('ThreadPoolExecutor')
})
