/**
 * Item encoding for queues whose contents live in shared memory.
 *
 * Common small items skip the V8 serializer: `undefined`, `null`, booleans and int32 numbers
 * fit in the entry itself, doubles take 8 bytes, Latin-1 strings one byte per character.
 * Everything else goes through `v8.serialize` after Tandem shareables inside it were replaced
 * by their (numeric) encodings, so a Lock put on a queue arrives as the same Lock; likewise a
 * SharedArrayBuffer or a view on one travels as the buffer's process-wide id (see
 * `@tandem/sync`'s `internal/sab-registry.ts`) and arrives as the same memory.
 *
 * Decoding trusts nothing about the bytes: every length is checked against the bytes present,
 * nesting is bounded, and corrupt input throws a `RangeError` with code `ERR_CORRUPT_ITEM`
 * (never a crash, a hang or an unbounded allocation). An own `"__proto__"` key stays an own
 * property, as in the structured clone.
 */
import { DefaultSerializer, deserialize } from 'node:v8'
import { decode as decodeShareables, encode as encodeShareables, setOwn } from '@tandem/sync/shareable'

export const TAG_UNDEFINED = 1
export const TAG_NULL = 2
export const TAG_TRUE = 3
export const TAG_FALSE = 4
export const TAG_INT = 5 // value in the entry's VALUE word
export const TAG_DOUBLE = 6
export const TAG_LATIN1 = 7
export const TAG_V8 = 8
export const TAG_V8_SHARED = 9 // V8 bytes holding shareable markers: decode after deserialize
export const TAG_PLAIN = 10 // Tandem's compact encoding of plain data (arrays, plain objects, primitives)

/** An encoded item: a tag, a 32-bit value (int or byte length) and the bytes, if any. */
export interface EncodedItem {
  tag: number
  value: number
  bytes: Uint8Array | undefined
}

// SharedArrayBuffers by id; errors by serializeError (V8 cannot read back a cyclic `cause`).
const BY_ID = { sharedMemory: 'byId', errors: 'serialize' } as const
// Bytes bound for another process cannot name shared memory: SharedArrayBuffers are refused.
const FOR_PROCESS = { errors: 'serialize' } as const

const f64 = new Float64Array(1)
const f64bytes = new Uint8Array(f64.buffer)

/**
 * Encodes `item`.
 * @param target `'process'` when the bytes may be decoded in another process (`@tandem/ipc`):
 *   shareables then encode for a process (thread-only ones throw) and shared memory is refused
 * @throws {TypeError} `ERR_NOT_SHAREABLE` for values the structured clone refuses (functions, symbols)
 */
export function encodeItem(item: unknown, out: EncodedItem, trustedArrays = 0, target: 'thread' | 'process' = 'thread'): EncodedItem {
  switch (typeof item) {
    case 'undefined':
      return set(out, TAG_UNDEFINED, 0, undefined)
    case 'boolean':
      return set(out, item ? TAG_TRUE : TAG_FALSE, 0, undefined)
    case 'number':
      if ((item | 0) === item && !Object.is(item, -0)) return set(out, TAG_INT, item, undefined)
      f64[0] = item
      return set(out, TAG_DOUBLE, 8, f64bytes.slice())
    case 'string': {
      const n = item.length
      if (n <= 256) {
        const bytes = new Uint8Array(n)
        let i = 0
        for (; i < n; i++) {
          const c = item.charCodeAt(i)
          if (c > 0xff) break
          bytes[i] = c
        }
        if (i === n) return set(out, TAG_LATIN1, n, bytes)
      }
      break
    }
    case 'object':
      if (item === null) return set(out, TAG_NULL, 0, undefined)
      break
    case 'function':
    case 'symbol':
      throw notCloneable(item)
  }
  if (typeof item === 'object' || typeof item === 'string') {
    const bytes = encodePlain(item, trustedArrays)
    if (bytes !== undefined) return set(out, TAG_PLAIN, bytes.length, bytes)
  }
  const enc = encodeShareables(item, target, 'Queue item', target === 'thread' ? BY_ID : FOR_PROCESS)
  let bytes: Uint8Array
  try {
    const ser = new ItemSerializer()
    ser.writeHeader()
    ser.writeValue(enc.value)
    bytes = ser.releaseBuffer()
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_NOT_SHAREABLE') throw err
    throw notCloneable(item, err as Error)
  }
  return set(out, enc.shareables ? TAG_V8_SHARED : TAG_V8, bytes.length, bytes)
}

