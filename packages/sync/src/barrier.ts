/**
 * `Barrier`: Python's `threading.Barrier` on shared memory.
 *
 * Algorithm: CPython's `threading.Barrier` state machine (filling, draining, resetting,
 * broken) over a {@link Condition} on a {@link Lock}, with its state words in shared memory.
 *
 * Shared layout (a cell of Int32 words in the process arena, `internal/arena.ts`):
 *
 * | index | name  | values | written by |
 * | ----- | ----- | ------ | ---------- |
 * | 0     | STATE | FILLING 0, DRAINING 1, RESETTING -1, BROKEN -2 | any party, holding the condition's lock |
 * | 1     | COUNT | parties inside `wait()` now | any party, holding the condition's lock |
 *
 * `parties`, `timeout` and `action` are immutable and travel with the handle.
 *
 * @module
 */
import { BrokenBarrierError, notShareableToProcess } from './errors.ts'
import { ACQUIRE_GEN } from './internal/acquirable.ts'
import { adoptCell, newCell, reviveCell, shareCell, type CellRef } from './internal/arena.ts'
import { asyncOptions, checkInt, checkOptions, checkTimeout, type AsyncWaitOptions } from './internal/validate.ts'
import { ABORTED, deadlineOf, remaining, runAsync, runBlocking, type Waiter } from './internal/wait.ts'
import { Condition } from './condition.ts'
import { Lock } from './lock.ts'
import { registerShareable, SHARE, type ShareContext } from './shareable.ts'
import { loadTaskSync, toTaskSpec, type TaskFunction, type TaskSpec } from './task.ts'

const STATE = 0
const COUNT = 1
const WORDS = 2

const FILLING = 0
const DRAINING = 1
const RESETTING = -1
const BROKEN = -2

/** Options of `new Barrier()`. */
export interface BarrierOptions {
  /**
   * Called (with no arguments) by the last party to arrive, before any party is released. A
   * task function: shipped by source or a `moduleRef`, since it may run on any thread. If it
   * throws, the barrier breaks and that party's `wait` throws the error.
   */
  action?: TaskFunction<[], unknown>
  /** Default timeout in ms for `wait()`. @default Infinity */
  timeout?: number
}

interface BarrierData {
  cell: Int32Array
  cond: Condition
  parties: number
  timeout: number
  action: TaskSpec | undefined
}

let reviving: BarrierData | undefined

/**
 * A barrier for a fixed number of parties, shared across worker threads; reusable cycle after
 * cycle.
 *
 * - `wait()` blocks until `parties` threads have called it, then releases them all; each gets a
 *   distinct index in `0 .. parties - 1` (the last to arrive gets `parties - 1`).
 * - A timeout, `abort()` or an exception in `action` breaks the barrier: every waiting and
 *   later party gets {@link BrokenBarrierError} until `reset()`. An aborted `waitAsync` breaks
 *   it only if that party was already counted in the cycle.
 * - `reset()` breaks the current cycle for the parties waiting in it and makes the barrier
 *   usable again.
 * - Memory: actions of every party before `wait()` happen-before actions of every party after
 *   it returns.
 *
 * @example
 * ```ts
 * import { Barrier } from '@tandem/sync/barrier'
 * import { BrokenBarrierError } from '@tandem/sync/errors'
 * import { Thread } from '@tandem/sync/thread'
 *
 * const barrier = new Barrier(3, { action: () => console.log('all 3 arrived') })
 * const party = (barrier: Barrier) => {
 *   barrier.wait() // in a worker: blocks until the other two arrive
 * }
 * const threads = [1, 2].map(() => new Thread({ target: party, args: [barrier] }))
 * threads.forEach((t) => t.start())
 * const index = await barrier.waitAsync() // the main thread is the third party
 * threads.forEach((t) => t.join())
 * console.log(index >= 0 && index < 3, barrier.nWaiting, barrier.broken) // true 0 false
 *
 * barrier.abort()
 * try {
 *   barrier.wait()
 * } catch (err) {
 *   console.log(err instanceof BrokenBarrierError) // true: broken until reset()
 * }
 * ```
 */
export class Barrier {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.sync.Barrier'
  readonly #cell: Int32Array
  readonly #cond: Condition
  readonly #timeout: number
  readonly #actionSpec: TaskSpec | undefined
  #action: Function | undefined
  /** Number of parties needed to pass the barrier. */
  readonly parties: number

  /**
   * @param parties number of threads that must call `wait()`, >= 1
   * @param opts `action` and default `timeout`
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if `parties` < 1 or the timeout is negative
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` if `opts` is not an object or `action` is not a task function
   */
  constructor(parties: number, opts: BarrierOptions = {}) {
    if (reviving !== undefined) {
      this.#cell = adoptCell(this, reviving.cell)
      this.#cond = reviving.cond
      this.parties = reviving.parties
      this.#timeout = reviving.timeout
      this.#actionSpec = reviving.action
      return
    }
    this.parties = checkInt(parties, 'parties', 1, 0x7fffffff)
    opts = checkOptions(opts, 'new Barrier(parties, opts)', '{ action?, timeout? }')
    this.#timeout = checkTimeout(opts.timeout)
    if (opts.action !== undefined) {
      this.#actionSpec = toTaskSpec(opts.action, 'Barrier action')
      if (typeof opts.action === 'function') this.#action = opts.action
    }
    this.#cell = newCell(this, WORDS)
    this.#cond = new Condition(new Lock())
  }

