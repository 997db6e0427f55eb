/**
 * `SimpleQueue`: Python's `queue.SimpleQueue`, an unbounded FIFO queue without task tracking or
 * shutdown, in shared memory (a {@link Queue} underneath).
 * @module
 */
import type { AsyncWaitOptions } from '@tandem/sync/kit'
import { registerShareable, SHARE, type ShareContext } from '@tandem/sync/shareable'
import type { GetOptions } from './internal/base-queue.ts'
import { Queue } from './queue.ts'

/**
 * An unbounded FIFO queue shared across worker threads, with Python's `SimpleQueue` surface:
 * `put`, `putNowait`, `putAsync`, `get`, `getNowait`, `getAsync`, `qsize`, `empty`. No
 * `maxsize`, `taskDone`, `join` or `shutdown`.
 * @example
 * ```ts
 * import { SimpleQueue } from '@tandem/queue/simple-queue'
 *
 * const q = new SimpleQueue<number>()
 * q.put(1)
 * await q.putAsync(2)
 * console.log(q.qsize(), q.get(), await q.getAsync({ timeout: 1000 })) // 2 1 2
 * console.log(q.empty()) // true
 * ```
 */
export class SimpleQueue<T = unknown> {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.queue.SimpleQueue'
  readonly #q: Queue<T>

  constructor() {
    this.#q = reviving ?? new Queue<T>()
  }

  /** Puts an item; never blocks (the queue is unbounded). `opts` is accepted for compatibility. */
  put(item: T, _opts?: { block?: boolean; timeout?: number }): void {
    this.#q.put(item)
  }

  /** Same as `put`. */
  putNowait(item: T): void {
    this.#q.put(item)
  }

  /** Async form of `put` (resolves at once). */
  putAsync(item: T): Promise<void> {
    return this.#q.putAsync(item)
  }

  /** Removes and returns the next item; see `Queue.get`. @throws {QueueEmpty} */
  get(opts?: GetOptions): T {
    return this.#q.get(opts)
  }

  /** `get({ block: false })`. @throws {QueueEmpty} */
  getNowait(): T {
    return this.#q.getNowait()
  }

  /** Async form of `get`; an aborted get takes nothing. */
  getAsync(opts?: number | AsyncWaitOptions): Promise<T> {
    return this.#q.getAsync(opts)
  }

  /** Approximate number of items. */
  qsize(): number {
    return this.#q.qsize()
  }

  /** True if empty (a snapshot). */
  empty(): boolean {
    return this.#q.empty()
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    return ctx.encode(this.#q)
  }

  /** @internal */
  static revive(q: Queue<unknown>): SimpleQueue {
    reviving = q
    try {
      return new SimpleQueue()
    } finally {
      reviving = undefined
    }
  }
}

let reviving: Queue<any> | undefined

registerShareable(SimpleQueue.shareKind, import.meta.url, (q: Queue<unknown>) => SimpleQueue.revive(q))
