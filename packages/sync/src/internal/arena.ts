/**
 * The process arena: one growable SharedArrayBuffer that holds the shared state of every Tandem
 * object of the process, so that a shareable crossing by *any* channel (postMessage, or bytes in
 * a shared-memory queue or pipe) is described by plain numbers (an offset), never by a
 * SharedArrayBuffer that the channel could not carry.
 *
 * The first thread that needs it (normally the main thread) creates it; every Tandem worker
 * receives it in `workerData` (see `process-state.ts`) before any of its code runs.
 *
 * Algorithm: Knuth's boundary-tag allocator (TAOCP vol. 1, 2.5: a size word before every block,
 * a copy of it at the end of every free block, so a freed block merges with both free neighbours
 * in constant time) with segregated free lists indexed as in TLSF (Masmano, Ripoll, Crespo and
 * Real, "TLSF: a new dynamic memory allocator for real-time systems", 2004: exact lists for
 * blocks under 256 B, then 8 lists per power of two, and a bitmap of the non-empty lists). A
 * request takes the first block of the first non-empty list whose blocks are all large enough
 * (good fit) and splits off the rest; with none, it takes fresh memory at TOP, growing the buffer
 * (`SharedArrayBuffer.prototype.grow`) when needed. A freed block merges with free neighbours,
 * and a free block that reaches TOP moves TOP down instead of joining a list, so after a peak the
 * memory serves requests of any size again. One futex lock guards the lists and TOP; blocks are
 * reference counted by their handles. Each thread keeps a small cache of freed blocks of the
 * smallest sizes (futures, locks, events) so that churning through short-lived cells takes no
 * lock; cached blocks count as used until the cache gives them back (see "Per-thread cache").
 *
 * Layout (Int32 words at the start of the buffer):
 *
 * | index | name   | values | written by |
 * | ----- | ------ | ------ | ---------- |
 * | 0     | MAGIC  | ARENA_MAGIC | creator |
 * | 1     | LOCK   | UNLOCKED 0; else the holder's token (threadId + 1), or POISONED if a holder died inside, plus the CONTENDED flag (`futex-mutex.ts`) | allocating/freeing threads |
 * | 2     | TOP    | byte offset of the end of the last block (all memory above is unused) | holder of LOCK |
 * | 3     | ID     | random id telling arenas apart (a thread outside Tandem has its own) | creator |
 * | 4     | BLOCKS | live blocks (for tests and leak checks; blocks in thread caches are not live) | alloc/free (Atomics.add/sub) |
 * | 5     | USED   | bytes (headers included) of blocks outside the free lists: live or cached by a thread | holder of LOCK |
 * | 6     | FREE_BYTES | bytes of the blocks on the free lists (all below TOP) | holder of LOCK |
 * | 7     | EPOCH  | incremented when the arena runs short: every thread then gives its cache back | holder of LOCK |
 * | 8..14 | BITMAP | bit b of the 224-bit map: list b is non-empty | holder of LOCK |
 * | 15    | SUMMARY | bit w: BITMAP word w is non-zero (one load tells a search which word to look at) | holder of LOCK |
 * | 16 + b | LIST_b | payload offset of the first free block of list b (b < LIST_COUNT), 0 if none | holder of LOCK |
 *
 * Block (a SIZE word and a REFS word before the payload; block sizes are multiples of 8, payloads
 * 8-aligned, the smallest block 24 bytes):
 *
 * | word (from the payload) | name  | values | written by |
 * | ----------------------- | ----- | ------ | ---------- |
 * | -2                      | SIZE  | block size in bytes, with flag INUSE 1 (live or cached) and PREV_FREE 2 (the block just below is free) | holder of LOCK |
 * | -1                      | REFS  | live handles + encodings in transit; the block is freed when it drops to 0 | anyone (Atomics.add/sub) |
 * | 0 (free blocks)         | NEXT  | payload offset of the next block on the same list, 0 if last | holder of LOCK |
 * | 1 (free blocks)         | PREV  | payload offset of the previous block on the list, 0 if first | holder of LOCK |
 * | size/4 - 3 (free blocks) | FOOT | the block size again (the boundary tag the block above reads) | holder of LOCK |
 *
 * Invariants (checked by {@link arenaCheck}): blocks tile [ARENA_HEADER_BYTES, TOP); no two free
 * blocks are adjacent; the block below TOP is not free; USED + FREE_BYTES = TOP - ARENA_HEADER_BYTES.
 *
 * List index of a block of `s` bytes: `s >> 3` for s < 256 (one size per list), else
 * `32 + 8 * (log2(s) - 8) + (the 3 bits below the leading one)`.
 *
 * Only the lock holder writes a SIZE word (the cache paths only read it), so the PREV_FREE bit
 * that freeing or allocating a neighbour sets or clears never races with another write.
 *
 * Per-thread cache: a thread keeps up to CACHE_MAX freed blocks of each size from 24 to 72 bytes
 * (payloads 16 to 64 B) and allocates them again without the lock. To the shared allocator they
 * are in use, so they cannot merge while cached: the cache gives its oldest half back when it is
 * full, all of it when the thread grows the arena or finds it exhausted (and, through EPOCH,
 * every other thread's at its next cached free), and a worker gives it back when it exits.
 *
 * Giving memory back: a SharedArrayBuffer cannot shrink and JavaScript cannot tell the kernel
 * that a page is unused (no `madvise`), so memory touched at a peak stays in the process's
 * resident set. What the arena does give back is address space for any size: free tail memory
 * lowers TOP, free blocks merge, and new blocks are carved from that memory first.
 *
 * Reference counting: `new X()` creates a block with REFS = 1, owned by that handle. Encoding a
 * handle for another thread adds 1 (the "transit" reference); the handle revived from it adopts
 * that reference. A handle gives its reference back when it is garbage-collected
 * (FinalizationRegistry) or when its worker exits. A transit reference that is never revived
 * (a message lost with a dying thread) leaks its block: bounded, and never a dangling handle.
 * An extra release (a bug) is caught while the freed block is cached or still whole (its REFS
 * goes below 0), but not once it has merged into a neighbour or been carved again.
 *
 * @module
 */
