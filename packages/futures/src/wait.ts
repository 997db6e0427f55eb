/**
 * `wait`: Python's `concurrent.futures.wait`, blocking (`wait`) or from the event loop
 * (`waitAsync`), over futures completed by any thread.
 * @module
 */
import { rangeError, typeError } from '@tandem/sync/errors'
import { checkTimeout, deadlineOf, describe, remaining } from '@tandem/sync/kit'
import { Future } from './future.ts'
import { EXCEPTION, FINISHED, OUTCOME, STATE } from './internal/cell.ts'
import { waitForPosts } from './internal/mailbox.ts'
import { FOREIGN_POLL_MS, futureSet, SLICE_MS, waitDone, WatchSet } from './internal/watch-set.ts'

/** Return when any future finishes or is cancelled. */
export const FIRST_COMPLETED = 'FIRST_COMPLETED'
/** Return when any future finishes by raising an exception, or when all are done. */
export const FIRST_EXCEPTION = 'FIRST_EXCEPTION'
/** Return when all futures finish or are cancelled. */
export const ALL_COMPLETED = 'ALL_COMPLETED'

/** When {@link wait} returns. */
export type ReturnWhen = typeof FIRST_COMPLETED | typeof FIRST_EXCEPTION | typeof ALL_COMPLETED

/** Options of {@link wait}. */
export interface WaitOptions {
  /** Longest wait in ms. @default Infinity */
  timeout?: number
  /** @default ALL_COMPLETED */
  returnWhen?: ReturnWhen
}

/** Options of {@link waitAsync}. */
export interface WaitAsyncOptions extends WaitOptions {
  /** Rejects the wait with the signal's reason. */
  signal?: AbortSignal
}

/** What {@link wait} returns: two disjoint sets covering the (deduplicated) futures. */
export interface DoneAndNotDone<F extends Future<unknown>> {
  readonly done: Set<F>
  readonly notDone: Set<F>
}

function raised(f: Future<unknown>): boolean {
  const c = Future.cellOf(f)
  return Atomics.load(c, STATE) === FINISHED && Atomics.load(c, OUTCOME) === EXCEPTION
}

function parse(opts: WaitOptions | undefined, what: string): { timeout: number; returnWhen: ReturnWhen } {
  if (opts === undefined) return { timeout: Infinity, returnWhen: ALL_COMPLETED }
  if (typeof opts !== 'object' || opts === null) throw typeError(`${what}: options must be an object { timeout?, returnWhen? }; received ${describe(opts)}`)
  const returnWhen = opts.returnWhen ?? ALL_COMPLETED
  if (returnWhen !== FIRST_COMPLETED && returnWhen !== FIRST_EXCEPTION && returnWhen !== ALL_COMPLETED) {
    throw rangeError(`${what}: returnWhen must be FIRST_COMPLETED, FIRST_EXCEPTION or ALL_COMPLETED; received ${describe(returnWhen)}`, 'ERR_INVALID_ARG_VALUE')
  }
  return { timeout: checkTimeout(opts.timeout), returnWhen }
}

/** Tracks the sets and decides when the wait is over. */
class Tally<F extends Future<unknown>> {
  readonly done = new Set<F>()
  readonly notDone = new Set<F>()
  readonly returnWhen: ReturnWhen
  #stop = false

  constructor(fs: Set<F>, returnWhen: ReturnWhen) {
    this.returnWhen = returnWhen
    for (const f of fs) this.#add(f, waitDone(f as Future<unknown>))
  }

  #add(f: F, isDone: boolean): void {
    if (!isDone) {
      this.notDone.add(f)
      return
    }
    this.done.add(f)
    if (this.returnWhen === FIRST_COMPLETED || (this.returnWhen === FIRST_EXCEPTION && raised(f as Future<unknown>))) this.#stop = true
  }

  /** Moves arrived futures to `done`. */
  settle(arrivals: F[]): void {
    for (const f of arrivals.splice(0)) {
      if (this.notDone.delete(f)) this.#add(f, true)
    }
  }

  get over(): boolean {
    return this.#stop || this.notDone.size === 0
  }

  result(): DoneAndNotDone<F> {
    // Every future done by now counts, also one not yet seen through the mailbox or a poll.
    for (const f of this.notDone) {
      if (waitDone(f as Future<unknown>)) {
        this.notDone.delete(f)
        this.done.add(f)
      }
    }
    return { done: this.done, notDone: this.notDone }
  }
}

