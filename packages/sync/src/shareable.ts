/**
 * The shareable protocol (docs/reference/README.md, "Shareables"): how Tandem objects that hold shared state cross
 * to another worker thread (and, from `@tandem/ipc` on, to another process).
 *
 * A shareable class
 * 1. implements `[SHARE](ctx)`, returning plain data (nested shareables go through
 *    `ctx.encode`), or throwing a `TypeError` with code `ERR_NOT_SHAREABLE` when it cannot reach
 *    `ctx.target`. Tandem's own primitives keep their state in the process arena
 *    (`internal/arena.ts`) and return only numbers (`{ a: arenaId, at: offset, n: words }`), so
 *    their encoding can also travel as bytes through a shared-memory queue or pipe, not only by
 *    postMessage;
 * 2. calls {@link registerShareable} once at module load with a unique `kind`, its module URL
 *    (`import.meta.url`) and a `revive(data)` that builds a live handle from that data.
 *
 * {@link encode} walks a value (arrays, plain objects, Map, Set, nested to any depth) and replaces
 * each shareable by a marker `{ [MARKER]: kind, m: moduleUrl, d: data }`; everything else is left
 * for the structured clone. Functions are refused with a hint. {@link decode} walks back and
 * revives every marker. A receiver that has not loaded a kind's module yet gets it from
 * {@link preload} (async; used by every worker bootstrap) or, as a last resort, from a
 * synchronous `require()` of the module (Node >= 20.19 loads ES modules that way).
 *
 * Encoding copies only the containers from which a shareable can be reached (cycles and shared
 * references through them are kept); a value without shareables is returned as is, and
 * {@link Encoded.shareables} tells the receiver it can skip decoding.
 *
 * Every Tandem worker preloads the modules of all kinds its parent had registered, so decoding
 * in a worker finds them even for values that arrive later through a queue or pipe.
 *
 * @module
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { typeError } from './errors.ts'
import { moduleLoadingRefused } from './internal/module-loading.ts'
import { sabById, sabId } from './internal/sab-registry.ts'
import { deserializeError, serializeError, type SerializedError } from './task.ts'

/** Method a shareable instance implements: returns the data its `revive` needs. */
export const SHARE: unique symbol = Symbol.for('tandem.share') as never

/** Where the encoded value is going. */
export type ShareTarget = 'thread' | 'process'

/** Passed to `[SHARE]`. */
export interface ShareContext {
  /** Destination kind: SharedArrayBuffer state can reach a `'thread'` only. */
  readonly target: ShareTarget
  /** Encodes a nested value (use for shareables held by a shareable). */
  encode(value: unknown): unknown
}

/** Any object implementing the protocol. */
export interface Shareable {
  [SHARE](ctx: ShareContext): unknown
}

/** Key of the marker object that stands for a shareable in encoded data. */
export const MARKER = '\u0000tandem'

interface Marker {
  [MARKER]: string
  m: string
  d: unknown
}

interface Kind {
  readonly module: string
  readonly revive: (data: any) => unknown
}

// One registry per thread, shared by every copy of this module that might be loaded (for
// example `src/` under tsx next to `dist/`), so a kind registered by either is found.
const REGISTRY_KEY = Symbol.for('tandem.shareable.registry')
const registry: Map<string, Kind> =
  ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] as Map<string, Kind> | undefined) ?? ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] = new Map<string, Kind>())

