/**
 * Lanes: the fast path of a `SyncManager`'s blocking calls on one machine. A lane is a pair of
 * FIFOs between one client thread and the server process: the thread writes its request and
 * reads the answer itself (a blocking `read()` that sleeps until the server writes), with no hop
 * through an I/O thread on either side of the call. The server reads every lane on its event loop.
 *
 * Setting one up (`makeLane` on the client, `openServerLane` on the server): the client makes the
 * two FIFOs in a private directory and opens its ends, holding both FIFOs open read-write for the
 * moment so that no `open()` waits for the other side; it sends their paths over its
 * (authenticated) connection to the server, which opens its ends; then the client drops the
 * read-write holds and removes the FIFOs' names. From then on, the end of either side shows as
 * EOF on the other: a client process that dies ends its lanes on the server, a server that dies
 * fails the client's waiting read at once.
 *
 * Messages: `[u32 length][u8 tag][i32 aux][bytes]` (little-endian; `length` counts what follows
 * it), the tag/aux/bytes of `@tandem/queue`'s item codec, so shareables (proxies) travel as they
 * do over connections.
 *
 * @module
 */
import { closeSync, constants as fsc, fstatSync, openSync, readSync, writeSync } from 'node:fs'
import { Socket } from 'node:net'
import { decodeItem, encodeItem, type EncodedItem } from '@tandem/queue/kit'
import { ManagerProtocolError } from '../errors.ts'
import { closeFds, makeFifos } from './channel.ts'
import { makeSpinner } from './direct.ts'

const HEADER = 9
/** Longest message a lane takes (a server drops a lane that announces a longer one). */
export const MAX_MESSAGE = 1 << 30
/**
 * Answers a client has not read, in bytes, above which the server takes no more of its requests
 * until it reads (a lane; the server's connections the same, `manager-server.ts`).
 */
export const MAX_UNSENT_BYTES = 4 << 20

const scratch: EncodedItem = { tag: 0, value: 0, bytes: undefined }

/** One message as bytes. */
export function frame(msg: unknown): Buffer {
  const enc = encodeItem(msg, scratch, 0, 'process')
  const n = enc.bytes?.length ?? 0
  const b = Buffer.allocUnsafe(HEADER + n)
  b.writeUInt32LE(5 + n, 0)
  b[4] = enc.tag
  b.writeInt32LE(enc.value | 0, 5)
  if (n > 0) b.set(enc.bytes!, HEADER)
  return b
}

/**
 * Takes whole messages from a growing byte stream: returns those complete in `buf[0, have)` and
 * how many bytes they used. Stops early, before a message, once `stop()` says so.
 */
export function unframe(buf: Buffer, have: number, onMessage: (m: unknown) => void, stop?: () => boolean): number {
  let at = 0
  while (have - at >= HEADER && stop?.() !== true) {
    const len = buf.readUInt32LE(at)
    if (len < 5 || len > MAX_MESSAGE) throw new ManagerProtocolError(`A lane message of ${len} bytes`)
    if (have - at < 4 + len) break
    const tag = buf[at + 4]!
    const aux = buf.readInt32LE(at + 5)
    const bytes = len > 5 ? new Uint8Array(buf.subarray(at + HEADER, at + 4 + len)) : undefined
    at += 4 + len
    onMessage(decodeItem(tag, aux, bytes))
  }
  return at
}

/** A client thread's end of a lane. */
export interface ClientLane {
  readonly write: number
  readonly read: number
  /** The reply FIFO again, non-blocking (for the spin before sleeping). */
  readonly readNow: number
  buf: Buffer
  at: number
  have: number
}

/** FIFOs made, the client's ends open, waiting for the server to open its ends. */
export interface PendingLane {
  readonly request: string
  readonly reply: string
  /** Call once the server has opened its ends (or failed to): the lane, or undefined. */
  finish(ok: boolean): ClientLane | undefined
}

/** Makes a lane's FIFOs and opens the client's ends. @throws if FIFOs cannot be made here */
export function makeLane(): PendingLane {
  const fifos = makeFifos('tandem-lane-')
  const [request, reply] = fifos.paths
  const fds: number[] = []
  try {
    // Read-write holds: no open below (or in the server) waits for the other side.
    const holds = [openSync(request, fsc.O_RDWR), openSync(reply, fsc.O_RDWR)]
    fds.push(...holds)
    const write = openSync(request, fsc.O_WRONLY)
    fds.push(write)
    const read = openSync(reply, fsc.O_RDONLY)
    fds.push(read)
    const readNow = openSync(reply, fsc.O_RDONLY | fsc.O_NONBLOCK)
    fds.push(readNow)
    return {
      request,
      reply,
      finish(ok) {
        closeFds(...holds)
        fifos.remove()
        if (!ok) {
          closeFds(write, read, readNow)
          return undefined
        }
        return { write, read, readNow, buf: Buffer.allocUnsafe(64 * 1024), at: 0, have: 0 }
      },
    }
  } catch (err) {
    closeFds(...fds)
    fifos.remove()
    throw err
  }
}

