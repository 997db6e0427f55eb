/**
 * `RLock`: Python's `threading.RLock` (re-entrant lock) on shared memory.
 *
 * Algorithm: the futex mutex of {@link Lock} guarding ownership, plus an owner slot and a
 * recursion count that only the owning thread writes (CPython's `_PyRLock` design).
 *
 * Shared layout (a cell of Int32 words in the process arena, `internal/arena.ts`):
 *
 * | index | name  | values                                        | written by |
 * | ----- | ----- | --------------------------------------------- | ---------- |
 * | 0     | STATE | UNLOCKED 0; else the owner's token (threadId + 1) or POISONED, plus the CONTENDED flag (`internal/futex-mutex.ts`) | acquirers (CAS), the releaser (exchange), a waiter that found the owner ended (CAS) |
 * | 1     | COUNT | recursion depth, >= 1 while owned, 0 otherwise | the owner only |
 *
 * @module
 */
import { LockNotOwnedError, notShareableToProcess } from './errors.ts'
import { ACQUIRE_GEN, Acquirable, CHECK_OWNER, TRY_ACQUIRE } from './internal/acquirable.ts'
import { adoptCell, newCell, reviveCell, shareCell, type CellRef } from './internal/arena.ts'
import { SELF } from './internal/ident.ts'
import { ACQUIRE_RESTORE, IS_OWNED, RELEASE_SAVE, type LockLike } from './internal/lock-like.ts'
import { checkOwner, clearPoisonWord, lockWordGen, ownerDied, POISONED, TIMED_OUT, TOKEN_MASK, TOOK_OVER, tryLockWord, unlockWord, UNLOCKED } from './internal/futex-mutex.ts'
import type { Waiter } from './internal/wait.ts'
import { registerShareable, SHARE, type ShareContext } from './shareable.ts'

const STATE = 0
const COUNT = 1
const WORDS = 2

let reviving: Int32Array | undefined

/**
 * A re-entrant lock shared across worker threads: the owning thread may acquire it again, and
 * must release it as many times as it acquired it.
 *
 * - Only the owning thread may release it ({@link LockNotOwnedError} otherwise).
 * - Not fair; blocking and async waiters from any thread mix on the same lock.
 * - Memory: actions before the final `release()` happen-before actions after the next
 *   first-level `acquire()` in any thread.
 * - The default lock of a {@link Condition}.
 * - Owner death (beyond Python): as {@link Lock}, an RLock whose owner ended while holding it is
 *   poisoned: acquires throw {@link OwnerDiedError} until `clearPoison()`.
 *
 * @example
 * ```ts
 * import { RLock } from '@tandem/sync/rlock'
 *
 * const lock = new RLock()
 * function outer(): void {
 *   using _ = lock.hold()
 *   inner() // takes the lock again: fine for its owner
 * }
 * function inner(): void {
 *   using _ = lock.hold()
 *   console.log(lock.isOwned(), lock.recursionCount()) // true 2
 * }
 * outer()
 * console.log(lock.locked(), lock.recursionCount()) // false 0
 * ```
 */
export class RLock extends Acquirable implements LockLike {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.sync.RLock'
  protected readonly kindName: string = 'RLock'
  readonly #cell: Int32Array

  /** Creates an unowned re-entrant lock. */
  constructor() {
    super()
    this.#cell = reviving ? adoptCell(this, reviving) : newCell(this, WORDS)
  }

  override acquire(opts?: { blocking?: boolean; timeout?: number }): boolean {
    if (opts === undefined && this[TRY_ACQUIRE]()) return true
    return super.acquire(opts)
  }

  /** @internal */
  [TRY_ACQUIRE](): boolean {
    const c = this.#cell
    // Our own token in STATE can only be our own write (no other thread writes it), so a plain
    // read is enough to recognise re-entry.
    if ((c[STATE]! & TOKEN_MASK) === SELF) {
      c[COUNT]!++
      return true
    }
    if (!tryLockWord(c, STATE)) return false
    c[COUNT] = 1
    return true
  }

  /** @internal */
  *[ACQUIRE_GEN](deadline: number): Waiter<boolean> {
    if ((yield* lockWordGen(this.#cell, STATE, deadline, 'RLock.acquire()')) === TIMED_OUT) return false
    this.#cell[COUNT] = 1
    return true
  }

  /** @internal Throws OwnerDiedError if the lock is poisoned (or its owner just ended). */
  override [CHECK_OWNER](): boolean {
    if (Atomics.load(this.#cell, STATE) !== UNLOCKED && checkOwner(this.#cell, STATE) === POISONED) throw ownerDied('RLock.acquire()', 0)
    return false
  }

  /** True if the lock's owner ended while holding it (see {@link OwnerDiedError}). */
  get poisoned(): boolean {
    return Atomics.load(this.#cell, STATE) !== UNLOCKED && checkOwner(this.#cell, STATE) === POISONED
  }

  /** Unlocks a poisoned lock once the state it protects has been checked. No-op otherwise. */
  clearPoison(): void {
    clearPoisonWord(this.#cell, STATE)
  }

  /**
   * Releases one level; the last release unlocks.
   * @throws {LockNotOwnedError} `ERR_LOCK_NOT_OWNED` if the calling thread does not own it
   */
  release(): void {
    const c = this.#cell
    if (!this.isOwned()) {
      throw new LockNotOwnedError('RLock.release(): the calling thread does not own this lock; only the owner may release an RLock')
    }
    if (--c[COUNT]! > 0) return
    // One exchange frees the lock: a thread killed on either side of it leaves a free lock or
    // one that names it (and is then poisoned), never a held lock with no owner.
    unlockWord(c, STATE)
  }

  /** True if some thread holds the lock. */
  locked(): boolean {
    return Atomics.load(this.#cell, STATE) !== UNLOCKED
  }

  /** True if the calling thread owns the lock. */
  isOwned(): boolean {
    return (this.#cell[STATE]! & TOKEN_MASK) === SELF
  }

  /** How many times the calling thread holds the lock (0 if it does not own it). */
  recursionCount(): number {
    return this.isOwned() ? this.#cell[COUNT]! : 0
  }

  /** @internal */
  [IS_OWNED](): boolean {
    return this.isOwned()
  }

  /** @internal */
  [RELEASE_SAVE](): number {
    const c = this.#cell
    if (!this.isOwned()) throw new LockNotOwnedError('Cannot release an un-acquired RLock')
    const count = c[COUNT]!
    c[COUNT] = 0
    unlockWord(c, STATE)
    return count
  }

  /** @internal */
  *[ACQUIRE_RESTORE](saved: number): Waiter<boolean> {
    const c = this.#cell
    // Not TRY_ACQUIRE: that would re-enter when another async task of this same thread holds
    // the lock (a blocked thread cannot hold it, an event loop can). Restore waits for the
    // lock itself, as CPython's _acquire_restore does, and cannot be given up.
    let tookOver = false
    if (!tryLockWord(c, STATE)) tookOver = (yield* lockWordGen(c, STATE, Infinity, 'Condition.wait()', true)) === TOOK_OVER
    c[COUNT] = saved
    return tookOver
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target !== 'thread') throw notShareableToProcess('RLock', 'use a SyncManager RLock() from @tandem/ipc')
    return shareCell(this.#cell)
  }

  /** @internal Builds a handle on existing shared state. */
  static revive(ref: CellRef): RLock {
    reviving = reviveCell(ref)
    try {
      return new RLock()
    } finally {
      reviving = undefined
    }
  }
}

registerShareable(RLock.shareKind, import.meta.url, RLock.revive)
