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
 * | `BrokenProcessPool` | `ERR_BROKEN_PROCESS_POOL` | a process pool whose child died |
 *
 * @module
 */
import { TandemError, TimeoutError } from '@tandem/sync/errors'
import { registerErrorClass } from '@tandem/sync/task'

export { TimeoutError }

/** The future was cancelled (Python's `concurrent.futures.CancelledError`). */
export class CancelledError extends TandemError {
  constructor(message = 'The future was cancelled') {
    super('ERR_CANCELLED', message)
  }
}

/** An operation not allowed in the future's current state (Python's `InvalidStateError`). */
export class InvalidStateError extends TandemError {
  constructor(message: string) {
    super('ERR_INVALID_STATE', message)
  }
}

/** An executor that cannot run tasks any more. */
export class BrokenExecutor extends TandemError {
  constructor(message: string, code = 'ERR_BROKEN_EXECUTOR', options?: ErrorOptions) {
    super(code, message, options)
  }
}

/** A thread pool whose worker died, or whose initializer threw. */
export class BrokenThreadPool extends BrokenExecutor {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'ERR_BROKEN_THREAD_POOL', options)
  }
}

/** A process pool whose child process died. */
export class BrokenProcessPool extends BrokenExecutor {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'ERR_BROKEN_PROCESS_POOL', options)
  }
}

// A future failed in another thread arrives as an instance of these classes.
for (const C of [CancelledError, InvalidStateError, BrokenExecutor, BrokenThreadPool, BrokenProcessPool]) {
  registerErrorClass(C.name, C as new (message: string) => Error)
}
