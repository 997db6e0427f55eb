/**
 * `@tandem/ipc`: Python's `multiprocessing` for Node.js. Re-exports only; import a subpath
 * (`@tandem/ipc/shared`, ...) to load just what you use. So far: `Value`/`Array` on shared
 * memory for threads; processes, pipes, process queues and the manager are planned.
 * @module
 */
export {
  Array,
  Value,
  RawArray,
  RawValue,
  SynchronizedArray,
  SynchronizedValue,
  type ItemOf,
  type SharedLock,
  type SharedOptions,
  type Typecode,
} from './shared.ts'
