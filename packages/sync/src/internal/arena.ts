/**
 * The process arena: one growable SharedArrayBuffer that holds the shared state of every Tandem
 * object of the process, so that a shareable crossing by *any* channel (postMessage, or bytes in
 * a shared-memory queue or pipe) is described by plain numbers (an offset), never by a
 * SharedArrayBuffer that the channel could not carry.
 *
 * The first thread that needs it (normally the main thread) creates it; every Tandem worker
 * receives it in `workerData` (see `process-state.ts`) before any of its code runs.
 *
 * Algorithm: a segregated-fit allocator (power-of-two size classes, one LIFO free list each,
 * bump allocation from TOP with `SharedArrayBuffer.prototype.grow` when the arena is full),
 * guarded by one futex lock; blocks are reference counted by their handles. Each thread keeps a
 * small cache of freed blocks of the smallest classes (futures, locks, events), so that churning
 * through short-lived cells takes no lock.
 *
 * Layout (Int32 words at the start of the buffer):
 *
 * | index | name   | values | written by |
 * | ----- | ------ | ------ | ---------- |
 * | 0     | MAGIC  | ARENA_MAGIC | creator |
 * | 1     | LOCK   | UNLOCKED 0, LOCKED 1, CONTENDED 2 | allocating/freeing threads |
 * | 2     | TOP    | byte offset of the first never-allocated byte | holder of LOCK |
 * | 3     | ID     | random id telling arenas apart (a thread outside Tandem has its own) | creator |
 * | 4     | BLOCKS | blocks in use (for tests and leak checks) | holder of LOCK |
 * | 8 + k | FREE_k | byte offset of the first free block of class k (payload 16 << k bytes), 0 if none | holder of LOCK |
 *
 * Block (8-byte header before an 8-aligned payload):
 *
 * | word | name  | values | written by |
 * | ---- | ----- | ------ | ---------- |
 * | -2   | CLASS | size class k, or FREE_MARK - k while on a free list | holder of LOCK |
 * | -1   | REFS  | live handles + encodings in transit; the block is freed when it drops to 0 | anyone (Atomics.add/sub) |
 *
 * While free, the payload's first word links to the next free block of the class.
 *
 * Reference counting: `new X()` creates a block with REFS = 1, owned by that handle. Encoding a
 * handle for another thread adds 1 (the "transit" reference); the handle revived from it adopts
 * that reference. A handle gives its reference back when it is garbage-collected
 * (FinalizationRegistry) or when its worker exits. A transit reference that is never revived
 * (a message lost with a dying thread) leaks its block: bounded, and never a dangling handle.
 *
 * @module
 */
import { isMainThread } from 'node:worker_threads'
import { boot } from './process-state.ts'
import { InternalStateError, rangeError } from '../errors.ts'

const MAGIC = 0
const LOCK = 1
const TOP = 2
const ID = 3
const BLOCKS = 4
const FREE = 8
const CLASSES = 26 // payloads 16 B .. 512 MiB
const HEADER_BYTES = (FREE + CLASSES) * 4

const CLASS = -2
const REFS = -1
const BLOCK_HEADER = 8
const FREE_MARK = -1000

const ARENA_MAGIC = 0x7a4d3e11
const UNLOCKED = 0
const LOCKED = 1
const CONTENDED = 2

const INITIAL_BYTES = 1 << 20
const MAX_BYTES = 1 << 30

let buffer: SharedArrayBuffer | undefined
// Fixed-length views over the first `viewBytes` bytes, made again when the arena has grown
// (`fit`): element access through a length-tracking view of a growable buffer costs V8 several
// times more. Every access to a block first fits the views to it.
let words: Int32Array
let bytes: Uint8Array
let viewBytes = 0

function refreshViews(): void {
  viewBytes = buffer!.byteLength
  words = new Int32Array(buffer!, 0, viewBytes >> 2)
  bytes = new Uint8Array(buffer!, 0, viewBytes)
}

/** Makes the views reach byte `end` (another thread may have grown the arena). */
function fit(end: number): void {
  if (end > viewBytes) refreshViews()
}