/**
 * Registers a shareable kind in the calling thread. Call once at module load.
 * @param kind unique name, e.g. `'tandem.sync.Lock'`
 * @param moduleUrl `import.meta.url` of the module that registers it (receivers import it)
 * @param revive builds a live handle from the data `[SHARE]` returned
 * @example A shareable of your own: a label and a nested Tandem Lock
 * ```ts
 * import { Lock } from '@tandem/sync/lock'
 * import { decode, encode, registerShareable, SHARE, type ShareContext } from '@tandem/sync/shareable'
 *
 * export class Labelled {
 *   static readonly shareKind = 'example.Labelled'
 *   readonly label: string
 *   readonly lock: Lock
 *   constructor(label: string, lock: Lock) {
 *     this.label = label
 *     this.lock = lock
 *   }
 *   [SHARE](ctx: ShareContext): unknown {
 *     return { label: this.label, lock: ctx.encode(this.lock) } // plain data; nested shareables via ctx
 *   }
 * }
 * registerShareable(Labelled.shareKind, import.meta.url, (d: { label: string; lock: Lock }) => new Labelled(d.label, d.lock))
 *
 * const original = new Labelled('jobs', new Lock())
 * const copy = decode(structuredClone(encode(original).value)) as Labelled // as a worker would receive it
 * original.lock.acquire()
 * console.log(copy.label, copy.lock.locked()) // jobs true: the same shared lock
 * ```
 */
export function registerShareable(kind: string, moduleUrl: string, revive: (data: any) => unknown): void {
  registry.set(kind, { module: moduleUrl, revive })
}

/**
 * True if `value` implements the shareable protocol.
 * @example
 * ```ts
 * import { Event } from '@tandem/sync/event'
 * import { isShareable } from '@tandem/sync/shareable'
 *
 * console.log(isShareable(new Event()), isShareable({ a: 1 })) // true false
 * ```
 */
export function isShareable(value: unknown): value is Shareable {
  return typeof value === 'object' && value !== null && typeof (value as Shareable)[SHARE] === 'function'
}

/** Result of {@link encode}. */
export interface Encoded {
  /** The value with shareables replaced by markers. */
  readonly value: unknown
  /** Whether any marker was written (the receiver may skip {@link decode} when false). */
  readonly shareables: boolean
  /** Module URLs of the kinds used, for {@link preload}. */
  readonly modules: string[]
}

/**
 * Replaces every shareable nested in `value` by a marker.
 * @param value any value; arrays, plain objects, Maps and Sets are walked to any depth
 * @param target where the value goes @default 'thread'
 * @param what names the value in error messages, e.g. `'Thread args'` @default 'value'
 * @returns the encoded value, whether it holds shareables, and the modules their kinds need
 * @throws {TypeError} `ERR_NOT_SHAREABLE` for a function, or a shareable that cannot reach `target`.
 * @example
 * ```ts
 * import { Lock } from '@tandem/sync/lock'
 * import { encode } from '@tandem/sync/shareable'
 *
 * const enc = encode({ lock: new Lock(), n: 1 }, 'thread', 'job')
 * console.log(enc.shareables, enc.modules.length) // true 1
 * console.log(encode([1, 'a']).shareables) // false: left as is, for the structured clone
 * try {
 *   encode({ onDone: () => {} }, 'thread', 'job')
 * } catch (err) {
 *   console.log((err as TypeError & { code: string }).code) // ERR_NOT_SHAREABLE
 * }
 * ```
 */
