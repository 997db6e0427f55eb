/**
 * `Condition`: Python's `threading.Condition` on shared memory.
 *
 * Algorithm: CPython's design (one lock, a FIFO of per-waiter "waiter locks") with the FIFO kept
 * in shared memory as a ring of one-word waiter slots, so that `notify(n)` wakes exactly the n
 * oldest waiters, whichever threads they are on and whether they wait blocking or async.
 *
 * Shared layout (a cell of Int32 words in the process arena, `internal/arena.ts`):
 *
 * | index        | name  | values | written by |
 * | ------------ | ----- | ------ | ---------- |
 * | 0            | HEAD  | ticket of the oldest slot not yet passed by notify (wraps at 2^32) | holder of the lock |
 * | 1            | TAIL  | next ticket to hand out (wraps at 2^32) | holder of the lock |
 * | 2..3         | -     | reserved | - |
 * | 4 + (t & MASK) | slot of ticket t | `gen(t) << 2 \| kind`; kind WAITING 1, NOTIFIED 2, CANCELLED 3 | waiter: WAITING (under the lock), WAITING -> CANCELLED (CAS, on timeout/abort); notifier: WAITING -> NOTIFIED (CAS, under the lock) |
 *
 * `gen(t) = (t >>> log2(capacity)) & GEN_MASK` tells apart successive users of one slot, so a
 * waiter never mistakes its slot's reuse for its own state.
 *
 * ```
 *   HEAD                      TAIL
 *    |                         |
 *  [ W | C | W | W | . . . . . ]   W waiting, C cancelled (timed out; skipped by notify)
 * ```
 *
 * - `wait()`: (lock held) take ticket TAIL++, mark the slot WAITING, release the lock fully,
 *   spin then sleep on the slot word; a changed word means notified. On timeout, CAS the slot
 *   WAITING -> CANCELLED: success means timed out (false); failure means a notifier got there
 *   first (true). Then re-acquire the lock (restoring an RLock's recursion count).
 * - `notify(n)`: (lock held) from HEAD, CAS WAITING -> NOTIFIED and wake, skipping CANCELLED
 *   slots, until n waiters are woken or the ring is empty.
 *
 * @module
 */
import { isMainThread } from 'node:worker_threads'
import { LockNotOwnedError, notShareableToProcess, TooManyWaitersError, typeError } from './errors.ts'
import { ACQUIRE_GEN, Acquirable, TRY_ACQUIRE } from './internal/acquirable.ts'
import { adoptCell, newCell, reviveCell, shareCell, type CellRef } from './internal/arena.ts'
import { ACQUIRE_RESTORE, IS_OWNED, RELEASE_SAVE } from './internal/lock-like.ts'
import { asyncOptions, checkFunction, checkInt, checkTimeout, describe, type AsyncWaitOptions } from './internal/validate.ts'
import { deadlineOf, op, remaining, runAsync, runBlocking, SPIN_LIMIT, type Waiter } from './internal/wait.ts'
import { Lock } from './lock.ts'
import { RLock } from './rlock.ts'
import { registerShareable, SHARE, type ShareContext } from './shareable.ts'

const HEAD = 0
const TAIL = 1
const SLOTS = 4

const WAITING = 1
const NOTIFIED = 2
const CANCELLED = 3
const KIND_MASK = 3
const GEN_MASK = 0x1fffffff

/**
 * Spin budget of a waiting thread before it sleeps. A hand-off between two threads that each
 * have a core completes within a few microseconds, so spinning saves the tens of microseconds a
 * sleep and wake cost; when the peer is not running (more threads than cores), spinning only
 * burns the time slice it needs. So the budget adapts per thread (as glibc's adaptive mutexes
 * and WebKit's ParkingLot do): it grows towards twice the spin that last caught a notification
 * and halves after a spin that caught nothing; every 16th wait probes with the full budget so
 * it recovers when cores free up.
 */
const WAIT_SPIN_MAX = SPIN_LIMIT * 20
const WAIT_SPIN_MIN = 64
let waitSpin = WAIT_SPIN_MAX
let waits = 0

