/**
 * Direct use of the channels (`channel.ts`) by any thread of a process: a thread sends a message
 * to a neighbouring process (its parent or one of its children) by writing the packets itself,
 * with no hop through the I/O thread.
 *
 * The I/O thread registers each channel in a directory in the process arena. A thread finds the
 * channel to a pid there, marks itself as a user, writes, and unmarks; the I/O thread closes a
 * channel's descriptors only once its last user has left, so a descriptor number is never used
 * after it was closed (and perhaps reused for something else).
 *
 * Directory (Int32 words in the arena; offset in the I/O thread's address block, `hub-client.ts`):
 * word 0 is the number of slots made so far; words 1..SLOTS hold each slot's cell offset. Slots
 * are made as needed and never freed (a slot is reused for a later channel).
 *
 * Slot cell (Int32 words):
 *
 * | index | name     | values | written by |
 * | ----- | -------- | ------ | ---------- |
 * | 0     | PEER     | pid of the process at the other end; 0 for a free slot | the I/O thread |
 * | 1     | STATE    | FREE 0, OPEN 1, CLOSING 2 (no new users; closed once USERS is 0) | the I/O thread |
 * | 2     | USERS    | threads using the descriptors right now (the main thread keeps its mark between uses: `pinned`) | every user (+1, then -1) |
 * | 3     | FD_WRITE | write end (non-blocking) | the I/O thread |
 * | 4     | FD_READ_BLOCKING | read end (blocking) | the I/O thread |
 * | 5     | FD_READ  | read end (non-blocking) | the I/O thread |
 * | 6     | ROLE     | who reads the channel: HUB 0 (the I/O thread), WANT 1 (the main thread asks), IDLE 2 (the main thread holds it between two receives), ACTIVE 3 (the main thread reads), ENDED 4 (the channel ended) | the main thread (WANT, ACTIVE, IDLE, back to HUB); the I/O thread (IDLE when it grants, HUB when it takes it back) |
 * | 7     | GEN      | counts the main thread's receives with the channel | the main thread |
 * | 8     | LEFT     | end of the bytes in LEFTOVER | whoever holds the channel |
 * | 9     | REG      | counts the channels this slot has held (the I/O thread's loops for an earlier one stop touching it) | the I/O thread |
 * | 10    | LSTART   | start of the bytes in LEFTOVER | whoever holds the channel |
 * | 12..  | LEFTOVER | bytes read from the channel and not yet used (LSTART to LEFT), handed to the next reader; the main thread's blocking reads land here directly | the same |
 *
 * A user increments USERS, then checks that PEER is still the pid it looked for and STATE is
 * OPEN; the I/O thread sets CLOSING before it looks at USERS. So either the user sees CLOSING and
 * backs off, or the I/O thread sees the user and waits for it.
 *
 * @module
 */
import { alloc, arenaBuffer, int32At, remaining } from '@tandem/sync/kit'
import { constants as fsc, openSync, readSync } from 'node:fs'
import { Socket } from 'node:net'
import { isMainThread } from 'node:worker_threads'
import { copyBytes, PACKET, PHEADER, writeFrameSync } from './channel.ts'

/** `TANDEM_DEBUG=lease` traces the hand-overs of channels on stderr. */
export const TRACE = process.env.TANDEM_DEBUG === 'lease'
export function trace(what: string): void {
  if (TRACE) process.stderr.write(`[${process.pid} ${performance.now().toFixed(1)}] ${what}\n`)
}

export const SLOTS = 1024
const PEER = 0
const STATE = 1
const USERS = 2
const FD_WRITE = 3
const FD_READ_BLOCKING = 4
const FD_READ = 5
export const ROLE = 6
export const GEN = 7
export const LEFT = 8
export const REG = 9
const LSTART = 10
const LEFTOVER = 12
/** The main thread reads at most this much at once, so what it hands back fits in LEFTOVER. */
export const READ_CHUNK = 16 * 1024
const LEFTOVER_BYTES = READ_CHUNK + 64 * 1024
const CELL_WORDS = LEFTOVER + LEFTOVER_BYTES / 4

export const HUB = 0
export const WANT = 1
export const IDLE = 2
export const ACTIVE = 3
/** The I/O thread stopped lending (the channel ended): readers use their queues. */
export const ENDED = 4