export function encode(value: unknown, target: ShareTarget = 'thread', what = 'value', options?: EncodeOptions): Encoded {
  const modules = new Set<string>()
  if (typeof value === 'function') throw functionError(value, what, target)
  const byId = options?.sharedMemory === 'byId'
  const errs = options?.errors === 'serialize'
  const { reaching, hasFunction } = scan(value, byId, errs)
  if (reaching === undefined) {
    if (hasFunction) checkNoFunctions(value as object, what, target)
    return { value, shareables: false, modules: [] }
  }
  const seen = new Map<object, unknown>()
  const ctx: ShareContext = { target, encode: (v) => walk(v, what) }

  // Copies exactly the containers from which a shareable can be reached (`reaching`), creating
  // each copy before visiting its children so that cycles and shared references through them
  // point at the copies; every other value is left for the structured clone as it is.
  function walk(v: unknown, path: string): unknown {
    if (typeof v === 'function') throw functionError(v, path, target)
    if (typeof v !== 'object' || v === null) return v
    const prior = seen.get(v)
    if (prior !== undefined) return prior
    if (byId && isSharedMemory(v)) {
      modules.add(SELF)
      const marker: Marker = { [MARKER]: SAB_KIND, m: SELF, d: sabData(v) }
      seen.set(v, marker)
      return marker
    }
    if (errs && v instanceof Error) {
      modules.add(SELF)
      const marker: Marker = { [MARKER]: ERROR_KIND, m: SELF, d: serializeError(v) }
      seen.set(v, marker)
      return marker
    }
    if (isShareable(v)) {
      const kind = (v as { constructor: { shareKind?: string } }).constructor.shareKind
      const entry = kind === undefined ? undefined : registry.get(kind)
      if (kind === undefined || entry === undefined) {
        throw typeError(`${path} implements [SHARE] but its class has no registered static shareKind`, 'ERR_NOT_SHAREABLE')
      }
      modules.add(entry.module)
      const marker: Marker = { [MARKER]: kind, m: entry.module, d: undefined }
      seen.set(v, marker)
      marker.d = v[SHARE](ctx)
      return marker
    }
    if (!reaching!.has(v)) {
      if (hasFunction) checkNoFunctions(v, path, target)
      return v
    }
    if (Array.isArray(v)) {
      const out: unknown[] = new Array(v.length)
      seen.set(v, out)
      // Keys, not 0..length-1: holes stay holes, and named properties of the array come along.
      for (const k of Object.keys(v)) setOwn(out as unknown as Record<string, unknown>, k, walk((v as unknown as Record<string, unknown>)[k], `${path}[${k}]`))
      return out
    }
    if (v instanceof Map) {
      const out = new Map()
      seen.set(v, out)
      for (const [k, x] of v) out.set(walk(k, `${path} key`), walk(x, `${path}.get(${String(k)})`))
      return out
    }
    if (v instanceof Set) {
      const out = new Set()
      seen.set(v, out)
      for (const x of v) out.add(walk(x, `${path} item`))
      return out
    }
    const out: Record<string, unknown> = {}
    // A user object with the marker key would be taken for a marker by decode() (and could name
    // any module to load): it travels wrapped, as a literal.
    const wrapped = isMarker(v) ? ({ [MARKER]: LITERAL, m: SELF, d: out } satisfies Marker) : out
    seen.set(v, wrapped)
    for (const k of Object.keys(v)) setOwn(out, k, walk((v as Record<string, unknown>)[k], `${path}.${k}`))
    if (wrapped !== out) modules.add(SELF)
    return wrapped
  }

  const out = walk(value, what)
  return { value: out, shareables: modules.size > 0, modules: [...modules] }
}

function functionError(v: Function, path: string, target: ShareTarget): TypeError {
  return typeError(
    `${path} is a function (${v.name || 'anonymous'}); functions cannot be sent to another ${target}. ` +
      'Pass it as the task or target itself (shipped by source), or use moduleRef(url, name)',
    'ERR_NOT_SHAREABLE',
  )
}

/** True for objects whose contents the walk does not enter. */
function isOpaque(v: object): boolean {
  return ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof SharedArrayBuffer || v instanceof Date || v instanceof RegExp || v instanceof Error
}

function childrenOf(v: object): Iterable<unknown> {
  if (Array.isArray(v)) return v
  if (v instanceof Map) return [...v.keys(), ...v.values()]
  if (v instanceof Set) return v
  return Object.values(v)
}

