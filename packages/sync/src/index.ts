/**
 * `@tandem/sync`: Python's `threading` for Node.js worker threads. Re-exports only; import a
 * subpath (`@tandem/sync/lock`, ...) to load just what you use.
 * @module
 */
export { Lock } from './lock.ts'
export { RLock } from './rlock.ts'
export { Condition, type ConditionOptions } from './condition.ts'
export { Semaphore } from './semaphore.ts'
export { BoundedSemaphore } from './bounded-semaphore.ts'
export { Event } from './event.ts'
export { Barrier, type BarrierOptions } from './barrier.ts'
export {
  Thread,
  currentThread,
  mainThread,
  getIdent,
  activeCount,
  stackSize,
  type ThreadOptions,
  type HeapLimits,
  type ExceptHookArgs,
} from './thread.ts'
export { moduleRef, isModuleRef, type ModuleRef, type TaskFunction } from './task.ts'
export {
  TandemError,
  LockNotOwnedError,
  DeadlockError,
  BrokenBarrierError,
  TooManyWaitersError,
  InternalStateError,
  ThreadStateError,
  TaskModuleError,
  TimeoutError,
  OwnerDiedError,
  ArenaExhaustedError,
} from './errors.ts'
export type { AcquireOptions, AsyncWaitOptions } from './internal/validate.ts'