import { isMainThread } from 'node:worker_threads'
import { boot } from './process-state.ts'
import { ArenaExhaustedError, InternalStateError, OwnerDiedError, rangeError } from '../errors.ts'
import { CONTENDED, POISONED, TOKEN_MASK } from './futex-mutex.ts'
import { SELF } from './ident.ts'
import { hasEnded, SLICE_MS, sweep } from './liveness.ts'

const MAGIC = 0
const LOCK = 1
const TOP = 2
const ID = 3
const BLOCKS = 4
const USED = 5
const FREE_BYTES = 6
const EPOCH = 7
const BITMAP = 8
const BITMAP_WORDS = 7
const SUMMARY = 15
const LIST = 16
const LIST_COUNT = 208 // lists 3..31 exact (24..248 B), then 8 per power of two up to 2^30
/** Bytes before the first block (the header words above, 8-aligned). */
const ARENA_HEADER_BYTES = (LIST + LIST_COUNT) * 4

const SIZE = -2
const REFS = -1
const NEXT = 0
const PREV = 1
const INUSE = 1
const PREV_FREE = 2
const SIZE_MASK = ~7
const BLOCK_HEADER = 8
const MIN_BLOCK = 24
/** Lists whose blocks all have one size (`s >> 3`, s < 256). */
const EXACT_LISTS = 32
/** Free blocks of a list that a search looks through for one large enough before growing. */
const SCAN_LIMIT = 32

const ARENA_MAGIC = 0x7a4d3e12
const UNLOCKED = 0

const INITIAL_BYTES = 1 << 20
const MAX_BYTES = 1 << 30
/** Largest payload: a block must fit in the arena after its header words. */
const MAX_PAYLOAD = MAX_BYTES - ARENA_HEADER_BYTES - BLOCK_HEADER

let buffer: SharedArrayBuffer | undefined
const ARENA_KEY = Symbol.for('tandem.arena')
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
    // Another copy of this module in this thread (see adoptArena) already has the arena.
    const shared = (globalThis as Record<symbol, unknown>)[ARENA_KEY] as SharedArrayBuffer | undefined
    if (shared !== undefined) {
      adoptArena(shared)
      return buffer!
    }
    const sab = new SharedArrayBuffer(INITIAL_BYTES, { maxByteLength: MAX_BYTES })
    const w = new Int32Array(sab)
    w[MAGIC] = ARENA_MAGIC
    w[TOP] = ARENA_HEADER_BYTES
    w[ID] = (Math.random() * 0x7fffffff) | 1
    adoptArena(sab)
  }
  return buffer!
}

