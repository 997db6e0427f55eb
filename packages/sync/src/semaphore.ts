/**
 * `Semaphore`: Python's `threading.Semaphore` on shared memory.
 *
 * Algorithm: a futex-based counting semaphore: the count is CAS-decremented while positive;
 * waiters register in a waiter count and sleep on the count word while it is 0; `release(n)`
 * adds n and wakes up to n sleepers (who re-check, so a late arrival may barge).
 *
 * Shared layout (a cell of Int32 words in the process arena, `internal/arena.ts`):
 *
 * | index | name    | values | written by |
 * | ----- | ------- | ------ | ---------- |
 * | 0     | VALUE   | permits available, >= 0 | acquirers (CAS -1), releasers (add n) |
 * | 1     | WAITERS | threads/promises registered to sleep on VALUE | each waiter (+1 before sleeping, -1 after) |
 * | 2     | BOUND   | initial value for a BoundedSemaphore, UNBOUNDED -1 otherwise | constructor |
 * | 3     | -       | reserved | - |
 * | 4 + 2h | HOLDER_h | token of a thread holding permits through `hold()`/`holdAsync()`, 0 free, RECOVERING -1 | the thread (CAS 0 -> token; back to 0 when its holds end); a thread that found it dead (CAS token -> RECOVERING -> 0) |
 * | 5 + 2h | HELD_h  | permits that thread holds through `hold()` | that thread; the recovering thread (to 0) |
 *
 * Owner death: permits taken with `hold()`/`holdAsync()` belong to the holding thread until the
 * hold is disposed; if the thread ends first (its target returned or threw, `process.exit()`,
 * `terminate()`, out of memory), they are given back by a waiter that notices (waiters sleep at
 * most a liveness slice at a time). Permits taken with plain `acquire()` belong to nobody, as in
 * Python (another thread may release them), so they are not given back. At most HOLDER_SLOTS
 * threads are tracked at once; holds beyond that are not.
 *
 * No lost wake-up: a waiter increments WAITERS *before* it sleeps on VALUE === 0, and a releaser
 * adds to VALUE *before* it reads WAITERS; both are sequentially consistent, so either the
 * releaser sees the waiter and wakes it, or the waiter's `Atomics.wait` sees VALUE != 0.
 *
 * @module
 */
import { notShareableToProcess, rangeError, TimeoutError } from './errors.ts'
import { ACQUIRE_GEN, Acquirable, CHECK_OWNER, TRY_ACQUIRE, type HoldOptions } from './internal/acquirable.ts'
import { SELF } from './internal/ident.ts'
import { hasEnded, SLICE_MS, sweep } from './internal/liveness.ts'
import { adoptCell, newCell, reviveCell, shareCell, type CellRef } from './internal/arena.ts'
import { acquireTimeout, asyncOptions, checkInt, type AsyncWaitOptions } from './internal/validate.ts'
import { ABORTED, deadlineOf, op, remaining, runAsync, runBlocking, SPIN_LIMIT, type Waiter } from './internal/wait.ts'
import { registerShareable, SHARE, type ShareContext } from './shareable.ts'

const VALUE = 0
const WAITERS = 1
const BOUND = 2
const HOLDERS = 4
const HOLDER_SLOTS = 16
const WORDS = HOLDERS + 2 * HOLDER_SLOTS
const RECOVERING = -1
const UNBOUNDED = -1
const MAX_VALUE = 0x7fffffff

let reviving: Int32Array | undefined

/**
 * A counting semaphore shared across worker threads.
 *
 * - `acquire` takes one permit, waiting while none is available; `release(n)` returns n.
 * - Any thread may release (no ownership), except that permits taken with `hold()`/`holdAsync()`
 *   are given back if their thread ends before disposing the hold (beyond Python: a thread that
 *   dies inside `using _ = sem.hold()` loses no permit).
 * - Sleepers are woken in FIFO order of sleeping, but a thread arriving while a permit is free
 *   may take it first (no strict fairness).
 * - Memory: actions before `release()` happen-before actions after an `acquire()` that takes
 *   one of the released permits.
 *
 * @example
 * ```ts
 * import { Semaphore } from '@tandem/sync/semaphore'
 * import { Thread } from '@tandem/sync/thread'
 *
 * const sem = new Semaphore(2) // at most 2 threads inside at once
 * const visit = (sem: Semaphore, page: number) => {
 *   sem.acquire()
 *   try {
 *     console.log('crawling page', page)
 *   } finally {
 *     sem.release()
 *   }
 * }
 * const threads = [1, 2, 3].map((page) => new Thread({ target: visit, args: [sem, page] }))
 * threads.forEach((t) => t.start())
 * threads.forEach((t) => t.join())
 * {
 *   using _ = await sem.holdAsync() // scoped, from the event loop
 *   console.log(sem.value) // 1
 * }
 * console.log(sem.value) // 2: every permit is back
 * ```
 */
