/**
 * Watching a set of futures from one thread: the machinery of `wait` and `asCompleted`.
 * Futures this thread can watch through its mailbox arrive as they complete; a future already
 * watched by another thread is polled.
 * @module
 */
import { typeError } from '@tandem/sync/errors'
import { describe, now } from '@tandem/sync/kit'
import { Future } from '../future.ts'
import { isWaitDone, STATE } from './cell.ts'
import { unwatch, watch, type Watch } from './mailbox.ts'
import { checkDeaths, failOrphan, SLICE_MS } from './worker-liveness.ts'

/** Poll interval (ms) for futures watched by another thread. */
export const FOREIGN_POLL_MS = 5

/**
 * Longest sleep (ms) of a blocking wait on a {@link WatchSet}: a pool worker that dies unseen is
 * noticed after a slice (see {@link WatchSet.checkDeaths}).
 */
export { SLICE_MS }

/** Collapses duplicates and checks that every element is a Future. */
export function futureSet<F extends Future<unknown>>(fs: Iterable<F>, what: string): Set<F> {
  if (fs === null || typeof fs !== 'object' || typeof (fs as Iterable<F>)[Symbol.iterator] !== 'function') {
    throw typeError(`${what}: fs must be an iterable of futures; received ${describe(fs)}`)
  }
  const set = new Set<F>()
  for (const f of fs) {
    if (!(f instanceof Future)) throw typeError(`${what}: expected futures; received ${describe(f)}`)
    set.add(f)
  }
  return set
}

/** True if `wait`/`asCompleted` count `f` as done. */
export function waitDone(f: Future<unknown>): boolean {
  return isWaitDone(Atomics.load(Future.cellOf(f), STATE))
}

/** Watches `pending` futures; completed ones are appended to {@link arrivals}. */
export class WatchSet<F extends Future<unknown>> {
  /** Futures seen done, in the order seen (drain with {@link take}). */
  readonly arrivals: F[] = []
  readonly #watches = new Map<F, Watch>()
  readonly #foreign = new Set<F>()
  /** Called after each arrival (from a drain or a poll). */
  onArrival: (() => void) | undefined

  constructor(pending: Iterable<F>, strong: boolean) {
    for (const f of pending) {
      const w: Watch = {
        cell: Future.cellOf(f as Future<unknown>),
        strong,
        active: false,
        until: isWaitDone,
        notice: () => {
          this.#watches.delete(f)
          this.#arrive(f)
        },
      }
      switch (watch(w)) {
        case 'watching':
          this.#watches.set(f, w)
          break
        case 'done':
          this.arrivals.push(f)
          break
        case 'foreign':
          this.#foreign.add(f)
      }
    }
  }

  #arrive(f: F): void {
    this.arrivals.push(f)
    this.onArrival?.()
  }

  /** True if some futures are polled rather than watched. */
  get polling(): boolean {
    return this.#foreign.size > 0
  }

  /** Checks the polled futures. */
  poll(): void {
    for (const f of this.#foreign) {
      if (waitDone(f as Future<unknown>)) {
        this.#foreign.delete(f)
        this.#arrive(f)
      }
    }
  }

  /**
   * After a slice of a blocking wait (at most once per SLICE_MS): runs the break path of this
   * thread's pools whose workers ended unseen, and fails the watched futures still running on an
   * ended worker of another thread's pool (see worker-liveness.ts). Their completions arrive as
   * any other (mailbox, or the next poll).
   */
  readonly checkDeaths = (): void => {
    const t = now()
    if (t - this.#checked < SLICE_MS / 2) return
    this.#checked = t
    checkDeaths()
    for (const w of this.#watches.values()) failOrphan(w.cell)
    for (const f of this.#foreign) failOrphan(Future.cellOf(f as Future<unknown>))
  }

  #checked = now()

  /** Stops watching. */
  close(): void {
    for (const w of this.#watches.values()) unwatch(w)
    this.#watches.clear()
    this.#foreign.clear()
    this.onArrival = undefined
  }
}