/** Sends one message on a lane (blocking while the FIFO is full). @throws on a broken lane */
export function send(lane: ClientLane, msg: unknown): void {
  const b = frame(msg)
  for (let at = 0; at < b.length; ) at += writeSync(lane.write, b, at, b.length - at)
}

/** Waits for and returns the next message on a lane. @throws {Error} `EOF` once the server is gone */
export function receive(lane: ClientLane): unknown {
  for (;;) {
    const have = lane.have - lane.at
    if (have >= 4) {
      const len = lane.buf.readUInt32LE(lane.at)
      if (len < 5 || len > MAX_MESSAGE) throw new ManagerProtocolError(`A lane message of ${len} bytes`)
      if (have >= 4 + len) {
        const at = lane.at
        lane.at += 4 + len
        if (lane.at === lane.have) lane.at = lane.have = 0
        const bytes = len > 5 ? new Uint8Array(lane.buf.subarray(at + HEADER, at + 4 + len)) : undefined
        return decodeItem(lane.buf[at + 4]!, lane.buf.readInt32LE(at + 5), bytes)
      }
      // Room for the whole message after what is in hand.
      if (4 + len > lane.buf.length - lane.at) {
        const bigger = Buffer.allocUnsafe(Math.max(4 + len, lane.buf.length))
        lane.buf.copy(bigger, 0, lane.at, lane.have)
        lane.buf = bigger
        lane.have -= lane.at
        lane.at = 0
      }
    }
    if (lane.have === lane.buf.length) {
      lane.buf.copyWithin(0, lane.at, lane.have)
      lane.have -= lane.at
      lane.at = 0
    }
    let n = spin(lane.readNow, lane.buf, lane.have, lane.buf.length - lane.have)
    if (n < 0) n = readSync(lane.read, lane.buf, lane.have, lane.buf.length - lane.have, null)
    if (n === 0) throw Object.assign(new Error('The manager closed the lane'), { code: 'EOF' })
    lane.have += n
  }
}

/** This thread's spinner for its lanes' answers. */
const spin = makeSpinner()

/** How long the server keeps polling after a lane request: its clients' spin, {@link makeSpinner}. */
const BUSY_MS = 0.2
/** How often a long poll checks that it still has a core to itself. */
const CHECK_MS = 0.5
/** Upper bound of the log2 of the activations a busy poll that did not pay skips. */
const MAX_SKIP_LOG = 10

/**
 * The server's busy poll: after a lane request, the event loop keeps turning (an immediate that
 * re-queues itself) for up to {@link BUSY_MS}, so that libuv polls the lanes without sleeping
 * and the next request, which a client on another core sends a few microseconds after its
 * answer, is read without a wake-up of the server (on a virtual machine, waking an idle CPU
 * costs more than serving the request). Every lane and connection is polled alike, and timers
 * and answers to waits (promise callbacks) run between turns as they always do.
 *
 * It stops paying in two cases, and then the next activations skip polling (1, 2, 4, ... up to
 * 1024 of them), as the spinners do:
 * - no request arrived while it polled (sparse traffic);
 * - the server shares its core: the kernel preempted it about once per request served during
 *   the last {@link CHECK_MS} (its clients run on the same core, and every cycle polling takes
 *   is one they wait for).
 */
const busyPoll = (() => {
  let until = 0
  let polling = false
  let caught = 0
  let skip = 0
  let fails = 0
  let checkAt = 0
  let checkCaught = 0
  let switches = 0
  /** Whether polling paid since the last check: requests came, and not by preempting the server. */
  const paying = (): boolean => {
    const s = process.resourceUsage().involuntaryContextSwitches
    const preempted = s - switches
    const served = caught - checkCaught
    switches = s
    checkCaught = caught
    return served > 0 && preempted * 2 <= served
  }
  const stop = (paid: boolean): void => {
    polling = false
    if (paid) fails = 0
    else {
      fails = Math.min(fails + 1, MAX_SKIP_LOG)
      skip = 1 << fails
    }
  }
  const turn = (): void => {
    const now = performance.now()
    if (now >= until) {
      stop(paying())
      return
    }
    if (now >= checkAt) {
      checkAt = now + CHECK_MS
      if (!paying()) {
        stop(false)
        return
      }
      fails = 0
    }
    setImmediate(turn)
  }
  return {
    /** A lane request came in. */
    active(): void {
      if (polling) {
        caught++
        until = performance.now() + BUSY_MS
        return
      }
      if (skip > 0) {
        skip--
        return
      }
      polling = true
      caught = 0
      checkCaught = 0
      const now = performance.now()
      until = now + BUSY_MS
      checkAt = now + CHECK_MS
      switches = process.resourceUsage().involuntaryContextSwitches
      setImmediate(turn)
    },
  }
})()

