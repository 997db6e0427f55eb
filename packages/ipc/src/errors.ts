/**
 * Errors raised by `@tandem/ipc`, each with a permanent `code`.
 *
 * | class | code | raised when |
 * | --- | --- | --- |
 * | `EOFError` | `ERR_PIPE_EOF` | `recv` on a connection whose peer end was closed in every process that held it (or whose processes died), once no message is left |
 * | `BrokenPipeError` | `ERR_BROKEN_PIPE` | `send` on a connection whose peer end is closed |
 * | `ConnectionClosedError` | `ERR_CONNECTION_CLOSED` | any use of a connection after `close()` |
 * | `ConnectionModeError` | `ERR_CONNECTION_NOT_WRITABLE` / `ERR_CONNECTION_NOT_READABLE` | writing the read end of `Pipe(false)`, or reading its write end |
 * | `MessageTooLongError` | `ERR_MESSAGE_TOO_LONG` | a message longer than `recvBytes(maxlength)` allows (the connection is then closed, as CPython does) |
 * | `BufferTooShort` | `ERR_BUFFER_TOO_SHORT` | `recvBytesInto` with a buffer too small; `data` holds the whole message |
 * | `AuthenticationError` | `ERR_AUTHENTICATION` | a `Listener`/`Client` HMAC challenge failed (wrong key, garbage) |
 * | `ProcessStateError` | `ERR_PROCESS_STATE` | `start()` twice, `join()` before `start()`, use after `close()`, `close()` while running |
 * | `ManagerClosedError` | `ERR_MANAGER_CLOSED` | a call on a `SyncManager` proxy after `shutdown()`, or once the manager's server process is gone (also for calls waiting at that moment) |
 * | `KeyError` | `ERR_KEY_NOT_FOUND` | a manager dict's `pop` of a missing key without a default, `popitem` on an empty dict |
 * | `IndexError` | `ERR_INDEX_OUT_OF_RANGE` | a manager list's `get`/`set`/`pop` with an index outside the list, `pop` on an empty list |
 * | `ValueError` | `ERR_VALUE_NOT_FOUND` | a manager list's `remove`/`index` of a value it does not hold |
 * | `ManagerProtocolError` | `ERR_MANAGER_PROTOCOL` | a request the manager's server cannot serve: an unknown method or type, an object that was freed, malformed arguments |
 * | `ProcessLostError` | `ERR_PROCESS_LOST` | the process that serves a process queue (its creator) has died, or this process's I/O thread is gone |
 * | `TypeError` | `ERR_NOT_SHAREABLE` | a value that cannot reach a process: a function, or a shared-memory object (`@tandem/sync` Lock, `@tandem/queue` Queue, a thread-side `Value`) |
 * | `RangeError` | `ERR_OUT_OF_RANGE` | a negative timeout, a bad `maxlength`, an offset or size outside the buffer |
 *
 * Each class arrives as itself (with its `code`) when thrown in one thread or process and reported
 * in another.
 *
 * @module
 */
import { TandemError } from '@tandem/sync/errors'
import { registerErrorClass } from '@tandem/sync/task'

/**
 * The peer end of a connection is closed and no message is left (Python's `EOFError`).
 * @example
 * ```ts
 * import { EOFError } from '@tandem/ipc/errors'
 * import { Pipe } from '@tandem/ipc/pipe'
 *
 * const [a, b] = Pipe()
 * b.send('last words')
 * b.close()
 * console.log(a.recv()) // last words
 * try {
 *   a.recv()
 * } catch (err) {
 *   console.log(err instanceof EOFError, (err as EOFError).code) // true ERR_PIPE_EOF
 * }
 * ```
 */
export class EOFError extends TandemError {
  constructor(message = 'The other end of the connection was closed') {
    super('ERR_PIPE_EOF', message)
  }
}

/**
 * `send` on a connection whose peer end is closed (Python's `BrokenPipeError`).
 * @example
 * ```ts
 * import { BrokenPipeError } from '@tandem/ipc/errors'
 * import { Pipe } from '@tandem/ipc/pipe'
 *
 * const [a, b] = Pipe()
 * b.close()
 * try {
 *   a.send('anyone there?')
 * } catch (err) {
 *   console.log(err instanceof BrokenPipeError, (err as BrokenPipeError).code) // true ERR_BROKEN_PIPE
 * }
 * ```
 */
