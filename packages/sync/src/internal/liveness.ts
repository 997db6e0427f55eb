/**
 * Thread liveness: how a thread that is blocked learns that another thread of the process has
 * died, even when nothing else can tell it.
 *
 * A worker that ends normally (its target returns or throws, `process.exit()`) runs its exit
 * handlers, and Tandem cleans up after it there. A worker that is terminated from outside or runs
 * out of memory runs none; only its parent hears of it, from a Worker `exit` event on the parent's
 * event loop, and that loop may itself be blocked in the very wait that needs the news (a
 * `result()` on the main thread whose pool worker died). So every Tandem thread records its OS
 * thread id in a process-wide table in shared memory, and any thread that has been asleep for a
 * {@link SLICE_MS} slice may *sweep* the table: a thread whose `/proc/self/task/<tid>` entry is gone
 * has died. Deaths found either way (sweep or `exit` event) are marked in the table, where a
 * waiter reads them with one `Atomics.load` (for example: is the owner of this lock still alive?).
 *
 * Where `/proc/thread-self` does not exist (not Linux), sweeping finds nothing and deaths are
 * known only from the parent's `exit` event and the worker's own exit handlers.
 *
 * Shared layout: words of `processState` (`process-state.ts`) from {@link TABLE}; entry `e` of
 * {@link CAPACITY} is the thread whose token (`threadId + 1`) is congruent to `e`:
 *
 * | word         | name   | values | written by |
 * | ------------ | ------ | ------ | ---------- |
 * | DEATHS (2)   | DEATHS | count of unclean deaths found so far (wraps) | whoever marks one |
 * | SWEPT (3)    | SWEPT  | `Date.now()` of the last sweep, low 30 bits | the sweeper (CAS) |
 * | entry + 0    | TOKEN  | token of the thread the entry describes, 0 = never used | the thread itself at start; its parent at exit |
 * | entry + 1    | STATE  | FREE 0, ALIVE 1, ENDED 2, EXITING 3 | the thread (ALIVE at start; EXITING once its exit hooks ran); its parent or a sweeper (ENDED, once the OS thread is gone or the parent saw it exit) |
 * | entry + 2    | TID    | OS thread id, 0 if unknown | the thread itself |
 *
 * An entry is reused only once its thread has ended, so a token that no longer owns its entry
 * names a thread that has ended. With more than CAPACITY live threads whose tokens collide, the
 * later one goes unrecorded (treated as alive: never worse than without this table).
 *
 * @module
 */
import { existsSync, readlinkSync, statSync } from 'node:fs'
import { isMainThread, threadId } from 'node:worker_threads'
import { PROCESS_WORDS, processState } from './process-state.ts'

/** Word of processState counting unclean deaths. */
export const DEATHS = 2
/** Word of processState with the time of the last sweep. */
export const SWEPT = 3
/** First word of the table in processState. */
export const TABLE = 8
/** Entries in the table (a power of two). */
export const CAPACITY = 4096
/** Words per entry. */
export const ENTRY_WORDS = 4
/** Words processState needs for the table. */
export const LIVENESS_WORDS = TABLE + CAPACITY * ENTRY_WORDS

const TOKEN = 0
const STATE = 1
const TID = 2

export const FREE = 0
export const ALIVE = 1
export const ENDED = 2
/**
 * The thread ran its own exit hooks and is finishing. Not yet ENDED: other exit handlers of the
 * thread (the arena giving back its block cache, ...) may still take locks after ours, and a
 * lock whose owner counted as ended would be poisoned under it. Its parent's `exit` event or a
 * sweep marks it ENDED once it is really gone.
 */
export const EXITING = 3

/**
 * Longest sleep of a wait that may depend on another thread being alive; after each slice the
 * waiter looks at the table (and may sweep). Deaths are noticed within about two slices.
 */
export const SLICE_MS = 200
const SWEEP_MS = 200
const TIME_MASK = 0x3fffffff

const s = processState
if (LIVENESS_WORDS !== PROCESS_WORDS) throw new Error('Tandem internal: process-state.ts and liveness.ts disagree on the table size')
const procOk = !isMainThread || existsSync('/proc/thread-self')

function entryOf(token: number): number {
  return TABLE + (token & (CAPACITY - 1)) * ENTRY_WORDS
}

/** This thread's token (as `ident.ts`'s SELF). */
const SELF = threadId + 1

function ownTid(): number {
  try {
    const link = readlinkSync('/proc/thread-self') // "<pid>/task/<tid>"
    return Number(link.slice(link.lastIndexOf('/') + 1)) | 0
  } catch {
    return 0
  }
}

/**
 * True only if the kernel says thread `tid` of this process does not exist. Any other failure
 * (out of file descriptors, ...) counts as alive: a false death would poison a live owner's lock.
 */
