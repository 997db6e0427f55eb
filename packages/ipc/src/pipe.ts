/**
 * `Pipe()` and `Connection`: Python's `multiprocessing.Pipe`, between threads of one process and
 * between processes.
 *
 * Inside a process a pipe is two shared-memory queues (`@tandem/queue`), one per direction, and a
 * small control cell; every thread that holds an end reads and writes those queues directly, so a
 * message between threads costs a queue put and get. An end sent to another process (in a
 * Process's args, inside a message, in a process queue item) is *exported*: this process's I/O
 * thread (`internal/hub.ts`) becomes its stand-in, reading what the peer end sends and writing
 * what arrives from the other process, and the receiving process gets a new local pair whose far
 * end is held by its own I/O thread. Messages to or from a remote end are encoded for a process
 * (bytes any process can read; a shared-memory object inside throws `ERR_NOT_SHAREABLE` at
 * `send`), and the I/O threads forward those bytes without decoding them.
 *
 * Control cell (Int32 words in the process arena), for end `e` of 0 and 1:
 *
 * | index | name      | values | written by |
 * | ----- | --------- | ------ | ---------- |
 * | 0 + e | LOCAL     | CLOSED 0, OPEN 1, DORMANT 2 (sent to another process and not used here since) | `close()`; export (OPEN to DORMANT); any use of a DORMANT end (back to OPEN) |
 * | 2 + e | BRIDGES   | processes this end was exported to and that have not closed it | export (+1); the I/O thread when the remote copy closes or its process dies (-1) |
 * | 4 + e | DONE      | 1 once the end is closed everywhere (the peer then sees EOF) | whoever finds LOCAL not OPEN and BRIDGES 0 first (CAS) |
 * | 6 + e | ROUTE_PID | the process holding end e's only remote copy (when MODE is DIRECT) | the I/O thread, or the importing thread |
 * | 8 + e | ROUTE_ID  | that copy's export id | the same |
 * | 10 + e | ROUTE_TYPE | the frame type toward it (`T_MSG_TO_IMPORT` or `T_MSG_TO_EXPORT`) | the same |
 * | 12 + e | MODE     | QUEUE 0: messages to end e go through the queue, which the I/O thread forwards; DIRECT 1: a sender writes them to the channel itself (`internal/direct.ts`) when the queue is empty and INFLIGHT is 0 | `_route` (DIRECT), `_unroute` and any use of the local copy (QUEUE) |
 * | 14 + e | INFLIGHT | 1 while the I/O thread forwards messages it took from the queue, until the kernel has them | the I/O thread |
 * | 16 + e | UNSENT   | for an end the I/O thread bridges to a socket: bytes written to the socket that the kernel has not taken yet (the peer does not read), 0 otherwise | the I/O thread, after each burst and on `drain` |
 * | 18     | WANT     | 1 while the first end is an imported copy (of export WANT_ID of process WANT_HOME) not read yet: its first read (or its export on) asks that process to forward messages (`T_WANT`) | `revive` (1); the first read (0) |
 * | 19, 20 | WANT_HOME, WANT_ID | the exporting process and its export id | `revive` |
 *
 * An end is closed everywhere when its local copy is closed or dormant and no bridge is left: then
 * the queue it writes into is shut down (the peer reads what is left, then gets `EOFError`) and the
 * queue it reads is shut down at once (the peer's `send` gets `BrokenPipeError`).
 *
 * @module
 */
