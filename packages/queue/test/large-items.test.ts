/**
 * Item sizes and counts: items far larger than a typical buffer round-trip intact between
 * threads, items on both sides of the inline/out-of-line boundary (12 encoded bytes) decode
 * exactly, a huge number of small items in an unbounded queue keeps its order while the entry
 * table grows (including a FIFO ring that has wrapped, and growth while another thread
 * consumes), and no arena block leaks once every item is got, discarded, refused or aborted
 * (`blocksInUse()` from the sync kit). Memory steadiness over time belongs to bench/.
 *
 * The arena-accounting tests are serial: AVA runs them before the concurrent tests of this
 * file, so no other test allocates shared memory meanwhile.
 */
import test from 'ava'
import { blocksInUse } from '@tandem/sync/kit'
import { LifoQueue } from '../src/lifo-queue.ts'
import { PriorityQueue } from '../src/priority-queue.ts'
import { Queue } from '../src/queue.ts'
import { SimpleQueue } from '../src/simple-queue.ts'
import { KINDS, LONG, joinAll, slotted } from '../../../test/fixtures/qtests-helpers.ts'
import { sharedInts, spawn } from '../../sync/test/_helpers.ts'

const MB = 1 << 20

/** A 5 MB Latin-1 string with varying content (not one repeated character). */
function bigLatin1(): string {
  let chunk = ''
  for (let i = 0; i < 4096; i++) chunk += String.fromCharCode(32 + ((i * 7919) % 223))
  return chunk.repeat((5 * MB) / 4096)
}

/** A 5 MB-ish two-byte string (outside Latin-1, with a surrogate pair). */
function bigUtf16(): string {
  const unit = 'Grüße, 世界 \u{1F600}! '
  return unit.repeat(Math.ceil((2.5 * MB) / unit.length))
}

/** FNV-1a of a string's code units (for comparing without printing megabytes). */
function hash(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

// ---- arena accounting (serial) --------------------------------------------------------------

test.serial('Queue(100): after putting and getting 100k items through it (a worker producing), blocksInUse() is back to its starting value', async (t) => {
  t.timeout(2 * LONG)
  const q = new Queue<unknown>(100)
  const start = blocksInUse()
  const producer = spawn(
    (q: Queue<unknown>, n: number) => {
      for (let i = 0; i < n; i++) {
        // Inline items (small ints, short strings) and out-of-line ones (long strings, objects).
        if (i % 4 === 0) q.put(i)
        else if (i % 4 === 1) q.put(`item number ${i} with some padding`)
        else if (i % 4 === 2) q.put({ i, tags: ['a', 'b'] })
        else q.put('short')
      }
    },
    q,
    100_000,
  )
  let peak = 0
  for (let i = 0; i < 100_000; i++) {
    await q.getAsync(LONG)
    if (i % 1000 === 0) peak = Math.max(peak, blocksInUse() - start)
  }
  await joinAll([producer])
  t.true(q.empty())
  t.is(blocksInUse(), start, `leaked arena blocks (peak ${peak} above start while items were queued)`)
})

test.serial('PriorityQueue and LifoQueue give back every item block once got (100k items each)', (t) => {
  for (const q of [new PriorityQueue<unknown>(100), new LifoQueue<unknown>(100)]) {
    const start = blocksInUse()
    for (let round = 0; round < 1000; round++) {
      // Payloads past the 76-byte inline limit, so that LifoQueue items take arena blocks too
      // (PriorityQueue items always do: their sort key lives in the block).
      for (let k = 0; k < 100; k++) q.put(k % 2 === 0 ? [k, `payload ${round}/${k} padded out`.padEnd(100, '.')] : k)
      t.true(blocksInUse() > start, 'out-of-line items take arena blocks')
      for (let k = 0; k < 100; k++) q.getNowait()
    }
    t.is(blocksInUse(), start)
  }
})

test.serial('shutdown(true), refused puts (QueueFull, uncloneable, shut down) and aborted putAsync leave no arena block behind', async (t) => {
  const start = blocksInUse()
  const q = new Queue<unknown>(2)
  const created = blocksInUse()
  const big = 'x'.repeat(100_000)
  q.put(big)
  q.put({ big })
  t.throws(() => q.putNowait(big))
  t.throws(() => q.put({ big }, { timeout: 1 }))
  await t.throwsAsync(() => q.putAsync(big, 1))
  t.throws(() => q.put({ big, f: () => 1 }))
  const ac = new AbortController()
  const pending = q.putAsync({ big }, { signal: ac.signal })
  ac.abort(new Error('abort'))
  await t.throwsAsync(pending, { message: 'abort' })
  t.is(blocksInUse(), created + 2, 'only the two queued items hold blocks')
  q.shutdown(true)
  t.is(blocksInUse(), created, 'shutdown(true) freed the discarded items')
  t.throws(() => q.put(big))
  t.is(blocksInUse(), created)
  t.true(created >= start)
})

// ---- large items ------------------------------------------------------------------------------

test(
  'Queue: a 5 MB Latin-1 string, a 5 MB two-byte string and 5 MB typed arrays round-trip intact through a worker',
  slotted(async (t) => {
    t.timeout(2 * LONG)
    const q = new Queue<unknown>(2)
    const back = new Queue<unknown>(2)
    const echo = spawn(
      (q: Queue<unknown>, back: Queue<unknown>) => {
        for (;;) {
          const x = q.get()
          if (x === null) return
          back.put(x)
        }
      },
      q,
      back,
    )
    const latin = bigLatin1()
    const utf16 = bigUtf16()
    const bytes = new Uint8Array(5 * MB)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >> 11)) & 0xff
    const doubles = new Float64Array((5 * MB) / 8)
    for (let i = 0; i < doubles.length; i++) doubles[i] = i / 3
    const numbers = Array.from({ length: 700_000 }, (_, i) => (i % 3 === 0 ? i : i + 0.5))
    t.true(latin.length >= 5 * MB && utf16.length * 2 >= 5 * MB)
    const items: unknown[] = [latin, utf16, bytes, doubles, { nested: { numbers } }]
    for (const x of items) {
      await q.putAsync(x, LONG)
      const y = await back.getAsync(LONG)
      if (typeof x === 'string') {
        t.is(typeof y, 'string')
        t.is((y as string).length, x.length)
        t.is(hash(y as string), hash(x))
      } else {
        t.deepEqual(y, x)
      }
    }
    await q.putAsync(null, LONG)
    await joinAll([echo])
  }),
)

