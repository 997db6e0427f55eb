/**
 * The machinery shared by Queue, LifoQueue, PriorityQueue and SimpleQueue.
 *
 * Design: CPython's `queue.Queue` (one mutex, the conditions `notEmpty`, `notFull` and
 * `allTasksDone` on it, an unfinished-task count), with every piece in shared memory: the
 * mutex and conditions are Tandem primitives, the counters live in a control cell, and the
 * items live in an entry table in the process arena. Small items (undefined, null, booleans,
 * int32, values of up to 76 encoded bytes) sit in their entry; larger ones in an arena block
 * the entry points to, allocated and filled before the mutex is taken and freed by the getter
 * after it released the mutex, so the critical section is a few word writes.
 *
 * Control cell (Int32 words in the process arena):
 *
 * | index | name       | values | written by |
 * | ----- | ---------- | ------ | ---------- |
 * | 0     | COUNT      | items in the queue | holder of the mutex |
 * | 1     | MAXSIZE    | 0 = unbounded | constructor |
 * | 2     | UNFINISHED | items put and not yet `taskDone()` | holder of the mutex |
 * | 3     | SHUTDOWN   | 0, or 1 after `shutdown()` | holder of the mutex |
 * | 4     | HEAD       | FIFO: table index of the oldest entry | holder of the mutex |
 * | 5     | TABLE_AT   | arena offset of the entry table | holder of the mutex (on growth) |
 * | 6     | CAPACITY   | entries the table holds | holder of the mutex (on growth) |
 * | 7     | SEQ        | insertion counter (PriorityQueue ties), wraps | holder of the mutex |
 * | 8     | DIRTY      | 1 while the holder of the mutex is changing the entries or the table, else 0 | holder of the mutex |
 *
 * Owner death: if a thread dies holding the mutex (`terminate()`, out of memory), the mutex is
 * poisoned (`@tandem/sync` Lock). The next thread to take it looks at DIRTY: 0 means the thread
 * died between changes, so the queue is intact and the poison is cleared; 1 means it died in the
 * middle of one, so the queue can no longer be trusted and every operation throws
 * `OwnerDiedError` (`ERR_OWNER_DIED`) instead of handing out a half-written item.
 *
 * Entry (ENTRY_WORDS Int32 words in the table):
 *
 * | word | name   | values |
 * | ---- | ------ | ------ |
 * | 0    | TAG    | item encoding (`codec.ts`) |
 * | 1    | VALUE  | int32 item, or the payload's byte length |
 * | 2    | REF    | arena offset of the payload block, 0 if the payload is inline |
 * | 3    | SEQ    | insertion number (PriorityQueue) |
 * | 4    | KEYLEN | PriorityQueue: bytes of sort key at the start of the block, before the payload |
 * | 5..23 | INLINE | up to 76 payload bytes |
 *
 * Orders: FIFO is a ring (HEAD, COUNT), LIFO a stack (COUNT), PRIORITY a binary min-heap on
 * (sort key, SEQ). The table grows (doubling, copied under the mutex) when an unbounded queue
 * fills it; every handle re-reads TABLE_AT under the mutex.
 *
 * Memory: actions in a thread before `put(x)` happen-before actions after the `get()` that
 * returns x (the mutex orders them).
 */
import { Condition } from '@tandem/sync/condition'
import { OwnerDiedError, rangeError, typeError } from '@tandem/sync/errors'
import {
  ACQUIRE_GEN,
  TRY_ACQUIRE,
  adoptCell,
  alloc,
  arenaBuffer,
  arenaBytes,
  asyncOptions,
  checkInt,
  checkTimeout,
  deadlineOf,
  describe,
  int32At,
  newCell,
  release,
  remaining,
  reviveCell,
  runAsync,
  runBlocking,
  shareCell,
  type AsyncWaitOptions,
  type CellRef,
  type Waiter,
} from '@tandem/sync/kit'
import { Lock } from '@tandem/sync/lock'
import { SHARE, type ShareContext } from '@tandem/sync/shareable'
import { notShareableToProcess } from '@tandem/sync/errors'
import { QueueEmpty, QueueFull, QueueShutDown } from '../errors.ts'
import { compareKeys, decodeItem, encodeItem, payloadBytes, sortKey, type EncodedItem } from './codec.ts'

const COUNT = 0
const MAXSIZE = 1
const UNFINISHED = 2
const SHUTDOWN = 3
const HEAD = 4
const TABLE_AT = 5
const CAPACITY = 6
const SEQ = 7
const DIRTY = 8
const CONTROL_WORDS = 9