/** The arena of this thread (created on first use unless inherited). */
export function arenaBuffer(): SharedArrayBuffer {
  if (buffer === undefined) {
    const sab = new SharedArrayBuffer(INITIAL_BYTES, { maxByteLength: MAX_BYTES })
    const w = new Int32Array(sab)
    w[MAGIC] = ARENA_MAGIC
    w[TOP] = HEADER_BYTES
    w[ID] = (Math.random() * 0x7fffffff) | 1
    adoptArena(sab)
  }
  return buffer!
}

/** Makes `sab` this thread's arena (a Tandem worker inherits its parent's). */
export function adoptArena(sab: SharedArrayBuffer): void {
  if (buffer === sab) return
  if (buffer !== undefined) throw new InternalStateError('This thread already has a different arena')
  buffer = sab
  refreshViews()
  if (words[MAGIC] !== ARENA_MAGIC) throw new InternalStateError('Not a Tandem arena')
}

/** Id of this thread's arena. */
export function arenaId(): number {
  arenaBuffer()
  return words[ID]!
}

function lock(): void {
  if (Atomics.compareExchange(words, LOCK, UNLOCKED, LOCKED) === UNLOCKED) return
  // Drepper's mutex; the critical sections are a few hundred instructions long.
  let s = Atomics.exchange(words, LOCK, CONTENDED)
  while (s !== UNLOCKED) {
    Atomics.wait(words, LOCK, CONTENDED)
    s = Atomics.exchange(words, LOCK, CONTENDED)
  }
}

function unlock(): void {
  if (Atomics.exchange(words, LOCK, UNLOCKED) === CONTENDED) Atomics.notify(words, LOCK, 1)
}

// Per-thread cache of free blocks of the classes below CACHED_CLASSES (payloads 16..64 B), at
// most CACHE_MAX each: allocated and freed without the lock. A cached block is marked free (its
// CLASS word) and not counted in BLOCKS; a worker gives its cache back when it exits.
const CACHED_CLASSES = 3
const CACHE_MAX = 256
const cache: number[][] = Array.from({ length: CACHED_CLASSES }, () => [])
let exiting = false

function classOf(size: number): number {
  const k = Math.max(0, 32 - Math.clz32(Math.max(16, size) - 1) - 4)
  if (k >= CLASSES) throw rangeError(`Cannot allocate ${size} bytes of shared memory (the arena's largest block is ${16 << (CLASSES - 1)} bytes)`)
  return k
}

/**
 * Allocates a zeroed block of at least `size` bytes with REFS = 1.
 * @returns the payload's byte offset (8-aligned)
 */
export function alloc(size: number): number {
  arenaBuffer()
  const k = classOf(size)
  const payload = 16 << k
  let at: number
  if (k < CACHED_CLASSES && cache[k]!.length > 0) {
    at = cache[k]!.pop()!
    fit(at + payload)
    if (words[(at >> 2) + CLASS] !== FREE_MARK - k) throw new InternalStateError(`Arena block cache ${k} is corrupt at ${at}`)
  } else {
    lock()
    try {
      at = words[FREE + k]!
      if (at !== 0) {
        fit(at + payload)
        if (words[(at >> 2) + CLASS] !== FREE_MARK - k) throw new InternalStateError(`Arena free list ${k} is corrupt at ${at}`)
        words[FREE + k] = words[at >> 2]!
      } else {
        at = words[TOP]! + BLOCK_HEADER
        const end = at + payload
        if (end > buffer!.byteLength) {
          if (end > MAX_BYTES) throw rangeError(`The shared-memory arena is full (${MAX_BYTES} bytes); release Tandem objects you no longer use`)
          buffer!.grow(Math.min(MAX_BYTES, Math.max(end, buffer!.byteLength * 2)))
        }
        fit(end)
        words[TOP] = end
      }
    } finally {
      unlock()
    }
  }
  words[(at >> 2) + CLASS] = k
  Atomics.add(words, BLOCKS, 1)
  bytes.fill(0, at, at + payload)
  // Published to other threads by whatever carries the offset to them (postMessage, or a
  // queue's release of its lock), which happens after this store.
  Atomics.store(words, (at >> 2) + REFS, 1)
  return at
}

