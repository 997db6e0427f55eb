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
 * | 2     | USERS    | threads using the descriptors right now | every user (+1, then -1) |
 * | 3     | FD_WRITE | write end (non-blocking) | the I/O thread |
 * | 4     | FD_READ_BLOCKING | read end (blocking) | the I/O thread |
 * | 5     | FD_READ  | read end (non-blocking) | the I/O thread |
 *
 * A user increments USERS, then checks that PEER is still the pid it looked for and STATE is
 * OPEN; the I/O thread sets CLOSING before it looks at USERS. So either the user sees CLOSING and
 * backs off, or the I/O thread sees the user and waits for it.
 *
 * @module
 */
import { alloc, arenaBuffer, int32At } from '@tandem/sync/kit'
import { writeFrameSync } from './channel.ts'

export const SLOTS = 1024
const PEER = 0
const STATE = 1
const USERS = 2
const FD_WRITE = 3
const FD_READ_BLOCKING = 4
const FD_READ = 5
const CELL_WORDS = 8

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
  while (Atomics.load(cell, USERS) !== 0) await new Promise((r) => setTimeout(r, 5))
  close()
  Atomics.store(cell, PEER, 0)
  Atomics.store(cell, STATE, FREE)
}

/** The channel to `peer` with this thread marked as its user, or undefined (call {@link leave}). */
export function enter(peer: number): Int32Array | undefined {
  const dir = directory
  if (dir === undefined) return undefined
  const made = Atomics.load(dir, 0)
  for (let i = 0; i < made; i++) {
    const c = cellOf(i)
    if (c === undefined || Atomics.load(c, PEER) !== peer) continue
    Atomics.add(c, USERS, 1)
    if (Atomics.load(c, STATE) === OPEN && Atomics.load(c, PEER) === peer) return c
    Atomics.sub(c, USERS, 1)
  }
  return undefined
}

export function leave(cell: Int32Array): void {
  Atomics.sub(cell, USERS, 1)
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
