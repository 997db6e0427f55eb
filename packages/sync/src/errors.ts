/**
 * Errors raised by `@tandem/sync`. Every class carries a permanent `code`; tests and callers
 * should branch on `code` (or `instanceof`), never on message text.
 *
 * | class | code | raised when |
 * | --- | --- | --- |
 * | `LockNotOwnedError` | `ERR_LOCK_NOT_OWNED` | releasing an unlocked Lock, or an RLock/Condition the caller does not own; `wait`/`notify` without the lock |
 * | `DeadlockError` | `ERR_DEADLOCK` | a blocking `acquire()` without timeout on a Lock the calling thread already holds |
 * | `BrokenBarrierError` | `ERR_BROKEN_BARRIER` | waiting on a broken or reset Barrier |
 * | `TooManyWaitersError` | `ERR_TOO_MANY_WAITERS` | more threads/promises waiting on one Condition at once than its `maxWaiters` |
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

/**
 * Base class of every error defined by Tandem; `code` is stable across versions, and `name` is
 * the class name.
 * @example
 * ```ts
 * import { TandemError } from '@tandem/sync/errors'
 * import { Lock } from '@tandem/sync/lock'
 *
 * try {
 *   new Lock().release() // not locked
 * } catch (err) {
 *   if (err instanceof TandemError) console.log(err.name, err.code) // LockNotOwnedError ERR_LOCK_NOT_OWNED
 * }
 *
 * class QuotaError extends TandemError {
 *   constructor(message: string) {
 *     super('ERR_QUOTA', message)
 *   }
 * }
 * const err = new QuotaError('over quota')
 * console.log(err.name, err.code, err instanceof Error) // QuotaError ERR_QUOTA true
 * ```
 */
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
 * import { Condition } from '@tandem/sync/condition'
 * import { LockNotOwnedError } from '@tandem/sync/errors'
 * import { RLock } from '@tandem/sync/rlock'
 *
 * try {
 *   new RLock().release() // this thread does not own it
 * } catch (err) {
 *   console.log(err instanceof LockNotOwnedError, (err as LockNotOwnedError).code) // true ERR_LOCK_NOT_OWNED
 * }
 * try {
 *   new Condition().notify() // without holding the condition's lock
 * } catch (err) {
 *   console.log((err as LockNotOwnedError).code) // ERR_LOCK_NOT_OWNED
 * }
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
 * @example
 * ```ts
 * import { DeadlockError } from '@tandem/sync/errors'
 * import { Lock } from '@tandem/sync/lock'
 *
 * const lock = new Lock()
 * lock.acquire()
 * try {
 *   lock.acquire() // would wait forever for ourselves
 * } catch (err) {
 *   console.log(err instanceof DeadlockError, (err as DeadlockError).code) // true ERR_DEADLOCK
 * }
 * console.log(lock.acquire({ timeout: 10 })) // false: with a timeout it waits, as Python does
 * lock.release()
 * ```
 */
export class DeadlockError extends TandemError {
  constructor(message: string) {
    super('ERR_DEADLOCK', message)
  }
}

/**
 * Raised by `Barrier.wait()` when the barrier is broken, aborted or reset while waiting.
 * @example
 * ```ts
 * import { Barrier } from '@tandem/sync/barrier'
 * import { BrokenBarrierError } from '@tandem/sync/errors'
 *
 * const barrier = new Barrier(2)
 * try {
 *   barrier.wait(50) // the second party never comes: the timeout breaks the barrier
 * } catch (err) {
 *   console.log(err instanceof BrokenBarrierError, (err as BrokenBarrierError).code) // true ERR_BROKEN_BARRIER
 * }
 * console.log(barrier.broken) // true
 * barrier.reset()
 * console.log(barrier.broken) // false
 * ```
 */
export class BrokenBarrierError extends TandemError {
  constructor(message = 'Barrier is broken; call reset() to use it again') {
    super('ERR_BROKEN_BARRIER', message)
  }
}

