/**
 * `Lock`: Python's `threading.Lock` on shared memory, usable from every worker thread.
 *
 * Algorithm: Ulrich Drepper's three-state futex mutex ("Futexes Are Tricky", 2011, mutex #3),
 * with `Atomics.wait`/`Atomics.waitAsync` as the futex and a short spin before sleeping
 * (`internal/futex-mutex.ts`, shared with RLock).
 *
 * Shared layout (a cell of Int32 words in the process arena, `internal/arena.ts`):
 *
 * | index | name  | values                                   | written by |
 * | ----- | ----- | ---------------------------------------- | ---------- |
 * | 0     | STATE | UNLOCKED 0; else the holder's token (threadId + 1) or POISONED (the holder ended while holding it), plus the CONTENDED flag when there may be sleepers | acquirers (CAS), the releaser (exchange), a waiter that found the holder ended (CAS) |
 *
 * Owner death: see `internal/futex-mutex.ts`. The thread that acquired the lock counts as its
 * owner, even if another thread is meant to release it.
 *
 * @module
 */
import { DeadlockError, LockNotOwnedError, notShareableToProcess } from './errors.ts'
import { ACQUIRE_GEN, Acquirable, CHECK_OWNER, TRY_ACQUIRE } from './internal/acquirable.ts'
import { adoptCell, newCell, reviveCell, shareCell, type CellRef } from './internal/arena.ts'
import { SELF } from './internal/ident.ts'
import { ACQUIRE_RESTORE, IS_OWNED, RELEASE_SAVE, type LockLike } from './internal/lock-like.ts'
import { checkOwner, clearPoisonWord, lockWordGen, ownerDied, ownerOf, POISONED, TIMED_OUT, TOOK_OVER, tryLockWord, unlockWord, UNLOCKED } from './internal/futex-mutex.ts'
import type { Waiter } from './internal/wait.ts'
import { registerShareable, SHARE, type ShareContext } from './shareable.ts'

const STATE = 0
const WORDS = 1

let reviving: Int32Array | undefined

/**
 * A primitive mutual-exclusion lock shared across worker threads.
 *
 * - Not reentrant: see {@link RLock}. A blocking `acquire()` without timeout by the thread that
 *   already holds it throws {@link DeadlockError} instead of hanging (beyond Python).
 * - May be released by any thread, not only the one that acquired it (as in Python).
 * - Not fair: a thread arriving while the lock is free may take it before a sleeping waiter.
 * - Blocking and async waiters, from any thread, wait on the same lock together.
 * - Memory: actions before `release()` happen-before actions after the `acquire()` that
 *   next obtains the lock, in whichever thread.
 * - Shareable: pass it in `args` or queue items; it arrives as the same lock.
 * - Owner death (beyond Python): if the thread that acquired it ends without releasing it (its
 *   target returned or threw, `process.exit()`, `terminate()`, out of memory), the lock becomes
 *   *poisoned*: waiters wake within about half a second and every acquire throws
 *   {@link OwnerDiedError} (`ERR_OWNER_DIED`) until `clearPoison()` (or a `release()`). The
 *   thread that acquired the lock counts as its owner even when another thread is meant to
 *   release it.
 *
 * @example
 * ```ts
 * import { Lock } from '@tandem/sync/lock'
 * import { Thread } from '@tandem/sync/thread'
 *
 * const lock = new Lock()
 * const counter = new Int32Array(new SharedArrayBuffer(4))
 * const add = (lock: Lock, counter: Int32Array) => {
 *   for (let i = 0; i < 10_000; i++) {
 *     using _ = lock.hold() // in a worker: blocks while another thread holds it
 *     counter[0]++
 *   }
 * }
 * const threads = [1, 2].map(() => new Thread({ target: add, args: [lock, counter] }))
 * threads.forEach((t) => t.start())
 * {
 *   using _ = await lock.holdAsync() // on the main thread: never blocks the event loop
 *   counter[0] += 100
 * }
 * threads.forEach((t) => t.join())
 * console.log(counter[0], lock.locked()) // 20100 false
 * ```
 */