function free(at: number): void {
  fit(at)
  const k = words[(at >> 2) + CLASS]!
  if (k < 0 || k >= CLASSES) throw new InternalStateError(`Arena block at ${at} freed twice or corrupt (class ${k})`)
  words[(at >> 2) + CLASS] = FREE_MARK - k
  Atomics.sub(words, BLOCKS, 1)
  if (k < CACHED_CLASSES && cache[k]!.length < CACHE_MAX && !exiting) {
    cache[k]!.push(at)
    return
  }
  lock()
  try {
    pushFree(at, k)
  } finally {
    unlock()
  }
}

/** Links a free block (marked, uncounted) into its class's list; the caller holds the lock. */
function pushFree(at: number, k: number): void {
  words[at >> 2] = words[FREE + k]!
  words[FREE + k] = at
}

/** Gives this thread's cached free blocks back to the shared free lists. */
function flushCache(): void {
  if (cache.every((c) => c.length === 0)) return
  lock()
  try {
    for (let k = 0; k < CACHED_CLASSES; k++) for (const at of cache[k]!.splice(0)) pushFree(at, k)
  } finally {
    unlock()
  }
}

/** Adds a reference to the block at `at` (an encoding in transit). */
export function retain(at: number): void {
  fit(at)
  if (Atomics.add(words, (at >> 2) + REFS, 1) <= 0) throw new InternalStateError(`Arena block at ${at} retained after it was freed`)
}

/**
 * Drops a reference; the last one frees the block, after `beforeFree(at)` (which may release
 * blocks the freed one owns).
 * @returns true if the block was freed
 */
export function release(at: number, beforeFree?: (at: number) => void): boolean {
  fit(at)
  const prev = Atomics.sub(words, (at >> 2) + REFS, 1)
  if (prev === 1) {
    beforeFree?.(at)
    free(at)
    return true
  }
  if (prev <= 0) throw new InternalStateError(`Arena block at ${at} released more often than retained`)
  return false
}

/** A byte view of the whole arena as it is now (get it again after allocating: the arena may grow). */
export function arenaBytes(): Uint8Array {
  fit(arenaBuffer().byteLength)
  return bytes
}

/** Current reference count of a block (tests and diagnostics). */
export function refCount(at: number): number {
  fit(at)
  return Atomics.load(words, (at >> 2) + REFS)
}

/** Blocks in use in the arena (tests and diagnostics). */
export function blocksInUse(): number {
  arenaBuffer()
  return Atomics.load(words, BLOCKS)
}

/** An Int32Array of `n` words over the payload at `at`. */
export function int32At(at: number, n: number): Int32Array {
  return new Int32Array(arenaBuffer(), at, n)
}

// A Tandem worker shares its parent's arena from the start.
if (boot?.arena !== undefined) adoptArena(boot.arena)

// ---- handle tracking ------------------------------------------------------------------------

interface Tracked {
  n: number
  beforeFree: ((at: number) => void) | undefined
}
const live = new Map<number, Tracked>()

const finalizer = new FinalizationRegistry<number>((at) => {
  const t = live.get(at)!
  if (--t.n === 0) live.delete(at)
  release(at, t.beforeFree)
})

// Main thread: one registry per beforeFree hook, holding plain offsets (no object per handle).
const mainFinalizers = new Map<((at: number) => void) | undefined, FinalizationRegistry<number>>()

function mainFinalizer(beforeFree: ((at: number) => void) | undefined): FinalizationRegistry<number> {
  let r = mainFinalizers.get(beforeFree)
  if (r === undefined) {
    r = new FinalizationRegistry<number>((at) => release(at, beforeFree))
    mainFinalizers.set(beforeFree, r)
  }
  return r
}

/**
 * Ties one reference of the block at `at` to `handle`: given back when the handle is collected
 * or this worker exits. `beforeFree` runs if that was the last reference (in this thread: so
 * every thread that can hold the last handle of a kind must pass the same hook).
 */
export function track(handle: object, at: number, beforeFree?: (at: number) => void): void {
  if (isMainThread) {
    // The main thread's references end with the process: only collection gives them back.
    mainFinalizer(beforeFree).register(handle, at)
    return
  }
  const t = live.get(at)
  if (t === undefined) live.set(at, { n: 1, beforeFree })
  else t.n++
  finalizer.register(handle, at)
}

