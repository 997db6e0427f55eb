/**
 * `Future`: Python's `concurrent.futures.Future`, completed through shared memory so that a
 * blocking `result()` works on any thread (main thread included) and a future can be passed to
 * and completed by another worker.
 *
 * Shared layout (a cell of Int32 words in the process arena, `@tandem/sync/kit`):
 *
 * | index | name    | values | written by |
 * | ----- | ------- | ------ | ---------- |
 * | 0     | STATE   | PENDING 0, RUNNING 1, CANCELLED 2, CANCELLED_AND_NOTIFIED 3, FINISHED 4, COMPLETING 5 | transitions by CAS (any thread) |
 * | 1     | OUTCOME | NONE 0, RESULT 1, EXCEPTION 2 | the completing thread, before STATE = FINISHED |
 * | 2     | TAG     | encoding of the outcome value (`@tandem/queue` codec) | the completing thread |
 * | 3     | VALUE   | int value or byte length | the completing thread |
 * | 4     | REF     | arena block of a payload that does not fit inline, 0 if none | the completing thread |
 * | 8..15 | INLINE  | up to 32 payload bytes | the completing thread |
 *
 * Transitions (CPython's state machine): PENDING -> RUNNING (`setRunningOrNotifyCancel`),
 * PENDING -> CANCELLED (`cancel`), CANCELLED -> CANCELLED_AND_NOTIFIED
 * (`setRunningOrNotifyCancel`), PENDING/RUNNING -> COMPLETING -> FINISHED (`setResult`,
 * `setException`: COMPLETING lets exactly one completer write the outcome). Each final store
 * of STATE publishes the outcome written before it and wakes every waiter on STATE.
 *
 * @module
 */
import { InternalStateError, typeError } from '@tandem/sync/errors'
import {
  adoptCell,
  alloc,
  arenaBuffer,
  asyncOptions,
  checkTimeout,
  deadlineOf,
  int32At,
  newCell,
  op,
  release,
  remaining,
  reviveCell,
  runAsync,
  runBlocking,
  shareCell,
  type AsyncWaitOptions,
  type CellRef,
  type Waiter,
} from '@tandem/sync/kit'
import { registerShareable, SHARE, type ShareContext } from '@tandem/sync/shareable'
import { deserializeError, serializeError, type SerializedError } from '@tandem/sync/task'
import { decodeItem, encodeItem, payloadBytes } from '@tandem/queue/kit'
import { CancelledError, InvalidStateError, TimeoutError } from './errors.ts'

const STATE = 0
const OUTCOME = 1
const TAG = 2
const VALUE = 3
const REF = 4
const INLINE = 8
const WORDS = 16
const INLINE_BYTES = (WORDS - INLINE) * 4

const PENDING = 0
const RUNNING = 1
const CANCELLED = 2
const CANCELLED_AND_NOTIFIED = 3
const FINISHED = 4
const COMPLETING = 5

const NONE = 0
const RESULT = 1
const EXCEPTION = 2

const STATE_NAMES = ['pending', 'running', 'cancelled', 'cancelled', 'finished', 'finishing']

let reviving: Int32Array | undefined

function freeOutcome(at: number): void {
  const ref = int32At(at, WORDS)[REF]!
  if (ref !== 0) release(ref)
}