export class BrokenPipeError extends TandemError {
  constructor(message = 'The other end of the connection is closed') {
    super('ERR_BROKEN_PIPE', message)
  }
}

/**
 * Use of a connection after `close()`.
 * @example
 * ```ts
 * import { ConnectionClosedError } from '@tandem/ipc/errors'
 * import { Pipe } from '@tandem/ipc/pipe'
 *
 * const [a] = Pipe()
 * a.close()
 * try {
 *   a.send(1)
 * } catch (err) {
 *   console.log(err instanceof ConnectionClosedError, (err as ConnectionClosedError).code) // true ERR_CONNECTION_CLOSED
 * }
 * ```
 */
export class ConnectionClosedError extends TandemError {
  constructor(message = 'The connection is closed') {
    super('ERR_CONNECTION_CLOSED', message)
  }
}

/**
 * Writing the read-only end of `Pipe(false)` (`ERR_CONNECTION_NOT_WRITABLE`) or reading its
 * write-only end (`ERR_CONNECTION_NOT_READABLE`).
 * @example
 * ```ts
 * import { ConnectionModeError } from '@tandem/ipc/errors'
 * import { Pipe } from '@tandem/ipc/pipe'
 *
 * const [reader, writer] = Pipe(false)
 * try {
 *   reader.send('x')
 * } catch (err) {
 *   console.log(err instanceof ConnectionModeError, (err as ConnectionModeError).code) // true ERR_CONNECTION_NOT_WRITABLE
 * }
 * try {
 *   writer.recv()
 * } catch (err) {
 *   console.log((err as ConnectionModeError).code) // ERR_CONNECTION_NOT_READABLE
 * }
 * ```
 */
export class ConnectionModeError extends TandemError {
  constructor(code: 'ERR_CONNECTION_NOT_WRITABLE' | 'ERR_CONNECTION_NOT_READABLE', message: string) {
    super(code, message)
  }
}

/**
 * A message longer than the `maxlength` given to `recvBytes`; the connection is closed.
 * @example
 * ```ts
 * import { MessageTooLongError } from '@tandem/ipc/errors'
 * import { Pipe } from '@tandem/ipc/pipe'
 *
 * const [a, b] = Pipe()
 * b.sendBytes(new Uint8Array(100))
 * try {
 *   a.recvBytes(10)
 * } catch (err) {
 *   console.log(err instanceof MessageTooLongError, (err as MessageTooLongError).code, a.closed) // true ERR_MESSAGE_TOO_LONG true
 * }
 * ```
 */
export class MessageTooLongError extends TandemError {
  constructor(message: string) {
    super('ERR_MESSAGE_TOO_LONG', message)
  }
}

/**
 * `recvBytesInto` was given a buffer too short for the message; `data` holds the whole message
 * (Python's `multiprocessing.BufferTooShort`, whose `args[0]` is the message).
 * @example
 * ```ts
 * import { BufferTooShort } from '@tandem/ipc/errors'
 * import { Pipe } from '@tandem/ipc/pipe'
 *
 * const [a, b] = Pipe()
 * b.sendBytes(new TextEncoder().encode('hello world'))
 * try {
 *   a.recvBytesInto(new Uint8Array(4))
 * } catch (err) {
 *   const short = err as BufferTooShort
 *   console.log(short.code, new TextDecoder().decode(short.data)) // ERR_BUFFER_TOO_SHORT hello world
 * }
 * ```
 */
export class BufferTooShort extends TandemError {
  /** The whole message. */
  readonly data: Uint8Array
  constructor(data: Uint8Array, message = `The buffer is too short for a message of ${data.length} bytes`) {
    super('ERR_BUFFER_TOO_SHORT', message)
    this.data = data
  }
}

/**
 * The HMAC challenge between a `Listener` and a `Client` failed (a wrong `authkey`, or a peer that
 * does not speak the protocol). Raised on both sides, before any message is decoded.
 * @example
 * ```ts
 * import { AuthenticationError } from '@tandem/ipc/errors'
 *
 * const err = new AuthenticationError('digest received was wrong')
 * console.log(err instanceof AuthenticationError, err.code) // true ERR_AUTHENTICATION
 * ```
 */
export class AuthenticationError extends TandemError {
  constructor(message = 'Authentication failed', options?: ErrorOptions) {
    super('ERR_AUTHENTICATION', message, options)
  }
}