for (const { name, Q } of KINDS) {
  test(
    `${name}: a 5 MB item put by a worker arrives intact while small items flow around it`,
    slotted(async (t) => {
      t.timeout(2 * LONG)
      const q = new Q<unknown>(4)
      const producer = spawn(
        (q: Queue<unknown>) => {
          let chunk = ''
          for (let i = 0; i < 4096; i++) chunk += String.fromCharCode(32 + ((i * 7919) % 223))
          const big = chunk.repeat(1280) // 5 MB
          for (let i = 0; i < 10; i++) q.put(i)
          q.put(big)
          for (let i = 10; i < 20; i++) q.put(i)
        },
        q as Queue<unknown>,
      )
      const smalls: number[] = []
      let big: string | undefined
      for (let k = 0; k < 21; k++) {
        const x = await q.getAsync(LONG)
        if (typeof x === 'string') big = x
        else smalls.push(x as number)
      }
      await joinAll([producer])
      t.is(smalls.length, 20)
      t.is(big?.length, 5 * MB)
      t.is(hash(big!), hash(bigLatin1()))
    }),
  )
}

test(
  'Items on both sides of the 76-byte inline boundary, and of every simple kind, decode exactly (same thread and through a worker)',
  slotted(async (t) => {
    t.timeout(LONG)
    const values: unknown[] = [
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
      -(2 ** 31) - 1,
      0.5,
      Number.NaN,
      Infinity,
      -Infinity,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
      123456789012345,
      2n ** 64n,
      -5n,
      ...Array.from({ length: 20 }, (_, n) => 'abcdefghijklmnopqrstuvwxyz'.slice(0, n)),
      ...Array.from({ length: 8 }, (_, n) => 'é中'.repeat(n)),
      ...Array.from({ length: 12 }, (_, n) => 'y'.repeat(70 + n)),
      ...Array.from({ length: 6 }, (_, n) => ({ s: 'z'.repeat(60 + 2 * n) })),
      '\u0000\u0001\u00ff',
      'x'.repeat(256),
      'x'.repeat(257),
      'é'.repeat(256),
      'é'.repeat(257),
      [],
      {},
      [1],
      { a: 1 },
      [undefined, null],
      new Date(1234567890),
      /re+g/giu,
      new Map([[{ k: 1 }, new Set([1])]]),
      new Uint16Array([1, 65535]),
      new ArrayBuffer(3),
    ]
    const q = new Queue<unknown>()
    for (const v of values) q.put(v)
    for (const v of values) {
      const got = q.getNowait()
      if (typeof v === 'number' && Object.is(v, -0)) t.true(Object.is(got, -0), 'negative zero')
      else t.deepEqual(got, v)
    }
    // Through a worker, which puts back what it got.
    const back = new Queue<unknown>()
    const echo = spawn(
      (q: Queue<unknown>, back: Queue<unknown>, n: number) => {
        for (let i = 0; i < n; i++) back.put(q.get())
      },
      q,
      back,
      values.length,
    )
    for (const v of values) q.put(v)
    for (const v of values) {
      const got = await back.getAsync(LONG)
      if (typeof v === 'number' && Object.is(v, -0)) t.true(Object.is(got, -0), 'negative zero through a worker')
      else t.deepEqual(got, v)
    }
    await joinAll([echo])
  }),
)