/** Makes `sab` this thread's arena (a Tandem worker inherits its parent's). */
export function adoptArena(sab: SharedArrayBuffer): void {
  if (buffer === sab) return
  if (buffer !== undefined)
    throw new InternalStateError('This thread already has a different arena')
    // Published on globalThis, so a second copy of this module loaded in this thread (a require()
    // of the TypeScript sources next to their ES module, under tsx) works on the same arena.
  ;(globalThis as Record<symbol, unknown>)[ARENA_KEY] ??= sab
  buffer = sab
  refreshViews()
  if (words[MAGIC] !== ARENA_MAGIC) throw new InternalStateError('Not a Tandem arena')
  seenEpoch = words[EPOCH]!
}

/** Id of this thread's arena. */
export function arenaId(): number {
  arenaBuffer()
  return words[ID]!
}

// Drepper's mutex ("Futexes Are Tricky", mutex 3) with the holder's token in the word, as the
// Lock's (`futex-mutex.ts`). Every critical section is a bounded amount of work (one allocation
// or free, a flush of at most CACHE_MAX blocks, or a growth); taking the lock (an Atomics
// read-modify-write) orders everything the previous holder wrote before its unlock() ahead of
// what this holder reads. The views are fitted to TOP on entry because the previous holder may
// have grown the buffer.
//
// Owner death: a thread that dies holding the lock (terminated or out of memory in the middle of
// an allocation) may leave a free list half linked, so the arena cannot be trusted any more. A
// waiter notices within a liveness slice or two, marks the lock POISONED and throws
// OwnerDiedError; so does every later allocation or free that needs the lock. Nobody hangs;
// what lives in thread caches and blocks already handed out stay usable.
function lock(): void {
  if (Atomics.compareExchange(words, LOCK, UNLOCKED, SELF) !== UNLOCKED) lockSlow()
  fit(words[TOP]!)
}

function lockSlow(): void {
  for (;;) {
    let s = Atomics.load(words, LOCK)
    if (s === UNLOCKED) {
      if (Atomics.compareExchange(words, LOCK, UNLOCKED, SELF | CONTENDED) === UNLOCKED) return
      continue
    }
    const who = s & TOKEN_MASK
    if (who === POISONED || (who !== SELF && hasEnded(who))) {
      if (who !== POISONED && Atomics.compareExchange(words, LOCK, s, POISONED | CONTENDED) === s) Atomics.notify(words, LOCK)
      throw new OwnerDiedError(
        'A thread died while changing the process arena (the shared memory behind every Tandem object), so it can no longer be trusted: ' +
          'no Tandem object can be created, freed or queued in this process any more; restart the process',
        who === POISONED ? 0 : who,
      )
    }
    if ((s & CONTENDED) === 0) {
      if (Atomics.compareExchange(words, LOCK, s, s | CONTENDED) !== s) continue
      s |= CONTENDED
    }
    if (Atomics.wait(words, LOCK, s, SLICE_MS) === 'timed-out') sweep()
  }
}

function unlock(): void {
  if ((Atomics.exchange(words, LOCK, UNLOCKED) & CONTENDED) !== 0) Atomics.notify(words, LOCK, 1)
}

// ---- free lists (caller holds the lock) ----------------------------------------------------------

/** List of a free block of `s` bytes. */
function listOf(s: number): number {
  if (s < 256) return s >> 3
  const log = 31 - Math.clz32(s)
  return EXACT_LISTS + ((log - 8) << 3) + ((s >>> (log - 3)) & 7)
}

/** First list whose blocks all hold at least `s` bytes. */
function listAtLeast(s: number): number {
  if (s < 256) return s >> 3
  const log = 31 - Math.clz32(s)
  const list = EXACT_LISTS + ((log - 8) << 3) + ((s >>> (log - 3)) & 7)
  return (s & ((1 << (log - 3)) - 1)) === 0 ? list : list + 1
}