function isDone(state: number): boolean {
  return state === CANCELLED || state === CANCELLED_AND_NOTIFIED || state === FINISHED
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
 * - The outcome is copied (structured-clone semantics, Tandem shareables arrive live); an error
 *   keeps its class name, message, stack, code and cause.
 * - Memory: actions before `setResult(x)` happen-before actions after a `result()` that returns x.
 *
 * @example
 * ```ts
 * const f = new Future<number>()
 * new Thread({ target: (f: Future<number>) => f.setResult(42), args: [f] }).start()
 * console.log(f.result(5000)) // 42, blocking; or: await f
 * ```
 */
export class Future<T = unknown> implements PromiseLike<T> {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.futures.Future'
  readonly #cell: Int32Array
  #callbacks: ((f: Future<T>) => unknown)[] = []
  #watching = false
  #decoded: { outcome: number; value: unknown } | undefined

  /** Creates a pending future. */
  constructor() {
    this.#cell = reviving ? adoptCell(this, reviving, freeOutcome) : newCell(this, WORDS, freeOutcome)
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
    const c = this.#cell
    const prev = Atomics.compareExchange(c, STATE, PENDING, CANCELLED)
    if (prev === RUNNING || prev === FINISHED || prev === COMPLETING) return false
    if (prev === PENDING) this.#completed()
    return true
  }

  /**
   * Executors call this before running the call: marks the future running, or reports that it
   * was cancelled (and marks it notified).
   * @returns false if the future was cancelled; true if it is now running
   * @throws {InvalidStateError} `ERR_INVALID_STATE` if it is already running or finished
   */
  setRunningOrNotifyCancel(): boolean {
    const c = this.#cell
    const prev = Atomics.compareExchange(c, STATE, PENDING, RUNNING)
    if (prev === PENDING) return true
    if (prev === CANCELLED) {
      Atomics.compareExchange(c, STATE, CANCELLED, CANCELLED_AND_NOTIFIED)
      return false
    }
    throw new InvalidStateError(`Future.setRunningOrNotifyCancel(): the future is ${STATE_NAMES[prev]}; call it once, on a pending future`)
  }

  /**
   * Completes the future with a result.
   * @throws {InvalidStateError} `ERR_INVALID_STATE` if it is cancelled or already finished
   * @throws {TypeError} `ERR_NOT_SHAREABLE` if the value cannot be cloned (the future stays pending)
   */
  setResult(value: T): void {
    this.#complete(RESULT, value, 'setResult')
  }

  /**
   * Completes the future with an error.
   * @throws {InvalidStateError} `ERR_INVALID_STATE` if it is cancelled or already finished
   */
  setException(error: unknown): void {
    this.#complete(EXCEPTION, serializeError(error), 'setException')
  }

  #complete(outcome: number, value: unknown, what: string): void {
    const c = this.#cell
    // Encode first: a value that cannot be cloned leaves the future untouched.
    const enc = encodeItem(value, { tag: 0, value: 0, bytes: undefined })
    let prev = Atomics.compareExchange(c, STATE, PENDING, COMPLETING)
    if (prev === RUNNING) prev = Atomics.compareExchange(c, STATE, RUNNING, COMPLETING)
    if (prev !== PENDING && prev !== RUNNING) {
      throw new InvalidStateError(`Future.${what}(): the future is ${STATE_NAMES[prev]}; a future completes once`)
    }
    const bytes = enc.bytes
    let ref = 0
    if (bytes !== undefined && bytes.length > INLINE_BYTES) {
      ref = alloc(bytes.length)
      new Uint8Array(arenaBuffer(), ref, bytes.length).set(bytes)
    } else if (bytes !== undefined) {
      new Uint8Array(arenaBuffer(), c.byteOffset + INLINE * 4, bytes.length).set(bytes)
    }
    c[OUTCOME] = outcome
    c[TAG] = enc.tag
    c[VALUE] = enc.value
    c[REF] = ref
    // Publishes the outcome written above to every thread that sees FINISHED.
    Atomics.store(c, STATE, FINISHED)
    this.#completed()
  }

  /** Wakes waiters and runs this thread's callbacks. */
  #completed(): void {
    Atomics.notify(this.#cell, STATE)
    this.#runCallbacks()
  }

  #runCallbacks(): void {
    const callbacks = this.#callbacks
    this.#callbacks = []
    for (const cb of callbacks) {
      try {
        cb(this)
      } catch (err) {
        console.error('exception calling callback for', this.toString(), err)
      }
    }
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
    const w = op(c, STATE, 0, Infinity)
    for (;;) {
      const s = Atomics.load(c, STATE)
      if (isDone(s)) return true
      const t = remaining(deadline)
      if (t === 0) return false
      w.value = s
      w.timeout = t
      if ((yield w) === 'aborted') return false
    }
  }

  #settle(what: 'result' | 'exception'): unknown {
    // This thread has seen completion: its callbacks run now, before the caller goes on.
    if (this.#callbacks.length > 0) this.#runCallbacks()
    const s = this.#state()
    if (s === CANCELLED || s === CANCELLED_AND_NOTIFIED) throw new CancelledError()
    if (s !== FINISHED) throw new InternalStateError(`Future in state ${s} after waiting`)
    const { outcome, value } = this.#outcome()
    if (what === 'exception') return outcome === EXCEPTION ? value : undefined
    if (outcome === EXCEPTION) throw value
    return value
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
    const { timeout, signal } = asyncOptions(opts)
    if (!this.done() && !(await runAsync(this.#waitGen(deadlineOf(timeout)), signal))) {
      throw new TimeoutError(`Future.resultAsync(): not done within ${timeout} ms`)
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
    const { timeout, signal } = asyncOptions(opts)
    if (!this.done() && !(await runAsync(this.#waitGen(deadlineOf(timeout)), signal))) {
      throw new TimeoutError(`Future.exceptionAsync(): not done within ${timeout} ms`)
    }
    return this.#settle('exception')
  }

  /**
   * Calls `fn(future)` once the future is done (at once if it already is), in this thread.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` if `fn` is not a function
   */
  addDoneCallback(fn: (f: Future<T>) => unknown): void {
    if (typeof fn !== 'function') throw typeError(`Future.addDoneCallback(fn): fn must be a function`)
    if (this.done()) {
      try {
        fn(this)
      } catch (err) {
        console.error('exception calling callback for', this.toString(), err)
      }
      return
    }
    this.#callbacks.push(fn)
    if (!this.#watching) {
      // Completed by another thread: notice it from this thread's event loop, without keeping
      // the process alive for a future nobody completes (Python does not either).
      this.#watching = true
      void runAsync(this.#waitGen(Infinity), undefined, false).then(() => {
        this.#watching = false
        this.#runCallbacks()
      })
    }
  }

  /** `await future` resolves to the result or rejects with the error. */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.resultAsync().then(onfulfilled, onrejected)
  }

  toString(): string {
    const s = this.#state()
    return `<Future state=${STATE_NAMES[s]}>`
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target !== 'thread') throw typeError('A Future lives in shared memory and cannot be sent to another process', 'ERR_NOT_SHAREABLE')
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
