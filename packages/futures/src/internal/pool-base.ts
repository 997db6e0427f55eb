/**
 * What `ThreadPool` and the process `Pool` share: the public surface of `multiprocessing.Pool`
 * (`apply`, `applyAsync`, `map`, `mapAsync`, `imap`, `imapUnordered`, `starmap`,
 * `starmapAsync`, `close`, `terminate`, `join`, `using`) over one {@link ExecutorCore}, with the
 * calls of `pool-calls.ts`. A subclass says how a worker starts, which error a broken pool
 * throws, and what `terminate()` does to running calls (threads finish them; processes are
 * killed).
 *
 * @module
 */
import { typeError } from '@tandem/sync/errors'
import { describe } from '@tandem/sync/kit'
import { SHARE } from '@tandem/sync/shareable'
import type { TaskFunction } from '@tandem/sync/task'
import type { Thread } from '@tandem/sync/thread'
import { poolStateError } from '../errors.ts'
import type { AsyncResult, ResultCallbacks } from './async-result.ts'
import { coreWithThreads } from './executor-base.ts'
import { type ExecutorCore, executorNotShareable, type ExecutorCoreOptions } from './executor-core.ts'
import { applyCall, type IMapIterator, imapChunks, mapChunks, type PoolSubmitter } from './pool-calls.ts'

/** The last parameter of `mapAsync`/`starmapAsync` in its options form. */
export interface MapAsyncOptions<T> extends ResultCallbacks<T> {
  /** Items per work item (default: about four chunks per worker, as CPython). */
  chunksize?: number
}

/** How a subclass makes its core: everything but `startWorker`, which returns the worker's thread. */
export interface PoolSetup extends Omit<ExecutorCoreOptions, 'startWorker'> {
  /** The class name, for messages (`ThreadPool`). */
  readonly what: string
  readonly startWorker: (core: ExecutorCore, index: number) => Thread
  /** Throws for `apply` arguments that cannot reach a worker (the process pool's check). */
  readonly checkArgs?: (args: unknown[]) => void
  /** Runs in `terminate()` after the queued calls are cancelled (the process pool ends its workers). */
  readonly onTerminate?: () => void
  /** Start every worker at once (the process `Pool`, as CPython's) instead of on demand. */
  readonly eager?: boolean
}

const RUN = 0
const CLOSE = 1
const TERMINATE = 2

/** `mapAsync(fn, it, chunksize?, callbacks?)` or `mapAsync(fn, it, { chunksize?, callback?, errorCallback? })`. */
function splitOptions<T>(
  what: string,
  chunksize: number | MapAsyncOptions<T> | undefined,
  callbacks: ResultCallbacks<T> | undefined,
): [number | undefined, ResultCallbacks<T> | undefined] {
  if (typeof chunksize !== 'object' || chunksize === null) return [chunksize, callbacks]
  if (callbacks !== undefined) throw typeError(`${what}: with an options object as the third argument, pass no fourth; received ${describe(callbacks)}`)
  const { chunksize: size, callback, errorCallback } = chunksize
  return [size, { callback, errorCallback }]
}

/** The pool surface both pools share (not exported to users: they see the subclasses). */
export class PoolBase implements Disposable {
  readonly #what: string
  readonly #threads: Thread[] = []
  readonly #core: ExecutorCore
  readonly #size: number
  readonly #checkArgs: ((args: unknown[]) => void) | undefined
  readonly #onTerminate: (() => void) | undefined
  /** This pool as the pool calls see it (`pool-calls.ts`). */
  readonly #calls: PoolSubmitter
  #state = RUN

  constructor(setup: PoolSetup) {
    this.#what = setup.what
    this.#size = setup.maxWorkers
    this.#checkArgs = setup.checkArgs
    this.#onTerminate = setup.onTerminate
    const core = coreWithThreads(setup, this.#threads)
    this.#core = core
    this.#calls = {
      check: (what) => this.#check(what),
      task: (fn) => core.task(fn),
      submit: (task, mode, payload) => core.submit(task, mode, payload),
      size: this.#size,
    }
    if (setup.eager === true) core.startAll()
  }

  /** Number of workers. */
  get size(): number {
    return this.#size
  }

