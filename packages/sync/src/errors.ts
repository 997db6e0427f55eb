/**
 * Errors raised by `@tandem/sync`. Every class carries a permanent `code`; tests and callers
 * should branch on `code` (or `instanceof`), never on message text.
 *
 * | class | code | raised when |
 * | --- | --- | --- |
 * | `LockNotOwnedError` | `ERR_LOCK_NOT_OWNED` | releasing an unlocked Lock, or an RLock/Condition the caller does not own; `wait`/`notify` without the lock |
 * | `DeadlockError` | `ERR_DEADLOCK` | a blocking `acquire()` without timeout on a Lock the calling thread already holds |
 * | `BrokenBarrierError` | `ERR_BROKEN_BARRIER` | waiting on a broken or reset Barrier |
 * | `TooManyWaitersError` | `ERR_TOO_MANY_WAITERS` | more threads/promises waiting on one Condition than its waiter ring holds |
 * | `OwnerDiedError` | `ERR_OWNER_DIED` | acquiring a Lock/RLock whose owner thread ended while holding it (the lock is poisoned until `clearPoison()`); a Condition wait that re-took such a lock; a Queue whose mutex owner died in the middle of changing it |
 * | `ArenaExhaustedError` | `ERR_ARENA_EXHAUSTED` | the process's shared-memory arena (1 GiB) has no free block of the size a new object or queued item needs |
 * | `InternalStateError` | `ERR_INTERNAL_STATE` | shared state that can only come from a bug or memory corruption |
 * | `RangeError` | `ERR_OUT_OF_RANGE` | negative/NaN timeouts, `Semaphore(-1)`, `Barrier(0)`, `acquire({ blocking: false, timeout })`, a `stackSize` outside 128 KiB to 1 GiB |
 * | `RangeError` | `ERR_SEMAPHORE_OVERFLOW` | `BoundedSemaphore` released above its initial value |
 * | `TypeError` | `ERR_INVALID_ARG_TYPE` | wrong argument types, a function inside `args`, a non-callable target |
 * | `TypeError` | `ERR_NOT_SHAREABLE` | a value that cannot cross to the destination (a function, a SharedArrayBuffer primitive sent to a process) |
 * | `ReferenceError` | `ERR_TASK_CAPTURED_VARIABLE` | a task function shipped by source used a variable of its enclosing scope |
 * | `Error` | `ERR_TASK_MODULE_NOT_FOUND` | a module reference whose module cannot be imported, or lacks the named export |
 * | `Error` | `ERR_THREAD_STATE` | `start()` twice, `join()` before `start()` or on the current thread |
 * | `TimeoutError` | `ERR_TIMEOUT` | `hold({ timeout })` or `holdAsync({ timeout })` did not get the lock in time |
 * | `Error` | `ERR_TSX_NOT_FOUND` | Tandem runs from its `.ts` sources (the `@tandem/source` condition) but tsx, needed to load them in a worker, is not installed |
 *
 * Every class here arrives as itself (with its `code`) when thrown in one thread and reported on
 * another (src/task.ts registers each subclass of `TandemError`).
 *
 * @module
 */

/** Base class of every error defined by Tandem; `code` is stable across versions. */
export class TandemError extends Error {
  /** Stable, machine-readable error code (`ERR_*`). */
  readonly code: string
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
  override get name(): string {
    return this.constructor.name
  }
}

/**
 * Releasing a lock the caller does not hold, or using a Condition without holding its lock.
 * Python raises `RuntimeError` here.
 * @example
 * ```ts
 * try { new Lock().release() } catch (e) { e.code === 'ERR_LOCK_NOT_OWNED' }
 * ```
 */
export class LockNotOwnedError extends TandemError {
  constructor(message: string) {
    super('ERR_LOCK_NOT_OWNED', message)
  }
}

/**
 * A blocking `acquire()` without timeout on a `Lock` the calling thread already holds: it could
 * only succeed if another thread released the lock for us, which Tandem treats as a bug. Use a
 * `Semaphore(0)` or an `Event` for cross-thread signalling, or pass a timeout.
 */
export class DeadlockError extends TandemError {
  constructor(message: string) {
    super('ERR_DEADLOCK', message)
  }
}