/** First non-empty list at or above `from`, -1 if none. Caller holds the lock. */
function firstListFrom(from: number): number {
  let w = from >> 5
  if (w >= BITMAP_WORDS) return -1
  let bits = words[BITMAP + w]! & (-1 << (from & 31))
  if (bits === 0) {
    const above = words[SUMMARY]! & (-2 << w)
    if (above === 0) return -1
    w = 31 - Math.clz32(above & -above)
    bits = words[BITMAP + w]!
  }
  return (w << 5) + 31 - Math.clz32(bits & -bits)
}

/** Puts the free block `at` of `s` bytes on its list and tags it. Caller holds the lock. */
function insertFree(at: number, s: number): void {
  const i = at >> 2
  const list = listOf(s)
  const head = words[LIST + list]!
  words[i + SIZE] = s // free, and the block below is not free (it would have merged)
  words[i + NEXT] = head
  words[i + PREV] = 0
  words[((at + s) >> 2) - 3] = s // FOOT: the last word of the block
  if (head !== 0) words[(head >> 2) + PREV] = at
  else {
    words[BITMAP + (list >> 5)] |= 1 << (list & 31)
    words[SUMMARY] |= 1 << (list >> 5)
  }
  words[LIST + list] = at
  words[((at + s) >> 2) + SIZE] |= PREV_FREE // the block above (below TOP: a free block never reaches TOP)
  words[FREE_BYTES] += s
}

/** Takes the free block `at` of `s` bytes off its list. Caller holds the lock. */
function removeFree(at: number, s: number): void {
  const i = at >> 2
  const next = words[i + NEXT]!
  const prev = words[i + PREV]!
  if (prev !== 0) words[(prev >> 2) + NEXT] = next
  else {
    const list = listOf(s)
    if (words[LIST + list] !== at) throw new InternalStateError(`Arena free list ${list} is corrupt at ${at}`)
    words[LIST + list] = next
    if (next === 0 && (words[BITMAP + (list >> 5)] &= ~(1 << (list & 31))) === 0) words[SUMMARY] &= ~(1 << (list >> 5))
  }
  if (next !== 0) words[(next >> 2) + PREV] = prev
  words[FREE_BYTES] -= s
}

/** The first block of `list` that holds at least `s` bytes, looking at most `max` blocks; 0 if none. */
function scan(list: number, s: number, max: number): number {
  for (let b = words[LIST + list]!, n = 0; b !== 0 && n < max; b = words[(b >> 2) + NEXT]!, n++) {
    if ((words[(b >> 2) + SIZE]! & SIZE_MASK) >= s) return b
  }
  return 0
}

/**
 * Carves a block of `s` bytes from the free lists or TOP, without growing the buffer past
 * `limit`. Caller holds the lock.
 * @returns the payload offset, 0 if nothing fits
 */
function allocLocked(s: number, limit: number): number {
  let list = firstListFrom(listAtLeast(s))
  let at = list >= 0 ? words[LIST + list]! : 0
  // Else the list of `s` itself may hold a block large enough (its sizes span 1/8 more): a few
  // are looked at before taking fresh memory, all of them before giving up.
  if (at === 0 && s >= 256) at = scan((list = listOf(s)), s, SCAN_LIMIT)
  if (at === 0) {
    const top = words[TOP]!
    if (top + s <= limit) {
      if (top + s > viewBytes) {
        refreshViews() // another thread may have grown the buffer
        if (top + s > viewBytes) {
          buffer!.grow(Math.min(MAX_BYTES, Math.max(top + s, viewBytes * 2)))
          refreshViews()
        }
      }
      at = top + BLOCK_HEADER
      words[(at >> 2) + SIZE] = s | INUSE // the block below TOP is never free
      words[TOP] = top + s
      words[USED] += s
      return at
    }
    if (s >= 256) at = scan(list, s, Infinity)
    if (at === 0) return 0
  }
  const i = at >> 2
  const have = words[i + SIZE]!
  if ((have & (INUSE | PREV_FREE)) !== 0) throw new InternalStateError(`Arena free list ${list} is corrupt at ${at} (size word ${have})`)
  removeFree(at, have)
  if (have - s >= MIN_BLOCK) {
    words[i + SIZE] = s | INUSE
    insertFree(at + s, have - s)
  } else {
    s = have
    words[i + SIZE] = s | INUSE
    words[((at + s) >> 2) + SIZE] &= ~PREV_FREE
  }
  words[USED] += s
  return at
}