import { serialize } from 'node:v8'
import { rangeError, TimeoutError, typeError } from '@tandem/sync/errors'
import {
  adoptCell,
  asyncOptions,
  checkTimeout,
  deadlineOf,
  describe,
  alloc,
  int32At,
  retain,
  remaining,
  reviveCell,
  runAsync,
  runBlocking,
  shareCell,
  type AsyncWaitOptions,
  type CellRef,
} from '@tandem/sync/kit'
import { registerShareable, SHARE, type ShareContext } from '@tandem/sync/shareable'
import { QueueEmpty, QueueShutDown } from '@tandem/queue/errors'
import { decodeItem, encodeItem, type EncodedItem, type RawItem, TAG_PLAIN } from '@tandem/queue/kit'
import { Queue } from '@tandem/queue/queue'
import { BrokenPipeError, BufferTooShort, ConnectionClosedError, ConnectionModeError, EOFError, MessageTooLongError } from './errors.ts'
import { directReady, exportEnd, importEnd, myPid, wantEnd } from './internal/hub-client.ts'
import { copyBytes } from './internal/channel.ts'
import { hasChannel, noteSend, readOwn, readOwnAsync, sendDirect } from './internal/direct.ts'
import { T_MSG_TO_EXPORT, T_MSG_TO_IMPORT } from './internal/frames.ts'
import { isMainThread } from 'node:worker_threads'

/**
 * Whether this thread reads a channel itself while it waits in `recv()`/`recvAsync()` (see the
 * README's "Between processes"): the main thread, and threads that {@link readChannelsHere} made
 * readers.
 */
let directReads = isMainThread

/**
 * @internal Makes this worker thread read channels itself while it waits in `recv()`, as the main
 * thread does (`@tandem/futures`' stand-in threads, each the only reader of its child's
 * connection). Only for a thread that is never terminated from outside while it receives: the
 * channel it reads is lent to it until it hands it back.
 */
export function readChannelsHere(): void {
  directReads = true
}

/** No message read directly. */
const NOTHING = Symbol('nothing')

/** Encoding scratch for direct sends (the bytes are written before the next encode). */
const scratch: EncodedItem = { tag: 0, value: 0, bytes: undefined }

const LOCAL = 0
const BRIDGES = 2
const DONE = 4
const ROUTE_PID = 6
const ROUTE_ID = 8
const ROUTE_TYPE = 10
const MODE = 12
const INFLIGHT = 14
const UNSENT = 16
const WANT = 18
const WANT_HOME = 19
const WANT_ID = 20
const WORDS = 21

const QUEUE = 0
const DIRECT = 1

const CLOSED = 0
const OPEN = 1
const DORMANT = 2

/** How long a dormant copy waits, once no process holds the end any more, before the peer sees EOF. */
const DORMANT_GRACE_MS = 1000

/** Data of a thread-side end. */
interface ThreadData {
  readonly cell: CellRef
  readonly side: number
  readonly in: Queue<unknown> | null
  readonly out: Queue<unknown> | null
}

/** Data of an end exported to another process. */
interface ProcessData {
  readonly home: number
  readonly id: number
  readonly r: boolean
  readonly w: boolean
}

let reviving: { cell: Int32Array; side: number; in: Queue<unknown> | undefined; out: Queue<unknown> | undefined } | undefined

/** Options of the async receive forms. */
export interface RecvAsyncOptions extends AsyncWaitOptions {}

/** Options of {@link Connection.recvBytesAsync}. */
export interface RecvBytesAsyncOptions extends AsyncWaitOptions {
  /** Longest message accepted; a longer one closes the connection with `MessageTooLongError`. */
  maxlength?: number
}

/**
 * One end of a {@link Pipe} (or of a `Listener`/`Client` connection): Python's
 * `multiprocessing.connection.Connection`.
 *
 * - `send(obj)` / `recv()`: any structured-cloneable value, Tandem shareables included (between
 *   processes: connections and process queues; between threads: every shareable). Message
 *   boundaries are kept.
 * - `sendBytes` / `recvBytes` / `recvBytesInto`: raw bytes.
 * - `poll(timeout)`: whether there is something to read (a message, or the end of the stream).
 * - Blocking forms block only the calling thread; `recvAsync`, `pollAsync`, `recvBytesAsync`
 *   and `recvBytesIntoAsync` never block the event loop and take `{ timeout?, signal? }`.
 * - `close()`; `Disposable`, so `using conn = ...` closes it.
 *
 * An end that crosses to another process is closed there independently: closing this process's
 * copy after it was sent does not close the other's. The peer sees `EOFError` once the end is
 * closed (or its process has died) in every process that held it and no message is left; a copy
 * that was sent away and not used here since does not hold the peer open.
 *
 * @example Two threads
 * ```ts
 * import { Pipe } from '@tandem/ipc/pipe'
 * import { Thread } from '@tandem/sync/thread'
 *
 * const [parentEnd, childEnd] = Pipe()
 * const t = new Thread({
 *   target: (conn: typeof childEnd) => {
 *     conn.send({ greeting: 'hello', n: conn.recv() })
 *     conn.close()
 *   },
 *   args: [childEnd],
 * })
 * t.start()
 * parentEnd.send(42)
 * console.log(parentEnd.recv()) // { greeting: 'hello', n: 42 }
 * t.join()
 * ```
 */
