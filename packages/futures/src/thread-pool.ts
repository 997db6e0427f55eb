/**
 * `ThreadPool`: Python's `multiprocessing.pool.ThreadPool` on Tandem worker threads, over the
 * same executor core as `ThreadPoolExecutor`: `apply`, `applyAsync`, `map`, `mapAsync`,
 * `imap`, `imapUnordered`, `starmap`, `starmapAsync`, `close`, `terminate`, `join`, and
 * {@link AsyncResult}.
 * @module
 */
import { availableParallelism } from 'node:os'
import { typeError } from '@tandem/sync/errors'
import { checkArray, checkHeapLimits, checkInt, checkTimeout, describe } from '@tandem/sync/kit'
import { registerShareable, SHARE } from '@tandem/sync/shareable'
import { toTaskSpec, type TaskFunction, type TaskSpec } from '@tandem/sync/task'
import type { HeapLimits, Thread } from '@tandem/sync/thread'
import { asCompleted } from './as-completed.ts'
import { CancelledError, InvalidStateError, poolStateError, TimeoutError } from './errors.ts'
import type { Future } from './future.ts'
import { CALL, CHUNK_MAP, CHUNK_STAR, ExecutorCore, executorNotShareable, MAX_WORKERS } from './internal/executor-core.ts'
import { startThreadWorker } from './internal/thread-workers.ts'
import { FIRST_EXCEPTION, wait, waitAsync } from './wait.ts'

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

/** Callbacks of the `*Async` methods, run in the pool's thread once the result is ready. */
export interface ResultCallbacks<T> {
  /** Called with the result on success. */
  callback?: (value: T) => void
  /** Called with the error on failure. */
  errorCallback?: (error: unknown) => void
}

/** Results of `imap`/`imapUnordered`: iterate blocking (`for...of`) or async (`for await`). */
export interface IMapIterator<R> extends Iterable<R>, AsyncIterable<R> {}

function checkCallbacks<T>(callbacks: ResultCallbacks<T> | undefined): void {
  if (callbacks === undefined) return
  if (typeof callbacks !== 'object' || callbacks === null) throw typeError(`callbacks must be an object { callback?, errorCallback? }; received ${describe(callbacks)}`)
  const { callback, errorCallback } = callbacks
  if (callback !== undefined && typeof callback !== 'function') throw typeError(`callback must be a function; received ${describe(callback)}`)
  if (errorCallback !== undefined && typeof errorCallback !== 'function') throw typeError(`errorCallback must be a function; received ${describe(errorCallback)}`)
}

function failureOf(f: Future<unknown>): unknown {
  if (f.cancelled()) return new CancelledError('The task was cancelled (the pool was terminated before it ran)')
  return f.exception(0)
}

/**
 * The result of an `*Async` call (Python's `AsyncResult`): `get(timeout?)` blocks for the value
 * (or throws the task's error), `wait(timeout?)`, `ready()`, `successful()`; `await` it, or use
 * `getAsync`/`waitAsync` from the event loop. A result made of several chunks fails as soon as
 * one chunk fails.
 *
 * @example
 * ```ts
 * import { ThreadPool } from '@tandem/futures/thread-pool'
 *
 * using pool = new ThreadPool(2)
 * const r = pool.applyAsync((x: number) => x * 2, [21], { callback: (v) => console.log('callback got', v) })
 * console.log(r.get(10_000), r.ready(), r.successful()) // 42 true true (the callback has run)
 * console.log(await r) // 42
 * const bad = pool.mapAsync((x: number) => { if (x === 2) throw new RangeError('two'); return x }, [1, 2, 3])
 * console.log(await bad.waitAsync(10_000), bad.successful()) // true false
 * ```
 */
export class AsyncResult<T> implements PromiseLike<T> {
  readonly #futures: Future<unknown>[]
  readonly #combine: (values: unknown[]) => T

