/**
 * `Future`: Python's `concurrent.futures.Future`, completed through shared memory so that a
 * blocking `result()` works on any thread (main thread included) and a future can be passed to
 * and completed by another worker.
 *
 * The state is a cell in the process arena (layout and transitions: `internal/cell.ts`). A
 * blocking wait sleeps on the cell's STATE word; the event loop learns of completions through
 * this thread's mailbox (`internal/mailbox.ts`), so awaiting many futures costs one
 * `Atomics.waitAsync`, not one per future.
 *
 * @module
 */
import { InternalStateError, typeError } from '@tandem/sync/errors'
import {
  ABORTED,
  alloc,
  arenaBuffer,
  asyncOptions,
  checkTimeout,
  deadlineOf,
  describe,
  dropGroupedRef,
  groupRef,
  int32At,
  op,
  refCount,
  remaining,
  reviveCell,
  runAsync,
  release,
  runBlocking,
  shareCell,
  type AsyncWaitOptions,
  type CellRef,
  type RefGroup,
  type Waiter,
} from '@tandem/sync/kit'
import { isMainThread } from 'node:worker_threads'
import { registerShareable, SHARE, type ShareContext } from '@tandem/sync/shareable'
import { deserializeError, type SerializedError } from '@tandem/sync/task'
import { decodeItem, payloadBytes } from '@tandem/queue/kit'
import { CancelledError, TimeoutError } from './errors.ts'
import {
  CANCELLED,
  CANCELLED_AND_NOTIFIED,
  cancelCell,
  completeCell,
  EXCEPTION,
  FINISHED,
  freeOutcome,
  INLINE,
  isDone,
  OUTCOME,
  PENDING,
  REF,
  RESULT,
  RUNNING,
  SLEEPERS,
  startCell,
  STATE,
  STATE_NAMES,
  TAG,
  VALUE,
  WATCH,
  WORDS,
} from './internal/cell.ts'
import { strengthen, unwatch, watch, weaken, type Watch } from './internal/mailbox.ts'
import { checkDeaths, slice } from './internal/worker-liveness.ts'

let reviving: Int32Array | undefined

// This thread's stand-ins for the cells of finished futures that gave their cell back (see
// Future.#release): FINISHED with a result, FINISHED with an error. Never freed while the
// thread runs (a worker gives them back when it exits).
//
// Invariants the code relies on:
// - A stand-in is only ever read by this thread's handles, and only its STATE (FINISHED) and
//   OUTCOME words: a released handle answers result()/exception()/await from its own decoded
//   copy (#decoded), never from the stand-in's payload words, which stay empty. So one
//   stand-in serves every released future of its outcome.
// - No transition ever starts from a stand-in: FINISHED is final, so cancel(), setResult() and
//   the workers' CAS from PENDING all fail on it as on the real cell they replace.
// - A stand-in never leaves this thread: sharing a released handle (#reattach, from [SHARE])
//   first gives it a fresh cell of its own with the same outcome. Nothing else may hold a
//   stand-in's offset: no mailbox (WATCH is 0), no sleeper (SLEEPERS is 0), no work item.
// - A handle switches to a stand-in only once nothing of this thread can still name its real
//   cell: WATCH and SLEEPERS are 0 (no mailbox post or blocked waiter will read it) and its
//   outcome is decoded; its reference to the real cell is then dropped (dropGroupedRef), and
//   the cell lives on only while other holders (a worker finishing the call) keep theirs.
const finishedCells: Int32Array[] = []

// Finished futures read while their cell had one other reference (see Future.#release): at
// most MAX_RETRYING, each retried at most MAX_RETRIES times.
const retries: Future<unknown>[] = []
const MAX_RETRYING = 16
const MAX_RETRIES = 4

function finishedCell(outcome: number): Int32Array {
  let c = finishedCells[outcome]
  if (c === undefined) {
    if (finishedCells.length === 0 && !isMainThread) {
      process.on('exit', () => {
        for (const cell of finishedCells) if (cell !== undefined) release(cell.byteOffset)
      })
    }
    c = int32At(alloc(WORDS * 4), WORDS)
    c[OUTCOME] = outcome
    Atomics.store(c, STATE, FINISHED)
    finishedCells[outcome] = c
  }
  return c
}

