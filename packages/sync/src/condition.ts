/**
 * `Condition`: Python's `threading.Condition` on shared memory.
 *
 * Algorithm: CPython's design (one lock, a FIFO of per-waiter "waiter locks") with the FIFO kept
 * in shared memory as a doubly linked list of waiter slots, so that `notify(n)` wakes exactly the
 * n oldest waiters, whichever threads they are on and whether they wait blocking or async. Each
 * waiter sleeps on its own slot's word; a slot never moves while its waiter uses it, and is
 * given back by that waiter (under the lock) as soon as its wait ends, whatever ended it, so the
 * capacity bounds simultaneous waiters only.
 *
 * Shared layout (a cell of Int32 words in the process arena, `internal/arena.ts`):
 *
 * | index   | name    | values | written by |
 * | ------- | ------- | ------ | ---------- |
 * | 0       | HEAD    | oldest linked slot id, NIL -1 | holder of the lock |
 * | 1       | TAIL    | newest linked slot id, NIL -1 | holder of the lock |
 * | 2       | FREE    | first free slot id, NIL -1 (free slots chain through NEXT) | holder of the lock |
 * | 3       | SLOTS   | slots in the segments allocated so far | holder of the lock |
 * | 4       | USED    | slots taken by waits in progress (<= MAXW) | holder of the lock |
 * | 5       | LINKED  | slots on the list (waiting, or given up and not yet unlinked) | holder of the lock |
 * | 6       | MAXW    | most simultaneous waiters | constructor |
 * | 8 + k   | SEG_k   | arena offset of segment k (SEG_BASE << k slots), 0 until needed (segment 0 is made with the condition) | holder of the lock |
 *
 * Slot (SLOT_WORDS words in a segment; slot id s lives in segment k = log2(s / SEG_BASE + 1)):
 *
 * | word | name  | values | written by |
 * | ---- | ----- | ------ | ---------- |
 * | 0    | WORD  | IDLE 0, WAITING 1, NOTIFIED 2, CANCELLED 3, ABANDONED 4 | waiter: WAITING (under the lock), WAITING -> CANCELLED (CAS, on timeout/abort); notifier: WAITING -> NOTIFIED or, for a dead waiter, ABANDONED (CAS, under the lock); a dying thread: WAITING -> ABANDONED (CAS) |
 * | 1    | NEXT  | next slot id, NIL -1, UNLINKED -2 (not on the list) | holder of the lock |
 * | 2    | PREV  | previous slot id, NIL -1 | holder of the lock |
 * | 3    | TOKEN | the waiter's thread token | holder of the lock |
 *
 * ```
 *   HEAD                         TAIL
 *    |                            |
 *  [ W ] <-> [ C ] <-> [ W ] <-> [ W ]      W waiting, C cancelled (skipped and unlinked by notify;
 *                                           freed by its own waiter once it holds the lock again)
 * ```
 *
 * - `wait()`: (lock held) take a slot, mark it WAITING, link it at the tail, release the lock
 *   fully, spin then sleep on the slot word; a changed word means notified. On timeout or abort,
 *   CAS the slot WAITING -> CANCELLED: success means it gave up; failure means a notifier got
 *   there first (notified). Then re-acquire the lock (restoring an RLock's recursion count),
 *   unlink and free the slot.
 * - `notify(n)`: (lock held) from HEAD, CAS WAITING -> NOTIFIED, unlink and wake, until n waiters
 *   are woken or the list is empty; given-up slots met on the way are unlinked, and slots of
 *   waiters whose thread has ended are freed.
 * - A waiter whose thread dies without running its exit handlers (out of memory, `terminate()`)
 *   may receive a notification meant for a live waiter. Every waiter sleeps at most a liveness
 *   slice (`internal/liveness.ts`) at a time; when it sees that a thread of the process died
 *   since it began waiting, it returns as if notified (a spurious wake-up), so that callers that
 *   wait in a loop on their predicate, as they must, never miss the lost notification.
 *
 * @module
 */
import { isMainThread } from 'node:worker_threads'
import { LockNotOwnedError, notShareableToProcess, TooManyWaitersError, typeError } from './errors.ts'
import { ACQUIRE_GEN, Acquirable, TRY_ACQUIRE } from './internal/acquirable.ts'
import { adoptCell, alloc, int32At, newCell, release, reviveCell, shareCell, type CellRef } from './internal/arena.ts'
import { ownerDied } from './internal/futex-mutex.ts'
import { SELF } from './internal/ident.ts'
import { deathCount, hasEnded, onThreadExit, SLICE_MS, sweep } from './internal/liveness.ts'
import { ACQUIRE_RESTORE, IS_OWNED, RELEASE_SAVE } from './internal/lock-like.ts'
import { asyncOptions, checkFunction, checkInt, checkTimeout, describe, type AsyncWaitOptions } from './internal/validate.ts'
import { ABORTED, deadlineOf, op, remaining, runAsync, runBlocking, SPIN_LIMIT, type Waiter } from './internal/wait.ts'
import { Lock } from './lock.ts'
import { RLock } from './rlock.ts'
import { registerShareable, SHARE, type ShareContext } from './shareable.ts'

