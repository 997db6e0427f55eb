/**
 * One algorithm, two ways to wait.
 *
 * Every Tandem operation that can wait is written once, as a generator that yields
 * {@link WaitOp}s ("sleep on `cell[index]` while it still holds `value`, for at most `timeout`
 * ms") and receives a {@link WaitResult}. Two drivers run such a generator:
 *
 * - {@link runBlocking} answers each op with `Atomics.wait` (blocks the calling thread; allowed
 *   on Node's main thread too);
 * - {@link runAsync} answers it with `Atomics.waitAsync` (never blocks the event loop), keeps the
 *   event loop alive while a wait is pending, and turns an `AbortSignal` into the result
 *   `'aborted'`.
 *
 * Because the blocking and asynchronous forms share the algorithm and the same V8 waiter list
 * (sync and async waiters on one location are woken by `Atomics.notify` in FIFO order), both
 * forms can wait on the same object from any thread at the same time.
 *
 * Abort: an async waiter cannot be removed from V8's waiter list. On abort the driver therefore
 * wakes *every* waiter on the location (`Atomics.notify(cell, index)`): ours wakes and sees
 * `'aborted'`, the others see a spurious wake-up, re-check their condition and sleep again. A
 * plain `notify(cell, index, 1)` could land on our abandoned waiter and be lost.
 *
 * The abort is answered to exactly one op: the one pending when the signal fired, or else the
 * next one the generator yields; never to an op marked `abortable: false`, a step that must
 * complete (re-taking a Condition's lock), which is woken, waits again, and leaves the abort
 * pending for the operation's next abortable op. The generator decides what the answer means:
 * in a step that can be given up (waiting for a lock, an item, a notification), it undoes that
 * step and everything before it, then throws {@link ABORTED}; the driver rejects with the
 * signal's reason. If the operation completes before any abortable op is answered, the abort
 * came too late and the operation's result stands.
 * Any other error thrown by the generator is the operation's error.
 *
 * @module
 */

/** Sleep on `cell[index]` while it equals `value`, for at most `timeout` ms (Infinity: forever). */
export interface WaitOp {
  readonly cell: Int32Array
  readonly index: number
  value: number
  timeout: number
  /**
   * False for a step that must complete (a Condition re-taking its lock): the driver never
   * answers it `'aborted'` and keeps a pending abort for the operation's next abortable step.
   */
  abortable: boolean
}

/** What a wait returned; `'aborted'` only from {@link runAsync}. */
export type WaitResult = 'ok' | 'not-equal' | 'timed-out' | 'aborted'

/** A waiting algorithm: yields waits, receives their results, returns R. */
export type Waiter<R> = Generator<WaitOp, R, WaitResult>

/** A reusable op object: generators mutate and yield it to avoid an allocation per wait. */
export function op(cell: Int32Array, index: number, value: number, timeout: number, abortable = true): WaitOp {
  return { cell, index, value, timeout, abortable }
}

let blockingHook: (() => void) | undefined

/**
 * Sets the function this thread runs before it blocks in a Tandem wait (executors hand over
 * the work they buffered, so a thread never sleeps on work it has not yet published).
 */
export function setBlockingHook(fn: (() => void) | undefined): void {
  blockingHook = fn
}

/** Runs the blocking hook, if any: call before an `Atomics.wait` made outside {@link runBlocking}. */
export function beforeBlocking(): void {
  if (blockingHook !== undefined) blockingHook()
}

/**
 * Thrown by a waiting algorithm that gave up its operation because the driver answered
 * `'aborted'` (see the module comment); {@link runAsync} turns it into the signal's reason.
 */
export const ABORTED: unique symbol = Symbol('tandem.aborted') as never

// ---- test hooks ---------------------------------------------------------------------------------
// Tests drive every wait through each of its steps: the step hook sees each op before the driver
// waits on it (and may abort the operation's signal or move the clock so that the step times
// out). Unset, it costs one comparison per op, on paths that are about to sleep anyway.
let stepHook: ((op: WaitOp, step: number) => void) | undefined
let clockShift = 0

/**
 * @internal For tests: `fn(op, step)` runs in this thread before each wait op of every
 * operation (step counts from 0 per operation); undefined removes it.
 */