/** Throws for a function anywhere inside `v` (which holds no shareable). */
function checkNoFunctions(v: object, path: string, target: ShareTarget): void {
  const stack: [unknown, string][] = [[v, path]]
  const visited = new Set<object>()
  while (stack.length > 0) {
    const [x, p] = stack.pop()!
    if (typeof x === 'function') throw functionError(x, p, target)
    if (typeof x !== 'object' || x === null || visited.has(x) || isOpaque(x)) continue
    visited.add(x)
    if (Array.isArray(x)) x.forEach((e, i) => stack.push([e, `${p}[${i}]`]))
    else if (x instanceof Map) for (const [k, e] of x) stack.push([k, `${p} key`], [e, `${p}.get(${String(k)})`])
    else if (x instanceof Set) for (const e of x) stack.push([e, `${p} item`])
    else for (const k of Object.keys(x)) stack.push([(x as Record<string, unknown>)[k], `${p}.${k}`])
  }
}

/**
 * The set of containers (arrays, plain objects, Maps, Sets) inside `root` from which a shareable
 * can be reached (undefined if there is no shareable at all), and whether a function occurs. Two linear passes: collect the
 * container graph, then propagate "reaches a shareable" backwards along its edges (a cycle
 * cannot hide a shareable, unlike a single memoised depth-first pass).
 */
function scan(root: unknown, byId: boolean, errs: boolean): { reaching: Set<object> | undefined; hasFunction: boolean } {
  let hasFunction = false
  if (typeof root !== 'object' || root === null) return { reaching: undefined, hasFunction }
  if (isShareable(root) || (byId && isSharedMemory(root)) || (errs && root instanceof Error)) return { reaching: new Set(), hasFunction }
  // An object that looks like a marker must be wrapped (see encode), so it counts as a holder.
  const holders: object[] = isMarker(root) ? [root] : []
  const parents = new Map<object, object[]>()
  const visited = new Set<object>([root])
  const stack: object[] = [root]
  while (stack.length > 0) {
    const node = stack.pop()!
    if (isOpaque(node)) continue
    for (const child of childrenOf(node)) {
      if (typeof child === 'function') hasFunction = true
      if (typeof child !== 'object' || child === null) continue
      if (isShareable(child) || (byId && isSharedMemory(child)) || (errs && child instanceof Error)) {
        holders.push(node)
        continue
      }
      if (isMarker(child)) holders.push(child)
      let ps = parents.get(child)
      if (ps === undefined) parents.set(child, (ps = []))
      ps.push(node)
      if (!visited.has(child)) {
        visited.add(child)
        stack.push(child)
      }
    }
  }
  if (holders.length === 0) return { reaching: undefined, hasFunction }
  const reaching = new Set<object>()
  const queue = holders
  while (queue.length > 0) {
    const node = queue.pop()!
    if (reaching.has(node)) continue
    reaching.add(node)
    for (const p of parents.get(node) ?? []) if (!reaching.has(p)) queue.push(p)
  }
  return { reaching, hasFunction }
}

function isMarker(v: object): v is Marker {
  return Object.hasOwn(v, MARKER)
}

const requireHere = createRequire(import.meta.url)

function kindOf(marker: Marker): Kind {
  let entry = registry.get(marker[MARKER])
  if (entry === undefined) {
    if (moduleLoadingRefused()) {
      throw typeError(
        `Cannot revive a ${String(marker[MARKER])} here: no shareable of that kind is registered in this process, and it loads no module a message names`,
        'ERR_NOT_SHAREABLE',
      )
    }
    // Synchronous fallback: load the defining module now (require(esm), Node >= 20.19).
    try {
      requireHere(marker.m.startsWith('file:') ? fileURLToPath(marker.m) : marker.m)
    } catch (cause) {
      throw typeError(
        `Cannot revive a ${marker[MARKER]} here: its module ${marker.m} is not loaded in this thread and could not be required (${(cause as Error).message}). Import it before receiving the value`,
        'ERR_NOT_SHAREABLE',
      )
    }
    entry = registry.get(marker[MARKER])
    if (entry === undefined) throw typeError(`Module ${marker.m} did not register shareable kind ${marker[MARKER]}`, 'ERR_NOT_SHAREABLE')
  }
  return entry
}