/**
 * More simultaneous waiters on one Condition than its `maxWaiters` option allows (default
 * 524280).
 * @example
 * ```ts
 * import { Condition } from '@tandem/sync/condition'
 * import { TooManyWaitersError } from '@tandem/sync/errors'
 * import { Lock } from '@tandem/sync/lock'
 *
 * const cond = new Condition(new Lock(), { maxWaiters: 1 })
 * await cond.acquireAsync()
 * const first = cond.waitAsync(10_000) // the one waiter allowed; releases the lock while it waits
 * await cond.acquireAsync()
 * try {
 *   await cond.waitAsync()
 * } catch (err) {
 *   console.log(err instanceof TooManyWaitersError, (err as TooManyWaitersError).code) // true ERR_TOO_MANY_WAITERS
 * }
 * cond.notify()
 * cond.release()
 * console.log(await first) // true (notified; it holds the lock again)
 * cond.release()
 * ```
 */
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
 * takes the lock over and throws this error while holding it. A Queue whose mutex owner died in
 * the middle of changing it throws it from every operation.
 * @example
 * ```ts
 * import { OwnerDiedError } from '@tandem/sync/errors'
 * import { Lock } from '@tandem/sync/lock'
 * import { Thread } from '@tandem/sync/thread'
 *
 * const lock = new Lock()
 * // A thread that ends while it holds the lock (a bug, or a crash halfway through an update).
 * const t = new Thread({ target: (lock: Lock) => void lock.acquire(), args: [lock] })
 * t.start()
 * t.join()
 * try {
 *   lock.acquire() // wakes once the owner's end is known, instead of waiting forever
 * } catch (err) {
 *   if (!(err instanceof OwnerDiedError)) throw err
 *   console.log(err.code, lock.poisoned) // ERR_OWNER_DIED true
 *   // check (or repair) what the lock protects, then:
 *   lock.clearPoison()
 * }
 * console.log(lock.acquire(), lock.poisoned) // true false
 * lock.release()
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
 * import { Queue } from '@tandem/queue/queue'
 * import { ArenaExhaustedError } from '@tandem/sync/errors'
 *
 * // A producer that drops an item, rather than failing, when the shared memory is full
 * // (the queue is unchanged then).
 * function offer(q: Queue<Uint8Array>, item: Uint8Array): boolean {
 *   try {
 *     q.put(item)
 *     return true
 *   } catch (err) {
 *     if (err instanceof ArenaExhaustedError) return false
 *     throw err
 *   }
 * }
 * const q = new Queue<Uint8Array>()
 * console.log(offer(q, new Uint8Array(64 * 1024)), q.qsize()) // true 1
 * console.log(new ArenaExhaustedError('full').code) // ERR_ARENA_EXHAUSTED
 * ```
 */
export class ArenaExhaustedError extends TandemError {
  constructor(message: string) {
    super('ERR_ARENA_EXHAUSTED', message)
  }
}

/**
 * A shared state that no correct sequence of operations can produce. Always a bug: report it.
 * @example
 * ```ts
 * import { InternalStateError, TandemError } from '@tandem/sync/errors'
 *
 * // Never thrown by correct code; catch it only to report it.
 * const err = new InternalStateError('Condition: slot 3 is linked twice')
 * console.log(err instanceof TandemError, err.code) // true ERR_INTERNAL_STATE
 * ```
 */
export class InternalStateError extends TandemError {
  constructor(message: string) {
    super('ERR_INTERNAL_STATE', message)
  }
}

/**
 * `start()` called twice, `join()` before `start()`, or a thread joining itself.
 * @example
 * ```ts
 * import { ThreadStateError } from '@tandem/sync/errors'
 * import { Thread } from '@tandem/sync/thread'
 *
 * const t = new Thread({ target: () => {} })
 * try {
 *   t.join() // not started yet
 * } catch (err) {
 *   console.log(err instanceof ThreadStateError, (err as ThreadStateError).code) // true ERR_THREAD_STATE
 * }
 * t.start()
 * try {
 *   t.start() // threads start once
 * } catch (err) {
 *   console.log((err as ThreadStateError).code) // ERR_THREAD_STATE
 * }
 * t.join()
 * ```
 */
export class ThreadStateError extends TandemError {
  constructor(message: string) {
    super('ERR_THREAD_STATE', message)
  }
}

