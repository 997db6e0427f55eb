/**
 * `multiprocessing.connection` for Node: `Listener`, `Client`/`ClientAsync` over Unix sockets and
 * TCP with an optional `authkey`, and `wait()`/`waitAsync()` over connections.
 *
 * The sockets live in this process's I/O thread (`internal/sockets.ts`): an accepted or connected
 * socket arrives as an ordinary {@link Connection} with the whole API (blocking and async forms,
 * EOF when the peer closes or dies). With an `authkey`, both sides prove they know it before any
 * message is decoded: a mutual HMAC-SHA256 challenge over random nonces, as CPython 3.12+ does
 * (`internal/auth.ts`); a wrong key gives `AuthenticationError` (`ERR_AUTHENTICATION`) on the
 * client, and the listener drops the connection. The key authenticates; it does not encrypt: on an
 * untrusted network, put the TCP listener behind a firewall or a TLS tunnel.
 *
 * Messages over a socket are plain values: connections and process queues inside them cannot
 * reach an unrelated process (their handles would see EOF / `ProcessLostError`).
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rangeError, TimeoutError, typeError } from '@tandem/sync/errors'
import { asyncOptions, checkTimeout, deadlineOf, describe, remaining, type AsyncWaitOptions } from '@tandem/sync/kit'
import { ConnectionClosedError } from './errors.ts'
import { toAuthkey } from './internal/auth.ts'
import { awaitReply, awaitReplyAsync, hub, nextId, replyQueue, unwrapReply, type HubReply } from './internal/hub-client.ts'
import { Connection } from './pipe.ts'

export { Connection }

/** Where a listener listens: a Unix socket path, or a TCP host and port (port 0 picks a free one). */
export type Address = string | { host: string; port: number }

/** Options of `new Listener()`. */
export interface ListenerOptions {
  /** @default a new Unix socket path in the temporary directory */
  address?: Address
  /** Key both sides must know (string or bytes); without it, anyone who can connect is accepted. */
  authkey?: string | Uint8Array
  /**
   * Connections that may wait for `accept()` at once (each holds memory); clients beyond it are
   * disconnected, as a full listen backlog refuses them.
   * @default 128
   */
  backlog?: number
}

function checkAddress(address: unknown, what: string): Address {
  if (typeof address === 'string' && address !== '') return address
  if (typeof address === 'object' && address !== null) {
    const { host, port } = address as { host?: unknown; port?: unknown }
    if (typeof host === 'string' && typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 65535) return { host, port }
  }
  throw typeError(`${what}: address must be a socket path or { host, port } (port 0 to 65535); received ${describe(address)}`)
}

function rejectAbort(reply: HubReply, signal: AbortSignal | undefined): void {
  if (!reply.ok && reply.error?.name === 'AbortError') throw signal?.reason ?? new TimeoutError('The wait timed out')
}

/**
 * A server socket for `Client`s (Python's `multiprocessing.connection.Listener`).
 * @example A listener and a client in one script (usually two processes)
 * ```ts
 * import { ClientAsync, Listener } from '@tandem/ipc/connection'
 *
 * using listener = new Listener({ address: { host: '127.0.0.1', port: 0 }, authkey: 'secret' })
 * const connecting = ClientAsync(listener.address, { authkey: 'secret' })
 * const server = await listener.acceptAsync()
 * const client = await connecting
 * client.send({ hello: 'server' })
 * console.log(server.recv()) // { hello: 'server' }
 * server.send('hi client')
 * console.log(await client.recvAsync()) // hi client
 * client.close()
 * server.close()
 * ```
 */
export class Listener {
  readonly #lid: number
  readonly #address: Address
  #closed = false