/** Returns the block `at` (live or cached) to the free memory, merging it. Caller holds the lock. */
function freeLocked(at: number): void {
  const i = at >> 2
  const tag = words[i + SIZE]!
  let s = tag & SIZE_MASK
  if ((tag & INUSE) === 0 || s < MIN_BLOCK) throw new InternalStateError(`Arena block at ${at} freed twice or corrupt (size word ${tag})`)
  words[USED] -= s
  if ((tag & PREV_FREE) !== 0) {
    const below = words[i - 3]! // the FOOT of the block below
    const b = at - below
    if (words[(b >> 2) + SIZE] !== below) throw new InternalStateError(`Arena block below ${at} is corrupt (boundary tag ${below})`)
    removeFree(b, below)
    at = b
    s += below
  }
  const above = at + s
  if (above - BLOCK_HEADER === words[TOP]) {
    words[TOP] = at - BLOCK_HEADER
    return
  }
  const tagAbove = words[(above >> 2) + SIZE]!
  if ((tagAbove & INUSE) === 0) {
    removeFree(above, tagAbove)
    s += tagAbove
  }
  insertFree(at, s)
}

// ---- allocation ------------------------------------------------------------------------------------

// Per-thread cache of freed blocks of 24..72 bytes (CACHED_SIZES sizes, at most CACHE_MAX each):
// allocated and freed without the lock. A cached block keeps its INUSE tag (the shared allocator
// sees it as used, counted in USED) and REFS 0, and is not counted in BLOCKS.
const CACHED_SIZES = 7
const CACHE_LARGEST = MIN_BLOCK + 8 * (CACHED_SIZES - 1)
const CACHE_MAX = 256
const cache: number[][] = Array.from({ length: CACHED_SIZES }, () => [])
let exiting = false
/** The EPOCH this thread's cache last answered. */
let seenEpoch = 0

/** Block size for a payload of `size` bytes. */
function blockSize(size: number): number {
  if (!(size <= MAX_PAYLOAD)) {
    throw rangeError(`Cannot allocate ${size} bytes of shared memory: the arena holds at most ${MAX_BYTES} bytes, so its largest block holds ${MAX_PAYLOAD}`)
  }
  return size <= 16 ? MIN_BLOCK : (size + BLOCK_HEADER + 7) & SIZE_MASK
}

/**
 * Allocates a zeroed block of at least `size` bytes with REFS = 1.
 * @returns the payload's byte offset (8-aligned)
 * @throws {ArenaExhaustedError} `ERR_ARENA_EXHAUSTED` if no free memory of that size is left below the arena's 1 GiB limit
 */
export function alloc(size: number): number {
  arenaBuffer()
  const s = blockSize(size)
  let at = 0
  if (s <= CACHE_LARGEST) {
    const c = cache[(s >> 3) - 3]!
    if (c.length > 0) {
      at = c.pop()!
      fit(at + s - BLOCK_HEADER)
      if ((words[(at >> 2) + SIZE]! & ~PREV_FREE) !== (s | INUSE)) throw new InternalStateError(`Arena block cache is corrupt at ${at}`)
    }
  }
  if (at === 0) at = allocShared(s, size)
  Atomics.add(words, BLOCKS, 1)
  bytes.fill(0, at, at + s - BLOCK_HEADER)
  // Published to other threads by whatever carries the offset to them (postMessage, or a
  // queue's release of its lock), which happens after this store.
  Atomics.store(words, (at >> 2) + REFS, 1)
  return at
}