test('Items are copies: mutating an object after put does not change what get returns', (t) => {
  const q = new Queue<{ n: number; list: number[] }>()
  const item = { n: 1, list: [1, 2] }
  q.put(item)
  item.n = 2
  item.list.push(3)
  const got = q.getNowait()
  t.deepEqual(got, { n: 1, list: [1, 2] })
  t.not(got, item)
})

// ---- many items ---------------------------------------------------------------------------

test('Queue, LifoQueue, PriorityQueue, SimpleQueue: 200k small items in an unbounded queue come out in order (the entry table grows)', (t) => {
  const N = 200_000
  for (const q of [new Queue<number>(), new SimpleQueue<number>()]) {
    for (let i = 0; i < N; i++) q.put(i)
    t.is(q.qsize(), N)
    let ok = true
    for (let i = 0; i < N; i++) if (q.getNowait() !== i) ok = false
    t.true(ok, 'FIFO order')
    t.true(q.empty())
  }
  const lifo = new LifoQueue<string>()
  for (let i = 0; i < N; i++) lifo.put(`s${i}`)
  let ok = true
  for (let i = N - 1; i >= 0; i--) if (lifo.getNowait() !== `s${i}`) ok = false
  t.true(ok, 'LIFO order')
  const prio = new PriorityQueue<number>()
  for (let i = 0; i < N; i++) prio.put((i * 7919) % N) // a permutation of 0..N-1
  ok = true
  for (let i = 0; i < N; i++) if (prio.getNowait() !== i) ok = false
  t.true(ok, 'priority order')
})

test('Queue: the entry table grows while the FIFO ring has wrapped, keeping the order', (t) => {
  const q = new Queue<number>()
  let next = 0
  let expect = 0
  // Move the head around the initial table, then overfill repeatedly so each growth happens
  // with the oldest item somewhere in the middle of the ring.
  for (let round = 0; round < 12; round++) {
    for (let k = 0; k < 40 + round * 37; k++) q.put(next++)
    for (let k = 0; k < 25 + round * 11; k++) t.is(q.getNowait(), expect++)
    for (let k = 0; k < 100 * (round + 1); k++) q.put(next++)
    for (let k = 0; k < 30; k++) t.is(q.getNowait(), expect++)
  }
  let ok = true
  while (!q.empty()) if (q.getNowait() !== expect++) ok = false
  t.true(ok)
  t.is(expect, next)
})

test(
  'Queue: 200k items put by a worker into an unbounded queue while the main thread consumes arrive in order (growth under a concurrent reader)',
  slotted(async (t) => {
    t.timeout(2 * LONG)
    const q = new Queue<number>()
    const N = 200_000
    const producer = spawn(
      (q: Queue<number>, n: number) => {
        for (let i = 0; i < n; i++) q.put(i)
      },
      q,
      N,
    )
    let ok = true
    let maxSize = 0
    for (let i = 0; i < N; i++) {
      if (i % 512 === 0) maxSize = Math.max(maxSize, q.qsize())
      if ((await q.getAsync(LONG)) !== i) ok = false
    }
    await joinAll([producer])
    t.true(ok, 'items out of order or lost')
    t.true(q.empty())
    t.log(`largest backlog seen: ${maxSize}`)
  }),
)

test(
  'Queue: 2 worker producers and 2 worker consumers through an unbounded queue that grows under them: 2 x 100k items, each exactly once',
  slotted(async (t) => {
    t.timeout(2 * LONG)
    const q = new Queue<number>()
    const N = 100_000
    const seen = new Uint8Array(new SharedArrayBuffer(2 * N))
    const order = sharedInts(1)
    const producers = [0, 1].map((id) =>
      spawn(
        (q: Queue<number>, id: number, n: number) => {
          for (let i = 0; i < n; i++) q.put(id * n + i)
          q.put(-1)
        },
        q,
        id,
        N,
      ),
    )
    const consumers = [0, 1].map(() =>
      spawn(
        (q: Queue<number>, seen: Uint8Array, order: Int32Array, n: number) => {
          const last = [-1, -1]
          for (;;) {
            const v = q.get()
            if (v < 0) return
            Atomics.add(seen, v, 1)
            const p = v >= n ? 1 : 0
            if (v <= last[p]!) Atomics.add(order, 0, 1)
            last[p] = v
          }
        },
        q,
        seen,
        order,
        N,
      ),
    )
    await joinAll([...producers, ...consumers], 2 * LONG)
    let bad = 0
    for (let i = 0; i < seen.length; i++) if (seen[i] !== 1) bad++
    t.is(bad, 0)
    t.is(Atomics.load(order, 0), 0)
    t.true(q.empty())
  }),
)