if (!isMainThread) {
  // Finalizers do not run when a worker ends; give back what its handles still hold.
  process.on('exit', () => {
    // First the cache (and no caching from here on), so that blocks freed below go straight back.
    exiting = true
    flushCache()
    for (const [at, t] of live) for (let i = 0; i < t.n; i++) release(at, t.beforeFree)
    live.clear()
    for (const held of liveGroups) giveBack(held)
    liveGroups.clear()
  })
}

// ---- grouped references -------------------------------------------------------------------------

/** The references a {@link RefGroup} holds: block offsets, 0 for one given back early. */
interface Held {
  readonly refs: number[]
  readonly beforeFree: ((at: number) => void) | undefined
}

/**
 * References of up to {@link GROUP_SIZE} blocks of one kind, tied to handles of this thread
 * together: given back when every handle holding the group is collected (or this worker
 * exits), with one FinalizationRegistry entry per group instead of one per handle. For handles
 * made by the thousand (futures). A handle can give its reference back early with
 * {@link dropGroupedRef}; until then a live handle keeps the blocks of its whole group.
 */
export class RefGroup {
  readonly held: Held
  constructor(held: Held) {
    this.held = held
  }
}

/** Most references in one {@link RefGroup}. */
export const GROUP_SIZE = 16

function giveBack(held: Held): void {
  const refs = held.refs
  for (let i = 0; i < refs.length; i++) {
    const at = refs[i]!
    if (at !== 0) {
      refs[i] = 0
      release(at, held.beforeFree)
    }
  }
}

const groupFinalizer = new FinalizationRegistry<Held>((held) => {
  liveGroups.delete(held)
  giveBack(held)
})
// Workers: the groups not yet collected, given back when the worker exits.
const liveGroups = new Set<Held>()
const openGroups = new Map<((at: number) => void) | undefined, RefGroup>()

/**
 * Ties one reference of the block at `at` to the thread's open group for `beforeFree`; the
 * handle must keep the returned group (and may note its slot, `group.held.refs.length - 1`
 * right after the call, for {@link dropGroupedRef}).
 */
export function groupRef(at: number, beforeFree?: (at: number) => void): RefGroup {
  let g = openGroups.get(beforeFree)
  if (g === undefined || g.held.refs.length >= GROUP_SIZE) {
    const held: Held = { refs: [], beforeFree }
    g = new RefGroup(held)
    groupFinalizer.register(g, held)
    if (!isMainThread) liveGroups.add(held)
    openGroups.set(beforeFree, g)
  }
  g.held.refs.push(at)
  return g
}

/** Gives back the grouped reference in `slot` of `group` now (once). */
export function dropGroupedRef(group: RefGroup, slot: number): void {
  const held = group.held
  const at = held.refs[slot]!
  if (at === 0) return
  held.refs[slot] = 0
  release(at, held.beforeFree)
}

// ---- cells: what primitives use -------------------------------------------------------------

/** How a cell crosses to another thread: plain numbers. */
export interface CellRef {
  /** Arena id (a cell only makes sense in its own arena). */
  readonly a: number
  /** Payload byte offset. */
  readonly at: number
  /** Length in Int32 words. */
  readonly n: number
}

/** A new zeroed cell of `n` Int32 words whose reference `handle` owns. */
export function newCell(handle: object, n: number, beforeFree?: (at: number) => void): Int32Array {
  const at = alloc(n * 4)
  track(handle, at, beforeFree)
  return int32At(at, n)
}

/** Ties a revived cell's transit reference to `handle`. */
export function adoptCell(handle: object, cell: Int32Array, beforeFree?: (at: number) => void): Int32Array {
  track(handle, cell.byteOffset, beforeFree)
  return cell
}

/** Describes `cell` for another thread, adding the transit reference its revival adopts. */
export function shareCell(cell: Int32Array): CellRef {
  retain(cell.byteOffset)
  return { a: words[ID]!, at: cell.byteOffset, n: cell.length }
}

/** The cell a {@link CellRef} names, in this thread's arena. */
export function reviveCell(ref: CellRef): Int32Array {
  if (ref.a !== arenaId()) {
    throw new InternalStateError(
      'A Tandem object arrived from a thread with a different shared-memory arena (a worker not started by Tandem created it); create shared objects on Tandem threads or the main thread',
    )
  }
  return int32At(ref.at, ref.n)
}
