/**
 * `Value` and `Array`: Python's `multiprocessing.Value`/`Array` (sharedctypes) on shared memory,
 * for the worker threads of one process.
 *
 * A raw object ({@link RawValue}, {@link RawArray}) is a typed view over a block of the process
 * arena (`@tandem/sync/kit`); a synchronized one ({@link SynchronizedValue},
 * {@link SynchronizedArray}, the default) wraps a raw one and a `@tandem/sync` RLock (or the lock
 * given), as CPython's `Synchronized` wrappers do. All four are Tandem shareables: passed in
 * Thread args or queue items they arrive as the same memory (and the same lock). They cannot
 * cross to another process (`TypeError` `ERR_NOT_SHAREABLE`): use the manager's `Value`/`Array`
 * of `@tandem/ipc` for that (next release).
 *
 * Shared layout: one arena block of `length * itemSize` bytes (at least 4), the items packed as
 * the typecode's typed array (little-endian, 8-aligned). Typecode and length are not stored in
 * the block; they travel with the share data:
 *
 * | bytes | name | written by |
 * | ----- | ---- | ---------- |
 * | `[i * itemSize, (i + 1) * itemSize)` | item `i` | `value =`, `set(i, v)`, `setSlice` |
 *
 * Item accesses are plain (not atomic) typed-array reads and writes, as ctypes' are: use the
 * lock (`using _ = v.getLock().hold()`) for read-modify-write and for visibility across threads.
 *
 * @module
 */
import type { Lock } from '@tandem/sync/lock'
import { adoptCell, newCell, reviveCell, shareCell, type CellRef } from '@tandem/sync/kit'
import { notShareableToProcess, rangeError, typeError } from '@tandem/sync/errors'
import { RLock } from '@tandem/sync/rlock'
import { registerShareable, SHARE, type ShareContext } from '@tandem/sync/shareable'

/** Python's `array`/ctypes typecodes that `Value` and `Array` accept. */
export type Typecode = 'c' | 'b' | 'B' | 'h' | 'H' | 'i' | 'I' | 'l' | 'L' | 'q' | 'Q' | 'f' | 'd'

/** The JavaScript type an item of typecode `C` reads as: `bigint` (64-bit), a one-byte string (`'c'`) or `number`. */
export type ItemOf<C extends Typecode> = C extends 'l' | 'L' | 'q' | 'Q' ? bigint : C extends 'c' ? string : number

/** A lock a synchronized object can use: a `@tandem/sync` Lock or RLock. */
export type SharedLock = Lock | RLock

/** Options of {@link Value} and {@link Array}. */
export interface SharedOptions {
  /**
   * `true` (default): a new RLock guards the object; `false`: the raw object, without lock; a
   * Lock or RLock: that lock, as is.
   */
  readonly lock?: boolean | SharedLock
}

type View = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | Float32Array | Float64Array

interface Spec {
  readonly size: number
  readonly make: (buf: ArrayBufferLike, at: number, n: number) => View
  readonly kind: 'int' | 'big' | 'float' | 'char'
  readonly bits: number
  readonly signed: boolean
}

const int = (size: number, signed: boolean, make: Spec['make']): Spec => ({ size, make, kind: 'int', bits: size * 8, signed })
const big = (signed: boolean, make: Spec['make']): Spec => ({ size: 8, make, kind: 'big', bits: 64, signed })

const SPECS: Readonly<Record<Typecode, Spec>> = {
  c: { size: 1, make: (b, at, n) => new Uint8Array(b, at, n), kind: 'char', bits: 8, signed: false },
  b: int(1, true, (b, at, n) => new Int8Array(b, at, n)),
  B: int(1, false, (b, at, n) => new Uint8Array(b, at, n)),
  h: int(2, true, (b, at, n) => new Int16Array(b, at, n)),
  H: int(2, false, (b, at, n) => new Uint16Array(b, at, n)),
  i: int(4, true, (b, at, n) => new Int32Array(b, at, n)),
  I: int(4, false, (b, at, n) => new Uint32Array(b, at, n)),
  l: big(true, (b, at, n) => new BigInt64Array(b, at, n)),
  L: big(false, (b, at, n) => new BigUint64Array(b, at, n)),
  q: big(true, (b, at, n) => new BigInt64Array(b, at, n)),
  Q: big(false, (b, at, n) => new BigUint64Array(b, at, n)),
  f: { size: 4, make: (b, at, n) => new Float32Array(b, at, n), kind: 'float', bits: 32, signed: true },
  d: { size: 8, make: (b, at, n) => new Float64Array(b, at, n), kind: 'float', bits: 64, signed: true },
}