/** Options of `new Condition()` beyond Python's. */
export interface ConditionOptions {
  /**
   * Most simultaneous waiters (a power of two, >= 8); a further `wait` throws
   * {@link TooManyWaitersError}. Each slot is 4 bytes of shared memory.
   * @default 1024
   */
  maxWaiters?: number
}

let reviving: { cell: Int32Array; lock: Lock | RLock } | undefined

/** A wait of this thread in progress, so a dying worker can take itself out of the FIFO. */
interface PendingWait {
  readonly cond: Condition
  readonly index: number
  readonly waiting: number
  readonly cancelled: number
}
const pendingWaits = new Set<PendingWait>()

if (!isMainThread) {
  // A worker can end (process.exit, an uncaught error) while an async wait of it is pending.
  // Left WAITING, its slot would swallow the next notify meant for a live waiter.
  process.on('exit', () => {
    for (const w of pendingWaits) w.cond._abandon(w)
    pendingWaits.clear()
  })
}

/**
 * A condition variable shared across worker threads.
 *
 * - `wait`, `notify`, `notifyAll` require the calling thread to hold the lock
 *   ({@link LockNotOwnedError} otherwise).
 * - `notify(n)` wakes at most n waiters, the oldest first, across threads and across blocking
 *   and async waiters; woken waiters proceed only after the notifier releases the lock.
 * - A timed-out `wait` returns false and never consumes a notification; a notified one returns
 *   true.
 * - An aborted `waitAsync` re-acquires the lock, passes a notification it already received on to
 *   the next waiter, and rejects with the signal's reason.
 * - Memory: actions before `notify()` and the following `release()` happen-before the notified
 *   waiter's return from `wait()`.
 *
 * @example
 * ```ts
 * const cond = new Condition()
 * // consumer (worker)
 * { using _ = cond.hold(); while (!ready()) cond.wait() }
 * // producer (main)
 * { using _ = await cond.holdAsync(); makeReady(); cond.notify() }
 * ```
 */
export class Condition extends Acquirable {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.sync.Condition'
  protected readonly kindName: string = 'Condition'
  readonly #cell: Int32Array
  readonly #mask: number
  readonly #shift: number
  /** The underlying lock. */
  readonly lock: Lock | RLock

  /**
   * @param lock the lock to use; a new {@link RLock} if omitted
   * @param opts see {@link ConditionOptions}
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` if `lock` is not a Tandem Lock or RLock
   */
  constructor(lock?: Lock | RLock, opts: ConditionOptions = {}) {
    super()
    if (reviving !== undefined) {
      this.#cell = adoptCell(this, reviving.cell)
      this.lock = reviving.lock
    } else {
      if (lock !== undefined && !(lock instanceof Lock) && !(lock instanceof RLock)) {
        throw typeError(`new Condition(lock): lock must be a Tandem Lock or RLock; received ${describe(lock)}`)
      }
      const capacity = checkInt(opts.maxWaiters ?? 1024, 'maxWaiters', 8, 1 << 24)
      if ((capacity & (capacity - 1)) !== 0) {
        throw typeError(`new Condition(): maxWaiters must be a power of two; received ${capacity}`)
      }
      this.#cell = newCell(this, SLOTS + capacity)
      this.lock = lock ?? new RLock()
    }
    const capacity = this.#cell.length - SLOTS
    this.#mask = capacity - 1
    this.#shift = 31 - Math.clz32(capacity)
  }

  /** @internal */
  [TRY_ACQUIRE](): boolean {
    return this.lock[TRY_ACQUIRE]()
  }

  /** @internal */
  [ACQUIRE_GEN](deadline: number): Waiter<boolean> {
    return this.lock[ACQUIRE_GEN](deadline)
  }

  override acquire(opts?: { blocking?: boolean; timeout?: number }): boolean {
    return this.lock.acquire(opts)
  }

  /** Releases the underlying lock. @throws {LockNotOwnedError} as the lock's `release()` */
  release(): void {
    this.lock.release()
  }

