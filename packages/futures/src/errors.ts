/**
 * Errors raised by `@tandem/futures`, each with a permanent `code`.
 *
 * | class | code | raised when |
 * | --- | --- | --- |
 * | `CancelledError` | `ERR_CANCELLED` | `result()`/`exception()` of a cancelled future |
 * | `TimeoutError` | `ERR_TIMEOUT` | `result(timeout)`/`exception(timeout)` before the future is done (the class of `@tandem/sync`) |
 * | `InvalidStateError` | `ERR_INVALID_STATE` | `setResult`/`setException` on a done future; `setRunningOrNotifyCancel` twice |
 * | `BrokenExecutor` | `ERR_BROKEN_EXECUTOR` | an executor that can no longer run tasks |
 * | `BrokenThreadPool` | `ERR_BROKEN_THREAD_POOL` | a thread pool whose worker died or whose initializer failed |
 * | `BrokenProcessPool` | `ERR_BROKEN_PROCESS_POOL` | a process pool whose worker process died or whose initializer failed |
 * | `WorkerLostError` | `ERR_WORKER_LOST` | a `Pool` call whose worker process died while it ran (the pool replaces the worker and goes on) |
 * | `Error` | `ERR_EXECUTOR_SHUT_DOWN` | `submit`/`map` after `shutdown()` (Python's `RuntimeError`) |
 * | `Error` | `ERR_POOL_NOT_RUNNING` | a `Pool`/`ThreadPool` call after `close()`/`terminate()` (Python's `ValueError`) |
 * | `Error` | `ERR_POOL_RUNNING` | `Pool.join()`/`ThreadPool.join()` before `close()`/`terminate()` (Python's `ValueError`) |
 * | `TypeError` | `ERR_INVALID_ARG_TYPE` | a non-function task, a non-iterable, a non-future in `wait`, bad options |
 * | `RangeError` | `ERR_OUT_OF_RANGE` | `maxWorkers`/`threads`/`chunksize` < 1, a negative timeout, a bad `resourceLimits` entry |
 * | `RangeError` | `ERR_INVALID_ARG_VALUE` | an unknown `returnWhen` |
 * | `TypeError` | `ERR_NOT_SHAREABLE` | an argument or result that cannot be cloned; an executor or Future sent where it cannot go |
 *
 * Each class arrives as itself (with its `code`) when a task throws it in a worker.
 *
 * @module
 */
import { codedError, TandemError, TimeoutError } from '@tandem/sync/errors'
import { registerErrorClass } from '@tandem/sync/task'

export { TimeoutError }

/**
 * The future was cancelled (Python's `concurrent.futures.CancelledError`).
 * @example
 * ```ts
 * import { CancelledError } from '@tandem/futures/errors'
 * import { Future } from '@tandem/futures/future'
 *
 * const f = new Future<number>()
 * f.cancel()
 * try {
 *   f.result()
 * } catch (err) {
 *   console.log(err instanceof CancelledError, (err as CancelledError).code) // true ERR_CANCELLED
 * }
 * ```
 */
export class CancelledError extends TandemError {
  constructor(message = 'The future was cancelled') {
    super('ERR_CANCELLED', message)
  }
}

/**
 * An operation not allowed in the future's current state (Python's `InvalidStateError`).
 * @example
 * ```ts
 * import { InvalidStateError } from '@tandem/futures/errors'
 * import { Future } from '@tandem/futures/future'
 *
 * const f = new Future<string>()
 * f.setResult('first')
 * try {
 *   f.setResult('second')
 * } catch (err) {
 *   console.log(err instanceof InvalidStateError, (err as InvalidStateError).code) // true ERR_INVALID_STATE
 * }
 * console.log(f.result()) // first
 * ```
 */
export class InvalidStateError extends TandemError {
  constructor(message: string) {
    super('ERR_INVALID_STATE', message)
  }
}

/**
 * An executor that cannot run tasks any more; the base class of {@link BrokenThreadPool} and
 * {@link BrokenProcessPool}, so one `instanceof` catches both.
 * @param code the subclass's code @default 'ERR_BROKEN_EXECUTOR'
 * @example
 * ```ts
 * import { BrokenExecutor, BrokenThreadPool } from '@tandem/futures/errors'
 *
 * const err: unknown = new BrokenThreadPool('ThreadPoolExecutor-1_0 exited with code 1')
 * if (err instanceof BrokenExecutor) console.log(err.code) // ERR_BROKEN_THREAD_POOL
 * console.log(new BrokenExecutor('no more tasks').code) // ERR_BROKEN_EXECUTOR
 * ```
 */