const FREE = 0
const OPEN = 1
const CLOSING = 2

/** Descriptors a channel offers to direct users. */
export interface DirectFds {
  readonly write: number
  readonly readBlocking: number
  readonly read: number
}

let directory: Int32Array | undefined

/** Makes the directory (the main thread, when it starts the I/O thread); returns its offset. */
export function makeDirectory(): number {
  const at = alloc((SLOTS + 1) * 4)
  const dir = int32At(at, SLOTS + 1)
  dir.fill(0)
  directory = dir
  return at
}

/** Uses the directory at `at` (every other thread, from the I/O thread's address block). */
export function useDirectory(at: number): void {
  if (directory === undefined || directory.byteOffset !== at || directory.buffer !== arenaBuffer()) directory = int32At(at, SLOTS + 1)
}

function cellOf(slot: number): Int32Array | undefined {
  const off = Atomics.load(directory!, 1 + slot)
  return off === 0 ? undefined : int32At(off, CELL_WORDS)
}

/** The I/O thread: offers a channel to direct users. */
export function registerChannel(peer: number, fds: DirectFds): Int32Array | undefined {
  if (directory === undefined) return undefined
  const made = Atomics.load(directory, 0)
  let cell: Int32Array | undefined
  for (let i = 0; i < made && cell === undefined; i++) {
    const c = cellOf(i)
    if (c !== undefined && Atomics.load(c, STATE) === FREE && Atomics.load(c, USERS) === 0) cell = c
  }
  if (cell === undefined) {
    if (made >= SLOTS) return undefined // no direct path: everything goes through the I/O thread
    const at = alloc(CELL_WORDS * 4)
    cell = int32At(at, CELL_WORDS)
    cell.fill(0)
    Atomics.store(directory, 1 + made, at)
    Atomics.store(directory, 0, made + 1)
  }
  cell[FD_WRITE] = fds.write
  cell[FD_READ_BLOCKING] = fds.readBlocking
  cell[FD_READ] = fds.read
  cell[ROLE] = HUB
  cell[LEFT] = 0
  cell[LSTART] = 0
  cell[REG] = (cell[REG]! + 1) | 0
  Atomics.store(cell, STATE, OPEN)
  Atomics.store(cell, PEER, peer)
  return cell
}

/**
 * The I/O thread: takes a channel back. Resolves once no thread uses it any more (then its direct
 * descriptors may be closed) and the slot is free.
 */
export async function retireChannel(cell: Int32Array, close: () => void): Promise<void> {
  Atomics.store(cell, STATE, CLOSING)
  // The main thread may keep its mark until it next sends or receives (see `pinned`): look less
  // and less often, up to once a second.
  for (let wait = 5; Atomics.load(cell, USERS) !== 0; wait = Math.min(wait * 2, 1000)) await new Promise((r) => setTimeout(r, wait))
  close()
  Atomics.store(cell, PEER, 0)
  Atomics.store(cell, STATE, FREE)
}

/**
 * The main thread keeps its mark on the channel it used last (`pinned`): it lives as long as its
 * process, so the mark costs nothing on the next send or receive to the same peer (no atomic
 * add and subtract per message). The mark goes when the main thread uses another channel, or
 * finds this one closing. A worker thread can be terminated at any moment, so it marks and
 * unmarks around each use.
 */
const PIN = isMainThread
let pinned: Int32Array | undefined
let pinnedPeer = 0
let lastCell: Int32Array | undefined

/** The channel to `peer` with this thread marked as its user, or undefined (call {@link leave}). */
export function enter(peer: number): Int32Array | undefined {
  const dir = directory
  if (dir === undefined) return undefined
  const p = pinned
  if (p !== undefined) {
    // A marked slot keeps its channel (it is reused only once USERS is 0).
    if (pinnedPeer === peer && Atomics.load(p, STATE) === OPEN) return p
    pinned = undefined
    Atomics.sub(p, USERS, 1)
  } else if (lastCell !== undefined) {
    const last = lastCell
    Atomics.add(last, USERS, 1)
    if (Atomics.load(last, STATE) === OPEN && Atomics.load(last, PEER) === peer) return last
    Atomics.sub(last, USERS, 1)
  }
  const made = Atomics.load(dir, 0)
  for (let i = 0; i < made; i++) {
    const c = cellOf(i)
    if (c === undefined || Atomics.load(c, PEER) !== peer) continue
    Atomics.add(c, USERS, 1)
    if (Atomics.load(c, STATE) === OPEN && Atomics.load(c, PEER) === peer) {
      if (PIN) {
        pinned = c
        pinnedPeer = peer
      } else lastCell = c
      return c
    }
    Atomics.sub(c, USERS, 1)
  }
  return undefined
}

