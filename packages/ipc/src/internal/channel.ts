/**
 * The channel between a parent process and a child: two FIFOs (one per direction) carrying
 * *packets*, each written with one `write()` call.
 *
 * Why FIFOs and packets:
 * - A write of at most `PIPE_BUF` bytes to a pipe is atomic (POSIX): it is never split and never
 *   interleaved with another writer's. So every thread of a process can write its packets straight
 *   to the channel, without a lock and without a hop through the I/O thread, and a thread that dies
 *   between two packets leaves no half packet behind.
 * - A FIFO opened by path can be opened twice: once blocking (a thread that waits for a message
 *   can sleep in `read()`, woken by the kernel when the peer writes) and once non-blocking (for the
 *   I/O thread's event loop, and for a short spin before sleeping).
 *
 * Packet: a 32-byte header, then at most `PACKET - 32` payload bytes. A message (a *frame*, as in
 * `link.ts`) longer than one packet's payload is split into packets that all carry its header; the
 * reader puts it back together per (SRC, WRITER), which is why writers need no lock.
 *
 * | offset | size | name   | meaning |
 * | ------ | ---- | ------ | ------- |
 * | 0      | 2    | LEN    | bytes in this packet, header included (u16 LE), at most `PACKET` |
 * | 2      | 1    | TYPE   | frame type (`hub.ts`) |
 * | 3      | 1    | FLAGS  | FIRST (1): the frame's first packet; LAST (2): its last |
 * | 4      | 4    | DST    | pid of the process the frame is for |
 * | 8      | 4    | SRC    | pid of the process that sent it |
 * | 12     | 4    | WRITER | thread id (in SRC) of the thread that wrote it |
 * | 16     | 4    | ID     | what the frame is about (an exported end, a request) |
 * | 20     | 4    | AUX    | for a message: its encoding's 32-bit value (i32) |
 * | 24     | 1    | TAG    | for a message: its encoding tag (`@tandem/queue` codec) |
 * | 25     | 3    | -      | 0 |
 * | 28     | 4    | TOTAL  | the frame's payload bytes (u32 LE), in every packet |
 *
 * @module
 */
import { execFileSync } from 'node:child_process'
import { closeSync, constants as fsc, mkdtempSync, openSync, rmdirSync, unlinkSync, writeSync } from 'node:fs'
import { Socket } from 'node:net'
import { endianness, tmpdir } from 'node:os'
import { join } from 'node:path'
import { threadId } from 'node:worker_threads'
import type { Frame, LinkHandlers } from './link.ts'
import { MAX_FRAME } from './link.ts'

/**
 * A copy of `bytes` (a Node Buffer's `slice()` is a view: a frame's payload is a view into a
 * buffer that the next read overwrites).
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes)
}

/** Bytes in a packet at most: `PIPE_BUF` (4096 on Linux, 512 on macOS and the BSDs). */
export const PACKET = process.platform === 'linux' ? 4096 : 512
export const PHEADER = 32
const BODY = PACKET - PHEADER
const FIRST = 1
const LAST = 2
/** Frames up to this size are allocated whole at their first packet. */
const EAGER_BODY = 1 << 20

/** The descriptors of one side of a channel. */
export interface ChannelFds {
  /** Read end, non-blocking (the I/O thread's event loop; spinning). */
  readonly read: number
  /** Read end, blocking (a thread that sleeps until a message comes). */
  readonly readBlocking: number
  /** Write end, non-blocking. */
  readonly write: number
  /**
   * In the parent: a read end and a write end of its own for the threads that use the channel
   * directly (`direct.ts`), so that the I/O thread can close its ends (at the child's exit) while
   * a thread still uses these. In the child, the threads share the I/O thread's ends (the channel
   * to the parent lasts as long as the process).
   */
  readonly directRead?: number
  readonly directWrite?: number
}

/** Both sides of a new channel: the parent's, and the child's (to pass as its stdio 3, 4, 5). */
export interface NewChannel {
  readonly parent: ChannelFds
  readonly child: ChannelFds
}

/** The child's descriptors, in the order `makeChannel` passes them (stdio 3, 4, 5). */
export const CHILD_FDS: ChannelFds = { readBlocking: 3, read: 4, write: 5 }

/**
 * Makes the two FIFOs of a channel (in a private temporary directory, removed at once: the
 * descriptors keep them alive) and opens every end both sides need.
 */
