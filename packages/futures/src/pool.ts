/**
 * `Pool`: Python's `multiprocessing.Pool` on child processes, over the same executor core and
 * process transport as `ProcessPoolExecutor` and the same calls as `ThreadPool`: `apply`,
 * `applyAsync`, `map`, `mapAsync`, `imap`, `imapUnordered`, `starmap`, `starmapAsync`, `close`,
 * `terminate`, `join`, and {@link AsyncResult}.
 * @module
 */
import { availableParallelism } from 'node:os'
import { ensureIoThread } from '@tandem/ipc/kit'
import { typeError } from '@tandem/sync/errors'
import { checkArray, checkInt, describe } from '@tandem/sync/kit'
import { registerShareable } from '@tandem/sync/shareable'
import { toTaskSpec, type TaskFunction } from '@tandem/sync/task'
import { BrokenProcessPool } from './errors.ts'
import { executorNotShareable, MAX_WORKERS } from './internal/executor-core.ts'
import { PoolBase } from './internal/pool-base.ts'
import { checkProcessArgs, pidWord, startProcessStub, TERMINATED, WINDOW } from './internal/process-stub.ts'

export { AsyncResult, type ResultCallbacks } from './internal/async-result.ts'
export type { IMapIterator } from './internal/pool-calls.ts'
export type { MapAsyncOptions } from './internal/pool-base.ts'

let poolCounter = 0

/** Options of `new Pool()`. */
export interface PoolOptions {
  /** Task function run once in each worker process before its first call. If it throws, the pool breaks. */
  initializer?: TaskFunction
  /** Arguments for `initializer`. */
  initargs?: unknown[]
  /**
   * Calls (a `map` chunk is one call) a worker process runs before it is replaced by a new one
   * (which runs the initializer again): CPython's `maxtasksperchild`. @default unlimited
   */
  maxtasksperchild?: number
}

/**
 * A pool of worker processes with `multiprocessing.Pool`'s API: real parallelism for CPU-bound
 * work, each call in a process of its own.
 *
 * - Tasks are functions shipped by source (self-contained) or `moduleRef`s, and may be async.
 *   Arguments and results are copied (structured clone); connections, process queues and manager
 *   proxies of `@tandem/ipc` arrive working. Arguments that cannot reach a process (a function, a
 *   thread-only shareable such as a Lock) make `apply`/`applyAsync` throw `ERR_NOT_SHAREABLE`.
 * - `map`/`starmap` split the input into chunks (default as CPython: about 4 chunks per worker);
 *   each chunk is one call, so tiny calls cost little.
 * - A worker process that dies (exits, is killed, runs out of memory) is replaced, as in
 *   CPython; the call it was running fails with {@link WorkerLostError} (CPython waits for it
 *   forever), and the others go on. An initializer that throws breaks the pool
 *   (`BrokenProcessPool`), as in `ThreadPool`.
 * - `close()` then `join()` waits for the queued work; `terminate()` cancels what has not started
 *   and ends the worker processes at once: every call not finished fails with `CancelledError`.
 *   `using pool = new Pool()` terminates on exit, as Python's `with`.
 * - The worker processes start when the pool is made, as in CPython, and never outlive this
 *   process. Create the pool on the main thread (or after the main thread has started a Process).
 *
 * @example
 * ```ts
 * import { Pool } from '@tandem/futures/pool'
 *
 * const pool = new Pool(2)
 * console.log(pool.apply((a: number, b: number) => a + b, [1, 2])) // 3
 * console.log(pool.map((x: number) => x * x, [1, 2, 3])) // [ 1, 4, 9 ]
 * console.log(await pool.applyAsync(() => process.pid) !== process.pid) // true: another process
 * for (const v of pool.imap((x: number) => x + 1, [1, 2, 3])) console.log(v) // 2, 3, 4
 * pool.close()
 * await pool.joinAsync() // the worker processes have exited
 * ```
 */
export class Pool extends PoolBase {
  /** @internal Shareable kind name (registered only to refuse sharing). */
  static readonly shareKind = 'tandem.futures.Pool'

  /**
   * @param processes number of worker processes (default `os.availableParallelism()`)
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if `processes` or `maxtasksperchild` < 1
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-function initializer or non-array `initargs`
   * @throws {Error} `ERR_IPC_NOT_STARTED` when created in a worker thread before the main thread
   *   has started this process's I/O thread
   */
  constructor(processes?: number, opts: PoolOptions = {}) {
    const size = processes === undefined || processes === null ? Math.max(1, availableParallelism()) : checkInt(processes, 'processes', 1, MAX_WORKERS)
    if (typeof opts !== 'object' || opts === null) throw typeError(`new Pool(processes, opts): opts must be an object; received ${describe(opts)}`)
    const initializer = opts.initializer === undefined ? undefined : toTaskSpec(opts.initializer, 'initializer')
    const initargs = opts.initargs === undefined ? [] : checkArray(opts.initargs, 'initargs')
    const maxTasksPerChild = opts.maxtasksperchild === undefined || opts.maxtasksperchild === null ? 0 : checkInt(opts.maxtasksperchild, 'maxtasksperchild', 1)
    ensureIoThread()
    const name = `Pool-${++poolCounter}`
    // TERMINATED, then each worker's child pid: terminate() kills the children it finds there.
    const control = new Int32Array(new SharedArrayBuffer(4 * (1 + size)))
    super({
      what: 'Pool',
      maxWorkers: size,
      broken: BrokenProcessPool,
      keepAlive: false,
      slotsPerWorker: WINDOW,
      eager: true,
      checkArgs: checkProcessArgs,
      startWorker: (core, index) => startProcessStub(core, index, { name: `${name}_${index}`, initializer, initargs, maxTasksPerChild, replace: true, control }),
      onTerminate: () => {
        Atomics.store(control, TERMINATED, 1)
        for (let i = 0; i < size; i++) {
          const pid = Atomics.load(control, pidWord(i))
          if (pid <= 0) continue
          try {
            process.kill(pid, 'SIGKILL')
          } catch {
            // It ended meanwhile.
          }
        }
      },
    })
  }
}

registerShareable(Pool.shareKind, import.meta.url, () => {
  throw executorNotShareable('Pool')
})