/** Ends a use that {@link enter} began (the main thread's mark stays: see `pinned`). */
export function leave(cell: Int32Array): void {
  if (cell !== pinned) Atomics.sub(cell, USERS, 1)
}

/** Slots of the directory made so far (tests: slots are reused once their channel is retired). */
export function slotsMade(): number {
  return directory === undefined ? 0 : Atomics.load(directory, 0)
}

/** Whether a direct channel to `peer` exists now. */
export function hasChannel(peer: number): boolean {
  const c = enter(peer)
  if (c === undefined) return false
  leave(c)
  return true
}

/**
 * Sends a frame to a neighbouring process by writing it to the channel from this thread.
 * @returns false if there is no open channel to `dst` (or it broke: the peer is gone); the
 *   caller then uses the I/O thread
 */
export function sendDirect(dst: number, type: number, id: number, bytes: Uint8Array | undefined, tag: number, aux: number): boolean {
  const c = enter(dst)
  if (c === undefined) return false
  try {
    writeFrameSync(c[FD_WRITE]!, type, dst, process.pid, id, bytes, tag, aux)
    return true
  } catch {
    return false
  } finally {
    leave(c)
  }
}

/** Stores bytes for the next reader of the channel. */
export function putLeftover(cell: Int32Array, bytes: Uint8Array): void {
  if (bytes.length > LEFTOVER_BYTES) throw new Error(`Tandem ipc: ${bytes.length} bytes left over, more than ${LEFTOVER_BYTES}`)
  new Uint8Array(cell.buffer, cell.byteOffset + LEFTOVER * 4, bytes.length).set(bytes)
  cell[LSTART] = 0
  cell[LEFT] = bytes.length
}

/** Takes the bytes a previous reader left. */
export function takeLeftover(cell: Int32Array): Uint8Array {
  const from = cell[LSTART]!
  const to = cell[LEFT]!
  cell[LSTART] = 0
  cell[LEFT] = 0
  return new Uint8Array(cell.buffer, cell.byteOffset + LEFTOVER * 4 + from, to - from).slice()
}

/** The LEFTOVER area of a cell as a Buffer (in shared memory: no copy hands it over). */
const areas = new Map<Int32Array, Buffer>()
let lastArea: [Int32Array, Buffer] | undefined
function areaOf(c: Int32Array): Buffer {
  if (lastArea !== undefined && lastArea[0] === c) return lastArea[1]
  let a = areas.get(c)
  if (a === undefined) areas.set(c, (a = Buffer.from(c.buffer, c.byteOffset + LEFTOVER * 4, LEFTOVER_BYTES)))
  lastArea = [c, a]
  return a
}

/** The queue a receive waits on when it does not read the channel itself. */
export interface Awaited {
  empty(): boolean
  readonly isShutdown: boolean
}

/** Whether the awaited queue holds something already (or ended): then the channel is not read. */
function pending(q: Awaited): boolean {
  return !q.empty() || q.isShutdown
}

/** What {@link readOwn} found: a message of the awaited stream (its payload is a copy). */
export interface OwnFrame {
  readonly tag: number
  readonly aux: number
  readonly payload: Uint8Array | undefined
}

/**
 * Receives that skip reading the channel themselves (they wait on the queue, where the I/O thread
 * puts what it reads) after a read found something it had to hand back (a message longer than
 * {@link MAX_OWN}, another stream's): each such read in a row doubles the skip, up to
 * 2^{@link MAX_OWN_SKIP_LOG}; a message read directly ends the run. (A stream of long messages
 * would otherwise pay a hand-over of the channel each time: 10-15% of a pool's 100 KB results.)
 */
let ownSkip = 0
let ownFails = 0
const MAX_OWN_SKIP_LOG = 6