export function makeChannel(): NewChannel {
  const fifos = makeFifos('tandem-')
  const [down, up] = fifos.paths
  try {
    // Opening O_RDWR first means no open below waits for the other side.
    const t1 = openSync(down, fsc.O_RDWR)
    const t2 = openSync(up, fsc.O_RDWR)
    try {
      const child = {
        readBlocking: openSync(down, fsc.O_RDONLY),
        read: openSync(down, fsc.O_RDONLY | fsc.O_NONBLOCK),
        write: openSync(up, fsc.O_WRONLY | fsc.O_NONBLOCK),
      }
      const parent = {
        readBlocking: openSync(up, fsc.O_RDONLY),
        read: openSync(up, fsc.O_RDONLY | fsc.O_NONBLOCK),
        write: openSync(down, fsc.O_WRONLY | fsc.O_NONBLOCK),
        directRead: openSync(up, fsc.O_RDONLY | fsc.O_NONBLOCK),
        directWrite: openSync(down, fsc.O_WRONLY | fsc.O_NONBLOCK),
      }
      return { parent, child }
    } finally {
      closeSync(t1)
      closeSync(t2)
    }
  } finally {
    fifos.remove()
  }
}

/**
 * Two FIFOs (mode 600) in a new private directory of the temporary directory; `remove()` deletes
 * them and the directory (descriptors already open keep them alive).
 * @throws if they cannot be made (no `mkfifo` here)
 */
export function makeFifos(prefix: string): { readonly paths: readonly [string, string]; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const paths = [join(dir, 'a'), join(dir, 'b')] as const
  const remove = (): void => {
    for (const p of paths)
      try {
        unlinkSync(p)
      } catch {}
    try {
      rmdirSync(dir)
    } catch {}
  }
  try {
    execFileSync('mkfifo', ['-m', '600', ...paths], { stdio: 'ignore' })
  } catch (err) {
    remove()
    throw err
  }
  return { paths, remove }
}

/** Closes descriptors, ignoring errors (and undefined ones). */
export function closeFds(...fds: (number | undefined)[]): void {
  for (const fd of fds) {
    if (fd === undefined) continue
    try {
      closeSync(fd)
    } catch {}
  }
}

/**
 * Splits a frame into packets: calls `emit` with each (a fresh buffer the callee may keep).
 */
export function packets(
  type: number,
  dst: number,
  src: number,
  writer: number,
  id: number,
  payload: Uint8Array | undefined,
  tag: number,
  aux: number,
  emit: (p: Buffer) => void,
): void {
  const total = payload?.length ?? 0
  let at = 0
  let flags = FIRST
  do {
    const n = Math.min(BODY, total - at)
    if (at + n === total) flags |= LAST
    const p = Buffer.allocUnsafe(PHEADER + n)
    header(p, PHEADER + n, type, flags, dst, src, writer, id, aux, tag, total)
    if (n > 0) p.set(payload!.subarray(at, at + n), PHEADER)
    emit(p)
    at += n
    flags = 0
  } while (at < total)
}

/** Sleeps the calling thread (never the event loop of the I/O thread: it never calls this). */
const nap = new Int32Array(new SharedArrayBuffer(4))

/** A one-packet frame is built here (the write is synchronous, so the buffer is free after it). */
const one = Buffer.allocUnsafe(PACKET)
const oneWords = new Int32Array(one.buffer, one.byteOffset, PHEADER / 4)
const LITTLE = endianness() === 'LE' && one.byteOffset % 4 === 0

/** Writes a packet header at `p[0]` byte by byte (any endianness). */
function header(p: Buffer, len: number, type: number, flags: number, dst: number, src: number, writer: number, id: number, aux: number, tag: number, total: number): void {
  p.writeUInt16LE(len, 0)
  p[2] = type
  p[3] = flags
  p.writeUInt32LE(dst >>> 0, 4)
  p.writeUInt32LE(src >>> 0, 8)
  p.writeUInt32LE(writer >>> 0, 12)
  p.writeUInt32LE(id >>> 0, 16)
  p.writeInt32LE(aux | 0, 20)
  p.writeUInt32LE(tag >>> 0, 24)
  p.writeUInt32LE(total, 28)
}

/**
 * Writes a frame to a channel from any thread, blocking the thread while the pipe is full.
 * @throws the write error (EPIPE once the peer is gone, EBADF once the channel is closed)
 */
export function writeFrameSync(fd: number, type: number, dst: number, src: number, id: number, payload: Uint8Array | undefined, tag: number, aux: number): void {
  const total = payload?.length ?? 0
  if (total <= BODY) {
    const len = PHEADER + total
    if (LITTLE) {
      // The header as 32-bit words: the same bytes, written with less work per send.
      const h = oneWords
      h[0] = len | (type << 16) | ((FIRST | LAST) << 24)
      h[1] = dst
      h[2] = src
      h[3] = threadId
      h[4] = id
      h[5] = aux
      h[6] = tag
      h[7] = total
    } else header(one, len, type, FIRST | LAST, dst, src, threadId, id, aux, tag, total)
    if (total > 0) one.set(payload!, PHEADER)
    writePacket(fd, one, len)
    return
  }
  packets(type, dst, src, threadId, id, payload, tag, aux, (p) => writePacket(fd, p, p.length))
}