/**
 * Revives every marker nested in `value` (the inverse of {@link encode}), in place.
 * @throws {TypeError} `ERR_NOT_SHAREABLE` if a kind's module cannot be loaded in this thread
 * @example
 * ```ts
 * import { Semaphore } from '@tandem/sync/semaphore'
 * import { decode, encode } from '@tandem/sync/shareable'
 *
 * const sem = new Semaphore(0)
 * const received = decode(structuredClone(encode([sem]).value)) as [Semaphore]
 * received[0].release() // a handle on the same shared counter
 * console.log(sem.value) // 1
 * ```
 */
export function decode(value: unknown): unknown {
  const seen = new Map<object, unknown>()
  function walk(v: unknown): unknown {
    if (typeof v !== 'object' || v === null) return v
    const prior = seen.get(v)
    if (prior !== undefined) return prior
    if (isMarker(v)) {
      if (v[MARKER] === LITERAL) {
        // A user object that only looks like a marker (see encode): its contents, as they were.
        const d = v.d as Record<string, unknown>
        seen.set(v, d)
        seen.set(d, d)
        fill(d)
        return d
      }
      const live = kindOf(v).revive(walk(v.d))
      seen.set(v, live)
      return live
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof SharedArrayBuffer) return v
    seen.set(v, v)
    fill(v)
    return v
  }
  function fill(v: object): void {
    if (Array.isArray(v)) {
      for (const k of Object.keys(v)) {
        const x = (v as unknown as Record<string, unknown>)[k]
        const y = walk(x)
        if (y !== x) setOwn(v as unknown as Record<string, unknown>, k, y)
      }
    } else if (v instanceof Map) {
      const entries = [...v].map(([k, x]) => [walk(k), walk(x)] as const)
      v.clear()
      for (const [k, x] of entries) v.set(k, x)
    } else if (v instanceof Set) {
      const items = [...v].map(walk)
      v.clear()
      for (const x of items) v.add(x)
    } else if (!(v instanceof Date || v instanceof RegExp || v instanceof Error)) {
      for (const k of Object.keys(v)) {
        const x = (v as Record<string, unknown>)[k]
        const y = walk(x)
        if (y !== x) setOwn(v as Record<string, unknown>, k, y)
      }
    }
  }
  return walk(value)
}

/**
 * Module URLs of every kind registered in this thread (a worker bootstrap preloads them).
 * @example
 * ```ts
 * import '@tandem/sync/event'
 * import { knownModules } from '@tandem/sync/shareable'
 *
 * console.log(knownModules().some((url) => /\/event\.[jt]s$/.test(url))) // true
 * ```
 */
export function knownModules(): string[] {
  return [...new Set([...registry.values()].map((k) => k.module))]
}

/**
 * Imports the modules an encoded value needs, so that {@link decode} finds every kind.
 * @param modules module URLs, as in {@link Encoded.modules}
 * @example
 * ```ts
 * import { Event } from '@tandem/sync/event'
 * import { decode, encode, preload } from '@tandem/sync/shareable'
 *
 * const enc = encode({ done: new Event() })
 * await preload(enc.modules) // what a receiving thread does before decoding
 * const { done } = decode(structuredClone(enc.value)) as { done: Event }
 * console.log(done.isSet()) // false
 * ```
 */
export async function preload(modules: readonly string[]): Promise<void> {
  await Promise.all(modules.filter((m) => ![...registry.values()].some((k) => k.module === m)).map((m) => import(m)))
}

/**
 * Sets an own data property, also for the key `"__proto__"` (which `o[k] = x` would turn into
 * a prototype change: an object parsed from untrusted JSON must not get a new prototype by
 * crossing threads).
 * @example
 * ```ts
 * import { setOwn } from '@tandem/sync/shareable'
 *
 * const o: Record<string, unknown> = {}
 * setOwn(o, '__proto__', { admin: true })
 * setOwn(o, 'name', 'x')
 * console.log(Object.getPrototypeOf(o) === Object.prototype, Object.keys(o)) // true [ '__proto__', 'name' ]
 * ```
 */