export class Lock extends Acquirable implements LockLike {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.sync.Lock'
  protected readonly kindName: string = 'Lock'
  readonly #cell: Int32Array

  /** Creates an unlocked lock. */
  constructor() {
    super()
    this.#cell = reviving ? adoptCell(this, reviving) : newCell(this, WORDS)
  }

  override acquire(opts?: { blocking?: boolean; timeout?: number }): boolean {
    // Fast path: uncontended acquire, no options.
    if (opts === undefined && tryLockWord(this.#cell, STATE)) return true
    return super.acquire(opts)
  }

  /** @internal */
  [TRY_ACQUIRE](): boolean {
    return tryLockWord(this.#cell, STATE)
  }

  /** @internal */
  *[ACQUIRE_GEN](deadline: number): Waiter<boolean> {
    return (yield* lockWordGen(this.#cell, STATE, deadline, 'Lock.acquire()')) !== TIMED_OUT
  }

  /** @internal Throws OwnerDiedError if the lock is poisoned (or its owner just ended). */
  override [CHECK_OWNER](): boolean {
    if (Atomics.load(this.#cell, STATE) !== UNLOCKED && checkOwner(this.#cell, STATE) === POISONED) throw ownerDied('Lock.acquire()', 0)
    return false
  }

  /** True if the lock's owner ended while holding it (see {@link OwnerDiedError}). */
  get poisoned(): boolean {
    return Atomics.load(this.#cell, STATE) !== UNLOCKED && checkOwner(this.#cell, STATE) === POISONED
  }

  /**
   * Unlocks a poisoned lock once the state it protects has been checked (Rust's
   * `clear_poison`). Does nothing if the lock is not poisoned.
   */
  clearPoison(): void {
    clearPoisonWord(this.#cell, STATE)
  }

  protected override beforeBlockingForever(): void {
    if (ownerOf(this.#cell, STATE) === SELF) {
      throw new DeadlockError(
        'Lock.acquire() would deadlock: this thread already holds the lock and nothing else will release it for us. ' +
          'Use an RLock for re-entrant locking, pass a timeout, or signal with a Semaphore/Event',
      )
    }
  }

  /**
   * Releases the lock; any thread may release it.
   * @throws {LockNotOwnedError} `ERR_LOCK_NOT_OWNED` if the lock is not locked
   */
  release(): void {
    // One exchange frees the lock (and clears a poison): no moment where it is held by nobody.
    if (unlockWord(this.#cell, STATE) === UNLOCKED) throw new LockNotOwnedError('Lock.release(): the lock is not locked; release only a lock you acquired')
  }

  /** True if some thread holds the lock. */
  locked(): boolean {
    return Atomics.load(this.#cell, STATE) !== UNLOCKED
  }

  /** @internal */
  [IS_OWNED](): boolean {
    return ownerOf(this.#cell, STATE) === SELF
  }

  /** @internal */
  [RELEASE_SAVE](): number {
    this.release()
    return 0
  }

  /** @internal */
  *[ACQUIRE_RESTORE](_saved: number): Waiter<boolean> {
    if (this[TRY_ACQUIRE]()) return false
    return (yield* lockWordGen(this.#cell, STATE, Infinity, 'Condition.wait()', true)) === TOOK_OVER
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target !== 'thread') throw notShareableToProcess('Lock', 'use a SyncManager Lock() from @tandem/ipc')
    return shareCell(this.#cell)
  }

  /** @internal Builds a handle on existing shared state. */
  static revive(ref: CellRef): Lock {
    reviving = reviveCell(ref)
    try {
      return new Lock()
    } finally {
      reviving = undefined
    }
  }

  get [Symbol.toStringTag](): string {
    return `Lock ${this.locked() ? 'locked' : 'unlocked'}`
  }
}

registerShareable(Lock.shareKind, import.meta.url, Lock.revive)
