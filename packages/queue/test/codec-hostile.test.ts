/**
 * The queue codec against hostile data (issue 9, section 3):
 * - decoding random or truncated bytes never crashes, hangs or allocates without bound: it
 *   throws RangeError ERR_CORRUPT_ITEM (a varint without end used to loop forever, a huge
 *   announced string length to allocate it);
 * - an own "__proto__" key (JSON.parse of untrusted input) stays an own property through a
 *   queue, nested deep and in Map values, with or without a shareable in the item (both
 *   decoders used to turn it into the prototype);
 * - a user object that looks like a shareable marker is not taken for one (it could name any
 *   module for the receiver to load);
 * - an error with a cyclic `cause` (V8's serializer cannot read those back) arrives with its
 *   cycle; a named property of an array item survives;
 * - a SharedArrayBuffer and views on one cross to a worker as the same memory, also a buffer
 *   created after the worker started.
 */
import test from 'ava'
import { Lock } from '@tandem/sync/lock'
import { Thread } from '@tandem/sync/thread'
import { decodeItem, encodeItem, payloadBytes, plainIntsHead, TAG_PLAIN } from '../src/kit.ts'
import { Queue } from '../src/queue.ts'
import { LONG, joinAll } from '../../../test/fixtures/qtests-helpers.ts'

const TAGS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 11, 255]