/**
 * A module reference that cannot be imported in the worker, or lacks the named export.
 * @example
 * ```ts
 * import { TaskModuleError } from '@tandem/sync/errors'
 * import { loadTask, moduleRef, toTaskSpec } from '@tandem/sync/task'
 * import { Thread } from '@tandem/sync/thread'
 *
 * try {
 *   new Thread({ target: moduleRef('./no-such-file.ts', 'main') }) // checked at construction
 * } catch (err) {
 *   console.log(err instanceof TaskModuleError, (err as TaskModuleError).code) // true ERR_TASK_MODULE_NOT_FOUND
 * }
 * try {
 *   await loadTask(toTaskSpec(moduleRef('node:path', 'noSuchExport')))
 * } catch (err) {
 *   console.log((err as TaskModuleError).code) // ERR_TASK_MODULE_NOT_FOUND
 * }
 * ```
 */
export class TaskModuleError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_TASK_MODULE_NOT_FOUND', message, options)
  }
}

/**
 * Builds a Node-style `RangeError` with a `code`.
 * @example
 * ```ts
 * import { rangeError } from '@tandem/sync/errors'
 *
 * const err = rangeError('workers must be at least 1; received 0')
 * console.log(err instanceof RangeError, err.code) // true ERR_OUT_OF_RANGE
 * console.log(rangeError('too many', 'ERR_SEMAPHORE_OVERFLOW').code) // ERR_SEMAPHORE_OVERFLOW
 * ```
 */
export function rangeError(message: string, code = 'ERR_OUT_OF_RANGE'): RangeError & { code: string } {
  const err = new RangeError(message) as RangeError & { code: string }
  err.code = code
  return err
}

/**
 * Builds a plain `Error` with a `code`, for misuse that Python reports as `RuntimeError` or
 * `ValueError` and that has no class of its own (`ERR_EXECUTOR_SHUT_DOWN`, `ERR_POOL_RUNNING`).
 * @example
 * ```ts
 * import { codedError } from '@tandem/sync/errors'
 *
 * const err = codedError('the pool is closed', 'ERR_POOL_NOT_RUNNING')
 * console.log(err instanceof Error, err.code, err.message) // true ERR_POOL_NOT_RUNNING the pool is closed
 * ```
 */
export function codedError(message: string, code: string): Error & { code: string } {
  const err = new Error(message) as Error & { code: string }
  err.code = code
  return err
}

/**
 * Builds a Node-style `TypeError` with a `code`.
 * @example
 * ```ts
 * import { typeError } from '@tandem/sync/errors'
 *
 * const err = typeError('name must be a string; received 42')
 * console.log(err instanceof TypeError, err.code) // true ERR_INVALID_ARG_TYPE
 * ```
 */
export function typeError(message: string, code = 'ERR_INVALID_ARG_TYPE'): TypeError & { code: string } {
  const err = new TypeError(message) as TypeError & { code: string }
  err.code = code
  return err
}

/**
 * A `hold()`/`holdAsync()` (or another wait that must succeed) did not complete within its
 * timeout. Plain `acquire()` returns `false` instead.
 * @example
 * ```ts
 * import { TimeoutError } from '@tandem/sync/errors'
 * import { Semaphore } from '@tandem/sync/semaphore'
 *
 * const sem = new Semaphore(0) // no permit to take
 * console.log(sem.acquire({ timeout: 10 })) // false
 * try {
 *   using _ = await sem.holdAsync({ timeout: 10 })
 * } catch (err) {
 *   console.log(err instanceof TimeoutError, (err as TimeoutError).code) // true ERR_TIMEOUT
 * }
 * ```
 */
export class TimeoutError extends TandemError {
  constructor(message: string) {
    super('ERR_TIMEOUT', message)
  }
}

/**
 * Builds the `TypeError` for a shareable that cannot reach a child process.
 * @example
 * ```ts
 * import { notShareableToProcess } from '@tandem/sync/errors'
 * import { Lock } from '@tandem/sync/lock'
 * import { encode } from '@tandem/sync/shareable'
 *
 * const err = notShareableToProcess('Lock', 'use a SyncManager Lock() from @tandem/ipc')
 * console.log(err instanceof TypeError, err.code) // true ERR_NOT_SHAREABLE
 * try {
 *   encode(new Lock(), 'process') // what a Lock throws on its way to another process
 * } catch (err) {
 *   console.log((err as TypeError & { code: string }).code) // ERR_NOT_SHAREABLE
 * }
 * ```
 */
export function notShareableToProcess(what: string, instead: string): TypeError & { code: string } {
  return typeError(`A ${what} lives in SharedArrayBuffer memory and cannot be sent to another process; ${instead}`, 'ERR_NOT_SHAREABLE')
}