/** Closes a client's lane. */
export function closeLane(lane: ClientLane): void {
  closeFds(lane.write, lane.read, lane.readNow)
}

/** The server's end of a lane: messages come to `onMessage`; `reply` writes one back. */
export interface ServerLane {
  reply(msg: unknown): void
  close(): void
}

/**
 * The server opens its ends of a lane the client made (paths from its authenticated connection).
 * Messages are read on the event loop (into one buffer, parsed in place; the loop polls for a
 * while after each, {@link busyPoll}); answers are written with a direct `write()` while the FIFO
 * has room, queued behind a stream when it has not.
 * @throws if the paths are not FIFOs this process can open
 */
export function openServerLane(request: string, reply: string, onMessage: (m: unknown) => void, onEnd: () => void): ServerLane {
  if (typeof request !== 'string' || typeof reply !== 'string') throw new ManagerProtocolError('lane: two FIFO paths expected')
  const opened: number[] = []
  let rfd: number
  let wfd: number
  try {
    rfd = openSync(request, fsc.O_RDONLY | fsc.O_NONBLOCK)
    opened.push(rfd)
    wfd = openSync(reply, fsc.O_WRONLY | fsc.O_NONBLOCK)
    opened.push(wfd)
    // Only FIFOs (a client cannot make the server read or write anything else).
    if (!fstatSync(rfd).isFIFO() || !fstatSync(wfd).isFIFO()) throw new ManagerProtocolError('lane: the paths must be FIFOs')
  } catch (err) {
    for (const fd of opened) closeSync(fd)
    throw err
  }
  let ended = false
  /** Bytes of a message not complete yet (copied out of the read buffer). */
  let partial: Buffer | undefined
  const chunk = Buffer.allocUnsafe(64 * 1024)
  const input = new Socket({
    fd: rfd,
    readable: true,
    writable: false,
    onread: {
      buffer: chunk,
      callback: (n: number) => {
        busyPoll.active()
        let buf = chunk.subarray(0, n)
        if (partial !== undefined) {
          buf = Buffer.concat([partial, buf])
          partial = undefined
        }
        consume(buf)
        return !ended
      },
    },
  } as ConstructorParameters<typeof Socket>[0])
  /** Answers the client has not read pile up: its requests wait (in the FIFO) until it reads. */
  const congested = (): boolean => output !== undefined && output.writableLength > MAX_UNSENT_BYTES
  const consume = (buf: Buffer): void => {
    try {
      const used = unframe(buf, buf.length, onMessage, congested)
      if (used < buf.length) partial = Buffer.from(buf.subarray(used))
    } catch {
      end() // not this protocol
      return
    }
    if (congested() && !ended) {
      input.pause()
      output!.once('drain', () => {
        const rest = partial
        partial = undefined
        if (rest !== undefined) consume(rest)
        if (!ended && !congested()) input.resume()
      })
    }
  }
  /** Set while answers queue behind a full FIFO (then every answer goes through it, in order). */
  let output: Socket | undefined
  const end = (): void => {
    if (ended) return
    ended = true
    input.destroy()
    if (output !== undefined) output.destroy()
    else
      try {
        closeSync(wfd)
      } catch {}
    onEnd()
  }
  input.on('end', end)
  input.on('error', end)
  const write = (b: Buffer): void => {
    if (output !== undefined && output.writableLength > 0) {
      output.write(b)
      return
    }
    let at = 0
    try {
      while (at < b.length) at += writeSync(wfd, b, at, b.length - at)
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
        end()
        return
      }
    }
    // The client does not read now: the rest waits in a stream (libuv writes it as room comes).
    if (output === undefined) {
      output = new Socket({ fd: wfd, readable: false, writable: true })
      output.on('error', end)
    }
    output.write(b.subarray(at))
  }
  return {
    reply(msg) {
      if (!ended) write(frame(msg))
    },
    close: end,
  }
}