/**
 * The main thread, about to wait for a message of stream (`type`, `src` = `peer`, `id`) that can
 * only come over the channel to `peer`: reads the channel itself instead of waiting for the I/O
 * thread to, which saves two thread wake-ups per message.
 *
 * Takes the channel from the I/O thread (ROLE WANT; the I/O thread pauses its reading, hands over
 * what it read of a partial packet, and grants IDLE), then reads packets until a one-packet frame
 * of the stream comes. Anything else (a frame for another stream, a frame of several packets,
 * a control frame, the end of the channel) is handed back unread with the channel, and undefined
 * is returned: the caller then waits on its queue, where the I/O thread puts what it reads. After a
 * message the channel stays with the main thread (IDLE), so the next receive starts reading at
 * once; the I/O thread takes it back when it has stayed IDLE a while (`hub.ts`).
 *
 * @param q the queue the receive waits on otherwise: when it holds something, nothing is read
 */
export function readOwn(peer: number, type: number, id: number, q: Awaited): OwnFrame | undefined {
  if (ownSkip > 0) {
    ownSkip--
    return undefined
  }
  const c = enter(peer)
  if (c === undefined) return undefined
  try {
    // Take the channel.
    for (;;) {
      const role = Atomics.load(c, ROLE)
      if (role === IDLE) {
        if (Atomics.compareExchange(c, ROLE, IDLE, ACTIVE) === IDLE) break
        continue
      }
      if (pending(q)) return undefined
      if (role === HUB) {
        Atomics.compareExchange(c, ROLE, HUB, WANT)
        Atomics.notify(c, ROLE)
        continue
      }
      if (role !== WANT || Atomics.load(c, STATE) !== OPEN) return undefined
      // The I/O thread grants at its next turn; meanwhile what it reads lands in the queue.
      Atomics.wait(c, ROLE, WANT, 1)
    }
    // Only this thread writes GEN; the I/O thread reads it with Atomics.load.
    c[GEN] = (c[GEN]! + 1) | 0
    if (TRACE) trace(`main reads (sync) peer ${peer} left ${c[LEFT]}`)
    if (pending(q)) {
      Atomics.compareExchange(c, ROLE, ACTIVE, IDLE)
      return undefined
    }
    // The bytes in hand are area[at, have): what earlier readers left, then what this one reads.
    const area = areaOf(c)
    let at = c[LSTART]!
    let have = c[LEFT]!
    for (;;) {
      while (have - at >= 2) {
        const m = ownMessage(area, at, have, type, peer, id)
        if (m === null) break
        if (m === undefined) {
          ownFails = Math.min(ownFails + 1, MAX_OWN_SKIP_LOG)
          ownSkip = 1 << ownFails
          return handBack(c, at, have)
        }
        const frame = m.frame
        at = m.end
        if (at === have) at = have = 0
        c[LSTART] = at
        c[LEFT] = have
        Atomics.compareExchange(c, ROLE, ACTIVE, IDLE)
        sendsAtFrame = sends
        ownFails = 0
        return frame
      }
      // Need more bytes: make room after the partial packet, then read.
      if (have + READ_CHUNK > LEFTOVER_BYTES) {
        area.copyWithin(0, at, have)
        have -= at
        at = 0
      }
      const napped = pace()
      let n = spinRead(c[FD_READ]!, area, have)
      if (n < 0) {
        try {
          n = readSync(c[FD_READ_BLOCKING]!, area, have, READ_CHUNK, null)
        } catch {
          n = 0
        }
      }
      if (n === 0) return handBack(c, at, have) // the end of the channel: the I/O thread sees it too
      paced(napped, n)
      have += n
    }
  } finally {
    leave(c)
  }
}

/**
 * The message of stream (`type`, `peer`, `id`) that starts at `buf[at]` (bytes up to `have`):
 * a one-packet frame, or the packets of a frame of up to {@link MAX_OWN} bytes written one after
 * the other by one thread (its `WRITER`), with where it ends; null if the bytes so far are the
 * start of such a message (read more); undefined for anything else (a frame of another stream or
 * a longer one, a control frame, packets of two writers interleaved): the I/O thread reads it.
 */