const NOT_TO_PROCESS = (what: 'Value' | 'Array') => notShareableToProcess(what, `use the manager's ${what}() of @tandem/ipc (a SyncManager) to share one with a process`)

function specOf(typecode: unknown): Spec {
  if (typeof typecode !== 'string' || !Object.hasOwn(SPECS, typecode)) {
    throw typeError(`typecode must be one of ${Object.keys(SPECS).join(' ')}; received ${describe(typecode)}`)
  }
  return SPECS[typecode as Typecode]
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'bigint') return `${v}n`
  if (typeof v === 'object') return v === null ? 'null' : globalThis.Array.isArray(v) ? 'an array' : `an instance of ${v.constructor?.name ?? 'Object'}`
  return typeof v === 'function' ? 'a function' : String(v)
}

/** Converts `v` to what the typecode's typed array stores (ints wrap as in ctypes). */
function toStored(spec: Spec, typecode: string, v: unknown): number | bigint {
  switch (spec.kind) {
    case 'char':
      if (typeof v !== 'string' || v.length !== 1 || v.charCodeAt(0) > 255) {
        throw typeError(`typecode 'c' takes a one-character string of code 0-255 (one byte); received ${describe(v)}`)
      }
      return v.charCodeAt(0)
    case 'float':
      if (typeof v !== 'number') throw typeError(`typecode '${typecode}' takes a number; received ${describe(v)}`)
      return v
    case 'big':
      if (typeof v === 'bigint') return v
      if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v)
      throw typeError(`typecode '${typecode}' takes a bigint or an integer number; received ${describe(v)}`)
    default:
      if (typeof v === 'number' && Number.isInteger(v)) return v
      // Wrap in bigint arithmetic first: a number store would round large bigints.
      if (typeof v === 'bigint') return Number(BigInt.asUintN(spec.bits, v))
      throw typeError(`typecode '${typecode}' takes an integer number (or a bigint); received ${describe(v)}`)
  }
}

function fromStored(spec: Spec, raw: number | bigint): unknown {
  return spec.kind === 'char' ? String.fromCharCode(raw as number) : raw
}

let reviving: Int32Array | undefined

/** Allocates (or, while reviving, adopts) the block and builds the typecode's view over it. */
function viewFor(handle: object, spec: Spec, length: number): View {
  const words = Math.max(1, Math.ceil((length * spec.size) / 4))
  const cell = reviving ? adoptCell(handle, reviving) : newCell(handle, words)
  return spec.make(cell.buffer, cell.byteOffset, length)
}

function cellOf(view: View): Int32Array {
  return new Int32Array(view.buffer, view.byteOffset, Math.max(1, Math.ceil(view.byteLength / 4)))
}

function checkOptions(opts: unknown): boolean | SharedLock {
  if (opts === undefined) return true
  if (typeof opts !== 'object' || opts === null) throw typeError(`options must be an object; received ${describe(opts)}`)
  const lock = (opts as SharedOptions).lock
  if (lock === undefined) return true
  if (typeof lock === 'boolean') return lock
  if (typeof lock === 'object' && lock !== null && typeof (lock as SharedLock).acquire === 'function' && typeof (lock as SharedLock).release === 'function') return lock
  throw typeError(`lock must be true, false or a Lock/RLock; received ${describe(lock)}`)
}

function lockOf(choice: true | SharedLock): SharedLock {
  return choice === true ? new RLock() : choice
}