/**
 * The eventual result of a computation, shared across worker threads.
 *
 * - States as in CPython: pending, running, cancelled, finished. `cancel()` succeeds only while
 *   pending.
 * - `result(timeout)` and `exception(timeout)` block the calling thread (any thread);
 *   `resultAsync`/`exceptionAsync` and `await future` never block the event loop.
 * - Done callbacks run in the thread that added them, in the order added: at once if the future
 *   is already done, when this thread completes it, or (completed elsewhere) from this thread's
 *   event loop as soon as it sees completion. An error thrown by a callback is logged and does
 *   not stop the others.
 * - On the thread that called `setResult`/`setException`, `result()`, `exception()`, `await`
 *   and done callbacks give the very value or error passed in (identity, as CPython and
 *   Promises do). Other threads get a copy (structured-clone semantics, Tandem shareables arrive
 *   live, a SharedArrayBuffer or a view on one arrives as the same memory); an error keeps its
 *   class name, message, stack, code, other properties, `errors` and `cause` chain (a cycle
 *   included).
 * - Memory: actions before `setResult(x)` happen-before actions after a `result()` that returns x.
 *
 * @example
 * ```ts
 * import { Future } from '@tandem/futures/future'
 * import { Thread } from '@tandem/sync/thread'
 *
 * const f = new Future<number>()
 * f.addDoneCallback((done) => console.log('done:', done.result())) // done: 42
 * const t = new Thread({ target: (f: Future<number>) => f.setResult(42), args: [f], daemon: true })
 * t.start()
 * console.log(f.result(30_000)) // 42 (blocking)
 * console.log(await f) // 42 (or await it)
 * await t.joinAsync()
 * ```
 */
export class Future<T = unknown> implements PromiseLike<T> {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.futures.Future'
  #cell: Int32Array
  // This handle's reference to the cell (one FinalizationRegistry entry per group of futures).
  // Invariants: #group.held.refs[#slot] is this handle's reference to #cell's block until
  // #release drops it (then the slot is 0 and #cell is a stand-in); the group gives back every
  // reference still in it only when all its handles (up to GROUP_SIZE futures of this thread)
  // are collected, so a handle must drop its own reference early (dropGroupedRef, once) to free
  // its cell before its neighbours die; a slot is never reused, so a late drop cannot free a
  // block another handle holds. #reattach opens a new slot (in this thread's open group) for
  // the fresh cell.
  #group: RefGroup
  #slot: number
  #released = false
  #retries = 0
  // Typed loosely so that Future<T> stays covariant in T (a Future<number> is a Future<unknown>).
  #callbacks: ((f: never) => unknown)[] | undefined
  #decoded: { outcome: number; value: unknown } | undefined
  // Watching completion from this thread's event loop (see internal/mailbox.ts).
  #watch: Watch | undefined
  #foreign = false
  #foreignWatching = false
  #done: Promise<void> | undefined
  #resolveDone: (() => void) | undefined
  #awaiters = 0

  /** Creates a pending future. */
  constructor() {
    if (retries.length !== 0) {
      // Futures read while one other reference was still held (see #release): most often an
      // executor's worker, which lets go a moment after completing the call.
      const waiting = retries.splice(0)
      for (const f of waiting) f.#release(FINISHED)
    }
    const c = reviving ?? int32At(alloc(WORDS * 4), WORDS)
    this.#cell = c
    this.#group = groupRef(c.byteOffset, freeOutcome)
    this.#slot = this.#group.held.refs.length - 1
  }

  /** @internal The shared cell (executors post its offset to workers). */
  static cellOf(f: Future<unknown>): Int32Array {
    return f.#cell
  }

  #state(): number {
    return Atomics.load(this.#cell, STATE)
  }

  /** True if the future was cancelled. */
  cancelled(): boolean {
    const s = this.#state()
    return s === CANCELLED || s === CANCELLED_AND_NOTIFIED
  }