export class BrokenExecutor extends TandemError {
  constructor(message: string, code = 'ERR_BROKEN_EXECUTOR', options?: ErrorOptions) {
    super(code, message, options)
  }
}

/**
 * A thread pool whose worker died, or whose initializer threw. Its running and queued futures
 * fail with it, and later submits throw it.
 * @example
 * ```ts
 * import { BrokenThreadPool } from '@tandem/futures/errors'
 * import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'
 *
 * using pool = new ThreadPoolExecutor({ maxWorkers: 1, initializer: () => { throw new Error('no config') } })
 * try {
 *   await pool.submit(() => 1)
 * } catch (err) {
 *   console.log(err instanceof BrokenThreadPool, (err as BrokenThreadPool).code) // true ERR_BROKEN_THREAD_POOL
 * }
 * ```
 */
export class BrokenThreadPool extends BrokenExecutor {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'ERR_BROKEN_THREAD_POOL', options)
  }
}

/**
 * A process pool (`ProcessPoolExecutor`) whose worker process died (exited, was killed, ran out
 * of memory) or whose initializer failed: its pending calls fail with it, and later submits
 * throw it. The message names the worker, its pid and how it ended.
 * @example
 * ```ts
 * import { BrokenExecutor, BrokenProcessPool } from '@tandem/futures/errors'
 *
 * const err = new BrokenProcessPool('child 4242 was killed by SIGKILL')
 * console.log(err instanceof BrokenExecutor, err.code) // true ERR_BROKEN_PROCESS_POOL
 * ```
 */
export class BrokenProcessPool extends BrokenExecutor {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'ERR_BROKEN_PROCESS_POOL', options)
  }
}

/**
 * A `Pool` call whose worker process died while it ran (it exited, was killed, ran out of
 * memory): the pool replaces the worker and runs the other calls on, and only this call fails
 * (CPython's `Pool` waits for it forever, bpo-22393). The message names the worker, its pid and
 * how it ended.
 * @example
 * ```ts
 * import { Pool } from '@tandem/futures/pool'
 * import { WorkerLostError } from '@tandem/futures/errors'
 *
 * using pool = new Pool(1)
 * try {
 *   pool.apply(() => process.exit(3))
 * } catch (err) {
 *   console.log(err instanceof WorkerLostError, (err as WorkerLostError).code) // true ERR_WORKER_LOST
 * }
 * console.log(pool.apply((a: number, b: number) => a + b, [1, 2])) // 3 (on a new worker)
 * ```
 */
export class WorkerLostError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_WORKER_LOST', message, options)
  }
}

/**
 * `submit`/`map` after `shutdown()`: `Error` with code `ERR_EXECUTOR_SHUT_DOWN` (Python's `RuntimeError`).
 * @example
 * ```ts
 * import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'
 *
 * const pool = new ThreadPoolExecutor({ maxWorkers: 1 })
 * pool.shutdown()
 * try {
 *   pool.submit(() => 1)
 * } catch (err) {
 *   console.log(err instanceof Error, (err as Error & { code: string }).code) // true ERR_EXECUTOR_SHUT_DOWN
 * }
 * ```
 */
export function executorShutDown(message: string): Error & { code: string } {
  return codedError(message, 'ERR_EXECUTOR_SHUT_DOWN')
}

/**
 * A `ThreadPool` call in the wrong state: `ERR_POOL_NOT_RUNNING` after `close()`/`terminate()`,
 * `ERR_POOL_RUNNING` for `join()` before them (Python's `ValueError`).
 * @example
 * ```ts
 * import { ThreadPool } from '@tandem/futures/thread-pool'
 *
 * const pool = new ThreadPool(1)
 * try {
 *   pool.join() // before close()
 * } catch (err) {
 *   console.log((err as Error & { code: string }).code) // ERR_POOL_RUNNING
 * }
 * pool.close()
 * try {
 *   pool.apply(() => 1)
 * } catch (err) {
 *   console.log((err as Error & { code: string }).code) // ERR_POOL_NOT_RUNNING
 * }
 * pool.join()
 * ```
 */
export function poolStateError(message: string, code: 'ERR_POOL_NOT_RUNNING' | 'ERR_POOL_RUNNING'): Error & { code: string } {
  return codedError(message, code)
}

// A future failed in another thread arrives as an instance of these classes.
for (const C of [CancelledError, InvalidStateError, BrokenExecutor, BrokenThreadPool, BrokenProcessPool, WorkerLostError]) {
  registerErrorClass(C.name, C as new (message: string) => Error)
}