/**
 * `v8.serialize`, refusing views on a SharedArrayBuffer that the shareable walk did not reach
 * (it replaces every one it finds by the buffer's id): serialized bytes cannot share memory, and
 * silently handing the consumer an unshared copy would break the producer's intent (a bare
 * SharedArrayBuffer is refused by V8 itself).
 */
class ItemSerializer extends DefaultSerializer {
  // Node's hook for ArrayBuffer views (not in @types/node).
  _writeHostObject(view: NodeJS.TypedArray | DataView): void {
    if (view.buffer instanceof SharedArrayBuffer) {
      const err = new TypeError(
        'Cannot put this view on a SharedArrayBuffer on a queue: it is held where shared memory cannot be passed by reference ' +
          '(inside an Error, or another object that is copied whole). Put the view itself in an array, plain object, Map or Set',
      ) as TypeError & { code: string }
      err.code = 'ERR_NOT_SHAREABLE'
      throw err
    }
    ;(DefaultSerializer.prototype as unknown as { _writeHostObject(v: unknown): void })._writeHostObject.call(this, view)
  }
}

function set(out: EncodedItem, tag: number, value: number, bytes: Uint8Array | undefined): EncodedItem {
  out.tag = tag
  out.value = value
  out.bytes = bytes
  return out
}

function notCloneable(item: unknown, cause?: Error): TypeError {
  const err = new TypeError(
    `Cannot put ${typeof item === 'function' ? `function ${(item as Function).name || '(anonymous)'}` : typeof item} on a queue: items must be structured-cloneable (or Tandem shareables)${cause ? ` (${cause.message})` : ''}`,
    cause ? { cause } : undefined,
  ) as TypeError & { code: string }
  err.code = 'ERR_NOT_SHAREABLE'
  return err
}

/** Bytes of payload an entry with this tag and value has (the value is an int for TAG_INT). */
export function payloadBytes(tag: number, value: number): number {
  switch (tag) {
    case TAG_DOUBLE:
    case TAG_LATIN1:
    case TAG_V8:
    case TAG_V8_SHARED:
    case TAG_PLAIN:
      return value
    default:
      return 0
  }
}

/** The error for bytes that are not a valid encoding. */
export function corrupt(what: string): RangeError {
  const err = new RangeError(`Corrupt queue item: ${what}`) as RangeError & { code: string }
  err.code = 'ERR_CORRUPT_ITEM'
  return err
}

/**
 * Rebuilds an item from its tag, value and bytes (`bytes` may be a view on shared memory).
 * @throws {RangeError} `ERR_CORRUPT_ITEM` if they are not a valid encoding
 */
export function decodeItem(tag: number, value: number, bytes: Uint8Array | undefined): unknown {
  // Tags with a payload check its length first (the others ignore value and bytes).
  if (tag >= TAG_DOUBLE && value !== 0 && (bytes === undefined || value < 0 || value > bytes.length)) {
    if (tag <= TAG_PLAIN) throw corrupt(`tag ${tag} announces ${value} bytes, ${bytes?.length ?? 0} present`)
  }
  switch (tag) {
    case TAG_UNDEFINED:
      return undefined
    case TAG_NULL:
      return null
    case TAG_TRUE:
      return true
    case TAG_FALSE:
      return false
    case TAG_INT:
      return value
    case TAG_DOUBLE:
      if (value !== 8) throw corrupt(`a double of ${value} bytes`)
      f64bytes.set(bytes!.subarray(0, 8))
      return f64[0]
    case TAG_LATIN1: {
      let s = ''
      if (value <= 64) for (let i = 0; i < value; i++) s += String.fromCharCode(bytes![i]!)
      else for (let i = 0; i < value; i += 4096) s += String.fromCharCode.apply(null, bytes!.subarray(i, Math.min(value, i + 4096)) as unknown as number[])
      return s
    }
    case TAG_PLAIN:
      return decodePlain(bytes!, value)
    case TAG_V8:
      return deserializeChecked(bytes!, value)
    case TAG_V8_SHARED:
      return decodeShareables(deserializeChecked(bytes!, value))
  }
  throw corrupt(`unknown tag ${tag}`)
}

