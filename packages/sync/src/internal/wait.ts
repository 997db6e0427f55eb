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
 * plain `notify(cell, index, 1)` could land on our abandoned waiter and be lost. After the abort
 * was delivered, later waits of the same operation (for example a Condition re-acquiring its
 * lock) are not interruptible; when the generator finishes, the driver rejects with the
 * signal's reason and discards the generator's result.
 *
 * @module
 */

/** Sleep on `cell[index]` while it equals `value`, for at most `timeout` ms (Infinity: forever). */
export interface WaitOp {
  readonly cell: Int32Array
  readonly index: number
  value: number
  timeout: number
}

/** What a wait returned; `'aborted'` only from {@link runAsync}. */
export type WaitResult = 'ok' | 'not-equal' | 'timed-out' | 'aborted'

/** A waiting algorithm: yields waits, receives their results, returns R. */
export type Waiter<R> = Generator<WaitOp, R, WaitResult>

/** A reusable op object: generators mutate and yield it to avoid an allocation per wait. */
export function op(cell: Int32Array, index: number, value: number, timeout: number): WaitOp {
  return { cell, index, value, timeout }
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

/** Runs `gen` to completion, blocking the calling thread on each wait. */
export function runBlocking<R>(gen: Waiter<R>): R {
  let step = gen.next()
  if (!step.done && blockingHook !== undefined) blockingHook()
  while (!step.done) {
    const w = step.value
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
  try {
    while (!step.done) {
      const w = step.value
      let result: WaitResult
      if (aborted && !delivered) {
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
        if (aborted && !delivered) result = 'aborted'
      }
      if (result === 'aborted') delivered = true
      step = gen.next(result)
    }
  } catch (err) {
    // An aborted operation reports the abort, whatever the algorithm threw while unwinding.
    if (delivered) throw signal!.reason
    throw err
  } finally {
    if (keepAlive) releaseLoop()
    signal?.removeEventListener('abort', onAbort)
  }
  if (delivered) throw signal!.reason
  return step.value
}

/** Milliseconds on a monotonic clock. */
export const now: () => number = performance.now.bind(performance)

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
