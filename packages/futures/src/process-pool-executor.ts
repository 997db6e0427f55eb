/**
 * `ProcessPoolExecutor`: Python's `concurrent.futures.ProcessPoolExecutor` on child processes
 * (`@tandem/ipc`), with the same core, futures and `map` as `ThreadPoolExecutor`: the calls go
 * through the pool's shared work queue to threads that each stand in for one worker process and
 * run the calls there (`internal/process-stub.ts`, `internal/process-worker.ts`).
 *
 * @module
 */
import { availableParallelism } from 'node:os'
import { ensureIoThread } from '@tandem/ipc/kit'
import { typeError } from '@tandem/sync/errors'
import { checkArray, checkInt, describe } from '@tandem/sync/kit'
import { registerShareable } from '@tandem/sync/shareable'
import { toTaskSpec, type TaskFunction } from '@tandem/sync/task'
import { BrokenProcessPool } from './errors.ts'
import { PoolExecutor } from './internal/executor-base.ts'
import { executorNotShareable, MAX_WORKERS } from './internal/executor-core.ts'
import { checkProcessArgs, startProcessStub, WINDOW } from './internal/process-stub.ts'

export type { ShutdownOptions } from './internal/executor-base.ts'
export type { MapOptions, MapResult } from './internal/map.ts'

let poolCounter = 0

/** Options of `new ProcessPoolExecutor()`. */
export interface ProcessPoolExecutorOptions {
  /** Most worker processes. Workers start on demand and are reused when idle. @default os.availableParallelism() */
  maxWorkers?: number
  /** Task function run once in each worker process before its first task. If it throws, the pool breaks. */
  initializer?: TaskFunction
  /** Arguments for `initializer`. */
  initargs?: unknown[]
  /**
   * Calls a worker process runs before it is replaced by a new one (which runs the initializer
   * again): CPython's `max_tasks_per_child`. @default unlimited
   */
  maxTasksPerChild?: number
}

/**
 * A pool of worker processes running submitted calls: real parallelism for CPU-bound work, with
 * each call isolated in a process of its own (a crash, `process.exit()` or running out of memory
 * ends only that process).
 *
 * - `submit(fn, ...args)` returns a {@link Future} at once (the same class as the thread pool's:
 *   blocking `result()`, `await`, `wait`, `asCompleted` and done callbacks work on it); `fn` is
 *   shipped by source (self-contained) or as a `moduleRef`, and may be async. Arguments and
 *   results are copied (structured clone); connections, process queues and manager proxies of
 *   `@tandem/ipc` arrive working. An argument that cannot reach a process (a function, a
 *   thread-only shareable such as a Lock) makes `submit` throw `ERR_NOT_SHAREABLE` (in `map`,
 *   it fails that call's future).
 * - Workers start on demand up to `maxWorkers` (default: the CPU count) and are reused;
 *   `maxTasksPerChild` replaces a worker process after that many calls.
 * - `shutdown({ wait, cancelFutures })` stops accepting work; `using`/`await using` shut down
 *   with `wait: true`.
 * - A worker process that dies (exits, is killed, runs out of memory) or whose initializer throws
 *   breaks the pool: its calls and every queued one fail with {@link BrokenProcessPool}, which
 *   names the worker, its pid and how it ended, and later submits throw it. A blocked `result()`
 *   wakes up at once, on the main thread as elsewhere.
 * - Create the pool on the main thread (or after the main thread has started a Process): its
 *   worker processes are children of this process.
 *
 * @example
 * ```ts
 * import { ProcessPoolExecutor } from '@tandem/futures/process-pool-executor'
 *
 * {
 *   using pool = new ProcessPoolExecutor({ maxWorkers: 2 })
 *   const f = pool.submit((n: number) => {
 *     let a = 0
 *     let b = 1
 *     for (let i = 0; i < n; i++) [a, b] = [b, a + b]
 *     return a
 *   }, 30)
 *   console.log(f.result(30_000)) // 832040 (blocking)
 *   console.log(await pool.submit(() => process.pid) !== process.pid) // true: another process
 *   console.log([...pool.map((x: number) => x * x, [1, 2, 3])]) // [ 1, 4, 9 ]
 * } // leaving the block shuts the pool down and waits for its workers
 * ```
 */
export class ProcessPoolExecutor extends PoolExecutor {
  /** @internal Shareable kind name (registered only to refuse sharing). */
  static readonly shareKind = 'tandem.futures.ProcessPoolExecutor'
  readonly #maxWorkers: number

  /**
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if `maxWorkers` or `maxTasksPerChild` < 1
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-function initializer or non-array `initargs`
   * @throws {Error} `ERR_IPC_NOT_STARTED` when created in a worker thread before the main thread
   *   has started this process's I/O thread
   */
  constructor(opts: ProcessPoolExecutorOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw typeError(`new ProcessPoolExecutor(opts): opts must be an object; received ${describe(opts)}`)
    const maxWorkers = opts.maxWorkers === undefined ? Math.max(1, availableParallelism()) : checkInt(opts.maxWorkers, 'maxWorkers', 1, MAX_WORKERS)
    const initializer = opts.initializer === undefined ? undefined : toTaskSpec(opts.initializer, 'initializer')
    const initargs = opts.initargs === undefined ? [] : checkArray(opts.initargs, 'initargs')
    const maxTasksPerChild = opts.maxTasksPerChild === undefined ? 0 : checkInt(opts.maxTasksPerChild, 'maxTasksPerChild', 1)
    ensureIoThread()
    poolCounter++
    const prefix = `ProcessPoolExecutor-${poolCounter}`
    super({
      what: 'ProcessPoolExecutor',
      maxWorkers,
      broken: BrokenProcessPool,
      slotsPerWorker: WINDOW,
      checkArgs: checkProcessArgs,
      startWorker: (core, index) => startProcessStub(core, index, { name: `${prefix}_${index}`, initializer, initargs, maxTasksPerChild }),
    })
    this.#maxWorkers = maxWorkers
  }

  /** Most worker processes. */
  get maxWorkers(): number {
    return this.#maxWorkers
  }
}

registerShareable(ProcessPoolExecutor.shareKind, import.meta.url, () => {
  throw executorNotShareable('ProcessPoolExecutor')
})
