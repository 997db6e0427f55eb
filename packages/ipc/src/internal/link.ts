/**
 * A framed byte stream between two processes' I/O threads over a socket (a Listener/Client
 * connection) carrying length-prefixed frames. (Parent and child use `channel.ts` instead.)
 *
 * Frame: a 24-byte header, then `LEN` payload bytes.
 *
 * | offset | size | name | meaning |
 * | ------ | ---- | ---- | ------- |
 * | 0      | 4    | LEN  | payload bytes (u32, big-endian), at most the link's `maxFrame` |
 * | 4      | 1    | TYPE | frame type (`hub.ts`) |
 * | 5      | 1    | TAG  | for a message: its encoding tag (`@tandem/queue` codec) |
 * | 6      | 2    | -    | 0 |
 * | 8      | 4    | DST  | pid of the process the frame is for |
 * | 12     | 4    | SRC  | pid of the process that sent it |
 * | 16     | 4    | ID   | what the frame is about (an exported end, a request) |
 * | 20     | 4    | AUX  | for a message: its encoding's 32-bit value (i32) |
 *
 * Reading never trusts the peer: a length above `maxFrame` or an unknown type ends the link
 * (`onError`) before anything is allocated for it; a frame's payload is allocated only once its
 * header has been checked, and filled as its bytes arrive (no quadratic re-concatenation).
 * Writing batches: frames written in one turn of the event loop go out in one `writev`.
 *
 * @module
 */
import type { Socket } from 'node:net'

export const HEADER = 24
/** Largest payload by default: 512 MiB and change (messages of 256 MiB and more fit). */
export const MAX_FRAME = 2 ** 29 + 4096
/** Payloads up to this size are allocated whole when their header arrives. */
const EAGER_BODY = 1 << 20

export interface Frame {
  readonly type: number
  readonly tag: number
  readonly dst: number
  readonly src: number
  readonly id: number
  readonly aux: number
  /** The payload (a view into the link's buffer: copy it to keep it past the callback). */
  readonly payload: Uint8Array
}

export interface LinkHandlers {
  onFrame(frame: Frame, link: Link): void
  /** The stream ended or failed (`err` set for a protocol violation or a socket error). */
  onClose(link: Link, err?: Error): void
}

export class Link {
  readonly socket: Socket
  readonly #handlers: LinkHandlers
  readonly #maxFrame: number
  readonly #validType: (type: number) => boolean
  #header = Buffer.allocUnsafe(HEADER)
  #have = 0
  #body: Buffer | undefined
  #bodyHave = 0
  #bodyLen = 0
  #pieces: Buffer[] = []
  #frame: Omit<Frame, 'payload'> | undefined
  #out: Buffer[] = []
  #scheduled = false
  #closed = false

