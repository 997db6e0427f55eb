/**
 * `Event`: Python's `threading.Event` on shared memory.
 *
 * Algorithm: a flag plus a generation counter. `set()` raises the flag, bumps the generation and
 * wakes everyone sleeping on the generation word. A waiter that saw the flag down sleeps on the
 * generation it read; any change of generation means a `set()` happened while it waited, so it
 * returns true even if `clear()` lowered the flag again before it woke (CPython issue #13502).
 *
 * Shared layout (a cell of Int32 words in the process arena, `internal/arena.ts`):
 *
 * | index | name | values | written by |
 * | ----- | ---- | ------ | ---------- |
 * | 0     | FLAG | CLEAR 0, SET 1 | `set()`, `clear()` |
 * | 1     | GEN  | number of `set()` calls, wraps | `set()` |
 *
 * @module
 */
import { notShareableToProcess } from './errors.ts'
import { adoptCell, newCell, reviveCell, shareCell, type CellRef } from './internal/arena.ts'
import { asyncOptions, checkTimeout, type AsyncWaitOptions } from './internal/validate.ts'
import { ABORTED, deadlineOf, op, remaining, runAsync, runBlocking, SPIN_LIMIT, type Waiter } from './internal/wait.ts'
import { registerShareable, SHARE, type ShareContext } from './shareable.ts'

const FLAG = 0
const GEN = 1
const WORDS = 2
const CLEAR = 0
const SET = 1

let reviving: Int32Array | undefined

/**
 * A flag threads wait on, shared across worker threads.
 *
 * - `set()` wakes every waiter, blocking or async, on any thread.
 * - A `wait()` in progress when `set()` is called returns true even if `clear()` follows at once.
 * - Memory: actions before `set()` happen-before actions after a `wait()` that returns true
 *   because of it.
 *
 * @example
 * ```ts
 * import { Event } from '@tandem/sync/event'
 * import { Thread } from '@tandem/sync/thread'
 *
 * const ready = new Event()
 * const t = new Thread({ target: (ready: Event) => ready.set(), args: [ready] })
 * t.start()
 * console.log(ready.wait(10_000)) // true: set by the worker (blocking wait)
 * console.log(await ready.waitAsync({ timeout: 0 })) // true: still set (event-loop wait)
 * ready.clear()
 * console.log(ready.isSet()) // false
 * t.join()
 * ```
 */
export class Event {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.sync.Event'
  readonly #cell: Int32Array

  /** Creates a cleared event. */
  constructor() {
    this.#cell = reviving ? adoptCell(this, reviving) : newCell(this, WORDS)
  }

  /** True if the flag is set. */
  isSet(): boolean {
    return Atomics.load(this.#cell, FLAG) === SET
  }

  /** Sets the flag and wakes every waiter. */
  set(): void {
    const c = this.#cell
    // FLAG first, then GEN: a waiter that reads the new GEN also sees the flag, and the add
    // publishes the setter's earlier writes to waiters that observe it.
    Atomics.store(c, FLAG, SET)
    Atomics.add(c, GEN, 1)
    Atomics.notify(c, GEN)
  }

  /** Lowers the flag; later waits block until the next `set()`. */
  clear(): void {
    Atomics.store(this.#cell, FLAG, CLEAR)
  }

  *#waitGen(deadline: number): Waiter<boolean> {
    const c = this.#cell
    if (Atomics.load(c, FLAG) === SET) return true
    const gen = Atomics.load(c, GEN)
    // Re-check: a set() between the two loads raised the flag before bumping GEN.
    if (Atomics.load(c, FLAG) === SET) return true
    for (let i = 0; i < SPIN_LIMIT; i++) if (Atomics.load(c, GEN) !== gen) return true
    const w = op(c, GEN, gen, Infinity)
    for (;;) {
      const t = remaining(deadline)
      if (t === 0) return false
      w.timeout = t
      if ((yield w) === 'aborted') throw ABORTED
      if (Atomics.load(c, GEN) !== gen) return true
    }
  }

  /**
   * Blocks until the flag is set or the timeout expires.
   * @param timeout ms; omitted or Infinity waits forever
   * @returns true if set (now or during the wait), false on timeout
   */
  wait(timeout?: number): boolean {
    const ms = checkTimeout(timeout)
    if (Atomics.load(this.#cell, FLAG) === SET) return true
    return runBlocking(this.#waitGen(deadlineOf(ms)))
  }

  /**
   * Async form of {@link wait}.
   * @param opts timeout in ms, or `{ timeout?, signal? }`
   * @throws the signal's reason if aborted
   */
  async waitAsync(opts?: number | AsyncWaitOptions): Promise<boolean> {
    const { timeout, signal } = asyncOptions(opts)
    return runAsync(this.#waitGen(deadlineOf(timeout)), signal)
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target !== 'thread') throw notShareableToProcess('Event', 'use a SyncManager Event() from @tandem/ipc')
    return shareCell(this.#cell)
  }

  /** @internal Builds a handle on existing shared state. */
  static revive(ref: CellRef): Event {
    reviving = reviveCell(ref)
    try {
      return new Event()
    } finally {
      reviving = undefined
    }
  }
}

registerShareable(Event.shareKind, import.meta.url, Event.revive)