/** Allocates a block of `s` bytes under the lock (for a payload of `size`). */
function allocShared(s: number, size: number): number {
  lock()
  try {
    // (The views are as long as the buffer was when this thread last looked: enough unless
    // another thread has grown it since.)
    let at = allocLocked(s, viewBytes)
    if (at !== 0) return at
    refreshViews()
    at = allocLocked(s, viewBytes)
    if (at !== 0) return at
    // The buffer must grow, or is at its limit: first let the cached blocks merge (this
    // thread's now, the other threads' at their next cached free).
    words[EPOCH] = (words[EPOCH]! + 1) | 0
    if (flushCacheLocked()) at = allocLocked(s, viewBytes)
    if (at === 0) at = allocLocked(s, MAX_BYTES)
    if (at !== 0) return at
    throw exhausted(size)
  } finally {
    unlock()
  }
}

/** The error for a request of `size` bytes that does not fit. Caller holds the lock. */
function exhausted(size: number): ArenaExhaustedError {
  const unused = MAX_BYTES - words[TOP]! // above TOP, never allocated
  const free = words[FREE_BYTES]! + unused
  const largest = Math.max(largestFreeLocked(), unused) - BLOCK_HEADER
  const inUse =
    `Cannot allocate ${size} bytes of shared memory: the arena is at its limit of 1 GiB (${MAX_BYTES} bytes), with ` +
    `${words[USED]!} bytes in use by ${Atomics.load(words, BLOCKS)} live blocks (and small blocks that threads keep cached for reuse)`
  return new ArenaExhaustedError(
    free >= size + BLOCK_HEADER
      ? `${inUse}; ${free} bytes are free, but in pieces too small (the largest holds ${Math.max(0, largest)} bytes). ` +
          'Free pieces merge when the objects between them go: let go of Tandem objects you no longer need, or pass large data another way'
      : `${inUse}; ${free} bytes are free. Let go of Tandem objects you no longer need (queues holding large items, futures, primitives), or pass large data another way`,
  )
}

/** Size of the largest free block (0 if none). Caller holds the lock. */
function largestFreeLocked(): number {
  const list = lastList()
  let largest = 0
  for (let b = list < 0 ? 0 : words[LIST + list]!; b !== 0; b = words[(b >> 2) + NEXT]!) largest = Math.max(largest, words[(b >> 2) + SIZE]!)
  return largest
}

/** The highest non-empty list, -1 if none. Caller holds the lock. */
function lastList(): number {
  for (let w = BITMAP_WORDS - 1; w >= 0; w--) {
    const bits = words[BITMAP + w]!
    if (bits !== 0) return (w << 5) + 31 - Math.clz32(bits)
  }
  return -1
}

function free(at: number): void {
  fit(at)
  const tag = words[(at >> 2) + SIZE]!
  const s = tag & SIZE_MASK
  if ((tag & INUSE) === 0 || s < MIN_BLOCK) throw new InternalStateError(`Arena block at ${at} freed twice or corrupt (size word ${tag})`)
  Atomics.sub(words, BLOCKS, 1)
  if (s <= CACHE_LARGEST && !exiting) {
    const c = cache[(s >> 3) - 3]!
    if (c.length < CACHE_MAX && words[EPOCH] === seenEpoch) {
      c.push(at)
      return
    }
    // Full, or the arena ran short: the oldest half of this size (or the whole cache) and this
    // block go back, so that no cached block stays out of the free memory for long.
    lock()
    try {
      if (words[EPOCH] !== seenEpoch) flushCacheLocked()
      else for (const b of c.splice(0, CACHE_MAX >> 1)) freeLocked(b)
      freeLocked(at)
    } finally {
      unlock()
    }
    return
  }
  lock()
  try {
    freeLocked(at)
  } finally {
    unlock()
  }
}

/**
 * Gives this thread's cached blocks back to the free memory. Caller holds the lock.
 * @returns true if there were any
 */
function flushCacheLocked(): boolean {
  seenEpoch = words[EPOCH]!
  let any = false
  for (const c of cache) {
    for (let j = 0; j < c.length; j++) freeLocked(c[j]!)
    any ||= c.length > 0
    c.length = 0
  }
  return any
}

/** Gives this thread's cached free blocks back to the free memory. */
function flushCache(): void {
  if (cache.every((c) => c.length === 0)) return
  lock()
  try {
    flushCacheLocked()
  } finally {
    unlock()
  }
}

