/**
 * `@tandem/ipc`: Python's `multiprocessing` for Node.js. Re-exports only; import a subpath
 * (`@tandem/ipc/process`, `/pipe`, `/queue`, `/connection`, `/shared`, `/errors`) to load just
 * what you use.
 * @module
 */
export { Client, ClientAsync, Listener, wait, waitAsync, type Address, type ClientOptions, type ListenerOptions } from './connection.ts'
export {
  AuthenticationError,
  BrokenPipeError,
  BufferTooShort,
  ConnectionClosedError,
  ConnectionModeError,
  EOFError,
  MessageTooLongError,
  ProcessLostError,
  ProcessStateError,
} from './errors.ts'
export { Connection, Pipe, type RecvAsyncOptions, type RecvBytesAsyncOptions } from './pipe.ts'
export { activeChildren, cpuCount, currentProcess, parentProcess, Process, type ParentProcess, type ProcessOptions } from './process.ts'
export { JoinableQueue, Queue, SimpleQueue } from './queue.ts'
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