function taskGone(tid: number): boolean {
  try {
    return statSync(`/proc/self/task/${tid}`, { throwIfNoEntry: false }) === undefined
  } catch {
    return false
  }
}

/** Records the calling thread as alive (run once per thread, at load). */
function registerSelf(): void {
  const e = entryOf(SELF)
  const cur = Atomics.load(s, e + TOKEN)
  if (cur !== SELF && cur !== 0 && Atomics.load(s, e + STATE) === ALIVE) return // collision: unrecorded
  Atomics.store(s, e + TID, procOk ? ownTid() : 0)
  Atomics.store(s, e + STATE, ALIVE)
  // TOKEN last: a reader that finds our token also finds STATE and TID filled in.
  Atomics.store(s, e + TOKEN, SELF)
}

const exitHooks: (() => void)[] = []

/**
 * Runs `fn` when this worker exits by its own means (normal end, uncaught error,
 * `process.exit()`), before the thread is marked ended. Not run on the main thread, nor when the
 * worker is terminated or runs out of memory (then the table learns of it from a sweep or the
 * parent).
 */
export function onThreadExit(fn: () => void): void {
  exitHooks.push(fn)
}

if (s.length >= LIVENESS_WORDS) {
  registerSelf()
  if (!isMainThread) {
    process.on('exit', () => {
      for (const fn of exitHooks) {
        try {
          fn()
        } catch {
          // a dying thread cannot report; the others still run
        }
      }
      const e = entryOf(SELF)
      if (Atomics.load(s, e + TOKEN) === SELF) Atomics.compareExchange(s, e + STATE, ALIVE, EXITING)
    })
  }
}

/**
 * Marks the thread with `token` as ended: its OS thread is gone, or its parent saw it exit. If it
 * had not run its exit hooks (EXITING), it died, and {@link deathCount} goes up so that waiters
 * re-check what it may have left behind.
 * @returns true if this call marked it (it was not already marked)
 */
export function markEnded(token: number): boolean {
  if (s.length < LIVENESS_WORDS || token <= 0) return false
  const e = entryOf(token)
  const cur = Atomics.load(s, e + TOKEN)
  if (cur !== token) {
    // Died before it recorded itself (or its entry is taken by a live thread).
    if (cur !== 0 && Atomics.load(s, e + STATE) === ALIVE) return false
    Atomics.store(s, e + STATE, ENDED)
    Atomics.store(s, e + TID, 0)
    Atomics.store(s, e + TOKEN, token)
    Atomics.add(s, DEATHS, 1)
    return true
  }
  for (;;) {
    const state = Atomics.load(s, e + STATE)
    if (state !== ALIVE && state !== EXITING) return false
    if (Atomics.compareExchange(s, e + STATE, state, ENDED) !== state) continue
    // A thread that did not get to run its exit hooks died: waiters must re-check.
    if (state === ALIVE) Atomics.add(s, DEATHS, 1)
    return true
  }
}

/**
 * True if the thread with `token` is known to have ended (died or exited). Unknown tokens and
 * the main thread count as alive. One or two `Atomics.load`s.
 */
export function hasEnded(token: number): boolean {
  if (token <= 1 || s.length < LIVENESS_WORDS) return false
  const e = entryOf(token)
  const cur = Atomics.load(s, e + TOKEN)
  if (cur === token) return Atomics.load(s, e + STATE) === ENDED
  // The entry was handed to a later thread, which happens only after ours ended.
  return cur > token
}

/** Number of unclean deaths found so far in the process (wraps; compare for change). */
export function deathCount(): number {
  return s.length < LIVENESS_WORDS ? 0 : Atomics.load(s, DEATHS)
}

/**
 * Looks for threads that died without anyone noticing, at most once per SWEEP_MS across the
 * process (the first waiter whose slice ends claims the sweep). Cheap when it is not due.
 * @returns true if it found a death
 */
export function sweep(): boolean {
  if (!procOk || s.length < LIVENESS_WORDS) return false
  const t = Date.now() & TIME_MASK
  const last = Atomics.load(s, SWEPT)
  if (((t - last) & TIME_MASK) < SWEEP_MS) return false
  if (Atomics.compareExchange(s, SWEPT, last, t) !== last) return false
  let found = false
  for (let e = TABLE; e < LIVENESS_WORDS; e += ENTRY_WORDS) {
    const state = Atomics.load(s, e + STATE)
    if (state !== ALIVE && state !== EXITING) continue
    const tid = Atomics.load(s, e + TID)
    if (tid === 0) continue
    const token = Atomics.load(s, e + TOKEN)
    if (token === SELF || token === 1) continue
    if (taskGone(tid)) {
      // Re-read: the entry may have been reused by a new thread since we looked.
      if (Atomics.load(s, e + TOKEN) === token && Atomics.load(s, e + TID) === tid) {
        if (markEnded(token)) found = true
      }
    }
  }
  return found
}
