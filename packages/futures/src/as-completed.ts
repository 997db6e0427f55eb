/**
 * `asCompleted`: Python's `concurrent.futures.as_completed`, iterable blocking (`for...of`) or
 * from the event loop (`for await`).
 * @module
 */
import { checkTimeout, deadlineOf, remaining } from '@tandem/sync/kit'
import { TimeoutError } from './errors.ts'
import type { Future } from './future.ts'
import { waitForPosts } from './internal/mailbox.ts'
import { FOREIGN_POLL_MS, futureSet, SLICE_MS, waitDone, WatchSet } from './internal/watch-set.ts'

/** Futures in the order they complete: iterate blocking (`for...of`) or async (`for await`). */
export interface AsCompleted<F extends Future<unknown>> extends Iterable<F>, AsyncIterable<F> {}

/**
 * Yields the futures as they complete (finished, or cancelled and acknowledged by an
 * executor): first those already done, then each as it completes. Duplicates are yielded once.
 * The timeout runs from the start of the iteration, as in CPython.
 * @param timeout ms; omitted waits forever
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` if `fs` is not an iterable of futures
 * @throws {TimeoutError} `ERR_TIMEOUT` from the iteration: "N (of M) futures unfinished"
 * @example
 * ```ts
 * import { asCompleted } from '@tandem/futures/as-completed'
 * import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'
 *
 * using pool = new ThreadPoolExecutor({ maxWorkers: 2 })
 * const fs = ['a', 'bb', 'ccc'].map((s) => pool.submit((s: string) => s.length, s))
 * for (const f of asCompleted(fs, 10_000)) console.log(f.result()) // blocking, in completion order
 * for await (const f of asCompleted(fs)) console.log(await f) // from the event loop; yields the futures
 * ```
 */
export function asCompleted<F extends Future<unknown>>(fs: Iterable<F>, timeout?: number): AsCompleted<F> {
  const set = futureSet(fs, 'asCompleted()')
  const ms = checkTimeout(timeout)
  const total = set.size
  const split = (): { finished: F[]; pending: Set<F> } => {
    const finished: F[] = []
    const pending = new Set<F>()
    for (const f of set) {
      if (waitDone(f as Future<unknown>)) finished.push(f)
      else pending.add(f)
    }
    return { finished, pending }
  }
  const take = (f: F): F => {
    set.delete(f)
    return f
  }
  const timedOut = (pending: Set<F>): TimeoutError => new TimeoutError(`${pending.size} (of ${total}) futures unfinished`)
  return {
    *[Symbol.iterator]() {
      const deadline = deadlineOf(ms)
      const { finished, pending } = split()
      // Each future is dropped from every list before it is yielded, so a future the caller has
      // let go of can be collected with its result (CPython's bpo-27144).
      while (finished.length > 0) yield take(finished.shift()!)
      if (pending.size === 0) return
      const ws = new WatchSet(pending, false)
      try {
        while (pending.size > 0) {
          if (ws.polling) ws.poll()
          if (ws.arrivals.length === 0 && !waitForPosts(deadline, ws.polling ? FOREIGN_POLL_MS : SLICE_MS, ws.checkDeaths)) throw timedOut(pending)
          while (ws.arrivals.length > 0) {
            const f = ws.arrivals.shift()!
            pending.delete(f)
            yield take(f)
          }
        }
      } finally {
        ws.close()
      }
    },
    [Symbol.asyncIterator]() {
      // A Future is thenable: an async generator would await what it yields, so the futures
      // travel boxed and are unboxed here.
      const gen = boxed()
      return {
        async next(): Promise<IteratorResult<F>> {
          const r = await gen.next()
          return r.done ? { done: true, value: undefined } : { done: false, value: r.value.f }
        },
        async return(): Promise<IteratorResult<F>> {
          await gen.return()
          return { done: true, value: undefined }
        },
        [Symbol.asyncIterator]() {
          return this
        },
      }
    },
  }
  async function* boxed(): AsyncGenerator<{ f: F }, void> {
    const deadline = deadlineOf(ms)
    const { finished, pending } = split()
    while (finished.length > 0) yield { f: take(finished.shift()!) }
    if (pending.size === 0) return
    const ws = new WatchSet(pending, true)
    let wake: (() => void) | undefined
    ws.onArrival = () => wake?.()
    try {
      while (pending.size > 0) {
        if (ws.polling) ws.poll()
        if (ws.arrivals.length === 0) {
          const t = remaining(deadline)
          if (t === 0) throw timedOut(pending)
          let timer: ReturnType<typeof setTimeout> | undefined
          await new Promise<void>((resolve) => {
            wake = resolve
            const slice = ws.polling ? Math.min(t, FOREIGN_POLL_MS) : t
            if (slice !== Infinity) timer = setTimeout(resolve, slice)
          })
          wake = undefined
          clearTimeout(timer)
          continue
        }
        while (ws.arrivals.length > 0) {
          const f = ws.arrivals.shift()!
          pending.delete(f)
          yield { f: take(f) }
        }
      }
    } finally {
      ws.close()
    }
  }
}