export function _setStepHook(fn: ((op: WaitOp, step: number) => void) | undefined): void {
  stepHook = fn
}

/**
 * @internal For tests: moves this thread's clock forward by `ms`, so that deadlines computed
 * before pass now; call from a step hook together with `op.timeout = 0` to time a step out.
 */
export function _advanceClock(ms: number): void {
  clockShift += ms
}

/** Runs `gen` to completion, blocking the calling thread on each wait. */
export function runBlocking<R>(gen: Waiter<R>): R {
  let step = gen.next()
  if (!step.done && blockingHook !== undefined) blockingHook()
  let n = 0
  while (!step.done) {
    const w = step.value
    if (stepHook !== undefined) stepHook(w, n++)
    step = gen.next(Atomics.wait(w.cell, w.index, w.value, w.timeout))
  }
  return step.value
}

// ---- event-loop keep-alive -------------------------------------------------------------------
// A pending Atomics.waitAsync holds no libuv handle, so without this a process whose only work
// is an awaited Tandem wait would exit under it. One ref'd interval is held while any async
// wait of this thread is pending.
let pendingAsync = 0
let keepAlive: ReturnType<typeof setInterval> | undefined

function noop(): void {}

/** Holds this thread's event loop open until the matching {@link releaseLoop}. */
export function holdLoop(): void {
  if (pendingAsync++ === 0) {
    // One timer for the thread's lifetime, ref'd and unref'd: cheaper than a timer per wait.
    if (keepAlive === undefined) keepAlive = setInterval(noop, 0x7fffffff)
    else keepAlive.ref()
  }
}

/** Gives back one {@link holdLoop}. */
export function releaseLoop(): void {
  if (--pendingAsync === 0) keepAlive?.unref()
}

/**
 * Runs `gen` to completion without blocking the event loop.
 * @param keepAlive hold the event loop open while waiting (default); false for background
 *   watchers that must not keep a process alive on their own
 * @throws the signal's reason if `signal` aborted before the operation completed.
 */
export async function runAsync<R>(gen: Waiter<R>, signal?: AbortSignal, keepAlive = true): Promise<R> {
  if (signal?.aborted) {
    gen.return(undefined as R)
    throw signal.reason
  }
  // Fast path: completes without waiting (uncontended lock, set event, ...).
  let step = gen.next()
  if (step.done) return step.value
  let aborted = false
  let delivered = false
  let current: WaitOp | undefined
  const onAbort = (): void => {
    aborted = true
    // Wake our own (un-removable) async waiter, and with it every other waiter on the
    // location; they re-check and sleep again. See the module comment.
    if (current !== undefined) Atomics.notify(current.cell, current.index)
  }
  signal?.addEventListener('abort', onAbort, { once: true })
  if (keepAlive) holdLoop()
  let n = 0
  try {
    while (!step.done) {
      const w = step.value
      if (stepHook !== undefined) stepHook(w, n++)
      let result: WaitResult
      if (aborted && !delivered && w.abortable) {
        result = 'aborted'
      } else {
        const res = Atomics.waitAsync(w.cell, w.index, w.value, w.timeout)
        if (res.async) {
          current = w
          result = await res.value
          current = undefined
        } else {
          result = res.value
        }
        if (aborted && !delivered && w.abortable) result = 'aborted'
      }
      if (result === 'aborted') delivered = true
      step = gen.next(result)
    }
  } catch (err) {
    if (err === ABORTED) throw signal!.reason
    throw err
  } finally {
    if (keepAlive) releaseLoop()
    signal?.removeEventListener('abort', onAbort)
  }
  return step.value
}

/** Milliseconds on a monotonic clock (per thread). */
export function now(): number {
  return performance.now() + clockShift
}

/** Deadline for a timeout in ms (Infinity stays Infinity). */
export function deadlineOf(timeout: number): number {
  return timeout === Infinity ? Infinity : now() + timeout
}

/** Remaining ms until `deadline`, never negative. */
export function remaining(deadline: number): number {
  if (deadline === Infinity) return Infinity
  const r = deadline - now()
  return r > 0 ? r : 0
}

/** Iterations a waiter busy-polls before it sleeps; a sleep and wake costs tens of microseconds. */
export const SPIN_LIMIT = 200