  /** @internal */
  constructor(futures: Future<unknown>[], combine: (values: unknown[]) => T, callbacks: ResultCallbacks<T> = {}) {
    this.#futures = futures
    this.#combine = combine
    checkCallbacks(callbacks)
    if (callbacks.callback !== undefined || callbacks.errorCallback !== undefined) {
      this.#callbacks = callbacks as ResultCallbacks<never>
      void this.waitAsync().then(() => this.#runCallbacks())
    }
  }

  // Typed loosely so that AsyncResult<T> stays covariant in T.
  #callbacks: ResultCallbacks<never> | undefined

  /** Runs the callback or errorCallback once, when ready (from the event loop, or before a blocking wait returns). */
  #runCallbacks(): void {
    const cbs = this.#callbacks
    if (cbs === undefined || !this.ready()) return
    this.#callbacks = undefined
    const failed = this.#failed()
    try {
      if (failed === undefined) (cbs as ResultCallbacks<T>).callback?.(this.#value())
      else cbs.errorCallback?.(failureOf(failed))
    } catch (err) {
      console.error('exception in an AsyncResult callback', err)
    }
  }

  #failed(): Future<unknown> | undefined {
    for (const f of this.#futures) if (f.done() && (f.cancelled() || f.exception(0) !== undefined)) return f
    return undefined
  }

  #value(): T {
    return this.#combine(this.#futures.map((f) => f.result(0)))
  }