function deserializeChecked(bytes: Uint8Array, value: number): unknown {
  try {
    return deserialize(Buffer.from(bytes.subarray(0, value)))
  } catch (cause) {
    const err = corrupt(`the V8 serializer cannot read it (${(cause as Error)?.message})`)
    err.cause = cause
    throw err
  }
}

// ---- compact encoding of plain data ---------------------------------------------------------
// `v8.serialize` costs a serializer object and a C++ round trip per item; most queue items are
// small plain data (arrays, plain objects, numbers, strings), which this encoder writes in a few
// hundred nanoseconds. A Uint8Array that spans its own ArrayBuffer is copied as its bytes (the
// structured clone gives the same: a copy of the buffer). Anything else (Map, Set, Date, other
// typed arrays and views on part of a buffer, class instances, bigint,
// Tandem shareables, sparse arrays, cycles or very deep nesting) returns undefined and takes the
// V8 path, so the structured-clone semantics are unchanged.

const P_UNDEFINED = 1
const P_NULL = 2
const P_TRUE = 3
const P_FALSE = 4
const P_INT = 5
const P_DOUBLE = 6
const P_LATIN1 = 7
const P_UTF16 = 8
const P_ARRAY = 9
const P_OBJECT = 10
const P_INT_ARRAY = 11 // dense array of int32 numbers: length, then 4 bytes each
const P_F64_ARRAY = 12 // dense array of numbers: length, then 8 bytes each
const P_BYTES = 13 // a Uint8Array that is its whole (unshared, fixed-length) buffer: length, then the bytes
const MAX_DEPTH = 32

let scratch = new Uint8Array(256)
let view = new DataView(scratch.buffer)
let pos = 0

function room(n: number): void {
  if (pos + n <= scratch.length) return
  let size = scratch.length * 2
  while (size < pos + n) size *= 2
  const next = new Uint8Array(size)
  next.set(scratch.subarray(0, pos))
  scratch = next
  view = new DataView(scratch.buffer)
}

function writeLen(n: number): void {
  room(5)
  while (n >= 0x80) {
    scratch[pos++] = (n & 0x7f) | 0x80
    n >>>= 7
  }
  scratch[pos++] = n
}

function writeString(s: string): void {
  const n = s.length
  let latin1 = true
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) > 0xff) {
      latin1 = false
      break
    }
  }
  room(1)
  scratch[pos++] = latin1 ? P_LATIN1 : P_UTF16
  writeLen(n)
  if (latin1) {
    room(n)
    for (let i = 0; i < n; i++) scratch[pos++] = s.charCodeAt(i)
  } else {
    room(2 * n)
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i)
      scratch[pos++] = c & 0xff
      scratch[pos++] = c >> 8
    }
  }
}

// Object keys repeat from item to item: keep their encodings (bounded).
const keyBytes = new Map<string, Uint8Array>()

function writeKey(k: string): void {
  let b = keyBytes.get(k)
  if (b === undefined) {
    const start = pos
    writeString(k)
    b = scratch.slice(start, pos)
    if (keyBytes.size < 4096) keyBytes.set(k, b)
    return
  }
  room(b.length)
  for (let i = 0; i < b.length; i++) scratch[pos++] = b[i]!
}

/** Writes `v`; false if it is not plain data. */
/** Writes a dense array of numbers as raw int32 or float64 words; false if it is not one. */
function writeNumbers(v: unknown[]): boolean {
  const n = v.length
  let ints = true
  for (let i = 0; i < n; i++) {
    const e = v[i]
    if (typeof e !== 'number') return false
    if (ints && ((e | 0) !== e || (e === 0 && 1 / e < 0))) ints = false
  }
  const width = ints ? 4 : 8
  room(1 + 5 + n * width)
  scratch[pos++] = ints ? P_INT_ARRAY : P_F64_ARRAY
  writeLen(n)
  const d = view
  let p = pos
  if (ints) for (let i = 0; i < n; i++, p += 4) d.setInt32(p, v[i] as number, true)
  else for (let i = 0; i < n; i++, p += 8) d.setFloat64(p, v[i] as number, true)
  pos = p
  return true
}