const TAG = 0
const VALUE = 1
const REF = 2
const ESEQ = 3
const KEYLEN = 4
const INLINE = 5
const ENTRY_WORDS = 24
const INLINE_BYTES = (ENTRY_WORDS - INLINE) * 4

const INITIAL_CAPACITY = 64
/** Polls of a blocking get/put on an empty/full queue before it waits on a condition. */
const QUEUE_SPIN = 1000
const MAX_CAPACITY = 1 << 24

/** How a queue orders its items. */
export const Order = { FIFO: 0, LIFO: 1, PRIORITY: 2 } as const
export type Order = (typeof Order)[keyof typeof Order]

/** A removed entry, copied out under the mutex. */
interface Taken {
  tag: number
  value: number
  ref: number
  keyLen: number
  inline: Uint8Array | undefined
}

/** Options of `put`. */
export interface PutOptions {
  /** Wait for room (true) or throw QueueFull at once (false). @default true */
  block?: boolean
  /** Longest wait in ms, then QueueFull. @default Infinity */
  timeout?: number
}

/** Options of `get`. */
export interface GetOptions {
  /** Wait for an item (true) or throw QueueEmpty at once (false). @default true */
  block?: boolean
  /** Longest wait in ms, then QueueEmpty. @default Infinity */
  timeout?: number
}

interface QueueData {
  cell: Int32Array
  mutex: Lock
  notEmpty: Condition
  notFull: Condition
  allTasksDone: Condition
}

let reviving: QueueData | undefined

/** Frees what a queue's control cell owns when its last handle goes: items and table. */
function freeContents(at: number): void {
  const c = int32At(at, CONTROL_WORDS)
  const table = int32At(c[TABLE_AT]!, c[CAPACITY]! * ENTRY_WORDS)
  const cap = c[CAPACITY]!
  for (let i = 0; i < c[COUNT]!; i++) {
    const e = (((c[HEAD]! + i) % cap) * ENTRY_WORDS) | 0
    if (table[e + REF]! !== 0) release(table[e + REF]!)
  }
  release(c[TABLE_AT]!)
}

function blockingOptions(opts: PutOptions | GetOptions | undefined, what: string): { block: boolean; timeout: number } {
  if (opts === undefined) return { block: true, timeout: Infinity }
  if (typeof opts !== 'object' || opts === null) throw typeError(`${what}: options must be an object { block?, timeout? }; received ${describe(opts)}`)
  // Read by truthiness, as Python reads `block` (`get(block=0)` does not block).
  const block = opts.block === undefined ? true : Boolean(opts.block)
  return { block, timeout: checkTimeout(opts.timeout) }
}

/** @internal An item as its encoding (`codec.ts`), as `_takeRaw`/`_putRaw` move it. */
export interface RawItem {
  tag: number
  value: number
  bytes: Uint8Array | undefined
}

/** @internal Shared implementation of every queue class. */
/** An item encoded and staged for a later put. */
export interface Staged {
  enc: EncodedItem
  ref: number
  keyLen: number
}

export class BaseQueue<T> {
  readonly #cell: Int32Array
  readonly #order: Order
  /** @internal */ readonly mutex: Lock
  /** @internal */ readonly notEmpty: Condition
  /** @internal */ readonly notFull: Condition
  /** @internal */ readonly allTasksDone: Condition
  #tableAt = -1
  #table!: Int32Array
  #tableBytes!: Uint8Array

  constructor(maxsize: number, order: Order) {
    this.#order = order
    if (reviving !== undefined) {
      this.#cell = adoptCell(this, reviving.cell, freeContents)
      this.mutex = reviving.mutex
      this.notEmpty = reviving.notEmpty
      this.notFull = reviving.notFull
      this.allTasksDone = reviving.allTasksDone
      return
    }
    checkInt(maxsize, 'maxsize', Number.MIN_SAFE_INTEGER)
    const max = maxsize > 0 ? checkInt(maxsize, 'maxsize', 0, MAX_CAPACITY) : 0
    this.#cell = newCell(this, CONTROL_WORDS, freeContents)
    const capacity = max > 0 ? Math.min(max, INITIAL_CAPACITY * 16) : INITIAL_CAPACITY
    this.#cell[MAXSIZE] = max
    this.#cell[CAPACITY] = capacity
    this.#cell[TABLE_AT] = alloc(capacity * ENTRY_WORDS * 4)
    this.mutex = new Lock()
    this.notEmpty = new Condition(this.mutex)
    this.notFull = new Condition(this.mutex)
    this.allTasksDone = new Condition(this.mutex)
  }