function ownMessage(buf: Buffer, at: number, have: number, type: number, peer: number, id: number): { frame: OwnFrame; end: number } | null | undefined {
  const len = buf.readUInt16LE(at)
  if (len < PHEADER || len > PACKET) return undefined
  if (have - at < len) return null
  if (buf[at + 2] !== type || buf.readUInt32LE(at + 8) !== peer || buf.readUInt32LE(at + 16) !== id) return undefined
  const flags = buf[at + 3]!
  const total = buf.readUInt32LE(at + 28)
  const tag = buf[at + 24]!
  const aux = buf.readInt32LE(at + 20)
  if (flags === FIRST_LAST) {
    if (total !== len - PHEADER) return undefined
    return { frame: { tag, aux, payload: len > PHEADER ? copyBytes(buf.subarray(at + PHEADER, at + len)) : undefined }, end: at + len }
  }
  if (flags !== FIRST || total > MAX_OWN) return undefined
  const writer = buf.readUInt32LE(at + 12)
  // Every packet of the frame must be here, one after the other.
  let end = at
  let got = 0
  for (;;) {
    if (have - end < 2) return null
    const n = buf.readUInt16LE(end)
    if (n < PHEADER || n > PACKET) return undefined
    if (have - end < n) return null
    const f = buf[end + 3]!
    if (
      (end !== at && (f & FIRST) !== 0) ||
      buf[end + 2] !== type ||
      buf.readUInt32LE(end + 8) !== peer ||
      buf.readUInt32LE(end + 12) !== writer ||
      buf.readUInt32LE(end + 16) !== id
    )
      return undefined
    got += n - PHEADER
    end += n
    if (got > total) return undefined
    if ((f & LAST) !== 0) break
  }
  if (got !== total) return undefined
  const payload = new Uint8Array(total)
  for (let p = at, o = 0; p < end; ) {
    const n = buf.readUInt16LE(p)
    payload.set(buf.subarray(p + PHEADER, p + n), o)
    o += n - PHEADER
    p += n
  }
  return { frame: { tag, aux, payload }, end }
}

/**
 * Longest message (payload bytes) a thread reads directly when it comes in several packets; a
 * longer one goes through the I/O thread. With its packet headers and a read's worth of bytes
 * after it, it fits in a channel cell's LEFTOVER area.
 */
const MAX_OWN = 48 * 1024

/**
 * Pacing of a stream's reads. A thread that only receives, from a peer that sends faster than
 * one message per read, would read each message as it comes: every write then wakes the reader
 * (or meets it at the pipe), which costs the writer more than the write itself, and the pair runs
 * at the writer's slow rate. Sleeping a little before reading instead lets the writer fill the
 * pipe undisturbed, and one read takes many messages (one way, 1.0 M to 1.9 M messages/s on
 * different cores here, 0.85 M to 1.4 M on one core).
 *
 * A receive naps ({@link NAP_MS}) before reading when this thread sent nothing since its last
 * message (so no answer is awaited: a round trip never naps) and the last read was short. A nap
 * that did not pay (the read after it got no more than the read before) doubles the number of
 * such receives that skip the nap, up to 1024, so sparse traffic soon pays nothing for it.
 */
const NAP_MS = 0.05
/** A read of fewer bytes than this (a few small messages) is short. */
const SHORT_READ = 4096
let sends = 0
let sendsAtFrame = -1
let lastRead = SHORT_READ
let napSkip = 0
let napFails = 0

/** Counts a send of this thread (called on every Connection send). */
export function noteSend(): void {
  sends = (sends + 1) | 0
}

/** Naps before a read if the stream looks like one-way traffic; whether it did. */
function pace(): boolean {
  if (sends !== sendsAtFrame || lastRead >= SHORT_READ) return false
  if (napSkip > 0) {
    napSkip--
    return false
  }
  Atomics.wait(napCell, 0, 0, NAP_MS)
  return true
}

/** Notes a read of `n` bytes (after a nap if `napped`). */
function paced(napped: boolean, n: number): void {
  if (napped) {
    if (n > lastRead * 2) napFails = 0
    else {
      napFails = Math.min(napFails + 1, MAX_SKIP_LOG)
      napSkip = 1 << napFails
    }
  }
  lastRead = n
}

const napCell = new Int32Array(new SharedArrayBuffer(4))

/** FLAGS of a packet (`channel.ts`): the frame's first, its last; a one-packet frame has both. */
const FIRST = 1
const LAST = 2
const FIRST_LAST = 3