function writePacket(fd: number, p: Buffer, len: number): void {
  let wait = 0.02
  for (;;) {
    try {
      writeSync(fd, p, 0, len)
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
    }
    Atomics.wait(nap, 0, 0, wait)
    wait = Math.min(wait * 2, 2)
  }
}

interface Assembly {
  readonly frame: Omit<Frame, 'payload'>
  readonly total: number
  body: Buffer | undefined
  pieces: Buffer[]
  have: number
}

/**
 * Reads packets from chunks of a channel's byte stream and hands back whole frames. Keeps a
 * partial packet between chunks (less than one packet, so it can be handed to another reader:
 * {@link leftover}), and partial frames per (SRC, WRITER).
 */
export class PacketReader {
  readonly #onFrame: (f: Frame) => void
  readonly #maxFrame: number
  readonly #validType: (type: number) => boolean
  #carry = Buffer.allocUnsafe(PACKET)
  #carried = 0
  readonly #frames = new Map<string, Assembly>()

  constructor(onFrame: (f: Frame) => void, opts: { maxFrame?: number; validType: (type: number) => boolean }) {
    this.#onFrame = onFrame
    this.#maxFrame = opts.maxFrame ?? MAX_FRAME
    this.#validType = opts.validType
  }

  /** The bytes of an incomplete packet (handed to another reader with its {@link prepend}). */
  leftover(): Uint8Array {
    const out = copyBytes(this.#carry.subarray(0, this.#carried))
    this.#carried = 0
    return out
  }

  /** Starts with bytes another reader left (any number: whole packets among them are read now). */
  prepend(bytes: Uint8Array): void {
    if (bytes.length > 0) this.feed(bytes, bytes.length)
  }

  /**
   * Takes the bytes `chunk[0, n)`; calls `onFrame` for each frame completed.
   * @throws a protocol error (`ERR_IPC_PROTOCOL`) for a malformed packet
   */
  feed(chunk: Uint8Array, n: number): void {
    let at = 0
    if (this.#carried > 0) {
      // Complete the carried packet first: its length, then the rest of it.
      const carry = this.#carry
      if (this.#carried < 2) {
        const t = Math.min(2 - this.#carried, n)
        carry.set(chunk.subarray(0, t), this.#carried)
        this.#carried += t
        at = t
        if (this.#carried < 2) return
      }
      const len = carry.readUInt16LE(0)
      if (len < PHEADER || len > PACKET) throw protocolError(`a packet of ${len} bytes`)
      const t = Math.min(len - this.#carried, n - at)
      carry.set(chunk.subarray(at, at + t), this.#carried)
      this.#carried += t
      at += t
      if (this.#carried < len) return
      this.#carried = 0
      this.#packet(carry, 0, len)
    }
    const buf = chunk instanceof Buffer ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    while (n - at >= 2) {
      const len = buf.readUInt16LE(at)
      if (len < PHEADER || len > PACKET) throw protocolError(`a packet of ${len} bytes`)
      if (n - at < len) break
      this.#packet(buf, at, len)
      at += len
    }
    if (at < n) {
      this.#carry.set(buf.subarray(at, n), 0)
      this.#carried = n - at
    }
  }

  #packet(p: Buffer, at: number, len: number): void {
    const type = p[at + 2]!
    if (!this.#validType(type)) throw protocolError(`unknown frame type ${type}`)
    const flags = p[at + 3]!
    const total = p.readUInt32LE(at + 28)
    if (total > this.#maxFrame) throw protocolError(`a frame of ${total} bytes is longer than the limit of ${this.#maxFrame}`)
    const body = p.subarray(at + PHEADER, at + len)
    if (flags === (FIRST | LAST)) {
      if (body.length !== total) throw protocolError('a one-packet frame whose length does not match')
      this.#onFrame({ type, tag: p[at + 24]!, dst: p.readUInt32LE(at + 4), src: p.readUInt32LE(at + 8), id: p.readUInt32LE(at + 16), aux: p.readInt32LE(at + 20), payload: body })
      return
    }
    const key = `${p.readUInt32LE(at + 8)}:${p.readUInt32LE(at + 12)}`
    let a = this.#frames.get(key)
    if ((flags & FIRST) !== 0) {
      // (A partial frame left by a writer that died mid-frame is dropped.)
      a = {
        frame: { type, tag: p[at + 24]!, dst: p.readUInt32LE(at + 4), src: p.readUInt32LE(at + 8), id: p.readUInt32LE(at + 16), aux: p.readInt32LE(at + 20) },
        total,
        body: total <= EAGER_BODY ? Buffer.allocUnsafe(total) : undefined,
        pieces: [],
        have: 0,
      }
      this.#frames.set(key, a)
    } else if (a === undefined) {
      return // the rest of a frame whose start went to another reader's partial: cannot happen
    }
    if (a.have + body.length > a.total) throw protocolError('a frame longer than it said')
    if (a.body !== undefined) a.body.set(body, a.have)
    else a.pieces.push(Buffer.from(body))
    a.have += body.length
    if ((flags & LAST) !== 0) {
      this.#frames.delete(key)
      if (a.have !== a.total) throw protocolError('a frame shorter than it said')
      this.#onFrame({ ...a.frame, payload: a.body ?? Buffer.concat(a.pieces, a.total) })
    }
  }
}

/**
 * The I/O thread's side of a channel: reads with the event loop, writes each packet with its own
 * `write()` (queued by libuv while the pipe is full). Same surface as `Link` for `hub.ts`.
 */
export class Channel {
  readonly fds: ChannelFds
  readonly #in: Socket
  readonly #out: Socket
  readonly #handlers: LinkHandlers
  readonly #reader: PacketReader
  readonly #buf = Buffer.allocUnsafe(64 * 1024)
  #closed = false
  #paused = false

  constructor(fds: ChannelFds, handlers: LinkHandlers, opts: { maxFrame?: number; validType: (type: number) => boolean }) {
    this.fds = fds
    this.#handlers = handlers
    this.#reader = new PacketReader((f) => this.#handlers.onFrame(f, this as never), opts)
    this.#in = new Socket({
      fd: fds.read,
      readable: true,
      writable: false,
      onread: {
        buffer: this.#buf,
        callback: (n: number, buf: Uint8Array) => {
          try {
            this.#reader.feed(buf, n)
          } catch (err) {
            this.#end(err as Error)
            return false
          }
          return !this.#paused
        },
      },
    } as ConstructorParameters<typeof Socket>[0])
    this.#in.on('error', (err) => this.#end(err))
    this.#in.on('end', () => this.#end())
    this.#in.on('close', () => this.#end())
    this.#out = new Socket({ fd: fds.write, readable: false, writable: true })
    // One write() per packet: a writev could be cut anywhere by a full pipe, mid-packet.
    ;(this.#out as unknown as { _writev: unknown })._writev = undefined
    this.#out.on('error', () => {})
    this.#out.on('close', this.#written)
  }

  get closed(): boolean {
    return this.#closed
  }

  #end(err?: Error): void {
    if (this.#closed) return
    this.#closed = true
    this.#in.destroy()
    this.#handlers.onClose(this as never, err)
    this.#whenEnded?.()
  }

  #whenEnded: (() => void) | undefined

  /** Calls `fn` once the channel has ended (at once if it has). */
  onEnded(fn: () => void): void {
    if (this.#closed) fn()
    else this.#whenEnded = fn
  }

  /** Queues a frame (its packets are written in order, each with one write()). */
  write(type: number, dst: number, src: number, id: number, payload?: Uint8Array, tag = 0, aux = 0): void {
    if (this.#out.destroyed) return
    packets(type, dst, src, threadId, id, payload, tag, aux, (p) => this.#out.write(p, this.#written))
  }

  /** Who waits in {@link drained}. */
  readonly #drainWaiters: (() => void)[] = []

  /** After each write: once nothing is left to write, the waiters of {@link drained} go on. */
  readonly #written = (): void => {
    if (this.#drainWaiters.length === 0 || (this.#out.writableLength !== 0 && !this.#out.destroyed)) return
    for (const resolve of this.#drainWaiters.splice(0)) resolve()
  }

  /**
   * Resolves once everything written so far has been handed to the kernel. (Not the 'drain'
   * event: a socket emits it only after a write() that went over its high-water mark, so a few
   * bytes waiting below it never gave one, and a forwarding loop waited for good.)
   */
  drained(): Promise<void> {
    if (this.#out.destroyed || this.#out.writableLength === 0) return Promise.resolve()
    return new Promise((resolve) => this.#drainWaiters.push(resolve))
  }

  /** Stops reading (at a packet's end or inside one) and returns the bytes of a partial packet. */
  pause(): Uint8Array {
    this.#paused = true
    this.#in.pause()
    return this.#reader.leftover()
  }

  /** Reads again, starting with `leftover` (what another reader left of a partial packet). */
  resume(leftover: Uint8Array): void {
    this.#reader.prepend(leftover)
    this.#paused = false
    this.#in.resume()
  }

  /** Closes the writing side (the peer sees EOF once every writer has closed) and stops reading. */
  close(): void {
    this.#out.end()
    this.#end()
  }
}

function protocolError(message: string): Error & { code: string } {
  const err = new Error(`Tandem ipc protocol error: ${message}`) as Error & { code: string }
  err.code = 'ERR_IPC_PROTOCOL'
  return err
}
