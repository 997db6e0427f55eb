/**
 * `@tandem/ipc`: Python's `multiprocessing` for Node.js. Re-exports only; import a subpath
 * (`@tandem/ipc/process`, `/pipe`, `/queue`, `/connection`, `/shared`, `/manager`, `/errors`) to load just
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
  IndexError,
  KeyError,
  ManagerClosedError,
  ManagerProtocolError,
  MessageTooLongError,
  ProcessLostError,
  ProcessStateError,
  ValueError,
} from './errors.ts'
export {
  ArrayProxy,
  BarrierProxy,
  BaseProxy,
  ConditionProxy,
  DictProxy,
  EventProxy,
  JoinableQueueProxy,
  ListProxy,
  LockProxy,
  Manager,
  NamespaceProxy,
  QueueProxy,
  RemoteObject,
  RLockProxy,
  SemaphoreProxy,
  SyncManager,
  ValueProxy,
  type AcquireOptions,
  type DictKey,
  type QueueWaitOptions,
  type SyncManagerOptions,
} from './manager.ts'
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