/** Longest spin before sleeping in read(), in ms. */
const SPIN_MS = 0.05
/** Receives to skip spinning after a spin that failed, at most (doubling from 1). */
const MAX_SKIP_LOG = 10

/** Reads into `into[at, at + len)`; returns the bytes read, or -1 (nothing now, or failed). */
export type SpinRead = (fd: number, into: Buffer, at: number, len: number) => number

/**
 * A spinning reader with its own record of whether spinning pays: it tries non-blocking reads
 * for up to {@link SPIN_MS} (only while spinning pays: the peer runs on another core and answers
 * within the spin), returning the bytes read, or -1 (then sleep in a blocking read). A spin that
 * fails doubles the number of reads that do not spin, so on a single core (where the peer cannot
 * answer while this thread spins) spinning soon costs nothing.
 */
export function makeSpinner(): SpinRead {
  let skip = 0
  let fails = 0
  const fail = (): void => {
    fails = Math.min(fails + 1, MAX_SKIP_LOG)
    skip = 1 << fails
  }
  return (fd, into, at, len) => {
    if (skip > 0) {
      skip--
      return -1
    }
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    const t0 = performance.now()
    let n = -1
    try {
      for (let tries = 0; ; tries++) {
        try {
          n = readSync(fd, into, at, len, null)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return -1
        }
        const spent = performance.now() - t0
        if (n >= 0) {
          // Bytes there at once say nothing about spinning. Bytes that came during the spin, and
          // not after this thread was preempted, say that it pays.
          if (tries > 0) {
            if (spent <= SPIN_MS * 2) fails = 0
            else fail()
          }
          return n
        }
        if (spent > SPIN_MS) {
          fail()
          return -1
        }
      }
    } finally {
      Error.stackTraceLimit = limit
    }
  }
}

/** The main thread's spinner for the channels it reads directly. */
const spinChannel = makeSpinner()

function spinRead(fd: number, into: Buffer, have: number): number {
  return spinChannel(fd, into, have, READ_CHUNK)
}

/** Hands the channel back to the I/O thread with the bytes LEFTOVER[from, to) it has not used. */
function handBack(c: Int32Array, from: number, to: number): undefined {
  if (TRACE) trace(`main hands back ${to - from} bytes`)
  c[LSTART] = from
  c[LEFT] = to
  Atomics.compareExchange(c, ROLE, ACTIVE, HUB)
  Atomics.notify(c, ROLE)
  return undefined
}

/** The main thread's own reader of a channel for the async forms (an event-loop handle). */
interface AsyncReader {
  readonly cell: Int32Array
  readonly peer: number
  readonly socket: Socket
  /** Called with the bytes of each read while a receive waits; undefined between receives. */
  onRead: ((n: number) => void) | undefined
  onEnd: (() => void) | undefined
}

const readers = new Map<Int32Array, AsyncReader>()
const readBuf = Buffer.allocUnsafe(READ_CHUNK)

/**
 * The main thread's reader of channel `c` (opened on a descriptor of its own, so that closing it
 * never closes one the I/O thread or another thread uses); readers of channels that ended are
 * dropped.
 */
function readerFor(c: Int32Array, peer: number): AsyncReader | undefined {
  for (const [cell, r] of readers) {
    if (Atomics.load(cell, PEER) !== r.peer || Atomics.load(cell, STATE) !== OPEN) {
      r.socket.destroy()
      readers.delete(cell)
    }
  }
  const r = readers.get(c)
  if (r !== undefined) return r
  let fd: number
  try {
    fd = openSync(`/proc/self/fd/${c[FD_READ]}`, fsc.O_RDONLY | fsc.O_NONBLOCK)
  } catch {
    try {
      fd = openSync(`/dev/fd/${c[FD_READ]}`, fsc.O_RDONLY | fsc.O_NONBLOCK)
    } catch {
      return undefined
    }
  }
  const reader: AsyncReader = {
    cell: c,
    peer,
    socket: undefined as unknown as Socket,
    onRead: undefined,
    onEnd: undefined,
  }
  const socket = new Socket({
    fd,
    readable: true,
    writable: false,
    onread: {
      buffer: readBuf,
      callback: (n: number) => {
        if (reader.onRead === undefined) return false
        reader.onRead(n)
        return reader.onRead !== undefined
      },
    },
  } as ConstructorParameters<typeof Socket>[0])
  socket.pause()
  socket.unref()
  socket.on('error', () => reader.onEnd?.())
  socket.on('end', () => reader.onEnd?.())
  ;(reader as { socket: Socket }).socket = socket
  readers.set(c, reader)
  return reader
}