/** A small deterministic PRNG (xorshift32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed | 0 || 1
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 2 ** 32
  }
}

function decodeOrCode(tag: number, value: number, bytes: Uint8Array | undefined): string {
  try {
    decodeItem(tag, value, bytes)
    return 'ok'
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === undefined) throw err
    return code
  }
}

test('decodeItem: random bytes under every tag decode or throw ERR_CORRUPT_ITEM, never an uncoded error or a hang', (t) => {
  t.timeout(LONG)
  const rand = rng(0x5eed)
  const codes = new Set<string>()
  for (let i = 0; i < 20_000; i++) {
    const len = Math.floor(rand() * 48)
    const bytes = new Uint8Array(len)
    for (let j = 0; j < len; j++) bytes[j] = rand() < 0.3 ? [0x80, 0xff, 9, 10, 7, 8, 11, 12][Math.floor(rand() * 8)]! : Math.floor(rand() * 256)
    const tag = TAGS[Math.floor(rand() * TAGS.length)]!
    // Usually the true length; sometimes a lie, as a corrupt entry would tell.
    const value = rand() < 0.8 ? len : Math.floor(rand() * 2 ** 31)
    codes.add(decodeOrCode(tag, value, bytes))
  }
  t.true(
    [...codes].every((c) => c === 'ok' || c === 'ERR_CORRUPT_ITEM'),
    [...codes].join(),
  )
  t.true(codes.has('ERR_CORRUPT_ITEM'))
})

test('decodeItem: every truncation of valid encodings throws ERR_CORRUPT_ITEM; announced lengths beyond the bytes are refused before allocating', (t) => {
  const samples: unknown[] = [
    { id: 1, name: 'item', nested: [1, 2.5, 'x', { deep: [null, true] }], list: Array.from({ length: 20 }, (_, i) => i) },
    ['héllo', '日本語', [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5]],
    new Map([[1, { a: 'b' }]]),
    { err: new Error('x'), big: 10n ** 20n },
    [7, new Uint8Array([1, 2, 3, 4, 5]), 'after'],
  ]
  for (const s of samples) {
    const enc = encodeItem(s, { tag: 0, value: 0, bytes: undefined })
    const full = enc.bytes!
    t.deepEqual(decodeItem(enc.tag, enc.value, full) instanceof Object, true)
    for (let cut = 0; cut < full.length; cut++) {
      t.is(decodeOrCode(enc.tag, cut, full.subarray(0, cut)), 'ERR_CORRUPT_ITEM', `tag ${enc.tag}, cut at ${cut}`)
    }
  }
  // A plain-encoded string announcing 2^28 characters in 6 bytes; an array announcing 2^31 items.
  t.is(decodeOrCode(10, 6, Uint8Array.from([7, 0x80, 0x80, 0x80, 0x80, 0x01])), 'ERR_CORRUPT_ITEM')
  t.is(decodeOrCode(10, 6, Uint8Array.from([9, 0xff, 0xff, 0xff, 0xff, 0x07])), 'ERR_CORRUPT_ITEM')
  // A length varint that never ends; nesting deeper than any encoding; a Latin-1 entry longer than its bytes.
  t.is(decodeOrCode(10, 8, new Uint8Array(8).fill(0x80)), 'ERR_CORRUPT_ITEM')
  t.is(
    decodeOrCode(
      10,
      100_000,
      new Uint8Array(100_000).fill(9).map((b, i) => (i % 2 ? 1 : b)),
    ),
    'ERR_CORRUPT_ITEM',
  )
  t.is(decodeOrCode(7, 2 ** 30, new Uint8Array(4)), 'ERR_CORRUPT_ITEM')
  // Bytes announcing 2^28 of them in 6.
  t.is(decodeOrCode(10, 6, Uint8Array.from([13, 0x80, 0x80, 0x80, 0x80, 0x01])), 'ERR_CORRUPT_ITEM')
  t.is(payloadBytes(7, 4), 4)
})

test('Queue: an own "__proto__" key stays an own property (top level, nested deep, in Map values, next to a shareable); the prototype is untouched', (t) => {
  const q = new Queue<any>()
  const json = '{"__proto__": {"isAdmin": true}, "a": {"b": [{"__proto__": {"isAdmin": true}}]}}'
  const items = [
    JSON.parse(json),
    { wrap: JSON.parse(json) },
    new Map([['k', JSON.parse(json)]]),
    { lock: new Lock(), data: JSON.parse(json) }, // decoded by the shareable walk too
  ]
  for (const item of items) q.put(item)
  const top = q.get({ timeout: 1000 })
  const wrap = q.get({ timeout: 1000 }).wrap
  const inMap = q.get({ timeout: 1000 }).get('k')
  const withLock = q.get({ timeout: 1000 })
  t.true(withLock.lock instanceof Lock)
  for (const o of [top, wrap, inMap, withLock.data]) {
    t.is(o.isAdmin, undefined)
    t.is(Object.getPrototypeOf(o), Object.prototype)
    t.deepEqual(Object.getOwnPropertyDescriptor(o, '__proto__')?.value, { isAdmin: true })
    t.is(o.a.b[0].isAdmin, undefined)
    t.true(Object.hasOwn(o.a.b[0], '__proto__'))
  }
  t.is(({} as any).isAdmin, undefined)
})

test('Queue: a user object shaped like a shareable marker arrives as plain data (no module named by the data is loaded)', (t) => {
  const q = new Queue<any>()
  const fake = { '\u0000tandem': 'tandem.sync.Lock', m: 'file:///nonexistent/evil.js', d: { a: 0, at: 8, n: 1 } }
  q.put({ fake, lock: new Lock() })
  q.put(fake)
  const got = q.get({ timeout: 1000 })
  t.deepEqual(got.fake, fake)
  t.true(got.lock instanceof Lock)
  t.deepEqual(q.get({ timeout: 1000 }), fake)
})

test('Queue: errors with a cyclic cause (self, 2-cycle) and arrays with named properties cross to a worker and back', async (t) => {
  t.timeout(LONG)
  const toWorker = new Queue<unknown>()
  const back = new Queue<unknown>()
  const th = new Thread({
    target: (inq: Queue<unknown>, out: Queue<unknown>) => {
      for (let i = 0; i < 3; i++) {
        const x = inq.get() as any
        if (x instanceof Error) {
          const e = x as Error & { code?: string }
          out.put({ name: x.name, message: x.message, stack: typeof x.stack, selfCycle: x.cause === x, twoCycle: (x.cause as Error)?.cause === x, code: e.code })
        } else {
          out.put({ label: x.label, items: [...x] })
        }
      }
      class Echo extends Error {}
      const e = new Echo('from worker')
      e.cause = e
      const arr = ['a'] as string[] & { note?: string }
      arr.note = 'kept'
      out.put(e)
      out.put(arr)
    },
    args: [toWorker, back],
    daemon: true,
  })
  th.start()
  const self = new SyntaxError('self') as SyntaxError & { code: string }
  self.cause = self
  self.code = 'E_SELF'
  const a = new Error('a')
  const b = new Error('b', { cause: a })
  a.cause = b
  const arr = [1, 2] as number[] & { label?: string }
  arr.label = 'named'
  toWorker.put(self)
  toWorker.put(a)
  toWorker.put(arr)
  t.deepEqual(await back.getAsync({ timeout: LONG }), { name: 'SyntaxError', message: 'self', stack: 'string', selfCycle: true, twoCycle: true, code: 'E_SELF' })
  t.deepEqual(await back.getAsync({ timeout: LONG }), { name: 'Error', message: 'a', stack: 'string', selfCycle: false, twoCycle: true, code: undefined })
  t.deepEqual(await back.getAsync({ timeout: LONG }), { label: 'named', items: [1, 2] })
  const echo = (await back.getAsync({ timeout: LONG })) as Error
  t.is(echo.name, 'Echo')
  t.is(echo.cause, echo)
  t.regex(echo.stack ?? '', /from worker/)
  t.is(((await back.getAsync({ timeout: LONG })) as { note?: string }).note, 'kept')
  await joinAll([th])
})

test('Queue: SharedArrayBuffers and views (Int32Array, DataView, offset subarray) cross to a worker as the same memory, also buffers created after it started', async (t) => {
  t.timeout(LONG)
  const toWorker = new Queue<unknown>()
  const back = new Queue<unknown>()
  const th = new Thread({
    target: (inq: Queue<any>, out: Queue<unknown>) => {
      const first = inq.get()
      first.ints[0] = 1
      first.sub[0] = 2
      first.dv.setInt32(0, 3, true)
      new Int32Array(first.sab)[15] = 4
      out.put([first.sub.byteOffset, first.dv.byteOffset, first.ints.buffer === first.sab])
      const later = inq.get() as Int32Array
      Atomics.store(later, 0, 42)
      // A buffer created here travels back.
      const mine = new Int32Array(new SharedArrayBuffer(8))
      out.put(mine)
      Atomics.wait(mine, 1, 0, 60_000)
      out.put(mine[1])
    },
    args: [toWorker, back],
    daemon: true,
  })
  th.start()
  const sab = new SharedArrayBuffer(64)
  const ints = new Int32Array(sab)
  toWorker.put({ sab, ints, sub: ints.subarray(4), dv: new DataView(sab, 32) })
  t.deepEqual(await back.getAsync({ timeout: LONG }), [16, 32, true])
  t.deepEqual([ints[0], ints[4], ints[8], ints[15]], [1, 2, 3, 4])
  // Created now, long after the worker started: it reaches the worker by the process-wide registry.
  const later = new Int32Array(new SharedArrayBuffer(4))
  toWorker.put(later)
  const theirs = (await back.getAsync({ timeout: LONG })) as Int32Array
  t.is(Atomics.load(later, 0), 42)
  Atomics.store(theirs, 1, 7)
  Atomics.notify(theirs, 1)
  t.is(await back.getAsync({ timeout: LONG }), 7)
  await joinAll([th])
})

test('plainIntsHead: reads the leading ints of a plain-encoded array; false (never a throw) for anything else, random bytes included', (t) => {
  const enc = encodeItem([7, -3, 2 ** 31 - 1, ['payload', 1.5]], { tag: 0, value: 0, bytes: undefined })
  t.is(enc.tag, TAG_PLAIN)
  const head = [0, 0, 0]
  t.true(plainIntsHead(enc.bytes!, enc.value, head))
  t.deepEqual(head, [7, -3, 2 ** 31 - 1])
  t.false(plainIntsHead(enc.bytes!, enc.value, [0, 0, 0, 0])) // the fourth is not an int
  for (const cut of [0, 1, 2, 5, 11]) t.false(plainIntsHead(enc.bytes!.subarray(0, cut), cut, head))
  const notArray = encodeItem({ a: 1 }, { tag: 0, value: 0, bytes: undefined })
  t.false(plainIntsHead(notArray.bytes!, notArray.value, head))
  const short = encodeItem([1, 2], { tag: 0, value: 0, bytes: undefined })
  t.false(plainIntsHead(short.bytes!, short.value, head))
  const rand = rng(0xbead)
  for (let i = 0; i < 5000; i++) {
    const bytes = Uint8Array.from({ length: Math.floor(rand() * 24) }, () => (rand() < 0.3 ? [9, 5, 0x80, 0xff][Math.floor(rand() * 4)]! : Math.floor(rand() * 256)))
    t.notThrows(() => plainIntsHead(bytes, bytes.length, head))
  }
})