/** Raised by `Barrier.wait()` when the barrier is broken, aborted or reset while waiting. */
export class BrokenBarrierError extends TandemError {
  constructor(message = 'Barrier is broken; call reset() to use it again') {
    super('ERR_BROKEN_BARRIER', message)
  }
}

/** More simultaneous waiters on one Condition than its shared waiter ring can hold. */
export class TooManyWaitersError extends TandemError {
  constructor(message: string) {
    super('ERR_TOO_MANY_WAITERS', message)
  }
}

/**
 * The thread that held a lock ended (its target threw or returned, `process.exit()`,
 * `terminate()`, out of memory) without releasing it, so what the lock protects may be half
 * updated. Tandem's model is Rust's *poisoning*: the lock is marked poisoned, everyone waiting
 * for it wakes with this error, and every later acquire throws it too, until a thread that has
 * checked the protected state calls `clearPoison()`. A Condition wait whose lock became poisoned
 * takes the lock over and throws this error while holding it.
 * @example
 * ```ts
 * try { using _ = lock.hold(); update() }
 * catch (e) { if (e instanceof OwnerDiedError) { repair(); lock.clearPoison() } else throw e }
 * ```
 */
export class OwnerDiedError extends TandemError {
  /** Token (`threadId + 1`) of the thread that died holding the lock, 0 if unknown. */
  readonly owner: number
  constructor(message: string, owner = 0) {
    super('ERR_OWNER_DIED', message)
    this.owner = owner
  }
}

/**
 * The process's shared-memory arena, where every Tandem object and every queued item that does
 * not fit its queue entry lives, reached its size limit (1 GiB) without a free block of the size
 * needed. The message says how much is in use and whether the free memory is only too split up.
 * @example
 * ```ts
 * try { queue.put(hugeItem) } catch (e) { if (e.code === 'ERR_ARENA_EXHAUSTED') dropOldObjects() }
 * ```
 */
export class ArenaExhaustedError extends TandemError {
  constructor(message: string) {
    super('ERR_ARENA_EXHAUSTED', message)
  }
}

/** A shared state that no correct sequence of operations can produce. Always a bug: report it. */
export class InternalStateError extends TandemError {
  constructor(message: string) {
    super('ERR_INTERNAL_STATE', message)
  }
}

/** `start()` called twice, `join()` before `start()`, or a thread joining itself. */
export class ThreadStateError extends TandemError {
  constructor(message: string) {
    super('ERR_THREAD_STATE', message)
  }
}

/** A module reference that cannot be imported in the worker, or lacks the named export. */
export class TaskModuleError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_TASK_MODULE_NOT_FOUND', message, options)
  }
}

/** Builds a Node-style `RangeError` with a `code`. */
export function rangeError(message: string, code = 'ERR_OUT_OF_RANGE'): RangeError & { code: string } {
  const err = new RangeError(message) as RangeError & { code: string }
  err.code = code
  return err
}

/**
 * Builds a plain `Error` with a `code`, for misuse that Python reports as `RuntimeError` or
 * `ValueError` and that has no class of its own (`ERR_EXECUTOR_SHUT_DOWN`, `ERR_POOL_RUNNING`).
 */
export function codedError(message: string, code: string): Error & { code: string } {
  const err = new Error(message) as Error & { code: string }
  err.code = code
  return err
}

/** Builds a Node-style `TypeError` with a `code`. */
export function typeError(message: string, code = 'ERR_INVALID_ARG_TYPE'): TypeError & { code: string } {
  const err = new TypeError(message) as TypeError & { code: string }
  err.code = code
  return err
}

/**
 * A `hold()`/`holdAsync()` (or another wait that must succeed) did not complete within its
 * timeout. Plain `acquire()` returns `false` instead.
 */
export class TimeoutError extends TandemError {
  constructor(message: string) {
    super('ERR_TIMEOUT', message)
  }
}

/** Builds the `TypeError` for a shareable that cannot reach a child process. */
export function notShareableToProcess(what: string, instead: string): TypeError & { code: string } {
  return typeError(
    `A ${what} lives in SharedArrayBuffer memory and cannot be sent to another process; ${instead}`,
    'ERR_NOT_SHAREABLE',
  )
}
