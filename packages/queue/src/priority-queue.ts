/**
 * `PriorityQueue`: Python's `queue.PriorityQueue` in shared memory; see `Queue` for the shared
 * semantics and `internal/base-queue.ts` for layout and algorithm (a binary min-heap of entries
 * ordered by an order-preserving byte key, then by insertion).
 * @module
 */
import { registerShareable } from '@tandem/sync/shareable'
import { BaseQueue, Order } from './internal/base-queue.ts'

/**
 * A priority queue shared across worker threads: `get()` returns the lowest item first.
 *
 * - Ordering follows Python's comparison of tuples: numbers (and booleans, as 0/1) by value,
 *   strings by UTF-16 code units, arrays lexicographically (`[priority, payload]`), shorter
 *   prefixes first. Items Python could not order (objects, null) compare equal from that
 *   element on; ties keep insertion order (Python would raise TypeError there).
 * - Values of different kinds order numbers < strings < arrays (Python raises TypeError).
 * - Otherwise as {@link Queue}.
 * @example
 * ```ts
 * import { PriorityQueue } from '@tandem/queue/priority-queue'
 *
 * const q = new PriorityQueue<[number, string]>()
 * q.put([2, 'write'])
 * q.put([1, 'read'])
 * q.put([1, 'parse']) // same priority: the payload decides, as in Python
 * console.log(q.get(), q.get(), q.get()) // [ 1, 'parse' ] [ 1, 'read' ] [ 2, 'write' ]
 * ```
 */
export class PriorityQueue<T = unknown> extends BaseQueue<T> {
  /** Shareable kind name. */
  static readonly shareKind: string = 'tandem.queue.PriorityQueue'

  /** @param maxsize most items held at once; 0 or negative for unbounded @default 0 */
  constructor(maxsize = 0) {
    super(maxsize, Order.PRIORITY)
  }

  protected override get kindName(): string {
    return 'PriorityQueue'
  }
}

registerShareable(PriorityQueue.shareKind, import.meta.url, (d) => PriorityQueue.revive(d))