  #check(what: string): void {
    if (this.#state !== RUN) throw poolStateError(`${this.#what}.${what}(): the pool is not running (closed or terminated)`, 'ERR_POOL_NOT_RUNNING')
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
   * @throws {TypeError} `ERR_NOT_SHAREABLE` (a process pool) for args that cannot reach a worker
   */
  applyAsync<A extends unknown[], R>(fn: TaskFunction<A, R>, args?: A, callbacks?: ResultCallbacks<Awaited<R>>): AsyncResult<Awaited<R>> {
    if (this.#checkArgs !== undefined && Array.isArray(args)) this.#checkArgs(args)
    return applyCall(this.#calls, fn, args, callbacks, this.#what)
  }

  /**
   * `fn` over each item, in chunks; blocks for the results (in order).
   * @throws the first failing call's error
   */
  map<T, R>(fn: TaskFunction<[T], R>, iterable: Iterable<T>, chunksize?: number): Awaited<R>[] {
    return this.mapAsync(fn, iterable, chunksize).get()
  }

  /**
   * Async form of {@link map}: an {@link AsyncResult} of the results array. The last parameter
   * may also be `{ chunksize?, callback?, errorCallback? }`.
   */
  mapAsync<T, R>(
    fn: TaskFunction<[T], R>,
    iterable: Iterable<T>,
    chunksize?: number | MapAsyncOptions<Awaited<R>[]>,
    callbacks?: ResultCallbacks<Awaited<R>[]>,
  ): AsyncResult<Awaited<R>[]> {
    const [size, cbs] = splitOptions(`${this.#what}.mapAsync()`, chunksize, callbacks)
    return mapChunks(this.#calls, fn, iterable, size, false, cbs, this.#what)
  }

  /** Like {@link map} with argument arrays: `fn(...args)` for each. */
  starmap<A extends unknown[], R>(fn: TaskFunction<A, R>, iterable: Iterable<A>, chunksize?: number): Awaited<R>[] {
    return this.starmapAsync(fn, iterable, chunksize).get()
  }

  /** Async form of {@link starmap}; the last parameter may also be `{ chunksize?, callback?, errorCallback? }`. */
  starmapAsync<A extends unknown[], R>(
    fn: TaskFunction<A, R>,
    iterable: Iterable<A>,
    chunksize?: number | MapAsyncOptions<Awaited<R>[]>,
    callbacks?: ResultCallbacks<Awaited<R>[]>,
  ): AsyncResult<Awaited<R>[]> {
    const [size, cbs] = splitOptions(`${this.#what}.starmapAsync()`, chunksize, callbacks)
    return mapChunks(this.#calls, fn, iterable, size, true, cbs, this.#what)
  }

  /**
   * `fn` over each item, results in order as they become available (submitted at once, in
   * chunks of `chunksize`, default 1).
   */
  imap<T, R>(fn: TaskFunction<[T], R>, iterable: Iterable<T>, chunksize = 1): IMapIterator<Awaited<R>> {
    return imapChunks(this.#calls, fn, iterable, chunksize, true, this.#what)
  }

  /** Like {@link imap}, in completion order (of chunks). */
  imapUnordered<T, R>(fn: TaskFunction<[T], R>, iterable: Iterable<T>, chunksize = 1): IMapIterator<Awaited<R>> {
    return imapChunks(this.#calls, fn, iterable, chunksize, false, this.#what)
  }

  /** No more tasks: the workers exit once the queued work is done. */
  close(): void {
    if (this.#state !== RUN) return
    this.#state = CLOSE
    this.#core.shutdown(false)
  }

  /**
   * Stops at once: queued calls are cancelled (their results fail with `CancelledError`), also
   * after `close()`. Running calls finish in a `ThreadPool` (a thread cannot be stopped safely);
   * a process `Pool` ends its worker processes, and their calls fail with `CancelledError`.
   */
  terminate(): void {
    if (this.#state === TERMINATE) return
    this.#state = TERMINATE
    this.#core.shutdown(true)
    this.#onTerminate?.()
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
    if (this.#state === RUN) throw poolStateError(`${this.#what}.${what}(): call close() or terminate() first`, 'ERR_POOL_RUNNING')
  }

  /** `using pool = ...` terminates the pool on exit (Python's `with`). */
  [Symbol.dispose](): void {
    this.terminate()
  }

  /** @internal A pool stays in the thread that created it. */
  [SHARE](): never {
    throw executorNotShareable(this.#what)
  }
}
