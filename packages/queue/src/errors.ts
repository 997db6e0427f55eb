/**
 * Errors raised by `@tandem/queue`, each with a permanent `code`.
 *
 * | class | code | raised when |
 * | --- | --- | --- |
 * | `QueueEmpty` | `ERR_QUEUE_EMPTY` | a non-blocking or timed `get` finds no item |
 * | `QueueFull` | `ERR_QUEUE_FULL` | a non-blocking or timed `put` finds no room; carries `item` |
 * | `QueueShutDown` | `ERR_QUEUE_SHUT_DOWN` | `put` after `shutdown()`; `get` on a shut-down queue that is empty (or any `get` after `shutdown(true)`) |
 * | `RangeError` | `ERR_TASK_DONE_TOO_MANY` | `taskDone()` called more times than items were put |
 * | `RangeError` | `ERR_OUT_OF_RANGE` | an item whose encoding exceeds the largest shared block (512 MiB), a bad timeout or maxsize |
 * | `RangeError` | `ERR_QUEUE_CAPACITY` | more than 2^24 items in one queue |
 * | `TypeError` | `ERR_NOT_SHAREABLE` | an item that cannot be cloned (a function, a symbol, ...) |
 * | `RangeError` | `ERR_CORRUPT_ITEM` | an item in shared memory that cannot be decoded (memory corruption or a bug: please report) |
 * | `TypeError` | `ERR_INVALID_ARG_TYPE` | a bad `maxsize`, options that are not an object |
 *
 * Each class arrives as itself (with its `code` and `item`) when thrown in a worker and
 * reported on another thread.
 *
 * @module
 */
import { TandemError } from '@tandem/sync/errors'
import { registerErrorClass } from '@tandem/sync/task'

/**
 * `get` found the queue empty (Python's `queue.Empty`).
 * @example
 * ```ts
 * import { QueueEmpty } from '@tandem/queue/errors'
 * import { Queue } from '@tandem/queue/queue'
 *
 * const q = new Queue<string>()
 * try {
 *   q.get({ timeout: 10 }) // or getNowait(), or get({ block: false })
 * } catch (err) {
 *   console.log(err instanceof QueueEmpty, (err as QueueEmpty).code) // true ERR_QUEUE_EMPTY
 * }
 * ```
 */
export class QueueEmpty extends TandemError {
  constructor(message = 'The queue is empty') {
    super('ERR_QUEUE_EMPTY', message)
  }
}

/**
 * `put` found the queue full (Python's `queue.Full`); the item is handed back.
 * @example
 * ```ts
 * import { QueueFull } from '@tandem/queue/errors'
 * import { Queue } from '@tandem/queue/queue'
 *
 * const q = new Queue<string>(1)
 * q.put('first')
 * try {
 *   q.putNowait('second') // or put(x, { timeout }), or put(x, { block: false })
 * } catch (err) {
 *   const full = err as QueueFull<string>
 *   console.log(full instanceof QueueFull, full.code, full.item) // true ERR_QUEUE_FULL second
 * }
 * console.log(q.qsize()) // 1
 * ```
 */
export class QueueFull<T = unknown> extends TandemError {
  /** The item that was not put. */
  readonly item: T
  constructor(item: T, message = 'The queue is full') {
    super('ERR_QUEUE_FULL', message)
    this.item = item
  }
}

/**
 * The queue was shut down (Python 3.13's `queue.ShutDown`).
 * @example
 * ```ts
 * import { QueueShutDown } from '@tandem/queue/errors'
 * import { Queue } from '@tandem/queue/queue'
 *
 * const q = new Queue<number>()
 * q.put(1)
 * q.shutdown()
 * console.log(q.get()) // 1: gets drain what is left
 * for (const op of [() => q.get(), () => q.put(2)]) {
 *   try {
 *     op()
 *   } catch (err) {
 *     console.log(err instanceof QueueShutDown, (err as QueueShutDown).code) // true ERR_QUEUE_SHUT_DOWN (twice)
 *   }
 * }
 * ```
 */
export class QueueShutDown extends TandemError {
  constructor(message = 'The queue has been shut down') {
    super('ERR_QUEUE_SHUT_DOWN', message)
  }
}

// An error thrown in one thread arrives in another as an instance of these classes.
registerErrorClass(QueueEmpty.name, QueueEmpty)
registerErrorClass(QueueShutDown.name, QueueShutDown)
// Revived with the message as message (the item, if it could be cloned, is restored after).
registerErrorClass(QueueFull.name, function revive(message: string) {
  return new QueueFull(undefined, message)
} as unknown as new (
  message: string,
) => Error)