  /** Number of parties waiting now (0 while draining or broken). */
  get nWaiting(): number {
    return Atomics.load(this.#cell, STATE) === FILLING ? Atomics.load(this.#cell, COUNT) : 0
  }

  /** True if the barrier is broken. */
  get broken(): boolean {
    return Atomics.load(this.#cell, STATE) === BROKEN
  }

  /** Caller holds the lock. */
  #break(): void {
    this.#cell[STATE] = BROKEN
    this.#cond._notify(Infinity)
  }

  *#waitGen(deadline: number): Waiter<number> {
    const c = this.#cell
    const cond = this.#cond
    if (!cond.lock.acquire({ blocking: false })) yield* cond.lock[ACQUIRE_GEN](Infinity)
    try {
      // Enter: wait while a previous cycle drains or resets.
      while (c[STATE] === DRAINING || c[STATE] === RESETTING) yield* cond._waitGen(Infinity)
      if (c[STATE]! < 0) throw new BrokenBarrierError()
      const index = c[COUNT]!
      c[COUNT] = index + 1
      try {
        if (index + 1 === this.parties) {
          try {
            this.#runAction()
            c[STATE] = DRAINING
            cond._notify(Infinity)
          } catch (err) {
            this.#break()
            throw err
          }
        } else {
          while (c[STATE] === FILLING) {
            if (remaining(deadline) === 0) {
              this.#break()
              throw new BrokenBarrierError('Barrier.wait() timed out; the barrier is now broken for every party until reset()')
            }
            try {
              yield* cond._waitGen(deadline)
            } catch (err) {
              if (err !== ABORTED) throw err
              // An aborted waitAsync breaks the barrier, as a timeout does: the cycle cannot
              // complete without this party. If the cycle completed before the abort was seen,
              // the other parties already passed with our arrival: the abort came too late.
              if (c[STATE] === FILLING) this.#break()
              if ((c[STATE] as number) !== DRAINING) throw err // (#break() changed it: no narrowing)
            }
          }
          if (c[STATE]! < 0) throw new BrokenBarrierError()
        }
        return index
      } finally {
        // Exit: the last party out of a draining or resetting barrier re-opens it.
        c[COUNT] = c[COUNT]! - 1
        if (c[COUNT] === 0 && (c[STATE] === DRAINING || c[STATE] === RESETTING)) {
          c[STATE] = FILLING
          cond._notify(Infinity)
        }
      }
    } finally {
      cond.lock.release()
    }
  }

  #runAction(): void {
    if (this.#actionSpec === undefined) return
    this.#action ??= loadTaskSync(this.#actionSpec)
    this.#action()
  }

  /**
   * Waits until all parties have called `wait()`.
   * @param timeout ms; defaults to the barrier's `timeout` option
   * @returns this party's arrival index, 0 .. parties - 1
   * @throws {BrokenBarrierError} `ERR_BROKEN_BARRIER` if the barrier is or becomes broken, reset or times out
   */
  wait(timeout?: number): number {
    const ms = timeout === undefined ? this.#timeout : checkTimeout(timeout)
    return runBlocking(this.#waitGen(deadlineOf(ms)))
  }

  /**
   * Async form of {@link wait}. An abort while this party is counted in the cycle breaks the
   * barrier (as a timeout does), since the cycle cannot complete without it; an abort before it
   * was counted (while waiting for the barrier's lock or for the previous cycle to drain) changes
   * nothing.
   * @param opts timeout in ms, or `{ timeout?, signal? }`
   * @throws {BrokenBarrierError}, or the signal's reason if aborted
   */
  async waitAsync(opts?: number | AsyncWaitOptions): Promise<number> {
    const { timeout, signal } = asyncOptions(opts)
    const ms = opts === undefined || (typeof opts === 'object' && opts.timeout === undefined) ? this.#timeout : timeout
    return runAsync(this.#waitGen(deadlineOf(ms)), signal)
  }

  /** Returns the barrier to its initial state; parties waiting now get BrokenBarrierError. */
  reset(): void {
    const c = this.#cell
    using _ = this.#cond.lock.hold()
    if (c[COUNT]! > 0) {
      if (c[STATE] === FILLING || c[STATE] === BROKEN) c[STATE] = RESETTING
    } else {
      c[STATE] = FILLING
    }
    this.#cond._notify(Infinity)
  }

  /** Breaks the barrier: current and future `wait()` calls throw until `reset()`. */
  abort(): void {
    using _ = this.#cond.lock.hold()
    this.#break()
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target !== 'thread') throw notShareableToProcess('Barrier', 'use a SyncManager Barrier() from @tandem/ipc')
    return {
      cell: shareCell(this.#cell),
      cond: ctx.encode(this.#cond),
      parties: this.parties,
      timeout: this.#timeout,
      action: this.#actionSpec,
    }
  }

  /** @internal Builds a handle on existing shared state. */
  static revive(data: Omit<BarrierData, 'cell'> & { cell: CellRef }): Barrier {
    reviving = { ...data, cell: reviveCell(data.cell) }
    try {
      return new Barrier(data.parties)
    } finally {
      reviving = undefined
    }
  }
}

registerShareable(Barrier.shareKind, import.meta.url, Barrier.revive)