/**
 * Writes a Uint8Array as its bytes; false for one the structured clone treats otherwise: a view
 * on part of its buffer (the clone copies the whole buffer and keeps the offset), on shared
 * memory (shared by reference between threads), on a resizable buffer, or an empty one (it may
 * be detached).
 */
function writeBytes(v: Uint8Array): boolean {
  const buf = v.buffer
  const n = v.length
  if (n === 0 || v.byteOffset !== 0 || !(buf instanceof ArrayBuffer) || buf.byteLength !== n || (buf as { resizable?: boolean }).resizable === true) return false
  room(1 + 5 + n)
  scratch[pos++] = P_BYTES
  writeLen(n)
  scratch.set(v, pos)
  pos += n
  return true
}

function writePlain(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'undefined':
      room(1)
      scratch[pos++] = P_UNDEFINED
      return true
    case 'boolean':
      room(1)
      scratch[pos++] = v ? P_TRUE : P_FALSE
      return true
    case 'number':
      if ((v | 0) === v && !Object.is(v, -0)) {
        room(5)
        scratch[pos++] = P_INT
        view.setInt32(pos, v, true)
        pos += 4
      } else {
        room(9)
        scratch[pos++] = P_DOUBLE
        view.setFloat64(pos, v, true)
        pos += 8
      }
      return true
    case 'string':
      writeString(v)
      return true
    case 'object': {
      if (v === null) {
        room(1)
        scratch[pos++] = P_NULL
        return true
      }
      if (depth >= MAX_DEPTH) return false
      if (Array.isArray(v)) {
        if (Object.getPrototypeOf(v) !== Array.prototype) return false
        // Named properties (`arr.label = 'x'`) or holes: the V8 path keeps them. (Object.keys
        // costs ~50 ns on a small array: skipped for the caller's own arrays, see encodePlain.)
        if (depth >= trusted && Object.keys(v).length !== v.length) return false
        if (v.length >= 8 && writeNumbers(v)) return true
        room(1)
        scratch[pos++] = P_ARRAY
        writeLen(v.length)
        for (let i = 0; i < v.length; i++) {
          const e = v[i]
          if ((e === undefined && !(i in v)) || !writePlain(e, depth + 1)) return false
        }
        return true
      }
      const proto = Object.getPrototypeOf(v)
      if (proto === Uint8Array.prototype) return writeBytes(v as Uint8Array)
      if (proto !== Object.prototype && proto !== null) return false
      const keys = Object.keys(v)
      room(1)
      scratch[pos++] = P_OBJECT
      writeLen(keys.length)
      for (const k of keys) {
        writeKey(k)
        if (!writePlain((v as Record<string, unknown>)[k], depth + 1)) return false
      }
      return true
    }
    default:
      return false
  }
}

/** Nesting depth above which arrays are the caller's own (no named properties, no holes). */
let trusted = 0

/**
 * @param trustedArrays arrays at depths below this were built by the caller (an executor's work
 *   item and its argument list), so their named-property check is skipped
 */
function encodePlain(item: unknown, trustedArrays: number): Uint8Array | undefined {
  pos = 0
  trusted = trustedArrays
  if (!writePlain(item, 0)) return undefined
  return scratch.slice(0, pos)
}

// Reading checks every length against the bytes left before allocating for it (an element
// takes at least one byte, an object entry two), so corrupt or hostile bytes throw
// ERR_CORRUPT_ITEM instead of hanging, overflowing the stack or allocating without bound.
let rbuf: Uint8Array
let rpos = 0
let rend = 0
const rf64 = new Float64Array(1)
const rf64b = new Uint8Array(rf64.buffer)

/** Throws unless `n` more bytes are present. */
function need(n: number): void {
  if (n > rend - rpos) throw corrupt(`${n} bytes announced at offset ${rpos}, ${rend - rpos} left`)
}