/**
 * Waits (blocking the calling thread) for the futures, as `returnWhen` says.
 * Duplicates are collapsed. A cancelled future counts as done once an executor has
 * acknowledged the cancellation (`setRunningOrNotifyCancel`), as in CPython.
 * @returns `{ done, notDone }`; on timeout, what was done by then (no error)
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` if `fs` is not an iterable of futures
 * @throws {RangeError} `ERR_INVALID_ARG_VALUE` for an unknown `returnWhen`; `ERR_OUT_OF_RANGE` for a negative timeout
 * @example
 * ```ts
 * import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'
 * import { FIRST_COMPLETED, wait } from '@tandem/futures/wait'
 *
 * using pool = new ThreadPoolExecutor({ maxWorkers: 2 })
 * const fs = [1, 2, 3].map((n) => pool.submit((n: number) => n * 10, n))
 * const first = wait(fs, { returnWhen: FIRST_COMPLETED, timeout: 10_000 })
 * console.log(first.done.size >= 1) // true
 * const { done, notDone } = wait(fs, { timeout: 10_000 }) // ALL_COMPLETED
 * console.log(done.size, notDone.size) // 3 0
 * ```
 */
export function wait<F extends Future<unknown>>(fs: Iterable<F>, opts?: WaitOptions): DoneAndNotDone<F> {
  const { timeout, returnWhen } = parse(opts, 'wait()')
  const tally = new Tally(futureSet(fs, 'wait()'), returnWhen)
  if (tally.over) return tally.result()
  const deadline = deadlineOf(timeout)
  const ws = new WatchSet(tally.notDone, false)
  try {
    for (;;) {
      tally.settle(ws.arrivals)
      if (tally.over) break
      if (ws.polling) ws.poll()
      tally.settle(ws.arrivals)
      if (tally.over || !waitForPosts(deadline, ws.polling ? FOREIGN_POLL_MS : SLICE_MS, ws.checkDeaths)) break
    }
    tally.settle(ws.arrivals)
  } finally {
    ws.close()
  }
  return tally.result()
}

/**
 * Async form of {@link wait}: never blocks the event loop.
 * @throws the signal's reason if `signal` aborts first
 * @example
 * ```ts
 * import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'
 * import { FIRST_EXCEPTION, waitAsync } from '@tandem/futures/wait'
 *
 * await using pool = new ThreadPoolExecutor({ maxWorkers: 2 })
 * const ok = pool.submit(() => 'fine')
 * const bad = pool.submit(() => { throw new Error('boom') })
 * const { done } = await waitAsync([ok, bad], { returnWhen: FIRST_EXCEPTION, signal: AbortSignal.timeout(10_000) })
 * console.log(done.has(bad), bad.exception(0)) // true Error: boom ...
 * ```
 */
export function waitAsync<F extends Future<unknown>>(fs: Iterable<F>, opts?: WaitAsyncOptions): Promise<DoneAndNotDone<F>> {
  try {
    const { timeout, returnWhen } = parse(opts, 'waitAsync()')
    const signal = opts?.signal
    if (signal?.aborted) return Promise.reject(signal.reason)
    const tally = new Tally(futureSet(fs, 'waitAsync()'), returnWhen)
    if (tally.over) return Promise.resolve(tally.result())
    const deadline = deadlineOf(timeout)
    return new Promise((resolve, reject) => {
      const ws = new WatchSet(tally.notDone, true)
      let timer: ReturnType<typeof setTimeout> | undefined
      let poller: ReturnType<typeof setInterval> | undefined
      const finish = (err?: unknown): void => {
        ws.close()
        clearTimeout(timer)
        clearInterval(poller)
        signal?.removeEventListener('abort', onAbort)
        if (err !== undefined) reject(err)
        else {
          tally.settle(ws.arrivals)
          resolve(tally.result())
        }
      }
      const onAbort = (): void => finish(signal!.reason ?? new Error('aborted'))
      ws.onArrival = () => {
        tally.settle(ws.arrivals)
        if (tally.over) finish()
      }
      tally.settle(ws.arrivals)
      if (tally.over) return finish()
      if (timeout !== Infinity) timer = setTimeout(() => finish(), remaining(deadline))
      if (ws.polling) poller = setInterval(() => ws.poll(), FOREIGN_POLL_MS)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  } catch (err) {
    return Promise.reject(err)
  }
}
