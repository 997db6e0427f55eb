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
import { Event } from '@tandem/sync/event'
import { rangeError, typeError } from '@tandem/sync/errors'
import { checkInt, describe } from '@tandem/sync/kit'
import { Semaphore } from '@tandem/sync/semaphore'
import { moduleRef, toTaskSpec, type TaskFunction, type TaskSpec } from '@tandem/sync/task'
import { Thread } from '@tandem/sync/thread'
import { Queue } from '@tandem/queue/queue'
import { BrokenThreadPool } from './errors.ts'
import { Future } from './future.ts'
import { breakPool, type WorkItem } from './internal/worker-loop.ts'

const WORKER_LOOP = moduleRef(new URL(`./internal/worker-loop${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url), 'workerLoop')

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
}

/** Options of `shutdown`. */
export interface ShutdownOptions {
  /** Wait for running and queued tasks to finish. @default true */
  wait?: boolean
  /** Cancel the futures of tasks that have not started. @default false */
  cancelFutures?: boolean
}

/** Options of `map`. */
export interface MapOptions {
  /** Longest wait in ms, from the call to `map`, for all results. @default Infinity */
  timeout?: number
  /** Accepted for compatibility; threads get one call per item (as in CPython). @default 1 */
  chunksize?: number
}

/** Results of `map`: iterate blocking (`for...of`) or async (`for await`). */
export interface MapResult<R> extends Iterable<R>, AsyncIterable<R> {}

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
 * using pool = new ThreadPoolExecutor({ maxWorkers: 2 })
 * const f = pool.submit((n: number) => n * 2, 21)
 * console.log(await f) // 42
 * ```
 */
export class ThreadPoolExecutor implements Disposable, AsyncDisposable {
  readonly #maxWorkers: number
  readonly #prefix: string
  readonly #queue = new Queue<WorkItem | null>()
  readonly #broken = new Event()
  readonly #idle = new Semaphore(0)
  readonly #threads: Thread[] = []
  readonly #initializer: TaskSpec | undefined
  readonly #initargs: unknown[]
  #shutdown = false

  /**
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if `maxWorkers` < 1
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-function initializer
   */
  constructor(opts: ThreadPoolExecutorOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw typeError(`new ThreadPoolExecutor(opts): opts must be an object; received ${describe(opts)}`)
    this.#maxWorkers = opts.maxWorkers === undefined ? Math.max(1, availableParallelism()) : checkInt(opts.maxWorkers, 'maxWorkers', 1)
    poolCounter++
    this.#prefix = opts.threadNamePrefix ?? `ThreadPoolExecutor-${poolCounter}`
    this.#initializer = opts.initializer === undefined ? undefined : toTaskSpec(opts.initializer, 'initializer')
    this.#initargs = opts.initargs ?? []
    if (!Array.isArray(this.#initargs)) throw typeError('ThreadPoolExecutor: initargs must be an array')
  }

  /** Most worker threads. */
  get maxWorkers(): number {
    return this.#maxWorkers
  }

  /**
   * Schedules `fn(...args)` on a worker.
   * @returns a Future for the call's result
   * @throws {Error} `ERR_EXECUTOR_SHUT_DOWN` after shutdown; {BrokenThreadPool} if the pool is broken
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-function; `ERR_NOT_SHAREABLE` for un-cloneable
   *   args, including a SharedArrayBuffer or a view on one (work items are copied through a queue:
   *   share memory through Tandem primitives, or through `initargs`, which are shared as Thread args)
   */
  submit<A extends unknown[], R>(fn: TaskFunction<A, R>, ...args: A): Future<Awaited<R>> {
    if (this.#broken.isSet()) throw new BrokenThreadPool('A worker of this pool died or its initializer failed; the pool cannot run new tasks')
    if (this.#shutdown) {
      const err = new Error('ThreadPoolExecutor.submit(): cannot schedule new futures after shutdown') as Error & { code: string }
      err.code = 'ERR_EXECUTOR_SHUT_DOWN'
      throw err
    }
    const spec = toTaskSpec(fn, 'fn')
    const f = new Future<Awaited<R>>()
    this.#queue.put({ f: f as Future<unknown>, fn: spec, args })
    this.#adjustThreadCount()
    return f
  }

  #adjustThreadCount(): void {
    // An idle worker will take the item: no new thread (CPython's _idle_semaphore).
    if (this.#idle.acquire({ blocking: false })) return
    if (this.#threads.length >= this.#maxWorkers) return
    const t = new Thread({
      target: WORKER_LOOP,
      args: [this.#queue, this.#broken, this.#idle, this.#initializer, this.#initargs],
      name: `${this.#prefix}_${this.#threads.length}`,
      daemon: true,
    })
    t.start()
    this.#threads.push(t)
    // A worker killed from outside (out of memory, terminate) cannot run its exit handler:
    // notice it here, from the event loop.
    void t.joinAsync().then(() => {
      if (!this.#shutdown && !this.#broken.isSet()) breakPool(this.#queue, this.#broken, `Worker ${t.name} terminated abruptly; the pool is broken`)
    })
  }

  /**
   * Like `Array.prototype.map` over the zipped iterables, run on the pool; results in order.
   * @returns an object iterable both blocking (`for...of`) and async (`for await`)
   * @throws {TimeoutError} from the iteration if a result is not ready `timeout` ms after the call
   */
  map<A extends unknown[], R>(fn: TaskFunction<A, R>, ...iterablesAndOpts: [...Iterable<unknown>[], MapOptions] | Iterable<unknown>[]): MapResult<Awaited<R>> {
    let opts: MapOptions = {}
    let iterables = iterablesAndOpts as Iterable<unknown>[]
    const last = iterablesAndOpts[iterablesAndOpts.length - 1]
    if (last !== undefined && typeof last === 'object' && !(Symbol.iterator in (last as object))) {
      opts = last as MapOptions
      iterables = iterablesAndOpts.slice(0, -1) as Iterable<unknown>[]
    }
    if (opts.chunksize !== undefined) checkInt(opts.chunksize, 'chunksize', 1)
    const timeout = opts.timeout
    if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout >= 0))) throw rangeError(`map(): timeout must be >= 0 ms; received ${timeout}`)
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout
    const its = iterables.map((it) => it[Symbol.iterator]())
    const futures: Future<Awaited<R>>[] = []
    for (;;) {
      const args: unknown[] = []
      for (const it of its) {
        const r = it.next()
        if (r.done) break
        args.push(r.value)
      }
      if (args.length < its.length || its.length === 0) break
      futures.push(this.submit(fn, ...(args as A)))
    }
    const left = (): number | undefined => (deadline === Infinity ? undefined : Math.max(0, deadline - Date.now()))
    const cancelRest = (from: number): void => {
      for (let i = from; i < futures.length; i++) futures[i]!.cancel()
    }
    return {
      *[Symbol.iterator]() {
        let i = 0
        try {
          for (; i < futures.length; i++) yield futures[i]!.result(left())
        } finally {
          cancelRest(i)
        }
      },
      async *[Symbol.asyncIterator]() {
        let i = 0
        try {
          for (; i < futures.length; i++) yield await futures[i]!.resultAsync(left())
        } finally {
          cancelRest(i)
        }
      },
    }
  }

  /**
   * Stops accepting work and, with `wait`, blocks until every running and queued task is done.
   * @param opts `wait` (default true), `cancelFutures` (default false)
   */
  shutdown(opts: ShutdownOptions = {}): void {
    this.#beginShutdown(opts.cancelFutures ?? false)
    if (opts.wait ?? true) for (const t of this.#threads) t.join()
  }

  /** Async form of {@link shutdown}: resolves when the workers are done (with `wait`). */
  async shutdownAsync(opts: ShutdownOptions = {}): Promise<void> {
    this.#beginShutdown(opts.cancelFutures ?? false)
    if (opts.wait ?? true) await Promise.all(this.#threads.map((t) => t.joinAsync()))
  }

  #beginShutdown(cancelFutures: boolean): void {
    if (this.#shutdown) return
    this.#shutdown = true
    if (cancelFutures) {
      for (;;) {
        let item: WorkItem | null
        try {
          item = this.#queue.getNowait()
        } catch {
          break
        }
        item?.f.cancel()
      }
    }
    this.#queue.put(null)
  }

  [Symbol.dispose](): void {
    this.shutdown({ wait: true })
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdownAsync({ wait: true })
  }
}
