/**
 * The words and state values of a future's cell (the table is in `cell.ts`), apart so that
 * `mailbox.ts`, which `cell.ts` imports, reads the same names without an import cycle.
 *
 * @module
 */

export const STATE = 0
export const OUTCOME = 1
export const TAG = 2
export const VALUE = 3
export const REF = 4
export const SLEEPERS = 5
export const WATCH = 6
export const RUNNER = 7
export const INLINE = 8
export const WORDS = 16
export const INLINE_BYTES = (WORDS - INLINE) * 4

export const PENDING = 0
export const RUNNING = 1
export const CANCELLED = 2
export const CANCELLED_AND_NOTIFIED = 3
export const FINISHED = 4
export const COMPLETING = 5

export const RESULT = 1
export const EXCEPTION = 2

export const STATE_NAMES = ['pending', 'running', 'cancelled', 'cancelled', 'finished', 'finishing']

/** True for the final states. */
export function isDone(state: number): boolean {
  return state === CANCELLED || state === CANCELLED_AND_NOTIFIED || state === FINISHED
}