  /** True if the call is running (and cannot be cancelled). */
  running(): boolean {
    return this.#state() === RUNNING
  }

  /** True if the future was cancelled or finished. */
  done(): boolean {
    return isDone(this.#state())
  }

  /**
   * Cancels the future if it is still pending.
   * @returns true if it is cancelled now (also if it already was); false if running or finished
   */
  cancel(): boolean {
    const prev = cancelCell(this.#cell)
    if (prev === PENDING) this.#noticed()
    return prev === PENDING || prev === CANCELLED || prev === CANCELLED_AND_NOTIFIED
  }

  /**
   * Executors call this before running the call: marks the future running, or reports that it
   * was cancelled (and marks it notified).
   * @returns false if the future was cancelled; true if it is now running
   * @throws {InvalidStateError} `ERR_INVALID_STATE` if it is already running or finished
   */
  setRunningOrNotifyCancel(): boolean {
    return startCell(this.#cell)
  }

  /**
   * Completes the future with a result.
   * @throws {InvalidStateError} `ERR_INVALID_STATE` if it is cancelled or already finished
   * @throws {TypeError} `ERR_NOT_SHAREABLE` if the value cannot be cloned (the future stays pending)
   */
  setResult(value: T): void {
    completeCell(this.#cell, RESULT, value, 'setResult')
    // This thread reads back the very value it set (as CPython and Promises do); others a copy.
    this.#decoded = { outcome: RESULT, value }
    this.#noticed()
  }

  /**
   * Completes the future with an error.
   * @throws {InvalidStateError} `ERR_INVALID_STATE` if it is cancelled or already finished
   */
  setException(error: unknown): void {
    completeCell(this.#cell, EXCEPTION, error, 'setException')
    this.#decoded = { outcome: EXCEPTION, value: error }
    this.#noticed()
  }

  /** This thread has seen the future done: run its callbacks, resolve its awaiters. */
  #noticed(): void {
    if (this.#watch !== undefined) {
      unwatch(this.#watch)
      this.#watch = undefined
    }
    this.#runCallbacks()
    const resolve = this.#resolveDone
    if (resolve !== undefined) {
      this.#resolveDone = undefined
      resolve()
    }
  }

  #runCallbacks(): void {
    const callbacks = this.#callbacks
    if (callbacks === undefined) return
    this.#callbacks = undefined
    for (const cb of callbacks) {
      try {
        ;(cb as (f: Future<T>) => unknown)(this)
      } catch (err) {
        console.error('exception calling callback for', this.toString(), err)
      }
    }
  }

  /** Starts watching for completion from this thread's event loop (once). */
  #startWatching(strong: boolean): void {
    if (this.#watch !== undefined) {
      if (strong) strengthen(this.#watch)
      return
    }
    if (this.#foreign) {
      this.#watchForeign()
      return
    }
    const w: Watch = { cell: this.#cell, strong, active: false, notice: () => this.#noticed() }
    switch (watch(w)) {
      case 'watching':
        this.#watch = w
        return
      case 'done':
        // Let the caller finish registering first (a then() chain, a callback list).
        queueMicrotask(() => this.#noticed())
        return
      case 'foreign':
        this.#foreign = true
        this.#watchForeign()
        return
    }
  }

  /** Another thread watches this future's mailbox slot: wait on the state word instead. */
  #watchForeign(): void {
    if (this.#foreignWatching) return
    this.#foreignWatching = true
    void runAsync(this.#waitGen(Infinity), undefined, false).then(() => {
      this.#foreignWatching = false
      this.#noticed()
    })
  }

  #outcome(): { outcome: number; value: unknown } {
    if (this.#decoded) return this.#decoded
    const c = this.#cell
    const tag = c[TAG]!
    const value = c[VALUE]!
    const len = payloadBytes(tag, value)
    const at = c[REF] !== 0 ? c[REF]! : c.byteOffset + INLINE * 4
    const decoded = decodeItem(tag, value, len === 0 ? undefined : new Uint8Array(arenaBuffer(), at, len))
    const outcome = c[OUTCOME]!
    this.#decoded = { outcome, value: outcome === EXCEPTION ? deserializeError(decoded as SerializedError) : decoded }
    return this.#decoded
  }

  *#waitGen(deadline: number): Waiter<boolean> {
    const c = this.#cell
    Atomics.add(c, SLEEPERS, 1)
    try {
      const w = op(c, STATE, 0, Infinity)
      for (;;) {
        const s = Atomics.load(c, STATE)
        if (isDone(s)) return true
        const t = remaining(deadline)
        if (t === 0) return false
        w.value = s
        // In slices: a pool worker that dies unseen (terminated, out of memory) is noticed here
        // even while this thread's event loop is blocked (internal/worker-liveness.ts).
        w.timeout = slice(t)
        const r = yield w
        if (r === 'aborted') throw ABORTED
        if (r === 'timed-out') checkDeaths(c)
      }
    } finally {
      Atomics.sub(c, SLEEPERS, 1)
    }
  }

  /** Waits from the event loop; false on timeout. */
  async #waitAsync(opts: number | AsyncWaitOptions | undefined): Promise<boolean> {
    const { timeout, signal } = asyncOptions(opts)
    if (signal?.aborted) throw signal.reason
    if (this.done()) return true
    if (this.#foreign) return runAsync(this.#waitGen(deadlineOf(timeout)), signal)
    if (this.#done === undefined) {
      this.#done = new Promise<void>((resolve) => (this.#resolveDone = resolve))
    }
    const done = this.#done
    this.#startWatching(true)
    if (this.#foreign) return runAsync(this.#waitGen(deadlineOf(timeout)), signal)
    // Keep the event loop alive for this future only while someone awaits it.
    this.#awaiters++
    let timer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined
    try {
      if (timeout === Infinity && signal === undefined) {
        await done
        return true
      }
      return await new Promise<boolean>((resolve, reject) => {
        if (timeout !== Infinity) timer = setTimeout(() => resolve(this.done()), timeout)
        if (signal !== undefined) {
          onAbort = () => reject(signal.reason)
          signal.addEventListener('abort', onAbort, { once: true })
        }
        void done.then(() => resolve(true))
      })
    } finally {
      clearTimeout(timer)
      if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort)
      if (--this.#awaiters === 0 && this.#watch !== undefined && this.#resolveDone !== undefined) weaken(this.#watch)
    }
  }

  #settle(what: 'result' | 'exception'): unknown {
    // This thread has seen completion: its callbacks run now, before the caller goes on.
    if (this.#callbacks !== undefined || this.#resolveDone !== undefined) this.#noticed()
    const s = this.#state()
    if (s === CANCELLED || s === CANCELLED_AND_NOTIFIED) throw new CancelledError()
    if (s !== FINISHED) throw new InternalStateError(`Future in state ${s} after waiting`)
    const { outcome, value } = this.#outcome()
    this.#release(s)
    if (what === 'exception') return outcome === EXCEPTION ? value : undefined
    if (outcome === EXCEPTION) throw value
    return value
  }

  /**
   * Gives this handle's reference to the cell back as soon as the outcome is read (unless a
   * mailbox may still name the cell or a waiter of this thread still reads it); other holders
   * keep the cell alive for themselves. The handle goes on with a stand-in cell in the same final
   * state; sending it to another thread makes a fresh cell. When one other reference remains
   * (most often an executor's worker, which lets go a moment after completing the call), the
   * release waits for a few of this thread's next futures, so that this thread frees the cell
   * into its own block cache: futures awaited in order then cycle through a few hot cells.
   */
  #release(state: number): void {
    if (this.#released || state !== FINISHED) return
    const c = this.#cell
    if (Atomics.load(c, WATCH) !== 0 || Atomics.load(c, SLEEPERS) !== 0) return
    if (refCount(c.byteOffset) === 2 && this.#retries < MAX_RETRIES && retries.length < MAX_RETRYING) {
      this.#retries++
      retries.push(this)
      return
    }
    this.#released = true
    this.#cell = finishedCell(this.#decoded!.outcome)
    dropGroupedRef(this.#group, this.#slot)
  }

  /** A released handle about to be shared: a fresh cell with the same outcome. */
  #reattach(): void {
    const { outcome, value } = this.#decoded!
    const c = int32At(alloc(WORDS * 4), WORDS)
    completeCell(c, outcome, value, outcome === EXCEPTION ? 'setException' : 'setResult')
    this.#cell = c
    this.#group = groupRef(c.byteOffset, freeOutcome)
    this.#slot = this.#group.held.refs.length - 1
    this.#released = false
  }

  /**
   * Waits for the future and returns its result (blocking the calling thread).
   * @param timeout ms; omitted waits forever
   * @throws {CancelledError} if cancelled; {TimeoutError} if not done in time; the call's error if it failed
   */
  result(timeout?: number): T {
    const ms = checkTimeout(timeout)
    if (!this.done() && !runBlocking(this.#waitGen(deadlineOf(ms)))) {
      throw new TimeoutError(`Future.result(): not done within ${ms} ms`)
    }
    return this.#settle('result') as T
  }

  /** Async form of {@link result}. */
  async resultAsync(opts?: number | AsyncWaitOptions): Promise<T> {
    if (!this.done() && !(await this.#waitAsync(opts))) {
      throw new TimeoutError(`Future.resultAsync(): not done within ${asyncOptions(opts).timeout} ms`)
    }
    return this.#settle('result') as T
  }

  /**
   * Waits for the future and returns its error, or undefined if it succeeded.
   * @throws {CancelledError} if cancelled; {TimeoutError} if not done in time
   */
  exception(timeout?: number): unknown {
    const ms = checkTimeout(timeout)
    if (!this.done() && !runBlocking(this.#waitGen(deadlineOf(ms)))) {
      throw new TimeoutError(`Future.exception(): not done within ${ms} ms`)
    }
    return this.#settle('exception')
  }

  /** Async form of {@link exception}. */
  async exceptionAsync(opts?: number | AsyncWaitOptions): Promise<unknown> {
    if (!this.done() && !(await this.#waitAsync(opts))) {
      throw new TimeoutError(`Future.exceptionAsync(): not done within ${asyncOptions(opts).timeout} ms`)
    }
    return this.#settle('exception')
  }

  /**
   * Calls `fn(future)` once the future is done (at once if it already is), in this thread.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` if `fn` is not a function
   */
  addDoneCallback(fn: (f: Future<T>) => unknown): void {
    if (typeof fn !== 'function') throw typeError(`Future.addDoneCallback(fn): fn must be a function; received ${describe(fn)}`)
    if (this.done() && this.#callbacks === undefined) {
      try {
        fn(this)
      } catch (err) {
        console.error('exception calling callback for', this.toString(), err)
      }
      return
    }
    ;(this.#callbacks ??= []).push(fn)
    // Completed by another thread: noticed from this thread's event loop, without keeping the
    // process alive for a future nobody completes (Python does not either).
    this.#startWatching(false)
  }

  /** `await future` resolves to the result or rejects with the error. */
  then<R1 = T, R2 = never>(onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null, onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null): Promise<R1 | R2> {
    if (this.done()) {
      // Already done (the common case when awaiting in submission order): no async frame.
      let settled: Promise<T>
      try {
        settled = Promise.resolve(this.#settle('result') as T)
      } catch (err) {
        settled = Promise.reject(err)
      }
      return settled.then(onfulfilled, onrejected)
    }
    return this.resultAsync().then(onfulfilled, onrejected)
  }

  toString(): string {
    return `<Future state=${STATE_NAMES[this.#state()]}>`
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target !== 'thread') throw typeError('A Future lives in shared memory and cannot be sent to another process', 'ERR_NOT_SHAREABLE')
    if (this.#released) this.#reattach()
    return shareCell(this.#cell)
  }

  /** @internal Builds a handle on existing shared state. */
  static revive<T>(ref: CellRef): Future<T> {
    reviving = reviveCell(ref)
    try {
      return new Future<T>()
    } finally {
      reviving = undefined
    }
  }
}

registerShareable(Future.shareKind, import.meta.url, (ref: CellRef) => Future.revive(ref))