export function setOwn(o: Record<string, unknown>, k: string, x: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: x, writable: true, enumerable: true, configurable: true })
  else o[k] = x
}

// ---- SharedArrayBuffers inside encoded bytes -------------------------------------------------
// With `sharedMemory: 'byId'` (the queue codec), a SharedArrayBuffer or a view on one becomes a
// marker holding the buffer's process-wide id (internal/sab-registry.ts) and the view's shape;
// decode() makes a view on the same memory. (Without it, SharedArrayBuffers are left for
// postMessage, which shares them itself.)

/** Options of {@link encode}. */
export interface EncodeOptions {
  /**
   * `'byId'`: replace each SharedArrayBuffer (or view on one) by a marker naming the buffer by a
   * process-wide id, for channels that carry bytes (a shared-memory queue); `'keep'` (default):
   * leave them for postMessage.
   */
  readonly sharedMemory?: 'byId' | 'keep'
  /**
   * `'serialize'`: replace each Error by its `serializeError` data (class name, message, stack,
   * code, properties, `errors`, and a `cause` chain whose cycles V8's serializer cannot read
   * back), revived by `deserializeError`; `'clone'` (default): leave errors for the structured clone.
   */
  readonly errors?: 'serialize' | 'clone'
}

const SAB_KIND = 'tandem.sharedArrayBuffer'
const ERROR_KIND = 'tandem.error'
/** Kind of the wrapper of a user object that has the marker key (never revived, unwrapped). */
const LITERAL = 'tandem.literal'
const SELF = import.meta.url
const VIEW_TYPES = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  DataView,
  Buffer,
] as const
const BARE = -1

/** What a shared-memory marker holds: buffer id, view type (index in VIEW_TYPES, or BARE), byte offset, length. */
interface SabData {
  readonly i: number
  readonly t: number
  readonly o: number
  readonly n: number
}

function isSharedMemory(v: object): v is SharedArrayBuffer | ArrayBufferView {
  return v instanceof SharedArrayBuffer || (ArrayBuffer.isView(v) && v.buffer instanceof SharedArrayBuffer)
}

function sabData(v: SharedArrayBuffer | ArrayBufferView): SabData {
  if (v instanceof SharedArrayBuffer) return { i: sabId(v), t: BARE, o: 0, n: v.byteLength }
  const t = VIEW_TYPES.lastIndexOf(v.constructor as never)
  if (t < 0)
    throw typeError(`Cannot share a ${v.constructor?.name ?? 'view'} on a SharedArrayBuffer by reference: only built-in typed arrays, DataView and Buffer`, 'ERR_NOT_SHAREABLE')
  const n = v instanceof DataView ? v.byteLength : (v as unknown as { length: number }).length
  return { i: sabId(v.buffer as SharedArrayBuffer), t, o: v.byteOffset, n }
}

function reviveSab(d: SabData): unknown {
  if (d === null || typeof d !== 'object' || typeof d.i !== 'number' || typeof d.t !== 'number' || typeof d.o !== 'number' || typeof d.n !== 'number') {
    throw typeError('Corrupt shared-memory reference in a decoded value', 'ERR_NOT_SHAREABLE')
  }
  const sab = sabById(d.i)
  if (d.t === BARE) return sab
  const Ctor = VIEW_TYPES[d.t]
  if (Ctor === undefined) throw typeError(`Corrupt shared-memory reference in a decoded value (view type ${d.t})`, 'ERR_NOT_SHAREABLE')
  if (Ctor === Buffer) return Buffer.from(sab, d.o, d.n)
  return new (Ctor as unknown as new (b: SharedArrayBuffer, o: number, n: number) => unknown)(sab, d.o, d.n)
}

registerShareable(SAB_KIND, SELF, reviveSab)
registerShareable(ERROR_KIND, SELF, (d: SerializedError) => deserializeError(d))
