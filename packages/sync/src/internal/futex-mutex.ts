/**
 * The mutex word shared by Lock and RLock: Ulrich Drepper's three-state futex mutex ("Futexes
 * Are Tricky", 2011, mutex #3) over `Atomics.wait`/`waitAsync`, with a short spin first, made
 * *robust* in the way of POSIX robust mutexes and Rust's poisoning: a lock whose owner thread
 * ended without releasing it is detected by its waiters and poisoned instead of hanging them.
 *
 * Words (in the caller's cell, at the indices it passes):
 *
 * | word  | values | written by |
 * | ----- | ------ | ---------- |
 * | state | UNLOCKED 0, LOCKED 1, CONTENDED 2 (locked, and maybe sleepers) | acquirers (CAS/exchange), releaser (exchange) |
 * | owner | NO_OWNER 0, the owner's token (`threadId + 1`), or POISONED -1 | the owner after acquiring; the releaser (cleared before unlocking); a waiter that found the owner ended (owner -> POISONED, CAS) |
 *
 * A poisoned lock stays locked (state != UNLOCKED), so the uncontended fast path, a single CAS on
 * the state word, costs nothing more and fails on it; the slow path reads the owner word, finds
 * POISONED and throws {@link OwnerDiedError}. Waiters sleep at most a liveness slice at a time
 * (`liveness.ts`) and look at the owner after each: a dead owner is noticed within about two
 * slices even if nothing else can tell them.
 */
import { OwnerDiedError } from '../errors.ts'
import { SELF } from './ident.ts'
import { hasEnded, SLICE_MS, sweep } from './liveness.ts'
import { ABORTED, op, remaining, SPIN_LIMIT, type Waiter } from './wait.ts'

export const UNLOCKED = 0
export const LOCKED = 1
export const CONTENDED = 2

/** Owner word of a lock whose owner ended while holding it. */
export const POISONED = -1

/** {@link lockWordGen} gave up at its deadline. */
export const TIMED_OUT = 0
/** {@link lockWordGen} took the lock. */
export const ACQUIRED = 1
/** {@link lockWordGen} in restore mode took over a lock whose owner had died (it is now ours). */
export const TOOK_OVER = 2
export type LockResult = typeof TIMED_OUT | typeof ACQUIRED | typeof TOOK_OVER

/** One attempt: true if the word went UNLOCKED -> LOCKED. */
export function tryLockWord(c: Int32Array, index: number): boolean {
  // Synchronises with the exchange of the previous unlock, making the previous holder's writes
  // visible to us.
  return Atomics.compareExchange(c, index, UNLOCKED, LOCKED) === UNLOCKED
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
 * see the poison). Returns the owner word as it now stands.
 */
export function checkOwner(c: Int32Array, index: number, owner: number): number {
  const who = Atomics.load(c, owner)
  if (who > 0 && who !== SELF && hasEnded(who) && Atomics.compareExchange(c, owner, who, POISONED) === who) {
    Atomics.notify(c, index)
    return POISONED
  }
  return Atomics.load(c, owner)
}

/**
 * Spins, then sleeps, until the word is ours or `deadline` passes.
 * - Throws {@link ABORTED} when the driver answers `'aborted'` (nothing to undo: we hold nothing).
 * - Throws {@link OwnerDiedError} if the lock is or becomes poisoned.
 * - `restore` (a Condition re-taking its lock after a wait): the wait cannot be given up (its ops
 *   are not abortable, so a pending abort waits for the caller's next step); and a poisoned lock
 *   is taken over (TOOK_OVER) so that the waiter returns holding it, as a wait must.
 */
export function* lockWordGen(c: Int32Array, index: number, owner: number, deadline: number, what: string, restore = false): Waiter<LockResult> {
  for (let i = 0; i < SPIN_LIMIT; i++) {
    if (Atomics.load(c, index) === UNLOCKED && tryLockWord(c, index)) return ACQUIRED
  }
  // Mark CONTENDED so the holder's unlock knows to wake someone. We may take the lock by this
  // very exchange (it returned UNLOCKED); it then stays CONTENDED, costing one spare notify.
  let s = Atomics.exchange(c, index, CONTENDED)
  // A restore cannot be given up: the driver keeps an abort for the caller's next abortable step.
  const w = op(c, index, CONTENDED, Infinity, !restore)
  while (s !== UNLOCKED) {
    const who = checkOwner(c, index, owner)
    if (who === POISONED) {
      if (!restore) throw ownerDied(what, 0)
      // Take the poisoned lock over: it stays locked, now by us.
      if (Atomics.compareExchange(c, owner, POISONED, SELF) === POISONED) return TOOK_OVER
    } else {
      const t = remaining(deadline)
      if (t === 0) return TIMED_OUT
      w.timeout = t < SLICE_MS ? t : SLICE_MS
      const r = yield w
      if (r === 'aborted') {
        if (!restore) throw ABORTED
      } else if (r === 'timed-out') {
        sweep()
      }
    }
    s = Atomics.exchange(c, index, CONTENDED)
  }
  return ACQUIRED
}

/**
 * Unlocks the word and wakes one sleeper if there may be one. The exchange publishes every write
 * made while holding the lock to the next holder.
 * @returns the previous state (UNLOCKED means the word was not locked: a caller bug)
 */
export function unlockWord(c: Int32Array, index: number): number {
  const prev = Atomics.exchange(c, index, UNLOCKED)
  if (prev === CONTENDED) Atomics.notify(c, index, 1)
  return prev
}

/**
 * Clears the poison of a lock (owner POISONED, or an owner that has ended): unlocks it.
 * @returns true if it was poisoned
 */
export function clearPoisonWord(c: Int32Array, index: number, owner: number): boolean {
  if (checkOwner(c, index, owner) !== POISONED) return false
  if (Atomics.compareExchange(c, owner, POISONED, 0) !== POISONED) return false
  // Wake everyone: sleepers that saw the poison may have gone; the rest retry.
  Atomics.exchange(c, index, UNLOCKED)
  Atomics.notify(c, index)
  return true
}