  constructor(socket: Socket, handlers: LinkHandlers, opts: { maxFrame?: number; validType: (type: number) => boolean }) {
    this.socket = socket
    this.#handlers = handlers
    this.#maxFrame = opts.maxFrame ?? MAX_FRAME
    this.#validType = opts.validType
    socket.setNoDelay?.(true)
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('error', (err) => this.#end(err))
    socket.on('close', () => this.#end())
  }

  get closed(): boolean {
    return this.#closed
  }

  #end(err?: Error): void {
    if (this.#closed) return
    this.#closed = true
    this.#body = undefined
    this.#pieces = []
    this.socket.destroy()
    this.#handlers.onClose(this, err)
  }

  #onData(chunk: Buffer): void {
    let at = 0
    const n = chunk.length
    while (at < n && !this.#closed) {
      if (this.#frame === undefined) {
        // Header: from this chunk directly when it is whole, else gathered across chunks.
        let h: Buffer
        let ho: number
        if (this.#have === 0 && n - at >= HEADER) {
          h = chunk
          ho = at
          at += HEADER
        } else {
          const take = Math.min(HEADER - this.#have, n - at)
          chunk.copy(this.#header, this.#have, at, at + take)
          this.#have += take
          at += take
          if (this.#have < HEADER) return
          this.#have = 0
          h = this.#header
          ho = 0
        }
        const len = h.readUInt32BE(ho)
        const type = h[ho + 4]!
        if (len > this.#maxFrame) {
          this.#end(protocolError(`a frame of ${len} bytes is longer than the limit of ${this.#maxFrame}`))
          return
        }
        if (!this.#validType(type)) {
          this.#end(protocolError(`unknown frame type ${type}`))
          return
        }
        const frame = { type, tag: h[ho + 5]!, dst: h.readUInt32BE(ho + 8), src: h.readUInt32BE(ho + 12), id: h.readUInt32BE(ho + 16), aux: h.readInt32BE(ho + 20) }
        if (len <= n - at) {
          // The whole payload is in this chunk.
          const payload = chunk.subarray(at, at + len)
          at += len
          this.#handlers.onFrame({ ...frame, payload }, this)
          continue
        }
        this.#frame = frame
        this.#bodyLen = len
        this.#bodyHave = 0
        // Small bodies are allocated at once; large ones grow with the bytes that arrive, so a
        // peer announcing a length it never sends costs us no more than what it sent.
        this.#body = len <= EAGER_BODY ? Buffer.allocUnsafe(len) : undefined
        this.#pieces = []
      }
      const take = Math.min(this.#bodyLen - this.#bodyHave, n - at)
      if (this.#body !== undefined) chunk.copy(this.#body, this.#bodyHave, at, at + take)
      else this.#pieces.push(Buffer.from(chunk.subarray(at, at + take)))
      this.#bodyHave += take
      at += take
      if (this.#bodyHave === this.#bodyLen) {
        const frame = this.#frame!
        const body = this.#body ?? Buffer.concat(this.#pieces, this.#bodyLen)
        this.#frame = undefined
        this.#body = undefined
        this.#pieces = []
        this.#handlers.onFrame({ ...frame, payload: body }, this)
      }
    }
  }

  /** Queues a frame; frames queued in one turn are written together. */
  write(type: number, dst: number, src: number, id: number, payload?: Uint8Array, tag = 0, aux = 0): void {
    if (this.#closed) return
    const len = payload?.length ?? 0
    if (len > this.#maxFrame) throw protocolError(`a message of ${len} bytes is longer than the limit of ${this.#maxFrame}`)
    const h = Buffer.allocUnsafe(HEADER)
    h.writeUInt32BE(len, 0)
    h[4] = type
    h[5] = tag
    h[6] = 0
    h[7] = 0
    h.writeUInt32BE(dst >>> 0, 8)
    h.writeUInt32BE(src >>> 0, 12)
    h.writeUInt32BE(id >>> 0, 16)
    h.writeInt32BE(aux | 0, 20)
    this.#out.push(h)
    if (len > 0) this.#out.push(Buffer.from(payload!.buffer, payload!.byteOffset, len))
    if (!this.#scheduled) {
      this.#scheduled = true
      queueMicrotask(() => this.flush())
    }
  }

  /** Writes what is queued now. */
  flush(): void {
    this.#scheduled = false
    if (this.#closed || this.#out.length === 0) return
    const out = this.#out
    this.#out = []
    this.socket.cork()
    for (const b of out) this.socket.write(b)
    this.socket.uncork()
  }

  /** Resolves once everything written so far has been handed to the kernel. */
  drained(): Promise<void> {
    this.flush()
    if (this.#closed) return Promise.resolve()
    return new Promise((resolve) => {
      this.socket.write(Buffer.alloc(0), () => resolve())
    })
  }

  close(): void {
    this.flush()
    this.socket.end()
  }
}

function protocolError(message: string): Error & { code: string } {
  const err = new Error(`Tandem ipc protocol error: ${message}`) as Error & { code: string }
  err.code = 'ERR_IPC_PROTOCOL'
  return err
}