  /**
   * Starts listening (blocks until the socket is bound).
   * @throws {Error} the socket error (`EADDRINUSE`, `EACCES`, ...)
   */
  constructor(opts: ListenerOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw typeError(`new Listener(opts): opts must be an object; received ${describe(opts)}`)
    // A random part too: a pid is reused, and a process that was killed leaves its socket file.
    const address =
      opts.address === undefined ? join(tmpdir(), `tandem-${process.pid}-${nextId()}-${randomBytes(4).toString('hex')}.sock`) : checkAddress(opts.address, 'new Listener()')
    const authkey = toAuthkey(opts.authkey) ?? null
    const backlog = opts.backlog ?? 128
    if (!Number.isInteger(backlog) || backlog < 1) throw rangeError(`new Listener(): backlog must be a positive integer; received ${describe(opts.backlog)}`)
    this.#lid = nextId()
    const rid = nextId()
    hub().put({ op: 'listen', lid: this.#lid, address, authkey, backlog, rid, reply: replyQueue(false) })
    this.#address = unwrapReply(awaitReply(rid)) as Address
  }

  /** The bound address: the socket path, or `{ host, port }` with the port actually used. */
  get address(): Address {
    return this.#address
  }

  /**
   * Waits for the next client (that passed the authkey challenge) and returns its connection.
   * @throws {ConnectionClosedError} `ERR_CONNECTION_CLOSED` if the listener is closed
   */
  accept(): Connection {
    if (this.#closed) throw new ConnectionClosedError('Listener.accept(): the listener is closed')
    const rid = nextId()
    hub().put({ op: 'accept', lid: this.#lid, rid, reply: replyQueue(false) })
    return unwrapReply(awaitReply(rid)) as Connection
  }

  /** Async form of {@link accept}: `{ timeout?, signal? }`; a timeout rejects with `TimeoutError`. */
  async acceptAsync(opts?: AsyncWaitOptions): Promise<Connection> {
    const { timeout, signal } = asyncOptions(opts)
    if (signal?.aborted) throw signal.reason
    if (this.#closed) throw new ConnectionClosedError('Listener.acceptAsync(): the listener is closed')
    const rid = nextId()
    hub().put({ op: 'accept', lid: this.#lid, rid, reply: replyQueue(true) })
    const cancel = (): void => void hub().put({ op: 'cancel', rid })
    const timer = Number.isFinite(timeout) ? setTimeout(cancel, timeout) : undefined
    try {
      const reply = await awaitReplyAsync(rid, signal, cancel)
      rejectAbort(reply, signal?.aborted ? signal : undefined)
      return unwrapReply(reply) as Connection
    } finally {
      clearTimeout(timer)
    }
  }

  /** Stops listening; waiting `accept` calls throw `ERR_CONNECTION_CLOSED`. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    hub().put({ op: 'unlisten', lid: this.#lid })
  }

  [Symbol.dispose](): void {
    this.close()
  }
}

/** Options of {@link Client}. */
export interface ClientOptions {
  /** The listener's key, if it has one. */
  authkey?: string | Uint8Array
}

function connectRequest(address: unknown, opts: ClientOptions | undefined, what: string, async: boolean): number {
  const addr = checkAddress(address, what)
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) throw typeError(`${what}: options must be an object; received ${describe(opts)}`)
  const authkey = toAuthkey(opts?.authkey) ?? null
  const rid = nextId()
  hub().put({ op: 'connect', address: addr, authkey, rid, reply: replyQueue(async) })
  return rid
}

/**
 * Connects to a {@link Listener} (Python's `multiprocessing.connection.Client`), blocking until
 * connected and authenticated.
 * @throws {AuthenticationError} `ERR_AUTHENTICATION` for a wrong key
 * @throws {Error} the socket error (`ECONNREFUSED`, `ENOENT`, ...)
 * @example
 * ```ts
 * import { Client, Listener } from '@tandem/ipc/connection'
 *
 * using listener = new Listener({ authkey: 'k' })
 * const client = Client(listener.address, { authkey: 'k' })
 * const server = listener.accept()
 * client.send(42)
 * console.log(server.recv()) // 42
 * ```
 */
export function Client(address: Address, opts?: ClientOptions): Connection {
  return unwrapReply(awaitReply(connectRequest(address, opts, 'Client()', false))) as Connection
}

/**
 * Async form of {@link Client}.
 * @example
 * ```ts
 * import { ClientAsync, Listener } from '@tandem/ipc/connection'
 *
 * using listener = new Listener({ address: { host: '127.0.0.1', port: 0 } })
 * const client = await ClientAsync(listener.address)
 * const server = await listener.acceptAsync()
 * server.send('welcome')
 * console.log(client.recv()) // welcome
 * ```
 */
export async function ClientAsync(address: Address, opts?: ClientOptions): Promise<Connection> {
  const rid = connectRequest(address, opts, 'ClientAsync()', true)
  return unwrapReply(await awaitReplyAsync(rid, undefined, () => {})) as Connection
}

function checkConnections(connections: unknown, what: string): Connection[] {
  if (!Array.isArray(connections)) throw typeError(`${what}: connections must be an array; received ${describe(connections)}`)
  for (const c of connections) if (!(c instanceof Connection)) throw typeError(`${what}: every item must be a Connection; received ${describe(c)}`)
  return connections
}

function ready(connections: Connection[]): Connection[] {
  // A closed connection throws ERR_CONNECTION_CLOSED here, as CPython's wait() raises OSError for a closed one.
  return connections.filter((c) => c.poll(0))
}

const pause = new Int32Array(new SharedArrayBuffer(4))

/**
 * Waits until at least one of `connections` has something to read (a message or EOF), or the
 * timeout expires; returns the ready ones (Python's `multiprocessing.connection.wait`).
 * @param timeout ms; omitted waits forever, 0 polls
 * @example
 * ```ts
 * import { wait } from '@tandem/ipc/connection'
 * import { Pipe } from '@tandem/ipc/pipe'
 *
 * const [a1, b1] = Pipe()
 * const [a2, b2] = Pipe()
 * b2.send('second')
 * console.log(wait([a1, a2], 1000).map((c) => c.recv())) // [ 'second' ]
 * console.log(wait([a1], 10)) // []
 * b1.close()
 * console.log(wait([a1]).length) // 1 (EOF is ready)
 * ```
 */
export function wait(connections: Connection[], timeout?: number): Connection[] {
  const list = checkConnections(connections, 'wait()')
  const deadline = deadlineOf(checkTimeout(timeout))
  for (let step = 0.05; ; step = Math.min(step * 2, 20)) {
    const r = ready(list)
    if (r.length > 0) return r
    const t = remaining(deadline)
    if (t === 0) return []
    Atomics.wait(pause, 0, 0, Math.min(t, step))
  }
}

/**
 * Async form of {@link wait}: `{ timeout?, signal? }`.
 * @example
 * ```ts
 * import { waitAsync } from '@tandem/ipc/connection'
 * import { Pipe } from '@tandem/ipc/pipe'
 *
 * const [a, b] = Pipe()
 * setTimeout(() => b.send('late'), 50)
 * const [ready] = await waitAsync([a], { timeout: 5000 })
 * console.log(ready.recv()) // late
 * ```
 */
export async function waitAsync(connections: Connection[], opts?: AsyncWaitOptions): Promise<Connection[]> {
  const list = checkConnections(connections, 'waitAsync()')
  const { timeout, signal } = asyncOptions(opts)
  const deadline = deadlineOf(timeout)
  for (let step = 0.5; ; step = Math.min(step * 2, 20)) {
    if (signal?.aborted) throw signal.reason
    const r = ready(list)
    if (r.length > 0) return r
    const t = remaining(deadline)
    if (t === 0) return []
    await new Promise<void>((res) => setTimeout(res, Math.min(t, step)))
  }
}
