/**
 * What `ThreadPoolExecutor` and `ProcessPoolExecutor` share: the public surface of
 * `concurrent.futures.Executor` (submit, map, shutdown, `using`) over one {@link ExecutorCore}.
 * A subclass only says how a worker starts (a thread running `workerLoop`, or a thread standing
 * in for a child process, `process-stub.ts`) and which error a broken pool throws.
 *
 * @module
 */
import { checkOptions } from '@tandem/sync/kit'
import { SHARE } from '@tandem/sync/shareable'
import type { TaskFunction } from '@tandem/sync/task'
import type { Thread } from '@tandem/sync/thread'
import { executorShutDown } from '../errors.ts'
import type { Future } from '../future.ts'
import { CALL, ExecutorCore, executorNotShareable, type ExecutorCoreOptions } from './executor-core.ts'
import { type MapOptions, type MapResult, type MapSubmitter, mapCalls } from './map.ts'

/** Options of `shutdown`. */
export interface ShutdownOptions {
  /** Wait for running and queued tasks to finish. @default true */
  wait?: boolean
  /** Cancel the futures of tasks that have not started. @default false */
  cancelFutures?: boolean
}

/** How a subclass makes its core: everything but `startWorker`, which returns the worker's thread. */
export interface ExecutorSetup extends Omit<ExecutorCoreOptions, 'startWorker'> {
  /** The class name, for messages (`ThreadPoolExecutor`). */
  readonly what: string
  readonly startWorker: (core: ExecutorCore, index: number) => Thread
  /** Throws for `submit` arguments that cannot reach a worker (a process pool's check). */
  readonly checkArgs?: (args: unknown[]) => void
}

/**
 * The core of a pool whose workers are threads (thread workers, or stand-ins for processes):
 * each thread `startWorker` returns is kept in `threads`, for shutdown and join.
 */
export function coreWithThreads(
  setup: Omit<ExecutorCoreOptions, 'startWorker'> & { readonly startWorker: (core: ExecutorCore, index: number) => Thread },
  threads: Thread[],
): ExecutorCore {
  const core = new ExecutorCore({ ...setup, startWorker: (i) => threads.push(setup.startWorker(core, i)) })
  return core
}

/** The executor surface both pools share (not exported to users: they see the subclasses). */
export class PoolExecutor implements Disposable, AsyncDisposable {
  readonly #what: string
  readonly #threads: Thread[] = []
  readonly #core: ExecutorCore
  readonly #checkArgs: ((args: unknown[]) => void) | undefined
  /** This pool as `map` sees it. */
  readonly #calls: MapSubmitter

  constructor(setup: ExecutorSetup) {
    this.#what = setup.what
    this.#checkArgs = setup.checkArgs
    const core = coreWithThreads(setup, this.#threads)
    this.#core = core
    this.#calls = {
      check: (what) => this.#check(what),
      task: (fn) => core.task(fn),
      submit: (task, mode, payload) => core.submit(task, mode, payload),
      get isShutdown() {
        return core.isShutdown
      },
    }
  }

  #check(what: string): void {
    if (this.#core.shared.broken.isSet()) throw this.#core.brokenError()
    if (this.#core.isShutdown) throw executorShutDown(`${this.#what}.${what}(): cannot schedule new futures after shutdown`)
  }

  /**
   * Schedules `fn(...args)` on a worker.
   * @returns a Future for the call's result
   * @throws {Error} `ERR_EXECUTOR_SHUT_DOWN` after shutdown; the pool's broken error
   *   (`BrokenThreadPool`, `BrokenProcessPool`) if the pool is broken
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-function; `ERR_NOT_SHAREABLE` for un-cloneable
   *   args (a function, a symbol). Args are copied, except Tandem shareables (and, for threads,
   *   SharedArrayBuffers and views on them), which arrive as the same state and memory
   */
  submit<A extends unknown[], R>(fn: TaskFunction<A, R>, ...args: A): Future<Awaited<R>> {
    this.#check('submit')
    const task = this.#core.task(fn)
    this.#checkArgs?.(args)
    return this.#core.submit(task, CALL, args)
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
    return mapCalls(this.#calls, fn, iterablesAndOpts, this.#what) as MapResult<Awaited<R>>
  }

  /**
   * Stops accepting work and, with `wait`, blocks until every running and queued task is done.
   * @param opts `wait` (default true), `cancelFutures` (default false)
   */
  shutdown(opts: ShutdownOptions = {}): void {
    opts = checkOptions(opts, `${this.#what}.shutdown()`, '{ wait?, cancelFutures? }')
    this.#core.shutdown(opts.cancelFutures ?? false)
    if (opts.wait ?? true) {
      for (const t of this.#threads) t.join()
      this.#core.freeTasks()
    }
  }

  /** Async form of {@link shutdown}: resolves when the workers are done (with `wait`). */
  async shutdownAsync(opts: ShutdownOptions = {}): Promise<void> {
    opts = checkOptions(opts, `${this.#what}.shutdownAsync()`, '{ wait?, cancelFutures? }')
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
    throw executorNotShareable(this.#what)
  }
}
