/**
 * `@tandem/futures`: Python's `concurrent.futures` (and `multiprocessing.pool.ThreadPool`) for
 * Node.js, on worker threads and on child processes. Re-exports only.
 * @module
 */
export { Future } from './future.ts'
export { CancelledError, InvalidStateError, TimeoutError, BrokenExecutor, BrokenThreadPool, BrokenProcessPool, WorkerLostError } from './errors.ts'
export { ThreadPoolExecutor, type ThreadPoolExecutorOptions, type ShutdownOptions, type MapOptions, type MapResult } from './thread-pool-executor.ts'
export { ProcessPoolExecutor, type ProcessPoolExecutorOptions } from './process-pool-executor.ts'
export { wait, waitAsync, FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED, type ReturnWhen, type WaitOptions, type WaitAsyncOptions, type DoneAndNotDone } from './wait.ts'
export { asCompleted, type AsCompleted } from './as-completed.ts'
export { ThreadPool, AsyncResult, type ThreadPoolOptions, type ResultCallbacks, type IMapIterator, type MapAsyncOptions } from './thread-pool.ts'
export { Pool, type PoolOptions } from './pool.ts'