const HEAD = 0
const TAIL = 1
const FREE = 2
const SLOTS = 3
const USED = 4
const LINKED = 5
const MAXW = 6
const SEG = 8
const SEGMENTS = 16
const WORDS = SEG + SEGMENTS

const SEG_BASE = 8
const SLOT_WORDS = 4
const WORD = 0
const NEXT = 1
const PREV = 2
const TOKEN = 3

const NIL = -1
const UNLINKED = -2

const IDLE = 0
const WAITING = 1
const NOTIFIED = 2
const CANCELLED = 3
const ABANDONED = 4

/** Most slots a Condition can have: every segment allocated. */
const MAX_WAITERS = SEG_BASE * (2 ** SEGMENTS - 1)

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
   * Most simultaneous waiters; a further `wait` throws {@link TooManyWaitersError}. Slots are
   * allocated as waiters arrive (16 bytes each, in segments of 8, 16, 32, ...), not up front.
   * @default 524280
   */
  maxWaiters?: number
}

let reviving: { cell: Int32Array; lock: Lock | RLock } | undefined

/** A wait of this thread in progress, so a dying worker can take itself out of the FIFO. */
interface PendingWait {
  readonly cond: Condition
  readonly id: number
  readonly view: Int32Array
  readonly base: number
}
const pendingWaits = new Set<PendingWait>()

if (!isMainThread) {
  // A worker can end (process.exit, an uncaught error) while an async wait of it is pending.
  // Left WAITING, its slot would swallow the next notify meant for a live waiter.
  onThreadExit(() => {
    for (const w of pendingWaits) w.cond._abandon(w)
    pendingWaits.clear()
  })
}