/**
 * A `Process` method called in a state that does not allow it (Python raises `AssertionError` or
 * `ValueError` there): `start()` twice, `join()` before `start()`, anything after `close()`, or
 * `close()` while the process runs.
 * @example
 * ```ts
 * import { ProcessStateError } from '@tandem/ipc/errors'
 * import { Process } from '@tandem/ipc/process'
 *
 * try {
 *   new Process({ target: () => {} }).join()
 * } catch (err) {
 *   console.log(err instanceof ProcessStateError, (err as ProcessStateError).code) // true ERR_PROCESS_STATE
 * }
 * ```
 */
export class ProcessStateError extends TandemError {
  constructor(message: string) {
    super('ERR_PROCESS_STATE', message)
  }
}

/**
 * The process that served an operation is gone: the creator of a process queue died, or this
 * process's I/O thread stopped. Raised within about a second of the death, never a hang.
 * @example
 * ```ts
 * import { ProcessLostError } from '@tandem/ipc/errors'
 *
 * const err = new ProcessLostError('the process 1234 that holds this queue has exited')
 * console.log(err instanceof ProcessLostError, err.code) // true ERR_PROCESS_LOST
 * ```
 */
export class ProcessLostError extends TandemError {
  constructor(message: string) {
    super('ERR_PROCESS_LOST', message)
  }
}

/**
 * A call on a `SyncManager` proxy after `shutdown()`, or once the manager's server is gone.
 * @example
 * ```ts
 * import { ManagerClosedError } from '@tandem/ipc/errors'
 *
 * const err = new ManagerClosedError('The manager was shut down')
 * console.log(err instanceof ManagerClosedError, err.code) // true ERR_MANAGER_CLOSED
 * ```
 */
export class ManagerClosedError extends TandemError {
  constructor(message: string) {
    super('ERR_MANAGER_CLOSED', message)
  }
}

/**
 * A missing key (Python's `KeyError`): a manager dict's `pop(key)` without a default.
 * @example
 * ```ts
 * import { KeyError } from '@tandem/ipc/errors'
 *
 * console.log(new KeyError("'x'").code) // ERR_KEY_NOT_FOUND
 * ```
 */
export class KeyError extends TandemError {
  constructor(message: string) {
    super('ERR_KEY_NOT_FOUND', message)
  }
}

/**
 * An index outside a manager list (Python's `IndexError`).
 * @example
 * ```ts
 * import { IndexError } from '@tandem/ipc/errors'
 *
 * console.log(new IndexError('list index out of range').code) // ERR_INDEX_OUT_OF_RANGE
 * ```
 */
export class IndexError extends TandemError {
  constructor(message: string) {
    super('ERR_INDEX_OUT_OF_RANGE', message)
  }
}

/**
 * A value a manager list does not hold (Python's `ValueError` of `list.remove`/`list.index`).
 * @example
 * ```ts
 * import { ValueError } from '@tandem/ipc/errors'
 *
 * console.log(new ValueError('3 is not in list').code) // ERR_VALUE_NOT_FOUND
 * ```
 */
export class ValueError extends TandemError {
  constructor(message: string) {
    super('ERR_VALUE_NOT_FOUND', message)
  }
}

/**
 * A request the manager's server cannot serve: an unknown method or type, a freed object,
 * malformed arguments.
 * @example
 * ```ts
 * import { ManagerProtocolError } from '@tandem/ipc/errors'
 *
 * console.log(new ManagerProtocolError("dict has no method 'push'").code) // ERR_MANAGER_PROTOCOL
 * ```
 */
export class ManagerProtocolError extends TandemError {
  constructor(message: string) {
    super('ERR_MANAGER_PROTOCOL', message)
  }
}

// An error thrown in one thread or process arrives in another as an instance of these classes.
for (const cls of [
  EOFError,
  BrokenPipeError,
  ConnectionClosedError,
  MessageTooLongError,
  AuthenticationError,
  ProcessStateError,
  ProcessLostError,
  ManagerClosedError,
  KeyError,
  IndexError,
  ValueError,
  ManagerProtocolError,
]) {
  registerErrorClass(cls.name, cls as new (message: string) => Error)
}
registerErrorClass(ConnectionModeError.name, function revive(message: string) {
  return new ConnectionModeError('ERR_CONNECTION_NOT_READABLE', message)
} as unknown as new (
  message: string,
) => Error)
registerErrorClass(BufferTooShort.name, function revive(message: string) {
  return new BufferTooShort(new Uint8Array(0), message)
} as unknown as new (
  message: string,
) => Error)