function readLen(): number {
  let n = 0
  let shift = 0
  for (;;) {
    if (rpos >= rend) throw corrupt('truncated length')
    const b = rbuf[rpos++]!
    n |= (b & 0x7f) << shift
    if (b < 0x80) return n >>> 0
    shift += 7
    if (shift > 28) throw corrupt('length longer than 5 bytes')
  }
}

function readString(tag: number): string {
  const n = readLen()
  let s = ''
  if (tag === P_LATIN1) {
    need(n)
    if (n > 64) {
      for (let i = 0; i < n; i += 4096) s += String.fromCharCode.apply(null, rbuf.subarray(rpos + i, rpos + Math.min(n, i + 4096)) as unknown as number[])
    } else {
      for (let i = 0; i < n; i++) s += String.fromCharCode(rbuf[rpos + i]!)
    }
    rpos += n
  } else {
    need(2 * n)
    for (let i = 0; i < n; i++) s += String.fromCharCode(rbuf[rpos + 2 * i]! | (rbuf[rpos + 2 * i + 1]! << 8))
    rpos += 2 * n
  }
  return s
}

// Decoded keys are looked up in a small hash table of strings seen before, so that objects get
// the same (internalised) key strings every time: property stores then hit V8's caches.
const KEY_SLOTS = 512
const keyCache: (string | undefined)[] = new Array(KEY_SLOTS)

function readKey(): string {
  if (rpos >= rend) throw corrupt('truncated key')
  const tag = rbuf[rpos++]!
  if (tag !== P_LATIN1) {
    if (tag !== P_UTF16) throw corrupt(`a key with tag ${tag}`)
    return readString(tag)
  }
  const start = rpos
  const n = readLen()
  const at = rpos
  if (n > 32) {
    rpos = start
    return readString(tag)
  }
  need(n)
  let h = n
  for (let i = 0; i < n; i++) h = (Math.imul(h, 31) + rbuf[at + i]!) | 0
  const slot = h & (KEY_SLOTS - 1)
  const cached = keyCache[slot]
  if (cached !== undefined && cached.length === n) {
    let same = true
    for (let i = 0; i < n; i++) {
      if (cached.charCodeAt(i) !== rbuf[at + i]) {
        same = false
        break
      }
    }
    if (same) {
      rpos = at + n
      return cached
    }
  }
  rpos = start
  // Through Object.keys the key comes back internalised, as V8 stores property names.
  const k = Object.keys({ [readString(tag)]: 0 })[0]!
  keyCache[slot] = k
  return k
}

function readPlain(depth: number): unknown {
  if (rpos >= rend) throw corrupt('truncated value')
  const tag = rbuf[rpos++]!
  switch (tag) {
    case P_UNDEFINED:
      return undefined
    case P_NULL:
      return null
    case P_TRUE:
      return true
    case P_FALSE:
      return false
    case P_INT: {
      need(4)
      const b = rbuf
      const v = b[rpos]! | (b[rpos + 1]! << 8) | (b[rpos + 2]! << 16) | (b[rpos + 3]! << 24)
      rpos += 4
      return v
    }
    case P_DOUBLE:
      need(8)
      for (let i = 0; i < 8; i++) rf64b[i] = rbuf[rpos + i]!
      rpos += 8
      return rf64[0]
    case P_LATIN1:
    case P_UTF16:
      return readString(tag)
    case P_ARRAY: {
      if (depth >= MAX_DEPTH) throw corrupt('nested too deep')
      const n = readLen()
      need(n)
      const a: unknown[] = []
      for (let i = 0; i < n; i++) a.push(readPlain(depth + 1))
      return a
    }
    case P_INT_ARRAY:
    case P_F64_ARRAY: {
      const n = readLen()
      need(n * (tag === P_INT_ARRAY ? 4 : 8))
      const d = new DataView(rbuf.buffer, rbuf.byteOffset + rpos, n * (tag === P_INT_ARRAY ? 4 : 8))
      const a: number[] = []
      if (tag === P_INT_ARRAY) for (let i = 0; i < n; i++) a.push(d.getInt32(i * 4, true))
      else for (let i = 0; i < n; i++) a.push(d.getFloat64(i * 8, true))
      rpos += d.byteLength
      return a
    }
    case P_BYTES: {
      const n = readLen()
      need(n)
      // A copy on an ArrayBuffer of its own (the bytes read may be shared memory).
      const out = new Uint8Array(n)
      out.set(rbuf.subarray(rpos, rpos + n))
      rpos += n
      return out
    }
    case P_OBJECT: {
      if (depth >= MAX_DEPTH) throw corrupt('nested too deep')
      const n = readLen()
      need(2 * n)
      const o: Record<string, unknown> = {}
      for (let i = 0; i < n; i++) {
        const k = readKey()
        // An own "__proto__" key (JSON.parse gives those) stays an own property.
        if (k === '__proto__') setOwn(o, k, readPlain(depth + 1))
        else o[k] = readPlain(depth + 1)
      }
      return o
    }
  }
  throw corrupt(`unknown plain tag ${tag}`)
}