  #settle(): T {
    const failed = this.#failed()
    if (failed !== undefined) throw failureOf(failed)
    return this.#value()
  }

  /** True once the call has completed (every chunk done, or one failed). */
  ready(): boolean {
    return this.#failed() !== undefined || this.#futures.every((f) => f.done())
  }

  /**
   * True if the call completed without error.
   * @throws {InvalidStateError} `ERR_INVALID_STATE` if not ready (Python's ValueError)
   */
  successful(): boolean {
    if (!this.ready()) throw new InvalidStateError('AsyncResult.successful(): the result is not ready')
    return this.#failed() === undefined
  }

  /** Blocks until ready or `timeout` ms pass. @returns `ready()` */
  wait(timeout?: number): boolean {
    const ms = checkTimeout(timeout)
    if (!this.ready()) wait(this.#futures, { timeout: ms, returnWhen: FIRST_EXCEPTION })
    // As in CPython, the callback has run by the time a wait sees the result ready.
    this.#runCallbacks()
    return this.ready()
  }

  /** Async form of {@link wait}. */
  async waitAsync(timeout?: number): Promise<boolean> {
    const ms = checkTimeout(timeout)
    if (!this.ready()) await waitAsync(this.#futures, { timeout: ms, returnWhen: FIRST_EXCEPTION })
    this.#runCallbacks()
    return this.ready()
  }

  /**
   * Blocks for the result.
   * @throws {TimeoutError} `ERR_TIMEOUT` if not ready in time; the task's error if it failed
   */
  get(timeout?: number): T {
    if (!this.wait(timeout)) throw new TimeoutError(`AsyncResult.get(): not ready within ${timeout} ms`)
    return this.#settle()
  }

  /** Async form of {@link get}. */
  async getAsync(timeout?: number): Promise<T> {
    if (!(await this.waitAsync(timeout))) throw new TimeoutError(`AsyncResult.getAsync(): not ready within ${timeout} ms`)
    return this.#settle()
  }

  /** `await result` resolves to the value or rejects with the error. */
  then<R1 = T, R2 = never>(onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null, onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null): Promise<R1 | R2> {
    return this.getAsync().then(onfulfilled, onrejected)
  }
}

const RUN = 0
const CLOSE = 1
const TERMINATE = 2

function first(values: unknown[]): unknown {
  return values[0]
}

function flat(values: unknown[]): unknown[] {
  if (values.length === 1) return values[0] as unknown[]
  // Array.prototype.flat is several times slower than this on V8 11.
  const out: unknown[] = []
  for (const chunk of values as unknown[][]) for (let i = 0; i < chunk.length; i++) out.push(chunk[i])
  return out
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
    this.#core = new ExecutorCore(this.#size, (i) => this.#startWorker(i), false)
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

  #chunks(fn: unknown, iterable: Iterable<unknown>, chunksize: number | undefined, star: boolean, what: string): Future<unknown>[] {
    this.#check(what)
    const task = this.#core.task(fn)
    if (iterable === null || (typeof iterable !== 'object' && typeof iterable !== 'string') || typeof (iterable as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw typeError(`ThreadPool.${what}(): expected an iterable; received ${describe(iterable)}`)
    }
    const items = Array.isArray(iterable) ? iterable : [...iterable]
    let size: number
    if (chunksize === undefined) {
      size = Math.ceil(items.length / (this.#size * 4)) || 1
    } else {
      size = checkInt(chunksize, 'chunksize', 1)
    }
    if (star) {
      for (const args of items) if (!Array.isArray(args)) throw typeError(`ThreadPool.${what}(): every item must be an array of arguments; received ${describe(args)}`)
    }
    const mode = star ? CHUNK_STAR : CHUNK_MAP
    const futures: Future<unknown>[] = []
    for (let i = 0; i < items.length; i += size) futures.push(this.#core.submit(task, mode, items.slice(i, i + size)))
    return futures
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
    this.#check('applyAsync')
    checkCallbacks(callbacks)
    const a = args ?? ([] as unknown as A)
    if (!Array.isArray(a)) throw typeError(`ThreadPool.applyAsync(): args must be an array; received ${describe(a)}`)
    const f = this.#core.submit(this.#core.task(fn), CALL, a)
    return new AsyncResult<Awaited<R>>([f as Future<unknown>], first as (v: unknown[]) => Awaited<R>, callbacks)
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
    checkCallbacks(callbacks)
    return new AsyncResult(this.#chunks(fn, iterable, chunksize, false, 'mapAsync'), flat as (v: unknown[]) => Awaited<R>[], callbacks)
  }

  /** Like {@link map} with argument arrays: `fn(...args)` for each. */
  starmap<A extends unknown[], R>(fn: TaskFunction<A, R>, iterable: Iterable<A>, chunksize?: number): Awaited<R>[] {
    return this.starmapAsync(fn, iterable, chunksize).get()
  }

  /** Async form of {@link starmap}. */
  starmapAsync<A extends unknown[], R>(fn: TaskFunction<A, R>, iterable: Iterable<A>, chunksize?: number, callbacks?: ResultCallbacks<Awaited<R>[]>): AsyncResult<Awaited<R>[]> {
    checkCallbacks(callbacks)
    return new AsyncResult(this.#chunks(fn, iterable, chunksize, true, 'starmapAsync'), flat as (v: unknown[]) => Awaited<R>[], callbacks)
  }

  /**
   * `fn` over each item, results in order as they become available (submitted at once, in
   * chunks of `chunksize`, default 1).
   */
  imap<T, R>(fn: TaskFunction<[T], R>, iterable: Iterable<T>, chunksize = 1): IMapIterator<Awaited<R>> {
    const futures = this.#chunks(fn, iterable, chunksize, false, 'imap')
    return {
      *[Symbol.iterator]() {
        for (const f of futures) yield* f.result() as Awaited<R>[]
      },
      async *[Symbol.asyncIterator]() {
        for (const f of futures) yield* (await f.resultAsync()) as Awaited<R>[]
      },
    }
  }

  /** Like {@link imap}, in completion order (of chunks). */
  imapUnordered<T, R>(fn: TaskFunction<[T], R>, iterable: Iterable<T>, chunksize = 1): IMapIterator<Awaited<R>> {
    const futures = this.#chunks(fn, iterable, chunksize, false, 'imapUnordered')
    return {
      *[Symbol.iterator]() {
        for (const f of asCompleted(futures)) yield* f.result() as Awaited<R>[]
      },
      async *[Symbol.asyncIterator]() {
        for await (const f of asCompleted(futures)) yield* (f as Future<unknown>).result() as Awaited<R>[]
      },
    }
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
