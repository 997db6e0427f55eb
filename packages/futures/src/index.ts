/**
 * `@tandem/futures`: Python's `concurrent.futures` for Node.js worker threads (in progress:
 * Future is here; executors and pools follow). Re-exports only.
 * @module
 */
export { Future } from './future.ts'
export { CancelledError, InvalidStateError, TimeoutError, BrokenExecutor, BrokenThreadPool, BrokenProcessPool } from './errors.ts'
export { ThreadPoolExecutor, type ThreadPoolExecutorOptions, type ShutdownOptions, type MapOptions, type MapResult } from './thread-pool-executor.ts'
