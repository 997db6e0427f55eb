/**
 * What a Condition needs from its lock: ownership check, full release with saved state
 * (RLock recursion count), and re-acquisition restoring that state. Lock and RLock implement it.
 */
import type { Waiter } from './wait.ts'

export const IS_OWNED: unique symbol = Symbol('tandem.isOwned') as never
export const RELEASE_SAVE: unique symbol = Symbol('tandem.releaseSave') as never
export const ACQUIRE_RESTORE: unique symbol = Symbol('tandem.acquireRestore') as never

export interface LockLike {
  /** True if the calling thread holds the lock. */
  [IS_OWNED](): boolean
  /** Releases completely; returns what {@link ACQUIRE_RESTORE} needs. Caller owns the lock. */
  [RELEASE_SAVE](): number
  /**
   * Re-acquires (uninterruptibly: an abort answer is a spurious wake-up; no timeout) and restores
   * the saved state. Returns true if it took over a poisoned lock (the caller then holds it and
   * reports OwnerDiedError).
   */
  [ACQUIRE_RESTORE](saved: number): Waiter<boolean>
}