  /** Display name for errors. */
  protected get kindName(): string {
    return 'Queue'
  }

  /** Caller holds the mutex. Refreshes this handle's view of the entry table. */
  #views(): void {
    const at = this.#cell[TABLE_AT]!
    if (at !== this.#tableAt) {
      this.#tableAt = at
      this.#table = int32At(at, this.#cell[CAPACITY]! * ENTRY_WORDS)
      // Fixed-length views: V8 11 optimises them far better than length-tracking ones.
      this.#tableBytes = new Uint8Array(this.#table.buffer, at, this.#table.byteLength)
    }
  }

  /** Encodes and stages an item outside the mutex. Returns the payload block (0 if inline). */
  #stage(item: T, trustedArrays = 0, target: 'thread' | 'process' = 'thread'): { enc: EncodedItem; ref: number; keyLen: number } {
    return this.#stageEncoded(item, encodeItem(item, { tag: 0, value: 0, bytes: undefined }, trustedArrays, target))
  }

  #stageEncoded(item: T, enc: EncodedItem): { enc: EncodedItem; ref: number; keyLen: number } {
    const payload = enc.bytes
    let keyLen = 0
    let ref = 0
    if (this.#order === Order.PRIORITY) {
      const key = sortKey(item)
      keyLen = key.length
      const len = keyLen + (payload?.length ?? 0)
      ref = alloc(Math.max(1, len))
      const bytes = new Uint8Array(arenaBuffer(), ref, Math.max(1, len))
      bytes.set(key, 0)
      if (payload) bytes.set(payload, keyLen)
    } else if (payload !== undefined && payload.length > INLINE_BYTES) {
      ref = alloc(payload.length)
      new Uint8Array(arenaBuffer(), ref, payload.length).set(payload)
    }
    return { enc, ref, keyLen }
  }

  /** Caller holds the mutex. Doubles the entry table. */
  #grow(): void {
    const c = this.#cell
    c[DIRTY] = 1
    const cap = c[CAPACITY]!
    const max = c[MAXSIZE]! > 0 ? c[MAXSIZE]! : MAX_CAPACITY
    if (cap >= max) throw rangeError(`${this.kindName}: more than ${MAX_CAPACITY} items; consume some first`, 'ERR_QUEUE_CAPACITY')
    const next = Math.min(max, cap * 2)
    const at = alloc(next * ENTRY_WORDS * 4)
    const dst = int32At(at, next * ENTRY_WORDS)
    const src = this.#table
    const n = c[COUNT]!
    if (this.#order === Order.FIFO) {
      for (let i = 0; i < n; i++) {
        const from = ((c[HEAD]! + i) % cap) * ENTRY_WORDS
        dst.set(src.subarray(from, from + ENTRY_WORDS), i * ENTRY_WORDS)
      }
      c[HEAD] = 0
    } else {
      dst.set(src.subarray(0, n * ENTRY_WORDS))
    }
    const old = c[TABLE_AT]!
    c[TABLE_AT] = at
    c[CAPACITY] = next
    release(old)
    this.#views()
    c[DIRTY] = 0
  }

  /** Caller holds the mutex and has checked there is room. */
  #insert(staged: { enc: EncodedItem; ref: number; keyLen: number }): void {
    const c = this.#cell
    if (c[COUNT]! >= c[CAPACITY]!) this.#grow()
    c[DIRTY] = 1
    const n = c[COUNT]!
    let slot: number
    if (this.#order === Order.FIFO) slot = (c[HEAD]! + n) % c[CAPACITY]!
    else slot = n
    const t = this.#table
    const e = slot * ENTRY_WORDS
    const { enc, ref, keyLen } = staged
    t[e + TAG] = enc.tag
    t[e + VALUE] = enc.value
    t[e + REF] = ref
    t[e + KEYLEN] = keyLen
    const seq = c[SEQ]!
    t[e + ESEQ] = seq
    c[SEQ] = (seq + 1) | 0
    if (ref === 0 && enc.bytes !== undefined) {
      const b = enc.bytes
      const tb = this.#tableBytes
      const at = (e + INLINE) * 4
      for (let i = 0; i < b.length; i++) tb[at + i] = b[i]!
    }
    c[COUNT] = n + 1
    if (this.#order === Order.PRIORITY) this.#siftUp(n)
    c[DIRTY] = 0
  }

  /** Caller holds the mutex; the queue is not empty. Copies the next entry out and removes it. */
  #remove(): Taken {
    const c = this.#cell
    const t = this.#table
    c[DIRTY] = 1
    const n = c[COUNT]!
    let slot: number
    if (this.#order === Order.FIFO) {
      slot = c[HEAD]!
      c[HEAD] = (slot + 1) % c[CAPACITY]!
    } else if (this.#order === Order.LIFO) {
      slot = n - 1
    } else {
      slot = 0
    }
    const e = slot * ENTRY_WORDS
    const tag = t[e + TAG]!
    const value = t[e + VALUE]!
    const ref = t[e + REF]!
    const keyLen = t[e + KEYLEN]!
    let inline: Uint8Array | undefined
    if (ref === 0 && payloadBytes(tag, value) > 0) {
      const from = (e + INLINE) * 4
      const tb = this.#tableBytes
      inline = new Uint8Array(value)
      for (let i = 0; i < value; i++) inline[i] = tb[from + i]!
    }
    c[COUNT] = n - 1
    if (this.#order === Order.PRIORITY && n > 1) {
      t.copyWithin(0, (n - 1) * ENTRY_WORDS, n * ENTRY_WORDS)
      this.#siftDown(0, n - 1)
    }
    c[DIRTY] = 0
    return { tag, value, ref, keyLen, inline }
  }

  #less(i: number, j: number): boolean {
    const t = this.#table
    const a = i * ENTRY_WORDS
    const b = j * ENTRY_WORDS
    const bytes = arenaBytes()
    const d = compareKeys(bytes, t[a + REF]!, t[a + KEYLEN]!, t[b + REF]!, t[b + KEYLEN]!)
    if (d !== 0) return d < 0
    return ((t[a + ESEQ]! - t[b + ESEQ]!) | 0) < 0
  }

  #swap(i: number, j: number): void {
    const t = this.#table
    for (let k = 0; k < ENTRY_WORDS; k++) {
      const x = t[i * ENTRY_WORDS + k]!
      t[i * ENTRY_WORDS + k] = t[j * ENTRY_WORDS + k]!
      t[j * ENTRY_WORDS + k] = x
    }
  }

  #siftUp(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(i, p)) return
      this.#swap(i, p)
      i = p
    }
  }

  #siftDown(i: number, n: number): void {
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) return
      const r = l + 1
      const m = r < n && this.#less(r, l) ? r : l
      if (!this.#less(m, i)) return
      this.#swap(i, m)
      i = m
    }
  }

  /** Decodes a removed entry outside the mutex and frees its block. */
  #finish(taken: Taken): T {
    if (taken.ref === 0) return decodeItem(taken.tag, taken.value, taken.inline) as T
    try {
      const len = payloadBytes(taken.tag, taken.value)
      return decodeItem(taken.tag, taken.value, len === 0 ? undefined : new Uint8Array(arenaBuffer(), taken.ref + taken.keyLen, len)) as T
    } finally {
      release(taken.ref)
    }
  }

  /**
   * Takes the mutex, waiting as long as needed; an abort answer throws ABORTED with nothing held.
   * A mutex poisoned by a thread that died between changes is cleared; one that died in the
   * middle of a change makes the queue unusable (see the header).
   */
  *#lockGen(): Waiter<void> {
    for (;;) {
      if (this.mutex[TRY_ACQUIRE]()) return this.#checkIntact()
      try {
        yield* this.mutex[ACQUIRE_GEN](Infinity)
        return this.#checkIntact()
      } catch (err) {
        if (!(err instanceof OwnerDiedError)) throw err
        this.#recover()
      }
    }
  }

  #broken(): OwnerDiedError {
    return new OwnerDiedError(`${this.kindName}: a thread died in the middle of changing this queue, so its contents can no longer be trusted; create a new queue`)
  }

  /** Caller found the mutex poisoned. Clears it if the queue is intact, else throws. */
  #recover(): void {
    if (Atomics.load(this.#cell, DIRTY) !== 0) throw this.#broken()
    this.mutex.clearPoison()
  }

  /** Caller just took the mutex. Gives it back and throws if the queue is broken. */
  #checkIntact(): void {
    if (this.#cell[DIRTY] === 0) return
    this.mutex.release()
    throw this.#broken()
  }

  /** Takes the mutex from a blocking caller (the uncontended case allocates nothing). */
  #lock(): void {
    if (this.mutex[TRY_ACQUIRE]()) this.#checkIntact()
    else runBlocking(this.#lockGen())
  }

  /**
   * Caller holds the mutex. Waits on `cond` (the mutex is held again when it returns or throws);
   * a mutex that was poisoned while we slept is taken over, and kept if the queue is intact.
   */
  *#waitOn(cond: Condition, deadline: number): Waiter<void> {
    try {
      yield* cond._waitGen(deadline)
    } catch (err) {
      if (!(err instanceof OwnerDiedError)) throw err
      // We hold the mutex now; throws (and the caller releases it) if the queue is broken.
      if (Atomics.load(this.#cell, DIRTY) !== 0) throw this.#broken()
    }
  }

  *#putGen(item: T, staged: { enc: EncodedItem; ref: number; keyLen: number }, block: boolean, deadline: number): Waiter<void> {
    yield* this.#lockGen()
    const c = this.#cell
    try {
      this.#views()
      if (c[SHUTDOWN]) throw new QueueShutDown(`${this.kindName}.put(): the queue has been shut down`)
      const max = c[MAXSIZE]!
      if (max > 0) {
        while (c[COUNT]! >= max) {
          if (!block || remaining(deadline) === 0) throw new QueueFull(item, `${this.kindName}.put(): the queue is full (maxsize ${max})`)
          // An abort throws ABORTED from here with the mutex held again: nothing was put.
          yield* this.#waitOn(this.notFull, deadline)
          if (c[SHUTDOWN]) throw new QueueShutDown(`${this.kindName}.put(): the queue has been shut down`)
          this.#views()
        }
      }
      this.#insert(staged)
      c[UNFINISHED] = c[UNFINISHED]! + 1
      this.notEmpty._notify(1)
    } finally {
      this.mutex.release()
    }
  }

  *#getGen(block: boolean, deadline: number): Waiter<Taken> {
    yield* this.#lockGen()
    const c = this.#cell
    try {
      if (c[SHUTDOWN] && c[COUNT] === 0) throw new QueueShutDown(`${this.kindName}.get(): the queue has been shut down`)
      while (c[COUNT] === 0) {
        if (!block || remaining(deadline) === 0) throw new QueueEmpty(`${this.kindName}.get(): the queue is empty`)
        // An abort throws ABORTED from here with the mutex held again: nothing was taken.
        yield* this.#waitOn(this.notEmpty, deadline)
        if (c[SHUTDOWN] && c[COUNT] === 0) throw new QueueShutDown(`${this.kindName}.get(): the queue has been shut down`)
      }
      this.#views()
      const taken = this.#remove()
      this.notFull._notify(1)
      return taken
    } finally {
      this.mutex.release()
    }
  }

  /**
   * Puts an item, waiting for room if the queue is bounded and full.
   * @param item any structured-cloneable value; Tandem shareables arrive as live handles
   * @param opts `block` (default true) and `timeout` in ms
   * @throws {QueueFull} `ERR_QUEUE_FULL` (carrying `item`) if there is no room in time
   * @throws {QueueShutDown} `ERR_QUEUE_SHUT_DOWN` after `shutdown()`
   * @throws {TypeError} `ERR_NOT_SHAREABLE` for an item that cannot be cloned (the queue is unchanged)
   */
  put(item: T, opts?: PutOptions): void {
    this._putFor(item, opts, 'thread')
  }

  /** @internal `put` whose item is encoded for `target` (`'process'`: bytes any process can decode). */
  _putFor(item: T, opts: PutOptions | undefined, target: 'thread' | 'process'): void {
    const { block, timeout } = blockingOptions(opts, `${this.kindName}.put()`)
    const staged = this.#stage(item, 0, target)
    if (this.#tryPut(staged)) return
    if (block) {
      // Likewise, a consumer usually makes room moments later.
      const c = this.#cell
      const max = c[MAXSIZE]!
      for (let i = 0; i < QUEUE_SPIN; i++) {
        if ((max === 0 || Atomics.load(c, COUNT) < max) && this.#tryPut(staged)) return
      }
    }
    try {
      runBlocking(this.#putGen(item, staged, block, deadlineOf(timeout)))
    } catch (err) {
      if (staged.ref !== 0) release(staged.ref)
      throw err
    }
  }

  /**
   * @internal For executors: encodes an item now (so an un-cloneable one throws at once) for a
   * later {@link _putStaged}. Drop it with {@link _dropStaged} if it is never put.
   */
  _stage(item: T, trustedArrays = 0): Staged {
    return this.#stage(item, trustedArrays)
  }

  /** @internal Gives back a staged item's payload block. */
  _dropStaged(staged: Staged): void {
    if (staged.ref !== 0) release(staged.ref)
  }

  /**
   * @internal For executors: puts staged items under one mutex hold and wakes at most `wake`
   * getters (an unbounded queue only; blocks for the mutex). Items put without a wake-up are
   * taken by getters that are awake; {@link _wake} wakes sleeping ones later.
   * @throws {QueueShutDown} after `shutdown()` (nothing put; the caller drops the items)
   */
  _putStaged(items: readonly Staged[], wake = items.length): void {
    if (items.length === 0) return
    this.#lock()
    const c = this.#cell
    try {
      if (c[SHUTDOWN]) throw new QueueShutDown(`${this.kindName}.put(): the queue has been shut down`)
      for (const staged of items) {
        this.#views()
        this.#insert(staged)
      }
      c[UNFINISHED] = c[UNFINISHED]! + items.length
      if (wake > 0) this.notEmpty._notify(wake)
    } finally {
      this.mutex.release()
    }
  }

  /** @internal For executors: wakes up to `n` sleeping getters if there are items for them. */
  _wake(n: number): void {
    const c = this.#cell
    // Nobody asleep: nothing to do, and no need for the mutex (a getter that goes to sleep
    // later checks COUNT under the mutex first, and finds the items put before this call).
    if (Atomics.load(c, COUNT) === 0 || !this.notEmpty._mayHaveWaiters()) return
    this.#lock()
    try {
      const count = c[COUNT]!
      if (count > 0) this.notEmpty._notify(Math.min(n, count))
    } finally {
      this.mutex.release()
    }
  }

  /** `put(item, { block: false })`. @throws {QueueFull} if full */
  putNowait(item: T): void {
    this.put(item, { block: false })
  }

  /**
   * Async form of {@link put}; never blocks the event loop. An aborted put enqueues nothing.
   * @param opts `timeout` in ms (a number is the timeout) and `signal`
   */
  async putAsync(item: T, opts?: number | AsyncWaitOptions): Promise<void> {
    return this._putAsyncFor(item, opts, 'thread')
  }

  /** @internal `putAsync` whose item is encoded for `target`. */
  async _putAsyncFor(item: T, opts: number | AsyncWaitOptions | undefined, target: 'thread' | 'process'): Promise<void> {
    const { timeout, signal } = asyncOptions(opts)
    if (signal?.aborted) throw signal.reason
    const staged = this.#stage(item, 0, target)
    if (this.#tryPut(staged)) return
    try {
      await runAsync(this.#putGen(item, staged, true, deadlineOf(timeout)), signal)
    } catch (err) {
      if (staged.ref !== 0) release(staged.ref)
      throw err
    }
  }

  /**
   * Removes and returns the next item, waiting for one if the queue is empty.
   * @param opts `block` (default true) and `timeout` in ms
   * @throws {QueueEmpty} `ERR_QUEUE_EMPTY` if no item arrives in time
   * @throws {QueueShutDown} `ERR_QUEUE_SHUT_DOWN` if the queue is shut down and empty
   */
  get(opts?: GetOptions): T {
    const { block, timeout } = blockingOptions(opts, `${this.kindName}.get()`)
    let taken = this.#tryGet()
    if (taken === undefined && block) {
      // A producer is usually moments away: poll the count briefly before queueing on the
      // condition, which costs both sides a futex round trip.
      const c = this.#cell
      for (let i = 0; i < QUEUE_SPIN && taken === undefined; i++) {
        if (Atomics.load(c, COUNT) > 0) taken = this.#tryGet()
      }
    }
    if (taken !== undefined) return this.#finish(taken)
    return this.#finish(runBlocking(this.#getGen(block, deadlineOf(timeout))))
  }

  /** Fast path: one uncontended mutex attempt, no waiting. */
  #tryPut(staged: { enc: EncodedItem; ref: number; keyLen: number }): boolean {
    if (!this.mutex[TRY_ACQUIRE]()) return false
    this.#checkIntact()
    const c = this.#cell
    const max = c[MAXSIZE]!
    const ok = c[SHUTDOWN] === 0 && (max === 0 || c[COUNT]! < max)
    if (ok) {
      this.#views()
      this.#insert(staged)
      c[UNFINISHED] = c[UNFINISHED]! + 1
      this.notEmpty._notify(1)
    }
    this.mutex.release()
    return ok
  }

  /** Fast path: one uncontended mutex attempt, no waiting. */
  #tryGet(): Taken | undefined {
    if (!this.mutex[TRY_ACQUIRE]()) return undefined
    this.#checkIntact()
    let taken: Taken | undefined
    if (this.#cell[COUNT]! > 0) {
      this.#views()
      taken = this.#remove()
      this.notFull._notify(1)
    }
    this.mutex.release()
    return taken
  }

  /** `get({ block: false })`. @throws {QueueEmpty} if empty */
  getNowait(): T {
    return this.get({ block: false })
  }

  /**
   * Async form of {@link get}. An aborted get takes nothing: the item stays for the next consumer.
   * @param opts `timeout` in ms (a number is the timeout) and `signal`
   */
  async getAsync(opts?: number | AsyncWaitOptions): Promise<T> {
    const { timeout, signal } = asyncOptions(opts)
    if (signal?.aborted) throw signal.reason
    const taken = this.#tryGet()
    if (taken !== undefined) return this.#finish(taken)
    return this.#finish(await runAsync(this.#getGen(true, deadlineOf(timeout)), signal))
  }

  /** Approximate number of items (a snapshot). */
  qsize(): number {
    return Atomics.load(this.#cell, COUNT)
  }

  /** True if the queue is empty (a snapshot). */
  empty(): boolean {
    return Atomics.load(this.#cell, COUNT) === 0
  }

  /** True if the queue is bounded and full (a snapshot). */
  full(): boolean {
    const max = this.#cell[MAXSIZE]!
    return max > 0 && Atomics.load(this.#cell, COUNT) >= max
  }

  /** Maximum number of items; 0 means unbounded. */
  get maxsize(): number {
    return this.#cell[MAXSIZE]!
  }

  /** True after `shutdown()`. */
  get isShutdown(): boolean {
    return Atomics.load(this.#cell, SHUTDOWN) === 1
  }

  /**
   * Marks one got item as processed; when every item put has been processed, `join()` returns.
   * @throws {RangeError} `ERR_TASK_DONE_TOO_MANY` if called more times than items were put
   */
  taskDone(): void {
    this.#lock()
    try {
      const c = this.#cell
      const unfinished = c[UNFINISHED]! - 1
      if (unfinished < 0) throw rangeError(`${this.kindName}.taskDone() called more times than there were items put`, 'ERR_TASK_DONE_TOO_MANY')
      c[UNFINISHED] = unfinished
      if (unfinished === 0) this.allTasksDone._notify(Infinity)
    } finally {
      this.mutex.release()
    }
  }

  *#joinGen(deadline: number): Waiter<boolean> {
    yield* this.#lockGen()
    try {
      while (this.#cell[UNFINISHED]! > 0) {
        if (remaining(deadline) === 0) return false
        yield* this.#waitOn(this.allTasksDone, deadline)
      }
      return true
    } finally {
      this.mutex.release()
    }
  }

  /**
   * Blocks until every item put has been got and marked with `taskDone()`.
   * @param timeout ms (beyond Python) @returns false if the timeout expired first
   */
  join(timeout?: number): boolean {
    return runBlocking(this.#joinGen(deadlineOf(checkTimeout(timeout))))
  }

  /** Async form of {@link join}. */
  async joinAsync(opts?: number | AsyncWaitOptions): Promise<boolean> {
    const { timeout, signal } = asyncOptions(opts)
    return runAsync(this.#joinGen(deadlineOf(timeout)), signal)
  }

  // ---- For @tandem/ipc: items as bytes, and waiting for one without taking it ---------------

  /** Copies a removed entry's payload out (freeing its block) without decoding it. */
  #raw(taken: Taken): RawItem {
    const len = payloadBytes(taken.tag, taken.value)
    if (taken.ref === 0) return { tag: taken.tag, value: taken.value, bytes: taken.inline }
    try {
      return { tag: taken.tag, value: taken.value, bytes: len === 0 ? undefined : new Uint8Array(arenaBuffer(), taken.ref + taken.keyLen, len).slice() }
    } finally {
      release(taken.ref)
    }
  }

  /** @internal Removes the next item as its encoded bytes, or returns undefined if there is none (may wait briefly for the mutex). */
  _takeRaw(): RawItem | undefined {
    if (Atomics.load(this.#cell, COUNT) === 0) return undefined
    this.#lock()
    let taken: Taken | undefined
    try {
      if (this.#cell[COUNT]! > 0) {
        this.#views()
        taken = this.#remove()
        this.notFull._notify(1)
      }
    } finally {
      this.mutex.release()
    }
    return taken === undefined ? undefined : this.#raw(taken)
  }

  /** @internal Async `get` returning the item's encoded bytes (for forwarding them elsewhere). */
  async _getRawAsync(opts?: number | AsyncWaitOptions): Promise<RawItem> {
    const { timeout, signal } = asyncOptions(opts)
    if (signal?.aborted) throw signal.reason
    const taken = this.#tryGet()
    if (taken !== undefined) return this.#raw(taken)
    return this.#raw(await runAsync(this.#getGen(true, deadlineOf(timeout)), signal))
  }

  /** @internal Blocking `get` returning the encoded bytes. */
  _getRaw(opts?: GetOptions): RawItem {
    const { block, timeout } = blockingOptions(opts, `${this.kindName}.get()`)
    const taken = this.#tryGet()
    if (taken !== undefined) return this.#raw(taken)
    return this.#raw(runBlocking(this.#getGen(block, deadlineOf(timeout))))
  }

  /** @internal Puts an already encoded item (never waits for room: for unbounded queues, or forwarding). */
  _putRaw(raw: RawItem): void {
    const staged = this.#stageEncoded(undefined as T, { tag: raw.tag, value: raw.value, bytes: raw.bytes })
    this.#lock()
    const c = this.#cell
    try {
      if (c[SHUTDOWN]) throw new QueueShutDown(`${this.kindName}.put(): the queue has been shut down`)
      this.#views()
      this.#insert(staged)
      c[UNFINISHED] = c[UNFINISHED]! + 1
      this.notEmpty._notify(1)
    } catch (err) {
      if (staged.ref !== 0) release(staged.ref)
      throw err
    } finally {
      this.mutex.release()
    }
  }

  /** @internal Async put of an encoded item, waiting for room in a bounded queue. */
  async _putRawAsync(raw: RawItem, opts?: number | AsyncWaitOptions): Promise<void> {
    const { timeout, signal } = asyncOptions(opts)
    if (signal?.aborted) throw signal.reason
    const staged = this.#stageEncoded(undefined as T, { tag: raw.tag, value: raw.value, bytes: raw.bytes })
    if (this.#tryPut(staged)) return
    try {
      await runAsync(this.#putGen(undefined as T, staged, true, deadlineOf(timeout)), signal)
    } catch (err) {
      if (staged.ref !== 0) release(staged.ref)
      throw err
    }
  }

  /**
   * @internal Waits until the queue holds an item or is shut down, taking nothing: true if so,
   * false at the deadline. A waiter woken by a put passes the wake-up on, so a getter that
   * sleeps beside it is not left asleep on an item.
   */
  *_pollGen(deadline: number): Waiter<boolean> {
    const c = this.#cell
    if (Atomics.load(c, COUNT) > 0 || Atomics.load(c, SHUTDOWN) !== 0) return true
    yield* this.#lockGen()
    try {
      while (c[COUNT] === 0 && c[SHUTDOWN] === 0) {
        if (remaining(deadline) === 0) return false
        yield* this.#waitOn(this.notEmpty, deadline)
      }
      if (c[COUNT]! > 0) this.notEmpty._notify(1)
      return true
    } finally {
      this.mutex.release()
    }
  }

  /**
   * Shuts the queue down (Python 3.13): puts throw `QueueShutDown`; gets throw once the queue
   * is empty; blocked callers wake.
   * @param immediate also discard the items (counting them as done, so `join()` returns)
   * @default immediate false
   */
  shutdown(immediate = false): void {
    const drained: number[] = []
    this.#lock()
    try {
      const c = this.#cell
      c[SHUTDOWN] = 1
      if (immediate) {
        this.#views()
        while (c[COUNT]! > 0) {
          const taken = this.#remove()
          if (taken.ref !== 0) drained.push(taken.ref)
          if (c[UNFINISHED]! > 0) c[UNFINISHED] = c[UNFINISHED]! - 1
        }
        this.allTasksDone._notify(Infinity)
      }
      this.notEmpty._notify(Infinity)
      this.notFull._notify(Infinity)
    } finally {
      this.mutex.release()
    }
    for (const ref of drained) release(ref)
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target !== 'thread') throw notShareableToProcess(this.kindName, 'use a process Queue from @tandem/ipc/queue (or a SyncManager Queue())')
    return {
      cell: shareCell(this.#cell),
      mutex: ctx.encode(this.mutex),
      notEmpty: ctx.encode(this.notEmpty),
      notFull: ctx.encode(this.notFull),
      allTasksDone: ctx.encode(this.allTasksDone),
    }
  }

  /** @internal Builds a handle of the calling class on existing shared state. */
  static revive<Q extends BaseQueue<unknown>>(this: new () => Q, data: { cell: CellRef; mutex: Lock; notEmpty: Condition; notFull: Condition; allTasksDone: Condition }): Q {
    return reviveWith(data, () => new this())
  }
}

function reviveWith<Q>(data: { cell: CellRef; mutex: Lock; notEmpty: Condition; notFull: Condition; allTasksDone: Condition }, make: () => Q): Q {
  reviving = { ...data, cell: reviveCell(data.cell) }
  try {
    return make()
  } finally {
    reviving = undefined
  }
}
