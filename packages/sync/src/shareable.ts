/**
 * The shareable protocol (API.md convention 6): how Tandem objects that hold shared state cross
 * to another worker thread (and, from `@tandem/ipc` on, to another process).
 *
 * A shareable class
 * 1. implements `[SHARE](ctx)`, returning plain, structured-cloneable data (SharedArrayBuffers
 *    included; nested shareables go through `ctx.encode`), or throwing a `TypeError` with code
 *    `ERR_NOT_SHAREABLE` when it cannot reach `ctx.target`;
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
 * Walking copies only the containers on the path to a shareable; a value without shareables is
 * returned as is, and {@link Encoded.shareables} tells the receiver it can skip decoding.
 *
 * @module
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { typeError } from './errors.ts'

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
  ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] as Map<string, Kind> | undefined) ??
  ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] = new Map<string, Kind>())

/**
 * Registers a shareable kind in the calling thread. Call once at module load.
 * @param kind unique name, e.g. `'tandem.sync.Lock'`
 * @param moduleUrl `import.meta.url` of the module that registers it (receivers import it)
 * @param revive builds a live handle from the data `[SHARE]` returned
 * @example
 * ```ts
 * registerShareable('tandem.sync.Lock', import.meta.url, (d) => Lock[REVIVE](d))
 * ```
 */
export function registerShareable(kind: string, moduleUrl: string, revive: (data: any) => unknown): void {
  registry.set(kind, { module: moduleUrl, revive })
}

/** True if `value` implements the shareable protocol. */
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
 * @param what names the value in error messages, e.g. `'Thread args'`
 * @throws {TypeError} `ERR_NOT_SHAREABLE` for a function, or a shareable that cannot reach `target`.
 */
export function encode(value: unknown, target: ShareTarget = 'thread', what = 'value'): Encoded {
  const modules = new Set<string>()
  const seen = new Map<object, unknown>()
  let found = false
  const ctx: ShareContext = { target, encode: (v) => walk(v, what) }

  function walk(v: unknown, path: string): unknown {
    if (typeof v === 'function') {
      throw typeError(
        `${path} is a function (${v.name || 'anonymous'}); functions cannot be sent to another ${target}. ` +
          'Pass it as the task or target itself (shipped by source), or use moduleRef(url, name)',
        'ERR_NOT_SHAREABLE',
      )
    }
    if (typeof v !== 'object' || v === null) return v
    const prior = seen.get(v)
    if (prior !== undefined) return prior
    if (isShareable(v)) {
      const kind = (v as { constructor: { shareKind?: string } }).constructor.shareKind
      const entry = kind === undefined ? undefined : registry.get(kind)
      if (kind === undefined || entry === undefined) {
        throw typeError(`${path} implements [SHARE] but its class has no registered static shareKind`, 'ERR_NOT_SHAREABLE')
      }
      found = true
      modules.add(entry.module)
      const marker: Marker = { [MARKER]: kind, m: entry.module, d: undefined }
      seen.set(v, marker)
      marker.d = v[SHARE](ctx)
      return marker
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof SharedArrayBuffer) return v
    if (Array.isArray(v)) {
      seen.set(v, v)
      let out: unknown[] | undefined
      for (let i = 0; i < v.length; i++) {
        const e = walk(v[i], `${path}[${i}]`)
        if (e !== v[i] && out === undefined) out = v.slice(0, i)
        if (out !== undefined) out.push(e)
      }
      if (out !== undefined) seen.set(v, out)
      return out ?? v
    }
    if (v instanceof Map) {
      seen.set(v, v)
      let changed = false
      const entries: [unknown, unknown][] = []
      for (const [k, x] of v) {
        const ek = walk(k, `${path} key`)
        const ex = walk(x, `${path}.get(${String(k)})`)
        changed ||= ek !== k || ex !== x
        entries.push([ek, ex])
      }
      const out = changed ? new Map(entries) : v
      seen.set(v, out)
      return out
    }
    if (v instanceof Set) {
      seen.set(v, v)
      let changed = false
      const items: unknown[] = []
      for (const x of v) {
        const ex = walk(x, `${path} item`)
        changed ||= ex !== x
        items.push(ex)
      }
      const out = changed ? new Set(items) : v
      seen.set(v, out)
      return out
    }
    if (v instanceof Date || v instanceof RegExp || v instanceof Error) return v
    seen.set(v, v)
    let out: Record<string, unknown> | undefined
    const keys = Object.keys(v)
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!
      const x = (v as Record<string, unknown>)[k]
      const ex = walk(x, `${path}.${k}`)
      if (ex !== x && out === undefined) {
        out = {}
        for (let j = 0; j < i; j++) out[keys[j]!] = (v as Record<string, unknown>)[keys[j]!]
      }
      if (out !== undefined) out[k] = ex
    }
    if (out !== undefined) seen.set(v, out)
    return out ?? v
  }

  const out = walk(value, what)
  return { value: out, shareables: found, modules: [...modules] }
}

function isMarker(v: object): v is Marker {
  return Object.prototype.hasOwnProperty.call(v, MARKER)
}

const requireHere = createRequire(import.meta.url)

function kindOf(marker: Marker): Kind {
  let entry = registry.get(marker[MARKER])
  if (entry === undefined) {
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

/** Revives every marker nested in `value` (the inverse of {@link encode}). */
export function decode(value: unknown): unknown {
  const seen = new Map<object, unknown>()
  function walk(v: unknown): unknown {
    if (typeof v !== 'object' || v === null) return v
    const prior = seen.get(v)
    if (prior !== undefined) return prior
    if (isMarker(v)) {
      const live = kindOf(v).revive(walk(v.d))
      seen.set(v, live)
      return live
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof SharedArrayBuffer) return v
    seen.set(v, v)
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = walk(v[i])
    } else if (v instanceof Map) {
      const entries = [...v].map(([k, x]) => [walk(k), walk(x)] as const)
      v.clear()
      for (const [k, x] of entries) v.set(k, x)
    } else if (v instanceof Set) {
      const items = [...v].map(walk)
      v.clear()
      for (const x of items) v.add(x)
    } else if (!(v instanceof Date || v instanceof RegExp || v instanceof Error)) {
      for (const k of Object.keys(v)) (v as Record<string, unknown>)[k] = walk((v as Record<string, unknown>)[k])
    }
    return v
  }
  return walk(value)
}

/** Imports the modules an encoded value needs, so that {@link decode} finds every kind. */
export async function preload(modules: readonly string[]): Promise<void> {
  await Promise.all(modules.filter((m) => ![...registry.values()].some((k) => k.module === m)).map((m) => import(m)))
}