export class Semaphore extends Acquirable {
  /** Shareable kind name. */
  static readonly shareKind: string = 'tandem.sync.Semaphore'
  protected readonly kindName: string = 'Semaphore'
  /** @internal */
  protected readonly cell: Int32Array

  /**
   * @param value initial number of permits @default 1
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if `value` is negative or not an integer
   */
  constructor(value = 1) {
    super()
    if (reviving !== undefined) {
      this.cell = adoptCell(this, reviving)
    } else {
      checkInt(value, 'value', 0, MAX_VALUE)
      this.cell = newCell(this, WORDS)
      this.cell[VALUE] = value
      this.cell[BOUND] = UNBOUNDED
    }
  }

  /** Permits available now (a snapshot). */
  get value(): number {
    return Atomics.load(this.cell, VALUE)
  }

  /** @internal */
  [TRY_ACQUIRE](): boolean {
    return this.#take(-1)
  }

  /**
   * One attempt to take a permit; with a holder slot (`at` >= 0), the hold is recorded in the same
   * breath: no call or loop back-edge (where `terminate()` can land) stands between the CAS that
   * takes the permit and the add that records it.
   */
  #take(at: number): boolean {
    const c = this.cell
    let v = Atomics.load(c, VALUE)
    while (v > 0) {
      // The successful CAS synchronises with the release() that added this permit.
      const seen = Atomics.compareExchange(c, VALUE, v, v - 1)
      if (seen === v) {
        // A plain write, not a call: only this thread writes its slot while it lives.
        if (at >= 0) c[at + 1]!++
        return true
      }
      v = seen
    }
    return false
  }

  /** @internal */
  [ACQUIRE_GEN](deadline: number): Waiter<boolean> {
    return this.#acquireGen(deadline, -1)
  }

  *#acquireGen(deadline: number, at: number): Waiter<boolean> {
    const c = this.cell
    for (let i = 0; i < SPIN_LIMIT; i++) {
      if (Atomics.load(c, VALUE) > 0 && this.#take(at)) return true
    }
    const w = op(c, VALUE, 0, Infinity)
    for (;;) {
      if (this.#take(at)) return true
      const t = remaining(deadline)
      if (t === 0) return false
      w.timeout = t < SLICE_MS ? t : SLICE_MS
      Atomics.add(c, WAITERS, 1)
      const r = yield w
      Atomics.sub(c, WAITERS, 1)
      if (r === 'aborted') throw ABORTED
      if (r === 'timed-out') {
        sweep()
        this.#recoverDead()
      }
    }
  }

  /**
   * Blocking acquire returning a `Disposable` that releases: `using _ = sem.hold()`. The permit
   * belongs to the calling thread until disposed: if the thread ends first, it is given back.
   * @throws {TimeoutError} `ERR_TIMEOUT` if not acquired (timeout or `blocking: false`)
   */
  override hold(opts?: HoldOptions): Disposable {
    const timeout = acquireTimeout(opts, this.kindName)
    const at = this.#claimSlot()
    let ok = this.#take(at)
    if (!ok) ok = timeout === 0 ? this.#recoverDead() && this.#take(at) : runBlocking(this.#acquireGen(deadlineOf(timeout), at))
    if (!ok) throw new TimeoutError(`${this.kindName}.hold(): not acquired within the timeout`)
    return this.#holder(at)
  }

  /**
   * Async form of {@link hold}: `using _ = await sem.holdAsync()`.
   * @throws {TimeoutError} `ERR_TIMEOUT` if the timeout expired first; the signal's reason if aborted
   */
  override async holdAsync(opts?: number | AsyncWaitOptions): Promise<Disposable> {
    const { timeout, signal } = asyncOptions(opts)
    if (signal?.aborted) throw signal.reason
    const at = this.#claimSlot()
    let ok = this.#take(at)
    if (!ok) ok = timeout === 0 ? this.#recoverDead() && this.#take(at) : await runAsync(this.#acquireGen(deadlineOf(timeout), at), signal)
    if (!ok) throw new TimeoutError(`${this.kindName}.holdAsync(): not acquired within the timeout`)
    return this.#holder(at)
  }

  /** The Disposable of a hold recorded in slot `at` (-1: not recorded). */
  #holder(at: number): Disposable {
    let done = false
    return {
      [Symbol.dispose]: () => {
        if (done) return
        done = true
        if (at < 0) this.release()
        else this.#give(at)
      },
    }
  }

  /**
   * Ends a recorded hold: returns the permit and un-records it in the same breath (no call
   * between the CAS and the sub), then wakes a waiter.
   */
  #give(at: number): void {
    const c = this.cell
    const bound = c[BOUND]!
    let v = Atomics.load(c, VALUE)
    for (;;) {
      if (bound !== UNBOUNDED && v + 1 > bound) {
        throw rangeError(`${this.kindName}: a hold was disposed with the value already at its bound ${bound}; release only what you acquired`, 'ERR_SEMAPHORE_OVERFLOW')
      }
      const seen = Atomics.compareExchange(c, VALUE, v, v + 1)
      if (seen === v) {
        // Plain accesses, not calls: only this thread changes its own slot while it lives.
        if (--c[at + 1]! === 0) c[at] = 0
        break
      }
      v = seen
    }
    if (Atomics.load(c, WAITERS) > 0) Atomics.notify(c, VALUE, 1)
  }

  /** @internal Gives back the holds of threads that ended; true if it gave back any. */
  override [CHECK_OWNER](): boolean {
    return this.#recoverDead()
  }

  /** Returns the permits that ended threads held through `hold()`. */
  #recoverDead(): boolean {
    const c = this.cell
    let given = 0
    for (let h = 0; h < HOLDER_SLOTS; h++) {
      const at = HOLDERS + 2 * h
      const token = Atomics.load(c, at)
      if (token <= 0 || !hasEnded(token)) continue
      if (Atomics.compareExchange(c, at, token, RECOVERING) !== token) continue
      const n = Atomics.exchange(c, at + 1, 0)
      Atomics.store(c, at, 0)
      if (n > 0) {
        // Straight to VALUE: these permits were counted out of it, so no bound can be passed.
        Atomics.add(c, VALUE, n)
        given += n
      }
    }
    if (given > 0 && Atomics.load(c, WAITERS) > 0) Atomics.notify(c, VALUE, given)
    return given > 0
  }

  /**
   * This thread's holder slot (claimed if need be; its count is unchanged), or -1 if the table is
   * full (the hold then goes unrecorded). A slot is given up when its count drops back to 0.
   */
  #claimSlot(): number {
    const c = this.cell
    let free = -1
    for (let h = 0; h < HOLDER_SLOTS; h++) {
      const at = HOLDERS + 2 * h
      const token = Atomics.load(c, at)
      if (token === SELF) return at
      if (token === 0 && free < 0) free = at
    }
    for (let at = free; at >= 0 && at < HOLDERS + 2 * HOLDER_SLOTS; at += 2) {
      if (Atomics.compareExchange(c, at, 0, SELF) === 0) return at
    }
    return -1
  }

  /**
   * Returns `n` permits and wakes up to `n` waiters.
   * @param n how many permits @default 1
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if n < 1
   */
  release(n = 1): void {
    if (n !== 1) checkInt(n, 'n', 1, MAX_VALUE)
    this.addPermits(n)
    if (Atomics.load(this.cell, WAITERS) > 0) Atomics.notify(this.cell, VALUE, n)
  }

  /** @internal Adds the permits (BoundedSemaphore checks its bound here). */
  protected addPermits(n: number): void {
    // Publishes the releaser's writes to whoever takes these permits.
    if (Atomics.add(this.cell, VALUE, n) > MAX_VALUE - n) {
      Atomics.sub(this.cell, VALUE, n)
      throw rangeError(`Semaphore.release(${n}): the value would exceed ${MAX_VALUE}`, 'ERR_SEMAPHORE_OVERFLOW')
    }
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target !== 'thread') throw notShareableToProcess(this.kindName, `use a SyncManager ${this.kindName}() from @tandem/ipc`)
    return shareCell(this.cell)
  }

  /** @internal Builds a handle on existing shared state. */
  static revive<T extends Semaphore>(this: new () => T, ref: CellRef): T {
    reviving = reviveCell(ref)
    try {
      return new this()
    } finally {
      reviving = undefined
    }
  }
}

/** @internal Layout constants for BoundedSemaphore. */
export const _layout = { VALUE, BOUND } as const

registerShareable(Semaphore.shareKind, import.meta.url, (ref: CellRef) => Semaphore.revive(ref))