/**
 * Reads the first `out.length` elements of a plain-encoded array (tag {@link TAG_PLAIN}, its
 * bytes) into `out`, without decoding the rest: false unless the bytes are such an array whose
 * first elements are int32 numbers.
 */
export function plainIntsHead(bytes: Uint8Array, len: number, out: number[]): boolean {
  rbuf = bytes
  rpos = 0
  rend = Math.min(len, bytes.length)
  if (rend < 1 || rbuf[rpos++] !== P_ARRAY) return false
  try {
    if (readLen() < out.length) return false
  } catch {
    return false
  }
  for (let i = 0; i < out.length; i++) {
    if (rend - rpos < 5 || rbuf[rpos] !== P_INT) return false
    const b = rbuf
    out[i] = b[rpos + 1]! | (b[rpos + 2]! << 8) | (b[rpos + 3]! << 16) | (b[rpos + 4]! << 24)
    rpos += 5
  }
  return true
}

function decodePlain(bytes: Uint8Array, len: number): unknown {
  rbuf = bytes
  rpos = 0
  rend = len
  const v = readPlain(0)
  if (rpos !== rend) throw corrupt(`${rend - rpos} bytes after the value`)
  return v
}

// ---- PriorityQueue keys ----------------------------------------------------------------------
// An order-preserving byte encoding of Python's comparison of numbers, strings and
// tuples/lists (here arrays): comparing keys bytewise orders items as Python would. A value
// Python could not order (an object, null) ends the key; ties then keep insertion order.

const RANK_NUMBER = 0x10
const RANK_STRING = 0x20
const RANK_ARRAY = 0x30
const RANK_OTHER = 0x7f
const END = 0x00

/** Appends the sort key of `v` to `out`; returns false once a value cannot be ordered. */
function keyOf(v: unknown, out: number[]): boolean {
  if (typeof v === 'boolean') v = v ? 1 : 0
  if (typeof v === 'bigint') v = Number(v)
  if (typeof v === 'number') {
    out.push(RANK_NUMBER)
    f64[0] = Number.isNaN(v) ? Infinity : v === 0 ? 0 : v
    const b = f64bytes // little-endian: most significant byte last
    const negative = (b[7]! & 0x80) !== 0
    for (let i = 7; i >= 0; i--) out.push(negative ? ~b[i]! & 0xff : i === 7 ? b[i]! | 0x80 : b[i]!)
    return true
  }
  if (typeof v === 'string') {
    out.push(RANK_STRING)
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i)
      out.push(0x01, c >> 8, c & 0xff)
    }
    out.push(END)
    return true
  }
  if (Array.isArray(v)) {
    out.push(RANK_ARRAY)
    for (const e of v) if (!keyOf(e, out)) return false
    out.push(END)
    return true
  }
  out.push(RANK_OTHER)
  return false
}

/** The sort key of an item for PriorityQueue. */
export function sortKey(item: unknown): Uint8Array {
  const out: number[] = []
  keyOf(item, out)
  return Uint8Array.from(out)
}

/** Bytewise comparison of two keys stored in `bytes` at offsets `a` and `b`. */
export function compareKeys(bytes: Uint8Array, a: number, aLen: number, b: number, bLen: number): number {
  const n = Math.min(aLen, bLen)
  for (let i = 0; i < n; i++) {
    const d = bytes[a + i]! - bytes[b + i]!
    if (d !== 0) return d
  }
  return aLen - bLen
}