/** What the arena holds now (tests, diagnostics and error messages). */
export interface ArenaStats {
  /** Most bytes the arena may grow to. */
  readonly limit: number
  /** Bytes of the buffer now (it never shrinks). */
  readonly size: number
  /** End of the last block: memory above it is unused. */
  readonly top: number
  /** Bytes (headers included) of live blocks and of blocks cached by threads. */
  readonly used: number
  /** Bytes of free blocks below `top`. */
  readonly free: number
  /** Size of the largest free block below `top` (headers included), 0 if none. */
  readonly largestFree: number
  /** Live blocks. */
  readonly blocks: number
  /** Blocks in this thread's cache. */
  readonly cachedHere: number
}

/** A snapshot of the arena's counters. */
export function arenaStats(): ArenaStats {
  arenaBuffer()
  lock()
  try {
    return {
      limit: MAX_BYTES,
      size: buffer!.byteLength,
      top: words[TOP]!,
      used: words[USED]!,
      free: words[FREE_BYTES]!,
      largestFree: largestFreeLocked(),
      blocks: Atomics.load(words, BLOCKS),
      cachedHere: cache.reduce((n, c) => n + c.length, 0),
    }
  } finally {
    unlock()
  }
}

/**
 * Walks every block and free list and throws an InternalStateError at the first broken
 * invariant of the layout table (tests). Holds the lock for the whole walk.
 * @returns the number of free blocks
 */
export function arenaCheck(): number {
  arenaBuffer()
  lock()
  try {
    const top = words[TOP]!
    let at = ARENA_HEADER_BYTES + BLOCK_HEADER
    let belowFree = false
    let used = 0
    let free = 0
    let freeBlocks = 0
    while (at - BLOCK_HEADER < top) {
      const tag = words[(at >> 2) + SIZE]!
      const s = tag & SIZE_MASK
      const where = `arena check: block at ${at} (size word ${tag})`
      if (s < MIN_BLOCK || at - BLOCK_HEADER + s > top) throw new InternalStateError(`${where} has a bad size`)
      if (((tag & PREV_FREE) !== 0) !== belowFree) throw new InternalStateError(`${where} has a wrong PREV_FREE flag`)
      if ((tag & INUSE) !== 0) used += s
      else {
        if (belowFree) throw new InternalStateError(`${where} is free next to a free block`)
        if (words[((at + s) >> 2) - 3] !== s) throw new InternalStateError(`${where} has a wrong boundary tag`)
        free += s
        freeBlocks++
      }
      belowFree = (tag & INUSE) === 0
      at += s
    }
    if (at - BLOCK_HEADER !== top) throw new InternalStateError(`arena check: blocks end at ${at - BLOCK_HEADER}, TOP is ${top}`)
    if (belowFree) throw new InternalStateError('arena check: a free block reaches TOP')
    if (used !== words[USED] || free !== words[FREE_BYTES]) {
      throw new InternalStateError(`arena check: counted ${used} used and ${free} free bytes, the header says ${words[USED]} and ${words[FREE_BYTES]}`)
    }
    for (let w = 0; w < BITMAP_WORDS; w++) {
      if ((words[BITMAP + w] !== 0) !== ((words[SUMMARY]! & (1 << w)) !== 0)) throw new InternalStateError(`arena check: summary bit ${w} is wrong`)
    }
    let listed = 0
    for (let list = 0; list < LIST_COUNT; list++) {
      const head = words[LIST + list]!
      if ((head !== 0) !== ((words[BITMAP + (list >> 5)]! & (1 << (list & 31))) !== 0)) throw new InternalStateError(`arena check: bitmap bit ${list} is wrong`)
      for (let b = head, prev = 0; b !== 0; prev = b, b = words[(b >> 2) + NEXT]!) {
        const tag = words[(b >> 2) + SIZE]!
        if ((tag & INUSE) !== 0 || listOf(tag) !== list || words[(b >> 2) + PREV] !== prev) throw new InternalStateError(`arena check: list ${list} is corrupt at ${b}`)
        if (++listed > freeBlocks) throw new InternalStateError(`arena check: list ${list} holds more blocks than are free (a cycle?)`)
      }
    }
    if (listed !== freeBlocks) throw new InternalStateError(`arena check: ${freeBlocks} free blocks, ${listed} on the lists`)
    return freeBlocks
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
