/**
 * `LifoQueue`: Python's `queue.LifoQueue` (last in, first out) in shared memory; see `Queue`
 * for the shared semantics and `internal/base-queue.ts` for layout and algorithm.
 * @module
 */
import { registerShareable } from '@tandem/sync/shareable'
import { BaseQueue, Order } from './internal/base-queue.ts'

/**
 * A last-in first-out queue (a stack) shared across worker threads: `get()` returns the most
 * recently put item. Otherwise as {@link Queue}: bounded by `maxsize`, `taskDone`/`join`,
 * `shutdown`, async forms, shareable.
 * @example
 * ```ts
 * import { LifoQueue } from '@tandem/queue/lifo-queue'
 *
 * const q = new LifoQueue<number>()
 * q.put(1)
 * q.put(2)
 * console.log(q.get(), q.get()) // 2 1
 * ```
 */
export class LifoQueue<T = unknown> extends BaseQueue<T> {
  /** Shareable kind name. */
  static readonly shareKind: string = 'tandem.queue.LifoQueue'

  /** @param maxsize most items held at once; 0 or negative for unbounded @default 0 */
  constructor(maxsize = 0) {
    super(maxsize, Order.LIFO)
  }

  protected override get kindName(): string {
    return 'LifoQueue'
  }
}

registerShareable(LifoQueue.shareKind, import.meta.url, (d) => LifoQueue.revive(d))
