/**
 * The mutex word shared by Lock and RLock: Ulrich Drepper's futex mutex ("Futexes Are Tricky",
 * 2011, mutex #3) over `Atomics.wait`/`waitAsync`, with a short spin first, made *robust* the way
 * Linux robust futexes are: the word holds the owner's thread token, so taking, releasing and
 * poisoning the lock are each one atomic step, and a thread killed at any instruction leaves
 * either a free lock or a lock that names it. Waiters that find the named owner ended poison
 * the lock (Rust's model) instead of hanging.
 *
 * The word (at the index the caller passes in its cell):
 *
 * | bits  | name      | values | written by |
 * | ----- | --------- | ------ | ---------- |
 * | 0..29 | owner     | 0 when UNLOCKED; else the owner's token (`threadId + 1`), or POISONED | acquirers (CAS 0 -> token), the releaser (exchange -> 0), a waiter that found the owner ended (CAS -> POISONED) |
 * | 30    | CONTENDED | set while the lock is held and there may be sleepers | waiters (CAS), and an acquirer coming from the slow path |
 *
 * The uncontended fast path is one CAS (0 -> token) to take and one exchange to release, as
 * before; a poisoned lock stays "held", so the fast path fails on it and the slow path throws
 * {@link OwnerDiedError}. Waiters sleep at most a liveness slice at a time (`liveness.ts`) and
 * look at the owner after each: a dead owner is noticed within about two slices even if nothing
 * else can tell them.
 */
import { OwnerDiedError } from '../errors.ts'
import { SELF } from './ident.ts'
import { hasEnded, SLICE_MS, sweep } from './liveness.ts'
import { ABORTED, op, remaining, SPIN_LIMIT, type Waiter } from './wait.ts'

export const UNLOCKED = 0
/** Flag: held, and there may be sleepers to wake on release. */
export const CONTENDED = 1 << 30
/** Mask of the owner's token in the word. */
export const TOKEN_MASK = CONTENDED - 1
/** Owner of a lock whose owner ended while holding it (no thread has this token). */
export const POISONED = TOKEN_MASK

/** {@link lockWordGen} gave up at its deadline. */
export const TIMED_OUT = 0
/** {@link lockWordGen} took the lock. */
export const ACQUIRED = 1
/** {@link lockWordGen} in restore mode took over a lock whose owner had died (it is now ours). */
export const TOOK_OVER = 2
export type LockResult = typeof TIMED_OUT | typeof ACQUIRED | typeof TOOK_OVER

/** One attempt: true if the word went UNLOCKED -> this thread. */
export function tryLockWord(c: Int32Array, index: number): boolean {
  // Synchronises with the exchange of the previous unlock, making the previous holder's writes
  // visible to us.
  return Atomics.compareExchange(c, index, UNLOCKED, SELF) === UNLOCKED
}

/** Token of the thread holding the word (0: free; POISONED: its owner died). */
export function ownerOf(c: Int32Array, index: number): number {
  return Atomics.load(c, index) & TOKEN_MASK
}

/** The error for a poisoned lock. */
export function ownerDied(what: string, owner: number): OwnerDiedError {
  return new OwnerDiedError(
    `${what}: the thread that held this lock ended without releasing it, so the state it protects may be half updated; ` +
      'check that state, then call clearPoison() to use the lock again',
    owner,
  )
}

/**
 * If the owner of a locked word has ended, marks the lock poisoned and wakes every waiter (they
 * see the poison). Returns the owner as it now stands.
 */
export function checkOwner(c: Int32Array, index: number): number {
  for (;;) {
    const s = Atomics.load(c, index)
    const who = s & TOKEN_MASK
    if (who === UNLOCKED || who === POISONED || who === SELF || !hasEnded(who)) return who
    if (Atomics.compareExchange(c, index, s, POISONED | CONTENDED) === s) {
      Atomics.notify(c, index)
      return POISONED
    }
  }
}

/**
 * Spins, then sleeps, until the word is ours or `deadline` passes.
 * - Throws {@link ABORTED} when the driver answers `'aborted'` (nothing to undo: we hold nothing).
 * - Throws {@link OwnerDiedError} if the lock is or becomes poisoned.
 * - `restore` (a Condition re-taking its lock after a wait): the wait cannot be given up (its ops
 *   are not abortable, so a pending abort waits for the caller's next step); and a poisoned lock
 *   (or one whose owner ended) is taken over (TOOK_OVER) so that the waiter returns holding it,
 *   as a wait must.
 */
export function* lockWordGen(c: Int32Array, index: number, deadline: number, what: string, restore = false): Waiter<LockResult> {
  for (let i = 0; i < SPIN_LIMIT; i++) {
    if (Atomics.load(c, index) === UNLOCKED && tryLockWord(c, index)) return ACQUIRED
  }
  const w = op(c, index, 0, Infinity, !restore)
  for (;;) {
    let s = Atomics.load(c, index)
    if (s === UNLOCKED) {
      // Taken from the slow path: others may sleep, so our release must wake one (Drepper's
      // state 2); costs at most one spare notify.
      if (Atomics.compareExchange(c, index, UNLOCKED, SELF | CONTENDED) === UNLOCKED) return ACQUIRED
      continue
    }
    const who = s & TOKEN_MASK
    if (who === POISONED || (who !== SELF && hasEnded(who))) {
      if (restore) {
        // Take the lock over: it stays held, now by us.
        if (Atomics.compareExchange(c, index, s, SELF | CONTENDED) === s) return TOOK_OVER
        continue
      }
      if (who !== POISONED) {
        if (Atomics.compareExchange(c, index, s, POISONED | CONTENDED) === s) Atomics.notify(c, index)
        continue
      }
      throw ownerDied(what, 0)
    }
    if ((s & CONTENDED) === 0) {
      // Mark it so the holder's release wakes a sleeper.
      if (Atomics.compareExchange(c, index, s, s | CONTENDED) !== s) continue
      s |= CONTENDED
    }
    const t = remaining(deadline)
    if (t === 0) return TIMED_OUT
    w.value = s
    w.timeout = t < SLICE_MS ? t : SLICE_MS
    const r = yield w
    if (r === 'aborted') {
      if (!restore) throw ABORTED
    } else if (r === 'timed-out') {
      sweep()
    }
  }
}

/**
 * Unlocks the word and wakes one sleeper if there may be one. The exchange publishes every write
 * made while holding the lock to the next holder, and frees the lock in one step.
 * @returns the previous word (UNLOCKED means the word was not locked: a caller bug)
 */
export function unlockWord(c: Int32Array, index: number): number {
  const prev = Atomics.exchange(c, index, UNLOCKED)
  if ((prev & CONTENDED) !== 0) Atomics.notify(c, index, 1)
  return prev
}

/**
 * Clears the poison of a lock (owner POISONED, or an owner that has ended): unlocks it.
 * @returns true if it was poisoned
 */
export function clearPoisonWord(c: Int32Array, index: number): boolean {
  if (checkOwner(c, index) !== POISONED) return false
  const s = Atomics.load(c, index)
  if ((s & TOKEN_MASK) !== POISONED || Atomics.compareExchange(c, index, s, UNLOCKED) !== s) return false
  // Wake everyone: sleepers that saw the poison may have gone; the rest retry.
  Atomics.notify(c, index)
  return true
}