/** Frees the slot segments of a condition whose last handle is gone. */
function freeSegments(at: number): void {
  const c = int32At(at, WORDS)
  for (let k = 0; k < SEGMENTS; k++) if (c[SEG + k]! !== 0) release(c[SEG + k]!)
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
 *   the next waiter, and rejects with the signal's reason. An abort that arrives only while the
 *   wait is re-taking the lock comes too late: the wait completes normally.
 * - May wake spuriously (return true without a notify) when a thread of the process died while
 *   it waited, since the dead thread may have taken a notification: wait in a loop on the
 *   predicate, or use `waitFor`.
 * - Capacity: at most `maxWaiters` simultaneous waiters (default 524280); slots are allocated as
 *   waiters arrive. A Condition takes a 96-byte cell and a 128-byte first segment of 8 slots.
 * - Memory: actions before `notify()` and the following `release()` happen-before the notified
 *   waiter's return from `wait()`.
 *
 * @example
 * ```ts
 * import { Condition } from '@tandem/sync/condition'
 * import { Thread } from '@tandem/sync/thread'
 *
 * const cond = new Condition()
 * const box = new Int32Array(new SharedArrayBuffer(4)) // 0: empty
 * const consumer = (cond: Condition, box: Int32Array) => {
 *   using _ = cond.hold()
 *   while (box[0] === 0) cond.wait() // in a worker: always wait in a loop on the predicate
 *   console.log('got', box[0])
 * }
 * const t = new Thread({ target: consumer, args: [cond, box] })
 * t.start()
 * {
 *   using _ = await cond.holdAsync() // the producer, on the main thread
 *   box[0] = 42
 *   cond.notify()
 * }
 * t.join() // got 42
 * ```
 */
export class Condition extends Acquirable {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.sync.Condition'
  protected readonly kindName: string = 'Condition'
  readonly #cell: Int32Array
  /** Views of the slot segments this handle has seen, by segment number. */
  readonly #segs: Int32Array[] = []
  /** The underlying lock. */
  readonly lock: Lock | RLock

  /**
   * @param lock the lock to use; a new {@link RLock} if omitted
   * @param opts see {@link ConditionOptions}
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` if `lock` is not a Tandem Lock or RLock
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if `maxWaiters` is not an integer from 1 to 524280
   */
  constructor(lock?: Lock | RLock, opts: ConditionOptions = {}) {
    super()
    if (reviving !== undefined) {
      this.#cell = adoptCell(this, reviving.cell, freeSegments)
      this.lock = reviving.lock
    } else {
      if (lock !== undefined && !(lock instanceof Lock) && !(lock instanceof RLock)) {
        throw typeError(`new Condition(lock): lock must be a Tandem Lock or RLock; received ${describe(lock)}`)
      }
      if (typeof opts !== 'object' || opts === null) throw typeError(`new Condition(lock, opts): opts must be an object; received ${describe(opts)}`)
      const max = checkInt(opts.maxWaiters ?? MAX_WAITERS, 'maxWaiters', 1, MAX_WAITERS)
      this.#cell = newCell(this, WORDS, freeSegments)
      const c = this.#cell
      c[HEAD] = NIL
      c[TAIL] = NIL
      c[FREE] = NIL
      c[MAXW] = max
      this.#addSegment() // the first 8 slots: most conditions never need more
      this.lock = lock ?? new RLock()
    }
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

  /** The segment view holding slot `id` (caller holds the lock, or owns the slot). */
  #view(id: number): Int32Array {
    const k = 31 - Math.clz32(((id / SEG_BASE) | 0) + 1)
    let v = this.#segs[k]
    if (v === undefined) {
      v = int32At(Atomics.load(this.#cell, SEG + k), (SEG_BASE << k) * SLOT_WORDS)
      this.#segs[k] = v
    }
    return v
  }

  /** First word of slot `id` in its segment view. */
  #base(id: number): number {
    const k = 31 - Math.clz32(((id / SEG_BASE) | 0) + 1)
    return (id - SEG_BASE * ((1 << k) - 1)) * SLOT_WORDS
  }

  /** Caller holds the lock. Takes a free slot (allocating a segment if none is left). */
  #allocSlot(): number {
    const c = this.#cell
    if (c[USED]! >= c[MAXW]!) {
      throw new TooManyWaitersError(`Condition.wait(): ${c[MAXW]} waiters already wait on this condition; create it with a larger maxWaiters`)
    }
    if (c[FREE] === NIL) this.#addSegment()
    const id = c[FREE]!
    c[FREE] = this.#view(id)[this.#base(id) + NEXT]!
    c[USED] = c[USED]! + 1
    return id
  }

  /** Caller holds the lock. Takes slot `id` off the list if it is on it. */
  #unlink(id: number): void {
    const c = this.#cell
    const v = this.#view(id)
    const b = this.#base(id)
    const next = v[b + NEXT]!
    if (next === UNLINKED) return
    const prev = v[b + PREV]!
    if (prev === NIL) c[HEAD] = next
    else this.#view(prev)[this.#base(prev) + NEXT] = next
    if (next === NIL) c[TAIL] = prev
    else this.#view(next)[this.#base(next) + PREV] = prev
    v[b + NEXT] = UNLINKED
    c[LINKED] = c[LINKED]! - 1
  }

  /** Caller holds the lock (or is the constructor). Allocates the next segment; its slots become free. */
  #addSegment(): void {
    const c = this.#cell
    const first = c[SLOTS]!
    const k = 31 - Math.clz32(((first / SEG_BASE) | 0) + 1)
    const n = SEG_BASE << k
    const v = int32At(alloc(n * SLOT_WORDS * 4), n * SLOT_WORDS)
    for (let i = 0; i < n; i++) v[i * SLOT_WORDS + NEXT] = i + 1 < n ? first + i + 1 : c[FREE]!
    this.#segs[k] = v
    Atomics.store(c, SEG + k, v.byteOffset)
    c[SLOTS] = first + n
    c[FREE] = first
  }

  /** Caller holds the lock. Unlinks slot `id` if needed and puts it back on the free list. */
  #freeSlot(id: number): void {
    this.#unlink(id)
    const c = this.#cell
    const v = this.#view(id)
    const b = this.#base(id)
    Atomics.store(v, b + WORD, IDLE)
    v[b + NEXT] = c[FREE]!
    c[FREE] = id
    c[USED] = c[USED]! - 1
  }

  /** Caller holds the lock. Takes a slot, marks it WAITING and links it at the tail. */
  #enqueue(): number {
    const c = this.#cell
    const id = this.#allocSlot()
    const v = this.#view(id)
    const b = this.#base(id)
    const tail = c[TAIL]!
    v[b + TOKEN] = SELF
    v[b + PREV] = tail
    v[b + NEXT] = NIL
    if (tail === NIL) c[HEAD] = id
    else this.#view(tail)[this.#base(tail) + NEXT] = id
    c[TAIL] = id
    c[LINKED] = c[LINKED]! + 1
    // Publishes WAITING before the lock release in RELEASE_SAVE, so a notifier that acquires
    // the lock next sees this waiter.
    Atomics.store(v, b + WORD, WAITING)
    return id
  }

  /** Caller holds the lock (checked by the public methods). */
  *#waitGen(deadline: number): Waiter<boolean> {
    const id = this.#enqueue()
    const v = this.#view(id)
    const index = this.#base(id) + WORD
    const pending: PendingWait = { cond: this, id, view: v, base: this.#base(id) }
    pendingWaits.add(pending)
    const saved = this.lock[RELEASE_SAVE]()
    const deaths = deathCount()
    let notified = false
    let aborted = false
    let spurious = false
    const budget = (++waits & 15) === 0 ? WAIT_SPIN_MAX : waitSpin
    let spun = 0
    for (; spun < budget; spun++) {
      if (Atomics.load(v, index) !== WAITING) {
        notified = true
        break
      }
    }
    waitSpin = notified ? Math.min(WAIT_SPIN_MAX, Math.max(waitSpin, 2 * spun + WAIT_SPIN_MIN)) : Math.max(WAIT_SPIN_MIN, waitSpin >> 1)
    const w = op(v, index, WAITING, Infinity)
    while (!notified) {
      const t = aborted || spurious ? 0 : remaining(deadline)
      if (t === 0) {
        // Give up, unless a notifier marked us first: then we were notified after all.
        notified = Atomics.compareExchange(v, index, WAITING, CANCELLED) !== WAITING
        break
      }
      w.timeout = t < SLICE_MS ? t : SLICE_MS
      const r = yield w
      if (r === 'aborted') aborted = true
      else if (Atomics.load(v, index) !== WAITING) notified = true
      else if (r === 'timed-out') {
        sweep()
        // A thread died since we began: it may have taken a notification meant for us.
        if (deathCount() !== deaths) spurious = true
      }
    }
    // Still pending while re-taking the lock: a worker that exits here (an async wait, another
    // task calling process.exit) passes a notification it received on, and frees its slot.
    const tookOver = yield* this.lock[ACQUIRE_RESTORE](saved)
    pendingWaits.delete(pending)
    this.#freeSlot(id)
    if (aborted && notified) this.#notify(1) // pass the wake-up on; nothing is lost
    if (tookOver) throw ownerDied('Condition.wait()', 0)
    if (aborted) throw ABORTED
    return notified || spurious
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
    if (c[LINKED] === 0) return 0
    let woken = 0
    let id = c[HEAD]!
    while (woken < n && id !== NIL) {
      const v = this.#view(id)
      const b = this.#base(id)
      const next = v[b + NEXT]!
      let k = Atomics.load(v, b + WORD)
      if (k === WAITING) {
        if (hasEnded(v[b + TOKEN]!)) {
          // Its thread died without taking itself out: nobody will ever read this slot.
          k = Atomics.compareExchange(v, b + WORD, WAITING, ABANDONED)
          if (k === WAITING) k = ABANDONED
        } else {
          // CAS WAITING -> NOTIFIED wins against the waiter's own WAITING -> CANCELLED.
          k = Atomics.compareExchange(v, b + WORD, WAITING, NOTIFIED)
          if (k === WAITING) {
            this.#unlink(id)
            Atomics.notify(v, b + WORD)
            woken++
            id = next
            continue
          }
        }
      }
      // Given up (CANCELLED: its waiter frees it) or abandoned (freed here).
      if (k === ABANDONED) this.#freeSlot(id)
      else this.#unlink(id)
      id = next
    }
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
   * @internal Takes a wait of a dying thread out of the FIFO: abandons its slot (a notifier frees
   * it), or, if a notifier marked it already, passes that notification on to the next waiter.
   */
  _abandon(w: PendingWait): void {
    const index = w.base + WORD
    const k = Atomics.compareExchange(w.view, index, WAITING, ABANDONED)
    if (k === WAITING) return
    if (!this.lock.acquire({ timeout: 1000 })) return // held by this dying thread itself: nothing to save
    try {
      this.#freeSlot(w.id)
      if (k === NOTIFIED) this.#notify(1)
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

  /**
   * @internal Whether a waiter may be on the list: a read without the lock. False means that no
   * waiter was linked when it was read; a thread that links itself later does so holding the
   * lock, so it sees whatever the caller wrote under the lock before (a queue's item, for one).
   */
  _mayHaveWaiters(): boolean {
    return Atomics.load(this.#cell, LINKED) !== 0
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
