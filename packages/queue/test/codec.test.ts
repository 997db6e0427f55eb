/**
 * Item encoding (src/internal/codec.ts): every kind of value round-trips exactly, and shared
 * memory arrives shared (by the buffer's process-wide id), never as a silent copy.
 */
import test from 'ava'
import { Queue } from '../src/queue.ts'

const samples: unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  -0,
  1,
  -1,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 31,
  3.5,
  NaN,
  Infinity,
  -Infinity,
  '',
  'a',
  'héllo',
  'x'.repeat(300),
  '日本語',
  '\u0000nul',
  'emoji 🎉',
  [],
  [1, 'two', [3]],
  { a: 1, b: { c: [null] } },
  new Map([[1, 'a']]),
  new Set([1, 2]),
  new Date(0),
  /re/g,
  new Uint8Array([1, 2, 3]),
  10n ** 30n,
  new Error('boom'),
]

test('Queue items of every kind round-trip exactly (ints, -0, NaN, doubles, Latin-1 and other strings, objects, typed arrays, bigint)', (t) => {
  const q = new Queue<unknown>()
  for (const s of samples) q.put(s)
  for (const s of samples) {
    const got = q.get({ timeout: 1000 })
    if (s instanceof Error) {
      t.is((got as Error).message, s.message)
    } else if (typeof s === 'number' && Object.is(s, -0)) {
      t.true(Object.is(got, -0))
    } else {
      t.deepEqual(got, s)
    }
  }
  t.true(q.empty())
})

test('Queue items: a SharedArrayBuffer and views on one arrive as the same memory, not a copy', (t) => {
  const q = new Queue<unknown>()
  const sab = new SharedArrayBuffer(16)
  q.put({ counter: new Int32Array(sab, 4, 2), sab })
  const got = q.get({ timeout: 1000 }) as { counter: Int32Array; sab: SharedArrayBuffer }
  t.is(got.sab, sab) // the same thread gets its own handle back
  t.is(got.counter.buffer, sab)
  t.is(got.counter.byteOffset, 4)
  got.counter[0] = 7
  t.is(new Int32Array(sab)[1], 7)
  q.put({ plain: new Int32Array([7]) })
  t.deepEqual(q.get({ timeout: 1000 }), { plain: new Int32Array([7]) })
})

test('Queue items: a Uint8Array arrives as a copy on a buffer of its own (also nested); a view on part of a buffer and an empty one arrive with their bytes', (t) => {
  const q = new Queue<unknown>()
  const whole = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff)
  const backing = new Uint8Array(16).map((_, i) => i)
  const part = backing.subarray(4, 8)
  q.put({ id: 1, whole, nested: [whole] })
  q.put([part])
  q.put(new Uint8Array(0))
  const got = q.get({ timeout: 1000 }) as { id: number; whole: Uint8Array; nested: Uint8Array[] }
  t.deepEqual(got.whole, whole)
  t.not(got.whole, whole)
  t.is(Object.getPrototypeOf(got.whole), Uint8Array.prototype)
  t.true(got.whole.buffer instanceof ArrayBuffer)
  t.is(got.whole.buffer.byteLength, 5000)
  t.deepEqual(got.nested[0], whole)
  got.whole[0] = 99
  t.is(whole[0], 0) // a copy: writing it changes neither the sender's array nor the next reader's
  const [view] = q.get({ timeout: 1000 }) as [Uint8Array]
  t.true(view instanceof Uint8Array)
  t.deepEqual([...view], [4, 5, 6, 7])
  t.deepEqual(q.get({ timeout: 1000 }), new Uint8Array(0))
})

test('Queue items: arrays of numbers (packed as raw int32 or float64 words) round-trip exactly, -0 and NaN included', (t) => {
  const q = new Queue<unknown>()
  const ints = Array.from({ length: 1000 }, (_, i) => (i % 2 ? -i : i * 1000003) | 0)
  const doubles = [1, 2, 3, 4, 5, 6, 7, 0.5, NaN, Infinity, -Infinity, 2 ** 40]
  const withNegZero = [1, 2, 3, 4, 5, 6, 7, 8, -0]
  const mixed = [1, 2, 3, 4, 5, 6, 7, 8, 'nine']
  const sparse = [1, 2, 3, 4, 5, 6, 7, 8]
  delete sparse[3]
  for (const s of [ints, doubles, withNegZero, mixed, { nested: [ints.slice(0, 9)] }, sparse]) q.put(s)
  t.deepEqual(q.get({ timeout: 1000 }), ints)
  t.deepEqual(q.get({ timeout: 1000 }), doubles)
  const z = q.get({ timeout: 1000 }) as number[]
  t.true(Object.is(z[8], -0))
  t.deepEqual(q.get({ timeout: 1000 }), mixed)
  t.deepEqual(q.get({ timeout: 1000 }), { nested: [ints.slice(0, 9)] })
  const sp = q.get({ timeout: 1000 }) as number[]
  t.false(3 in sp)
  t.is(sp.length, 8)
})