/**
 * A raw shared scalar (what `Value(typecode, v, { lock: false })` returns, and
 * `getObj()` of a synchronized one): no lock, no `getLock()`.
 * @example
 * ```ts
 * import { Value } from '@tandem/ipc/shared'
 *
 * const raw = Value('b', 200, { lock: false })
 * console.log(raw.value, raw.typecode) // -56 b: wrapped as in ctypes
 * raw.value = 7
 * console.log(raw.value, 'getLock' in raw) // 7 false
 * ```
 */
export class RawValue<C extends Typecode = Typecode> {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.ipc.RawValue'
  /** The typecode, as given. */
  readonly typecode: C
  readonly #spec: Spec
  readonly #view: View

  /** @internal Use {@link Value}. */
  constructor(typecode: C) {
    this.typecode = typecode
    this.#spec = specOf(typecode)
    this.#view = viewFor(this, this.#spec, 1)
  }

  /** The item; assigning wraps integers as ctypes does, rounds `'f'` to float32. */
  get value(): ItemOf<C> {
    return fromStored(this.#spec, this.#view[0]!) as ItemOf<C>
  }
  set value(v: ItemOf<C>) {
    ;(this.#view as { [i: number]: number | bigint })[0] = toStored(this.#spec, this.typecode, v)
  }

  /** `c_int(5)`-like text, e.g. `RawValue('i', 5)`. */
  toString(): string {
    return `RawValue('${this.typecode}', ${describe(this.value)})`
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target !== 'thread') throw NOT_TO_PROCESS('Value')
    return { tc: this.typecode, cell: shareCell(cellOf(this.#view)) }
  }

  /** @internal Builds a handle on existing shared state. */
  static revive(data: { tc: Typecode; cell: CellRef }): RawValue {
    reviving = reviveCell(data.cell)
    try {
      return new RawValue(data.tc)
    } finally {
      reviving = undefined
    }
  }
}

/**
 * A raw shared array (what `Array(typecode, n, { lock: false })` returns, and `getObj()` of a
 * synchronized one): no lock, no `getLock()`. Indices may be negative (from the end), as in Python.
 * @example
 * ```ts
 * import { Array } from '@tandem/ipc/shared'
 *
 * const raw = Array('h', [1, 2, 3], { lock: false })
 * raw.set(-1, 40_000) // wraps: -25536
 * console.log(raw.length, raw.get(0), raw.slice(1), [...raw]) // 3 1 [ 2, -25536 ] [ 1, 2, -25536 ]
 * ```
 */
export class RawArray<C extends Typecode = Typecode> {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.ipc.RawArray'
  /** The typecode, as given. */
  readonly typecode: C
  readonly #spec: Spec
  readonly #view: View

  /** @internal Use {@link Array}. */
  constructor(typecode: C, length: number) {
    this.typecode = typecode
    this.#spec = specOf(typecode)
    this.#view = viewFor(this, this.#spec, length)
  }

  /** Number of items (fixed). */
  get length(): number {
    return this.#view.length
  }

  #index(i: unknown): number {
    if (typeof i !== 'number' || !Number.isInteger(i)) throw typeError(`array index must be an integer; received ${describe(i)}`)
    const n = this.#view.length
    const at = i < 0 ? i + n : i
    if (at < 0 || at >= n) throw rangeError(`array index out of range: ${i} (length ${n})`)
    return at
  }

  /**
   * Item `i` (Python's `a[i]`).
   * @param i index; negative counts from the end
   * @throws {RangeError} `ERR_OUT_OF_RANGE` outside `-length .. length - 1` (Python's IndexError)
   */
  get(i: number): ItemOf<C> {
    return fromStored(this.#spec, this.#view[this.#index(i)]!) as ItemOf<C>
  }

  /**
   * Sets item `i` (Python's `a[i] = v`); integers wrap as in ctypes.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` outside `-length .. length - 1`
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a value of the wrong type
   */
  set(i: number, v: ItemOf<C>): void {
    const at = this.#index(i)
    ;(this.#view as { [i: number]: number | bigint })[at] = toStored(this.#spec, this.typecode, v)
  }

  /**
   * A copy of items `start` to `end` (exclusive) as a plain array (Python's `a[start:end]`);
   * negative bounds count from the end, out-of-range bounds are clamped.
   */
  slice(start?: number, end?: number): ItemOf<C>[] {
    const out: ItemOf<C>[] = []
    for (const raw of this.#view.slice(start, end)) out.push(fromStored(this.#spec, raw) as ItemOf<C>)
    return out
  }

  /**
   * Assigns `values` to items `start` to `end` (Python's `a[start:end] = values`); bounds as in
   * {@link slice}.
   * @throws {RangeError} `ERR_INVALID_ARG_VALUE` if `values` has not as many items as the slice (Python's ValueError)
   */
  setSlice(start: number | undefined, end: number | undefined, values: readonly ItemOf<C>[]): void {
    const n = this.#view.length
    const from = clampIndex(start, n, 0)
    const to = Math.max(from, clampIndex(end, n, n))
    if (!globalThis.Array.isArray(values)) throw typeError(`values must be an array; received ${describe(values)}`)
    if (values.length !== to - from) throw rangeError(`can only assign ${to - from} items to this slice; received ${values.length}`, 'ERR_INVALID_ARG_VALUE')
    const stored = values.map((v) => toStored(this.#spec, this.typecode, v))
    for (let k = 0; k < stored.length; k++) (this.#view as { [i: number]: number | bigint })[from + k] = stored[k]!
  }

  /** Iterates the items (a live read, item by item). */
  *[Symbol.iterator](): IterableIterator<ItemOf<C>> {
    for (let i = 0; i < this.#view.length; i++) yield fromStored(this.#spec, this.#view[i]!) as ItemOf<C>
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target !== 'thread') throw NOT_TO_PROCESS('Array')
    return { tc: this.typecode, n: this.#view.length, cell: shareCell(cellOf(this.#view)) }
  }

  /** @internal Builds a handle on existing shared state. */
  static revive(data: { tc: Typecode; n: number; cell: CellRef }): RawArray {
    reviving = reviveCell(data.cell)
    try {
      return new RawArray(data.tc, data.n)
    } finally {
      reviving = undefined
    }
  }
}

function clampIndex(i: number | undefined, n: number, dflt: number): number {
  if (i === undefined) return dflt
  if (typeof i !== 'number' || Number.isNaN(i)) throw typeError(`slice bound must be a number; received ${describe(i)}`)
  const t = Math.trunc(i)
  return t < 0 ? Math.max(0, t + n) : Math.min(t, n)
}

function locked<T>(lock: SharedLock, fn: () => T): T {
  lock.acquire()
  try {
    return fn()
  } finally {
    lock.release()
  }
}

/**
 * A shared scalar guarded by a lock (what `Value(typecode, v)` returns): reading or assigning
 * `value` takes the lock for that one access; hold `getLock()` around a read-modify-write.
 * @example
 * ```ts
 * import { Value } from '@tandem/ipc/shared'
 *
 * const counter = Value('i', 0)
 * {
 *   using _ = counter.getLock().hold()
 *   counter.value += 1
 * }
 * console.log(counter.value, counter.getObj().value) // 1 1
 * ```
 */
export class SynchronizedValue<C extends Typecode = Typecode> {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.ipc.SynchronizedValue'
  readonly #obj: RawValue<C>
  readonly #lock: SharedLock

  /** @internal Use {@link Value}. */
  constructor(obj: RawValue<C>, lock: SharedLock) {
    this.#obj = obj
    this.#lock = lock
  }

  /** The typecode, as given. */
  get typecode(): C {
    return this.#obj.typecode
  }

  /** The item, read or written under the lock. */
  get value(): ItemOf<C> {
    return locked(this.#lock, () => this.#obj.value)
  }
  set value(v: ItemOf<C>) {
    locked(this.#lock, () => {
      this.#obj.value = v
    })
  }

  /** The lock guarding this object (Python's `get_lock()`). */
  getLock(): SharedLock {
    return this.#lock
  }

  /** The raw object, without lock (Python's `get_obj()`). */
  getObj(): RawValue<C> {
    return this.#obj
  }

  /** E.g. `SynchronizedValue('i', 5)`. */
  toString(): string {
    return `SynchronizedValue('${this.typecode}', ${describe(this.#obj.value)})`
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target !== 'thread') throw NOT_TO_PROCESS('Value')
    return { obj: ctx.encode(this.#obj), lock: ctx.encode(this.#lock) }
  }

  /** @internal Builds a handle on existing shared state. */
  static revive(data: { obj: RawValue; lock: SharedLock }): SynchronizedValue {
    return new SynchronizedValue(data.obj, data.lock)
  }
}

/**
 * A shared array guarded by a lock (what `Array(typecode, n)` returns): `get`, `set`, `slice`,
 * `setSlice` and iteration each take the lock (iteration: for the whole loop); hold `getLock()`
 * around a read-modify-write. `length` needs no lock.
 * @example
 * ```ts
 * import { Array } from '@tandem/ipc/shared'
 *
 * const arr = Array('d', 4) // four zeros
 * arr.setSlice(1, 3, [0.5, 1.5])
 * {
 *   using _ = arr.getLock().hold()
 *   arr.set(0, arr.get(1) + arr.get(2))
 * }
 * console.log(arr.slice(), arr.length) // [ 2, 0.5, 1.5, 0 ] 4
 * ```
 */
export class SynchronizedArray<C extends Typecode = Typecode> {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.ipc.SynchronizedArray'
  readonly #obj: RawArray<C>
  readonly #lock: SharedLock

  /** @internal Use {@link Array}. */
  constructor(obj: RawArray<C>, lock: SharedLock) {
    this.#obj = obj
    this.#lock = lock
  }

  /** The typecode, as given. */
  get typecode(): C {
    return this.#obj.typecode
  }

  /** Number of items (fixed). */
  get length(): number {
    return this.#obj.length
  }

  /** Item `i` under the lock; see {@link RawArray.get}. */
  get(i: number): ItemOf<C> {
    return locked(this.#lock, () => this.#obj.get(i))
  }

  /** Sets item `i` under the lock; see {@link RawArray.set}. */
  set(i: number, v: ItemOf<C>): void {
    locked(this.#lock, () => this.#obj.set(i, v))
  }

  /** A copy of a range under the lock; see {@link RawArray.slice}. */
  slice(start?: number, end?: number): ItemOf<C>[] {
    return locked(this.#lock, () => this.#obj.slice(start, end))
  }

  /** Assigns a range under the lock; see {@link RawArray.setSlice}. */
  setSlice(start: number | undefined, end: number | undefined, values: readonly ItemOf<C>[]): void {
    locked(this.#lock, () => this.#obj.setSlice(start, end, values))
  }

  /** Iterates a snapshot taken under the lock. */
  [Symbol.iterator](): IterableIterator<ItemOf<C>> {
    return this.slice()[Symbol.iterator]()
  }

  /** The lock guarding this object (Python's `get_lock()`). */
  getLock(): SharedLock {
    return this.#lock
  }

  /** The raw array, without lock (Python's `get_obj()`). */
  getObj(): RawArray<C> {
    return this.#obj
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (ctx.target !== 'thread') throw NOT_TO_PROCESS('Array')
    return { obj: ctx.encode(this.#obj), lock: ctx.encode(this.#lock) }
  }

  /** @internal Builds a handle on existing shared state. */
  static revive(data: { obj: RawArray; lock: SharedLock }): SynchronizedArray {
    return new SynchronizedArray(data.obj, data.lock)
  }
}

/**
 * A shared scalar of a Python typecode (`multiprocessing.Value`), for threads. A factory: no `new`.
 * @param typecode one of `c b B h H i I l L q Q f d` (see the README's table)
 * @param value initial value @default 0 (`'\0'` for `'c'`, `0n` for 64-bit codes)
 * @param opts `{ lock }`: `true` (default) for a new RLock, `false` for the raw object, or a Lock/RLock to use
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for an unknown typecode or a value of the wrong type
 * @example A counter four threads increment
 * ```ts
 * import { type SynchronizedValue, Value } from '@tandem/ipc/shared'
 * import { Thread } from '@tandem/sync/thread'
 *
 * const total = Value('q', 0n)
 * const add = (total: SynchronizedValue<'q'>) => {
 *   for (let i = 0; i < 100; i++) {
 *     total.getLock().acquire()
 *     total.value += 1n
 *     total.getLock().release()
 *   }
 * }
 * const threads = [1, 2, 3, 4].map(() => new Thread({ target: add, args: [total] }))
 * for (const t of threads) t.start()
 * for (const t of threads) t.join()
 * console.log(total.value) // 400n
 * ```
 */
export function Value<C extends Typecode, const O extends SharedOptions = {}>(
  typecode: C,
  value?: ItemOf<C>,
  opts?: O,
): O extends { lock: false } ? RawValue<C> : SynchronizedValue<C> {
  const spec = specOf(typecode)
  const lock = checkOptions(opts)
  const stored = value === undefined ? undefined : toStored(spec, typecode, value)
  const obj = new RawValue(typecode)
  if (stored !== undefined) (obj as RawValue<Typecode>).value = fromStored(spec, stored) as never
  return (lock === false ? obj : new SynchronizedValue(obj, lockOf(lock))) as never
}

/**
 * A shared fixed-length array of a Python typecode (`multiprocessing.Array`), for threads. A
 * factory: no `new`. Items are read with `get(i)`/`set(i, v)` (no `a[i]`: a Proxy would make
 * every access slow and hide typos), `slice`/`setSlice`, iteration and `length`.
 * @param typecode one of `c b B h H i I l L q Q f d`
 * @param sizeOrValues a length (zero-filled) or the initial items (an array, or a string for `'c'`)
 * @param opts `{ lock }`: `true` (default) for a new RLock, `false` for the raw array, or a Lock/RLock to use
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for an unknown typecode, a bad size or an item of the wrong type
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a negative size
 * @example An array a worker fills
 * ```ts
 * import { Array } from '@tandem/ipc/shared'
 * import { Thread } from '@tandem/sync/thread'
 *
 * const squares = Array('i', 5)
 * const t = new Thread({
 *   target: (a: typeof squares) => {
 *     for (let i = 0; i < a.length; i++) a.set(i, i * i)
 *   },
 *   args: [squares],
 * })
 * t.start()
 * t.join()
 * console.log(squares.slice()) // [ 0, 1, 4, 9, 16 ]
 * console.log(Array('c', 'hi', { lock: false }).slice().join('')) // hi
 * ```
 */
// biome-ignore lint/suspicious/noShadowRestrictedNames: the name is multiprocessing's; import it under another name to keep the global
export function Array<C extends Typecode, const O extends SharedOptions = {}>(
  typecode: C,
  sizeOrValues: number | readonly ItemOf<C>[] | string,
  opts?: O,
): O extends { lock: false } ? RawArray<C> : SynchronizedArray<C> {
  const spec = specOf(typecode)
  const lock = checkOptions(opts)
  let items: readonly unknown[] | undefined
  let n: number
  if (typeof sizeOrValues === 'number') {
    if (!Number.isInteger(sizeOrValues)) throw typeError(`size must be an integer; received ${describe(sizeOrValues)}`)
    if (sizeOrValues < 0) throw rangeError(`size must be >= 0; received ${sizeOrValues}`)
    n = sizeOrValues
  } else if (globalThis.Array.isArray(sizeOrValues)) {
    items = sizeOrValues
    n = items.length
  } else if (typeof sizeOrValues === 'string' && spec.kind === 'char') {
    items = [...sizeOrValues]
    n = items.length
  } else {
    throw typeError(`sizeOrValues must be a size or an array of items; received ${describe(sizeOrValues)}`)
  }
  const stored = items?.map((v) => toStored(spec, typecode, v))
  const obj = new RawArray(typecode, n)
  if (stored !== undefined) obj.setSlice(0, n, stored.map((s) => fromStored(spec, s)) as ItemOf<C>[])
  return (lock === false ? obj : new SynchronizedArray(obj, lockOf(lock))) as never
}

registerShareable(RawValue.shareKind, import.meta.url, RawValue.revive)
registerShareable(RawArray.shareKind, import.meta.url, RawArray.revive)
registerShareable(SynchronizedValue.shareKind, import.meta.url, SynchronizedValue.revive)
registerShareable(SynchronizedArray.shareKind, import.meta.url, SynchronizedArray.revive)