export class Connection {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.ipc.Connection'
  readonly #cell: Int32Array
  readonly #side: number
  readonly #in: Queue<unknown> | undefined
  readonly #out: Queue<unknown> | undefined

  /** @internal Use {@link Pipe}. */
  constructor() {
    if (reviving === undefined) throw typeError('Connection has no public constructor; use Pipe(), Listener.accept() or Client()')
    this.#cell = adoptCell(this, reviving.cell)
    this.#side = reviving.side
    this.#in = reviving.in
    this.#out = reviving.out
  }

  /** True once `close()` was called on this end (in this process). */
  get closed(): boolean {
    return Atomics.load(this.#cell, LOCAL + this.#side) === CLOSED
  }

  /** True if this end can receive. */
  get readable(): boolean {
    return this.#in !== undefined
  }

  /** True if this end can send. */
  get writable(): boolean {
    return this.#out !== undefined
  }

  #use(): void {
    const i = LOCAL + this.#side
    // A plain read: this runs on every send and receive; the transitions use atomics.
    const state = this.#cell[i]
    if (state === CLOSED) throw new ConnectionClosedError('The connection is closed; it cannot be used after close()')
    if (state === DORMANT && Atomics.compareExchange(this.#cell, i, DORMANT, OPEN) === DORMANT) {
      // Used here again: messages to this end must reach this copy too (through the queue).
      Atomics.store(this.#cell, MODE + this.#side, QUEUE)
    }
  }

  #reader(what: string): Queue<unknown> {
    this.#use()
    if (this.#cell[WANT] === 1) this.#want()
    if (this.#in === undefined) throw new ConnectionModeError('ERR_CONNECTION_NOT_READABLE', `Connection.${what}(): this end is write-only (the second end of Pipe(false))`)
    return this.#in
  }

  /** The first read of an imported copy: its home process forwards messages from now on. */
  #want(): void {
    const c = this.#cell
    if (Atomics.compareExchange(c, WANT, 1, 0) === 1) wantEnd(c[WANT_HOME]!, c[WANT_ID]!)
  }

  #writer(what: string): Queue<unknown> {
    this.#use()
    if (this.#out === undefined) throw new ConnectionModeError('ERR_CONNECTION_NOT_WRITABLE', `Connection.${what}(): this end is read-only (the first end of Pipe(false))`)
    return this.#out
  }

  /** Whether the peer is (also) in another process, so messages must be encoded for one. */
  #peerRemote(): boolean {
    const peer = 1 - this.#side
    return Atomics.load(this.#cell, BRIDGES + peer) > 0 || Atomics.load(this.#cell, LOCAL + peer) === DORMANT
  }

  #put(out: Queue<unknown>, value: unknown): void {
    noteSend()
    if (this.#canWriteDirect(out)) {
      const enc = encodeItem(value, scratch, 0, 'process')
      if (this.#writeDirect(enc)) return
      // The channel is gone (the peer's process is ending): the queue path reports it.
    }
    try {
      out._putFor(value, undefined, this.#peerRemote() ? 'process' : 'thread')
    } catch (err) {
      throw this.#sendError(err)
    }
  }

  /**
   * Whether a send may write to the channel from this thread: the peer's only copy is in a
   * neighbouring process and nothing sent before is still on its way through the I/O thread.
   * (Checking the queue before INFLIGHT matters: the I/O thread raises INFLIGHT before it takes.
   * MODE is a plain read: a stale value races like a fresh one that changes right after. The
   * atomic read in empty() orders the INFLIGHT read after it.)
   */
  #canWriteDirect(out: Queue<unknown>): boolean {
    const c = this.#cell
    const s = 1 - this.#side
    return c[MODE + s] === DIRECT && out.empty() && c[INFLIGHT + s] === 0 && !out.isShutdown
  }

  /** Writes an encoded message to the peer's channel; false if the channel is gone. */
  #writeDirect(enc: EncodedItem): boolean {
    const c = this.#cell
    const s = 1 - this.#side
    return sendDirect(c[ROUTE_PID + s]!, c[ROUTE_TYPE + s]!, c[ROUTE_ID + s]!, enc.bytes, enc.tag, enc.value)
  }

  /**
   * @internal For `@tandem/futures`: sends a message already encoded as plain data (`TAG_PLAIN`
   * of `@tandem/queue/kit`, whose bytes are the same for a thread or a process), as `send` sends
   * the value they decode to, without decoding them here.
   * @throws {BrokenPipeError} `ERR_BROKEN_PIPE` if the peer end is closed
   */
  _sendPlain(raw: RawItem): void {
    if (raw.tag !== TAG_PLAIN) throw new TypeError(`Connection._sendPlain(): expected plain bytes (tag ${TAG_PLAIN}); received tag ${raw.tag}`)
    const out = this.#writer('send')
    noteSend()
    if (this.#canWriteDirect(out) && this.#writeDirect(raw)) return
    try {
      out._putRaw(raw)
    } catch (err) {
      throw this.#sendError(err)
    }
  }

  #sendError(err: unknown): unknown {
    if (!(err instanceof QueueShutDown)) return err
    if (this.closed) return new ConnectionClosedError('The connection is closed; it cannot be used after close()')
    return new BrokenPipeError('Connection.send(): the other end of the connection is closed')
  }

  #recvError(err: unknown): unknown {
    if (err instanceof QueueShutDown) {
      if (this.closed) return new ConnectionClosedError('The connection was closed while a receive waited')
      return new EOFError('Connection.recv(): the other end of the connection was closed and no message is left')
    }
    if (err instanceof QueueEmpty) return new TimeoutError('Connection: no message arrived within the timeout')
    return err
  }

