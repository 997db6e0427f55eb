/**
 * Item encoding for queues whose contents live in shared memory.
 *
 * Common small items skip the V8 serializer: `undefined`, `null`, booleans and int32 numbers
 * fit in the entry itself, doubles take 8 bytes, Latin-1 strings one byte per character.
 * Everything else goes through `v8.serialize` after Tandem shareables inside it were replaced
 * by their (numeric) encodings, so a Lock put on a queue arrives as the same Lock.
 */
import { DefaultSerializer, deserialize } from 'node:v8'
import { decode as decodeShareables, encode as encodeShareables } from '@tandem/sync/shareable'

export const TAG_UNDEFINED = 1
export const TAG_NULL = 2
export const TAG_TRUE = 3
export const TAG_FALSE = 4
export const TAG_INT = 5 // value in the entry's VALUE word
export const TAG_DOUBLE = 6
export const TAG_LATIN1 = 7
export const TAG_V8 = 8
export const TAG_V8_SHARED = 9 // V8 bytes holding shareable markers: decode after deserialize

/** An encoded item: a tag, a 32-bit value (int or byte length) and the bytes, if any. */
export interface EncodedItem {
  tag: number
  value: number
  bytes: Uint8Array | undefined
}

const f64 = new Float64Array(1)
const f64bytes = new Uint8Array(f64.buffer)

/**
 * Encodes `item`.
 * @throws {TypeError} `ERR_NOT_SHAREABLE` for values the structured clone refuses (functions, symbols)
 */
export function encodeItem(item: unknown, out: EncodedItem): EncodedItem {
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
  const enc = encodeShareables(item, 'thread', 'Queue item')
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
 * `v8.serialize`, refusing views on a SharedArrayBuffer: serialized bytes cannot share memory,
 * and silently handing the consumer an unshared copy would break the producer's intent (a bare
 * SharedArrayBuffer is refused by V8 itself).
 */
class ItemSerializer extends DefaultSerializer {
  // Node's hook for ArrayBuffer views (not in @types/node).
  _writeHostObject(view: NodeJS.TypedArray | DataView): void {
    if (view.buffer instanceof SharedArrayBuffer) {
      const err = new TypeError(
        'Cannot put a view on a SharedArrayBuffer on a queue: queue items are copied, so the memory would not be shared. ' +
          'Pass shared memory in Thread args, or share a Tandem primitive instead',
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

/** Byte length an encoded item needs outside its entry. */
export function payloadLength(e: EncodedItem): number {
  return e.bytes === undefined ? 0 : e.bytes.length
}

/** Rebuilds an item from its tag, value and bytes (`bytes` may be a view on shared memory). */
export function decodeItem(tag: number, value: number, bytes: Uint8Array | undefined): unknown {
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
      f64bytes.set(bytes!.subarray(0, 8))
      return f64[0]
    case TAG_LATIN1: {
      let s = ''
      for (let i = 0; i < value; i += 4096) s += String.fromCharCode.apply(null, bytes!.subarray(i, Math.min(value, i + 4096)) as unknown as number[])
      return s
    }
    case TAG_V8:
      return deserialize(Buffer.from(bytes!.subarray(0, value)))
    case TAG_V8_SHARED:
      return decodeShareables(deserialize(Buffer.from(bytes!.subarray(0, value))))
  }
  throw new Error(`Corrupt queue entry: unknown tag ${tag}`)
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

/** Bytewise comparison of two keys stored in shared memory. */
export function compareKeys(a: Uint8Array, aLen: number, b: Uint8Array, bLen: number): number {
  const n = Math.min(aLen, bLen)
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return aLen - bLen
}
