/**
 * `@tandem/queue`: Python's `queue` for Node.js worker threads. Re-exports only; import a
 * subpath (`@tandem/queue/queue`, ...) to load just what you use.
 * @module
 */
export { Queue, type PutOptions, type GetOptions } from './queue.ts'
export { LifoQueue } from './lifo-queue.ts'
export { PriorityQueue } from './priority-queue.ts'
export { SimpleQueue } from './simple-queue.ts'
export { QueueEmpty, QueueFull, QueueShutDown } from './errors.ts'