  /**
   * Sends a value: anything the structured clone accepts, with Tandem shareables inside.
   * @throws {TypeError} `ERR_NOT_SHAREABLE` for a function or (to a process) a shared-memory object
   * @throws {BrokenPipeError} `ERR_BROKEN_PIPE` if the peer end is closed
   */
  send(obj: unknown): void {
    this.#put(this.#writer('send'), obj)
  }

  /**
   * Receives the next message, waiting as long as it takes.
   * @throws {EOFError} `ERR_PIPE_EOF` once the peer is closed and no message is left
   */
  recv(): unknown {
    const q = this.#reader('recv')
    if (directReads && q.empty()) {
      const v = this.#recvDirect(q)
      if (v !== NOTHING) return v
    }
    let v: unknown
    try {
      v = q.get()
    } catch (err) {
      throw this.#recvError(err)
    }
    return v
  }

  /**
   * The main thread's receive when everything this end receives comes over one channel: reads the
   * channel itself (`readOwn` in `internal/direct.ts`) instead of waiting for the I/O thread.
   */
  #recvDirect(q: Queue<unknown>): unknown {
    const c = this.#cell
    const s = 1 - this.#side
    if (c[MODE + s] !== DIRECT) return NOTHING
    const type = c[ROUTE_TYPE + s] === T_MSG_TO_IMPORT ? T_MSG_TO_EXPORT : T_MSG_TO_IMPORT
    const f = readOwn(c[ROUTE_PID + s]!, type, c[ROUTE_ID + s]!, q)
    return f === undefined ? NOTHING : decodeItem(f.tag, f.aux, f.payload)
  }

  /**
   * Async form of {@link recv}. A timeout rejects with `TimeoutError` (`ERR_TIMEOUT`); an aborted
   * receive takes no message (the next one gets it).
   */
  async recvAsync(opts?: RecvAsyncOptions): Promise<unknown> {
    const q = this.#reader('recvAsync')
    if (directReads && q.empty()) {
      const { timeout, signal } = asyncOptions(opts)
      const c = this.#cell
      const s = 1 - this.#side
      if (Atomics.load(c, MODE + s) === DIRECT && !signal?.aborted) {
        const deadline = deadlineOf(timeout)
        const type = c[ROUTE_TYPE + s] === T_MSG_TO_IMPORT ? T_MSG_TO_EXPORT : T_MSG_TO_IMPORT
        const f = await readOwnAsync(c[ROUTE_PID + s]!, type, c[ROUTE_ID + s]!, q, deadline, signal)
        if (f !== undefined) return decodeItem(f.tag, f.aux, f.payload)
        // The queue reports what ended the wait (a timeout, an abort) or holds the message.
        opts = { timeout: remaining(deadline), signal }
      }
    }
    try {
      return await q.getAsync(opts)
    } catch (err) {
      throw this.#recvError(err)
    }
  }

  /**
   * Whether there is anything to read (a message, or the end of the stream), waiting up to
   * `timeout` ms for it.
   * @param timeout ms; 0 (the default) just looks, Infinity waits
   */
  poll(timeout = 0): boolean {
    const q = this.#reader('poll')
    const ms = checkTimeout(timeout)
    return runBlocking(q._pollGen(deadlineOf(ms)))
  }

  /** Async form of {@link poll}: `{ timeout?, signal? }`, timeout 0 by default. */
  async pollAsync(opts?: AsyncWaitOptions): Promise<boolean> {
    const q = this.#reader('pollAsync')
    const { timeout, signal } = asyncOptions(opts === undefined ? 0 : opts)
    return runAsync(q._pollGen(deadlineOf(timeout)), signal)
  }

  /**
   * Sends bytes of any `ArrayBufferView` (or ArrayBuffer), as one message.
   * @param offset byte offset into `buf` @default 0
   * @param size bytes to send @default the rest
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if offset or size fall outside the buffer
   */
  sendBytes(buf: ArrayBufferView | ArrayBufferLike, offset = 0, size?: number): void {
    const out = this.#writer('sendBytes')
    const bytes = bytesOf(buf, 'Connection.sendBytes()')
    if (!Number.isInteger(offset) || offset < 0 || offset > bytes.length)
      throw rangeError(`Connection.sendBytes(): offset ${offset} is outside the buffer of ${bytes.length} bytes`)
    const n = size === undefined ? bytes.length - offset : size
    if (!Number.isInteger(n) || n < 0 || offset + n > bytes.length)
      throw rangeError(`Connection.sendBytes(): size ${size} is outside the buffer of ${bytes.length} bytes from offset ${offset}`)
    this.#put(out, bytes.slice(offset, offset + n))
  }

  #bytesOf(v: unknown, maxlength: number | undefined): Uint8Array {
    const bytes = v instanceof Uint8Array ? v : ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(serialize(v))
    if (maxlength !== undefined && bytes.length > maxlength) {
      this.close()
      throw new MessageTooLongError(`Connection.recvBytes(): a message of ${bytes.length} bytes is longer than maxlength ${maxlength}; the connection is closed`)
    }
    return bytes
  }

  /**
   * Receives a message as bytes (a message sent with `send` comes as its V8 serialization).
   * @param maxlength longest message accepted; a longer one closes the connection
   * @throws {MessageTooLongError} `ERR_MESSAGE_TOO_LONG`
   * @throws {EOFError} `ERR_PIPE_EOF`
   */
  recvBytes(maxlength?: number): Uint8Array {
    const max = checkMaxlength(maxlength)
    return this.#bytesOf(this.recv(), max)
  }

  /** Async form of {@link recvBytes}. */
  async recvBytesAsync(opts?: RecvBytesAsyncOptions): Promise<Uint8Array> {
    const max = checkMaxlength(opts?.maxlength)
    return this.#bytesOf(await this.recvAsync(opts === undefined ? undefined : { timeout: opts.timeout, signal: opts.signal }), max)
  }

  #into(buf: ArrayBufferView | ArrayBufferLike, offset: number, bytes: Uint8Array): number {
    const dst = bytesOf(buf, 'Connection.recvBytesInto()')
    if (bytes.length > dst.length - offset)
      throw new BufferTooShort(copyBytes(bytes), `Connection.recvBytesInto(): a message of ${bytes.length} bytes does not fit in ${dst.length - offset} bytes`)
    dst.set(bytes, offset)
    return bytes.length
  }

  /**
   * Receives a message into `buf` at byte `offset`; returns its length.
   * @throws {BufferTooShort} `ERR_BUFFER_TOO_SHORT` (its `data` is the message) if it does not fit
   */
  recvBytesInto(buf: ArrayBufferView | ArrayBufferLike, offset = 0): number {
    const dst = bytesOf(buf, 'Connection.recvBytesInto()')
    if (!Number.isInteger(offset) || offset < 0 || offset > dst.length)
      throw rangeError(`Connection.recvBytesInto(): offset ${offset} is outside the buffer of ${dst.length} bytes`)
    return this.#into(buf, offset, this.#bytesOf(this.recv(), undefined))
  }

  /** Async form of {@link recvBytesInto}. */
  async recvBytesIntoAsync(buf: ArrayBufferView | ArrayBufferLike, offset = 0, opts?: RecvAsyncOptions): Promise<number> {
    const dst = bytesOf(buf, 'Connection.recvBytesIntoAsync()')
    if (!Number.isInteger(offset) || offset < 0 || offset > dst.length)
      throw rangeError(`Connection.recvBytesIntoAsync(): offset ${offset} is outside the buffer of ${dst.length} bytes`)
    return this.#into(buf, offset, this.#bytesOf(await this.recvAsync(opts), undefined))
  }

  /** Closes this end in this process (idempotent). */
  close(): void {
    const i = LOCAL + this.#side
    for (;;) {
      const state = Atomics.load(this.#cell, i)
      if (state === CLOSED) return
      if (Atomics.compareExchange(this.#cell, i, state, CLOSED) === state) break
    }
    this.#settle()
  }

  /** Ends the pipe for the peer once this end is closed or dormant and no bridge is left. */
  #settle(): void {
    const c = this.#cell
    const s = this.#side
    if (Atomics.load(c, LOCAL + s) === OPEN || Atomics.load(c, BRIDGES + s) > 0) return
    if (Atomics.compareExchange(c, DONE + s, 0, 1) !== 0) return
    this.#out?.shutdown(false)
    this.#in?.shutdown(true)
  }

  [Symbol.dispose](): void {
    this.close()
  }

  toString(): string {
    return `<Connection ${this.readable ? 'r' : ''}${this.writable ? 'w' : ''}${this.closed ? ' closed' : ''}>`
  }

  // ---- For the I/O thread (internal/hub.ts) ---------------------------------------------------

  #lazy(home: number, id: number): void {
    const c = this.#cell
    c[WANT_HOME] = home
    c[WANT_ID] = id
    Atomics.store(c, WANT, 1)
  }

  /** @internal Marks this end as sent to one more process; the local copy goes dormant. */
  _export(): void {
    this.#use()
    // Sent on unread: the process it goes to reads it (or sends it on, or closes it).
    if (this.#cell[WANT] === 1) this.#want()
    if (Atomics.load(this.#cell, DONE + this.#side) !== 0) throw new ConnectionClosedError('This end was closed in every process that held it; it cannot be sent on')
    // A second remote copy: messages go through the queue, where either copy's bridge takes them.
    if (Atomics.add(this.#cell, BRIDGES + this.#side, 1) > 0) this._unroute()
    Atomics.compareExchange(this.#cell, LOCAL + this.#side, OPEN, DORMANT)
  }

  /**
   * @internal A process this end was exported to has closed it or died. When that leaves only a
   * dormant local copy, the end is closed everywhere after {@link DORMANT_GRACE_MS} unless the
   * local copy is used or sent again meanwhile (handing one end to child after child works).
   */
  _bridgeEnded(): void {
    if (Atomics.sub(this.#cell, BRIDGES + this.#side, 1) <= 0) Atomics.store(this.#cell, BRIDGES + this.#side, 0)
    if (Atomics.load(this.#cell, LOCAL + this.#side) === DORMANT && Atomics.load(this.#cell, BRIDGES + this.#side) === 0) {
      setTimeout(() => this.#settle(), DORMANT_GRACE_MS).unref?.()
      return
    }
    this.#settle()
  }

  /**
   * @internal This end's only remote copy is in process `pid` (export `id`; frames of `type`
   * reach it), a neighbour with a channel: its peer may write to the channel directly.
   */
  _route(pid: number, id: number, type: number): void {
    const c = this.#cell
    const e = this.#side
    c[ROUTE_PID + e] = pid
    c[ROUTE_ID + e] = id
    c[ROUTE_TYPE + e] = type
    // The remote copy is the only one that reads: the local copy is dormant, or closed (as the
    // sender usually does right after start(): closed is as unused as dormant, and for good).
    if (Atomics.load(c, BRIDGES + e) === 1 && Atomics.load(c, LOCAL + e) !== OPEN) Atomics.store(c, MODE + e, DIRECT)
  }

  /** @internal Messages to this end go through the queue again. */
  _unroute(): void {
    Atomics.store(this.#cell, MODE + this.#side, QUEUE)
  }

  /** @internal Whether the peer may write to this end's remote copy directly. */
  _direct(): boolean {
    return Atomics.load(this.#cell, MODE + this.#side) === DIRECT
  }

  /** @internal The I/O thread takes messages from the queue and forwards them (1), or is done (-1). */
  _inflight(delta: 1 | -1): void {
    Atomics.add(this.#cell, INFLIGHT + this.#side, delta)
  }

  /** @internal Waits until a message waits or the stream ended, taking nothing; rejects on abort. */
  async _waitRawAsync(signal: AbortSignal): Promise<void> {
    await runAsync(this.#in!._pollGen(Infinity), signal)
  }

  /** @internal True once the peer is closed everywhere and no message is left. */
  _eof(): boolean {
    return this.#in!.isShutdown && this.#in!.empty()
  }

  /** @internal Next message as bytes (never reactivates a dormant end). @throws {EOFError} */
  /** @internal The I/O thread: what this end's socket bridge holds for its socket (the UNSENT word). */
  _setUnsent(bytes: number): void {
    Atomics.store(this.#cell, UNSENT + this.#side, Math.min(bytes, 0x7fffffff))
  }

  /**
   * @internal Whether what this end sent is piling up: more than `maxItems` messages the peer's
   * side has not taken, or (a socket bridge) more than `maxBytes` its socket has not sent.
   */
  _congested(maxBytes: number, maxItems: number): boolean {
    return Atomics.load(this.#cell, UNSENT + 1 - this.#side) > maxBytes || (this.#out !== undefined && this.#out.qsize() > maxItems)
  }

  async _recvRawAsync(signal?: AbortSignal): Promise<RawItem> {
    try {
      return await this.#in!._getRawAsync(signal === undefined ? undefined : { signal })
    } catch (err) {
      throw this.#recvError(err)
    }
  }

  /** @internal A message that is waiting, as bytes, or undefined. */
  _takeRaw(): RawItem | undefined {
    return this.#in!._takeRaw()
  }

  /** @internal Sends an encoded message. @throws {BrokenPipeError} */
  _sendRaw(raw: RawItem): void {
    try {
      this.#out!._putRaw(raw)
    } catch (err) {
      throw this.#sendError(err)
    }
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target === 'process') {
      this._export()
      const id = exportEnd(this)
      return { home: myPid(), id, r: this.readable, w: this.writable } satisfies ProcessData
    }
    return { cell: shareCell(this.#cell), side: this.#side, in: this.#in === undefined ? null : ctx.encode(this.#in), out: this.#out === undefined ? null : ctx.encode(this.#out) }
  }

  /** @internal */
  static revive(data: ThreadData | ProcessData): Connection {
    if ('home' in data) {
      // An end exported by another process: a local pair whose far end the I/O thread holds.
      const [mine, bridge] = makePair(data.r, data.w)
      bridge._export()
      // Nothing is forwarded here until `mine` is read (T_WANT), so a copy that is only closed
      // takes no message from the processes that read the end.
      if (data.r) mine.#lazy(data.home, data.id)
      importEnd(data.home, data.id, bridge)
      // The exporting process is a neighbour: send to it directly.
      if (directReady() && hasChannel(data.home)) bridge._route(data.home, data.id, T_MSG_TO_EXPORT)
      return mine
    }
    return build(reviveCell(data.cell), data.side, data.in ?? undefined, data.out ?? undefined)
  }
}

function build(cell: Int32Array, side: number, inQ: Queue<unknown> | undefined, outQ: Queue<unknown> | undefined): Connection {
  reviving = { cell, side, in: inQ, out: outQ }
  try {
    return new Connection()
  } finally {
    reviving = undefined
  }
}

/** Two connected ends: the first readable if `r`, writable if `w` (the second the reverse). */
function makePair(r: boolean, w: boolean): [Connection, Connection] {
  // One reference for each end's handle (each adopts one).
  const at = alloc(WORDS * 4)
  retain(at)
  const cell = int32At(at, WORDS)
  cell[LOCAL] = OPEN
  cell[LOCAL + 1] = OPEN
  const toFirst = r ? new Queue<unknown>() : undefined
  const toSecond = w ? new Queue<unknown>() : undefined
  const a = build(cell, 0, toFirst, toSecond)
  const b = build(cell, 1, toSecond, toFirst)
  return [a, b]
}

/** @internal Two connected ends (for the I/O thread's sockets). */
export function _pair(r: boolean, w: boolean): [Connection, Connection] {
  return makePair(r, w)
}

/**
 * Creates a pipe: a pair of connected {@link Connection}s, as Python's `multiprocessing.Pipe`.
 * @param duplex true (default): both ends send and receive; false: the first end only receives
 *   and the second only sends
 * @example
 * ```ts
 * import { Pipe } from '@tandem/ipc/pipe'
 *
 * const [a, b] = Pipe()
 * a.send({ hello: 'world' })
 * console.log(b.recv()) // { hello: 'world' }
 * const [reader, writer] = Pipe(false)
 * writer.sendBytes(new Uint8Array([1, 2, 3]))
 * console.log(reader.recvBytes(), reader.readable, reader.writable) // Uint8Array(3) [ 1, 2, 3 ] true false
 * ```
 */
export function Pipe(duplex = true): [Connection, Connection] {
  if (typeof duplex !== 'boolean') throw typeError(`Pipe(duplex): duplex must be a boolean; received ${describe(duplex)}`)
  return makePair(true, duplex)
}

function checkMaxlength(maxlength: unknown): number | undefined {
  if (maxlength === undefined) return undefined
  if (typeof maxlength !== 'number' || !Number.isInteger(maxlength) || maxlength < 0) throw rangeError(`maxlength must be a non-negative integer; received ${describe(maxlength)}`)
  return maxlength
}

function bytesOf(buf: unknown, what: string): Uint8Array {
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  if (buf instanceof ArrayBuffer || buf instanceof SharedArrayBuffer) return new Uint8Array(buf)
  throw typeError(`${what}: expected an ArrayBufferView or ArrayBuffer; received ${describe(buf)}`)
}

registerShareable(Connection.shareKind, import.meta.url, (d) => Connection.revive(d))