/**
 * Async form of {@link readOwn} (the main thread's `recvAsync`): reads the channel on the event
 * loop while the receive waits. Resolves undefined when the caller must wait on its queue instead
 * (the channel is not with the main thread now, something else came, or `deadline`/`signal`
 * ended the wait: the queue wait then reports the timeout or the abort).
 */
export async function readOwnAsync(peer: number, type: number, id: number, q: Awaited, deadline: number, signal: AbortSignal | undefined): Promise<OwnFrame | undefined> {
  const c = enter(peer)
  if (c === undefined) return undefined
  let entered = true
  try {
    const role = Atomics.load(c, ROLE)
    if (role === HUB) {
      // Ask for the channel; this receive waits on the queue, the next ones read directly.
      Atomics.compareExchange(c, ROLE, HUB, WANT)
      Atomics.notify(c, ROLE)
      return undefined
    }
    if (role !== IDLE || Atomics.compareExchange(c, ROLE, IDLE, ACTIVE) !== IDLE) return undefined
    c[GEN] = (c[GEN]! + 1) | 0
    if (TRACE) trace(`main reads (async) peer ${peer} left ${c[LEFT]}`)
    if (pending(q) || signal?.aborted) {
      Atomics.compareExchange(c, ROLE, ACTIVE, IDLE)
      return undefined
    }
    const reader = readerFor(c, peer)
    if (reader === undefined) {
      Atomics.compareExchange(c, ROLE, ACTIVE, IDLE)
      return undefined
    }
    // The bytes in hand are area[at, have), in the cell (nothing to copy when the channel changes hands).
    const area = areaOf(c)
    let at = c[LSTART]!
    let have = c[LEFT]!
    const keep = (): void => {
      c[LSTART] = at
      c[LEFT] = have
    }
    const scan = (): OwnFrame | null | undefined => {
      while (have - at >= 2) {
        const m = ownMessage(area, at, have, type, peer, id)
        if (m === null) break
        if (m === undefined) {
          // Not ours: the I/O thread reads it (and everything after it).
          if (TRACE) trace(`main (async) hands back ${have - at} bytes`)
          keep()
          Atomics.compareExchange(c, ROLE, ACTIVE, HUB)
          Atomics.notify(c, ROLE)
          return undefined
        }
        at = m.end
        if (at === have) at = have = 0
        keep()
        Atomics.compareExchange(c, ROLE, ACTIVE, IDLE)
        return m.frame
      }
      return null // need more bytes
    }
    const now = scan()
    if (now !== null) return now
    return await new Promise<OwnFrame | undefined>((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const finish = (f: OwnFrame | undefined): void => {
        reader.onRead = undefined
        reader.onEnd = undefined
        reader.socket.pause()
        reader.socket.unref()
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', stop)
        resolve(f)
      }
      // Timeout or abort: keep what was read for the next reader and leave the channel IDLE.
      const stop = (): void => {
        if (reader.onRead === undefined) return
        keep()
        Atomics.compareExchange(c, ROLE, ACTIVE, IDLE)
        finish(undefined)
      }
      reader.onRead = (n) => {
        if (have + n > LEFTOVER_BYTES) {
          area.copyWithin(0, at, have)
          have -= at
          at = 0
        }
        area.set(readBuf.subarray(0, n), have)
        have += n
        const f = scan()
        if (f !== null) finish(f)
      }
      reader.onEnd = () => {
        if (reader.onRead === undefined) return
        keep()
        Atomics.compareExchange(c, ROLE, ACTIVE, HUB)
        Atomics.notify(c, ROLE)
        reader.socket.destroy()
        readers.delete(c)
        finish(undefined)
      }
      signal?.addEventListener('abort', stop, { once: true })
      if (Number.isFinite(deadline)) timer = setTimeout(stop, remaining(deadline))
      reader.socket.ref()
      reader.socket.resume()
    })
  } finally {
    if (entered) leave(c)
    entered = false
  }
}