  #checkOwned(what: string): void {
    if (!this.lock[IS_OWNED]()) {
      throw new LockNotOwnedError(`Condition.${what}(): the calling thread must hold the condition's lock; acquire it first (using _ = cond.hold())`)
    }
  }

  #gen(ticket: number): number {
    return ((ticket >>> this.#shift) & GEN_MASK) << 2
  }

  /** Caller holds the lock. Hands out a ticket and marks its slot WAITING. */
  #enqueue(): number {
    const c = this.#cell
    let head = c[HEAD]!
    const tail = c[TAIL]!
    if (((tail - head) | 0) > this.#mask) {
      // Full: drop cancelled slots at the head before giving up.
      while (head !== tail && (Atomics.load(c, SLOTS + (head & this.#mask)) & KIND_MASK) === CANCELLED) head = (head + 1) | 0
      c[HEAD] = head
      if (((tail - head) | 0) > this.#mask) {
        throw new TooManyWaitersError(`Condition.wait(): ${this.#mask + 1} waiters already wait on this condition; create it with a larger maxWaiters`)
      }
    }
    c[TAIL] = (tail + 1) | 0
    // Publishes WAITING before the lock release in RELEASE_SAVE, so a notifier that acquires
    // the lock next sees this waiter.
    Atomics.store(c, SLOTS + (tail & this.#mask), this.#gen(tail) | WAITING)
    return tail
  }

  /** Caller holds the lock (checked by the public methods). */
  *#waitGen(deadline: number): Waiter<boolean> {
    const c = this.#cell
    const ticket = this.#enqueue()
    const index = SLOTS + (ticket & this.#mask)
    const waiting = this.#gen(ticket) | WAITING
    const pending: PendingWait = { cond: this, index, waiting, cancelled: this.#gen(ticket) | CANCELLED }
    pendingWaits.add(pending)
    const saved = this.lock[RELEASE_SAVE]()
    let notified = false
    let aborted = false
    const budget = (++waits & 15) === 0 ? WAIT_SPIN_MAX : waitSpin
    let spun = 0
    for (; spun < budget; spun++) {
      if (Atomics.load(c, index) !== waiting) {
        notified = true
        break
      }
    }
    waitSpin = notified
      ? Math.min(WAIT_SPIN_MAX, Math.max(waitSpin, 2 * spun + WAIT_SPIN_MIN))
      : Math.max(WAIT_SPIN_MIN, waitSpin >> 1)
    const w = op(c, index, waiting, Infinity)
    while (!notified) {
      const t = aborted ? 0 : remaining(deadline)
      if (t === 0) {
        // Give up, unless a notifier marked us first: then we were notified after all.
        notified = Atomics.compareExchange(c, index, waiting, this.#gen(ticket) | CANCELLED) !== waiting
        break
      }
      w.timeout = t
      if ((yield w) === 'aborted') aborted = true
      else if (Atomics.load(c, index) !== waiting) notified = true
    }
    pendingWaits.delete(pending)
    yield* this.lock[ACQUIRE_RESTORE](saved)
    if (aborted && notified) this.#notify(1) // pass the wake-up on; nothing is lost
    return notified && !aborted
  }

  /**
   * Releases the lock, waits until notified or the timeout expires, re-acquires the lock.
   * @param timeout ms; omitted or Infinity waits forever
   * @returns true if notified, false on timeout
   * @throws {LockNotOwnedError} if the calling thread does not hold the lock
   */
  wait(timeout?: number): boolean {
    const ms = checkTimeout(timeout)
    this.#checkOwned('wait')
    return runBlocking(this.#waitGen(deadlineOf(ms)))
  }

  /**
   * Async form of {@link wait}; never blocks the event loop.
   * @param opts timeout in ms, or `{ timeout?, signal? }`
   * @returns resolves true if notified, false on timeout
   * @throws the signal's reason if aborted (after re-acquiring the lock)
   */
  async waitAsync(opts?: number | AsyncWaitOptions): Promise<boolean> {
    const { timeout, signal } = asyncOptions(opts)
    this.#checkOwned('waitAsync')
    if (signal?.aborted) throw signal.reason
    return runAsync(this.#waitGen(deadlineOf(timeout)), signal)
  }

  /**
   * Waits until `predicate()` is truthy (checked with the lock held), like Python's `wait_for`.
   * @returns the last value of the predicate (falsy on timeout)
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` if `predicate` is not a function
   */
  waitFor<T>(predicate: () => T, timeout?: number): T {
    checkFunction(predicate, 'predicate')
    const ms = checkTimeout(timeout)
    this.#checkOwned('waitFor')
    const deadline = deadlineOf(ms)
    let result = predicate()
    while (!result) {
      const t = remaining(deadline)
      if (t === 0) break
      runBlocking(this.#waitGen(deadline))
      result = predicate()
    }
    return result
  }

  /** Async form of {@link waitFor}. @throws the signal's reason if aborted */
  async waitForAsync<T>(predicate: () => T, opts?: number | AsyncWaitOptions): Promise<T> {
    checkFunction(predicate, 'predicate')
    const { timeout, signal } = asyncOptions(opts)
    this.#checkOwned('waitForAsync')
    const deadline = deadlineOf(timeout)
    let result = predicate()
    while (!result) {
      if (remaining(deadline) === 0) break
      await runAsync(this.#waitGen(deadline), signal)
      result = predicate()
    }
    return result
  }

  /** Caller holds the lock. Wakes up to n of the oldest waiters; returns how many. */
  #notify(n: number): number {
    const c = this.#cell
    let head = c[HEAD]!
    const tail = c[TAIL]!
    let woken = 0
    while (woken < n && head !== tail) {
      const index = SLOTS + (head & this.#mask)
      const gen = this.#gen(head)
      // CAS WAITING -> NOTIFIED wins against the waiter's own WAITING -> CANCELLED.
      if (Atomics.compareExchange(c, index, gen | WAITING, gen | NOTIFIED) === (gen | WAITING)) {
        Atomics.notify(c, index)
        woken++
      }
      head = (head + 1) | 0
    }
    c[HEAD] = head
    return woken
  }

  /**
   * Wakes up to `n` waiters, oldest first.
   * @param n how many @default 1
   * @throws {LockNotOwnedError} if the calling thread does not hold the lock
   */
  notify(n = 1): void {
    if (n !== 1 && n !== Infinity) checkInt(n, 'n', 0)
    this.#checkOwned('notify')
    this.#notify(n)
  }

  /** Wakes every waiter. @throws {LockNotOwnedError} if the calling thread does not hold the lock */
  notifyAll(): void {
    this.#checkOwned('notifyAll')
    this.#notify(Infinity)
  }

  /**
   * @internal Takes a wait of a dying thread out of the FIFO: cancels its slot, or, if a
   * notifier marked it already, passes that notification on to the next waiter.
   */
  _abandon(w: PendingWait): void {
    if (Atomics.compareExchange(this.#cell, w.index, w.waiting, w.cancelled) === w.waiting) return
    if (!this.lock.acquire({ timeout: 1000 })) return // held by this dying thread itself: nothing to save
    try {
      this.#notify(1)
    } finally {
      this.lock.release()
    }
  }

  /** @internal Waiting algorithm for other primitives (Barrier); caller holds the lock. */
  _waitGen(deadline: number): Waiter<boolean> {
    return this.#waitGen(deadline)
  }

  /** @internal notify for other primitives; caller holds the lock. */
  _notify(n: number): number {
    return this.#notify(n)
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target !== 'thread') throw notShareableToProcess('Condition', 'use a SyncManager Condition() from @tandem/ipc')
    return { cell: shareCell(this.#cell), lock: ctx.encode(this.lock) }
  }

  /** @internal Builds a handle on existing shared state. */
  static revive(data: { cell: CellRef; lock: Lock | RLock }): Condition {
    reviving = { cell: reviveCell(data.cell), lock: data.lock }
    try {
      return new Condition()
    } finally {
      reviving = undefined
    }
  }
}


registerShareable(Condition.shareKind, import.meta.url, Condition.revive)
