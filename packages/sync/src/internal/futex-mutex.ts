/**
 * The mutex word shared by Lock and RLock: Ulrich Drepper's three-state futex mutex ("Futexes
 * Are Tricky", 2011, mutex #3) over `Atomics.wait`/`waitAsync`, with a short spin first.
 *
 * States of the word: UNLOCKED 0, LOCKED 1, CONTENDED 2 (locked, and maybe sleepers).
 */
import { op, remaining, SPIN_LIMIT, type Waiter } from './wait.ts'

export const UNLOCKED = 0
export const LOCKED = 1
export const CONTENDED = 2

/** One attempt: true if the word went UNLOCKED -> LOCKED. */
export function tryLockWord(c: Int32Array, index: number): boolean {
  // Synchronises with the exchange of the previous unlock, making the previous holder's writes
  // visible to us.
  return Atomics.compareExchange(c, index, UNLOCKED, LOCKED) === UNLOCKED
}

/** Spins, then sleeps, until the word is ours (true) or `deadline` passes / the wait is aborted (false). */
export function* lockWordGen(c: Int32Array, index: number, deadline: number): Waiter<boolean> {
  for (let i = 0; i < SPIN_LIMIT; i++) {
    if (Atomics.load(c, index) === UNLOCKED && tryLockWord(c, index)) return true
  }
  // Mark CONTENDED so the holder's unlock knows to wake someone. We may take the lock by this
  // very exchange (it returned UNLOCKED); it then stays CONTENDED, costing one spare notify.
  let s = Atomics.exchange(c, index, CONTENDED)
  const w = op(c, index, CONTENDED, Infinity)
  while (s !== UNLOCKED) {
    const t = remaining(deadline)
    if (t === 0) return false
    w.timeout = t
    if ((yield w) === 'aborted') return false
    s = Atomics.exchange(c, index, CONTENDED)
  }
  return true
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
