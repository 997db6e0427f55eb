/**
 * `Queue`: Python's `queue.Queue` (FIFO) whose contents live in shared memory, so one queue
 * passed to any number of worker threads is the same queue everywhere.
 *
 * Layout and algorithm: `internal/base-queue.ts` (CPython's one mutex and three conditions,
 * entries in the process arena).
 *
 * @module
 */
import { registerShareable } from '@tandem/sync/shareable'
import { BaseQueue, Order } from './internal/base-queue.ts'

export type { PutOptions, GetOptions } from './internal/base-queue.ts'

/**
 * A first-in first-out queue shared across worker threads.
 *
 * | operation | throws at once | returns at once | blocks | times out |
 * | --- | --- | --- | --- | --- |
 * | insert | `putNowait(x)` (QueueFull) | - | `put(x)` / `await putAsync(x)` | `put(x, { timeout })` (QueueFull) |
 * | remove | `getNowait()` (QueueEmpty) | - | `get()` / `await getAsync()` | `get({ timeout })` (QueueEmpty) |
 * | examine | - | `qsize()`, `empty()`, `full()` | - | - |
 *
 * - Every item put is got exactly once, by one consumer, in FIFO order, across any number of
 *   producer and consumer threads; blocking and async callers mix freely.
 * - Items are any structured-cloneable value; Tandem shareables inside them (a Lock, another
 *   queue) arrive as live handles. Items are copied: mutating one after `put` changes nothing.
 * - Backpressure: with `maxsize > 0`, `put` waits while the queue holds `maxsize` items.
 * - `taskDone()`/`join()` track items that were got but not yet processed.
 * - `shutdown()` (Python 3.13): later puts throw QueueShutDown; gets drain the remaining items,
 *   then throw. `shutdown(true)` also discards the items and wakes `join()`. Blocked callers wake
 *   and throw.
 * - An aborted `getAsync` takes nothing; an aborted `putAsync` enqueues nothing.
 * - Memory: actions before `put(x)` happen-before actions after the `get()` that returns x.
 *
 * @example
 * ```ts
 * import { Queue } from '@tandem/queue/queue'
 * import { Thread } from '@tandem/sync/thread'
 *
 * const q = new Queue<string>(100)
 * const consumer = new Thread({
 *   target: (q: Queue<string>, n: number) => {
 *     for (let i = 0; i < n; i++) {
 *       console.log('got', q.get()) // blocks this worker until an item arrives
 *       q.taskDone()
 *     }
 *   },
 *   args: [q, 3],
 * })
 * consumer.start()
 * q.put('http://127.0.0.1/1') // blocking form
 * await q.putAsync('http://127.0.0.1/2') // never blocks the event loop
 * q.putNowait('http://127.0.0.1/3') // QueueFull instead of waiting
 * await q.joinAsync() // every item got and marked done
 * await consumer.joinAsync()
 * q.shutdown()
 * console.log(q.isShutdown, q.qsize()) // true 0
 * ```
 */
export class Queue<T = unknown> extends BaseQueue<T> {
  /** Shareable kind name. */
  static readonly shareKind: string = 'tandem.queue.Queue'

  /**
   * @param maxsize most items held at once; 0 or negative for unbounded @default 0
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a non-integer or a maxsize above 2^24
   */
  constructor(maxsize = 0) {
    super(maxsize, Order.FIFO)
  }

  protected override get kindName(): string {
    return 'Queue'
  }
}

registerShareable(Queue.shareKind, import.meta.url, (d) => Queue.revive(d))
