/**
 * The process arena (src/internal/arena.ts): allocation and reuse, growth, and reference counts
 * that return to their owner when handles in other threads go away (worker exit) or are
 * garbage-collected.
 */
import test from 'ava'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { alloc, arenaCheck, arenaStats, blocksInUse, dropGroupedRef, GROUP_SIZE, groupRef, int32At, refCount, release, type RefGroup } from '../src/internal/arena.ts'
import { InternalStateError } from '../src/errors.ts'
import { Lock } from '../src/lock.ts'
import { Condition } from '../src/condition.ts'
import { decode, encode, MARKER } from '../src/shareable.ts'
import { joinAll, spawnMany, sleep, until } from './_helpers.ts'

setFlagsFromString('--expose_gc')
const gc = runInNewContext('gc') as () => void

function offsetOf(shareable: object): number {
  // Encoding adds a transit reference; give it back at once.
  const { value } = encode(shareable)
  const at = ((value as Record<string, unknown>).d as { at: number }).at
  release(at)
  return at
}

test.serial('arena: a freed block is reused by the next allocation of its size class', (t) => {
  const before = blocksInUse()
  const a = alloc(24)
  t.is(blocksInUse(), before + 1)
  t.is(refCount(a), 1)
  int32At(a, 6).fill(7)
  release(a)
  t.is(blocksInUse(), before)
  const b = alloc(20) // same 32-byte class
  t.is(b, a)
  t.deepEqual([...int32At(b, 5)], [0, 0, 0, 0, 0], 'reused blocks come back zeroed')
  release(b)
})

test('arena: grows past its initial size and earlier cells stay valid in workers', async (t) => {
  t.timeout(60_000)
  const first = new Lock()
  const blocks = Array.from({ length: 3000 }, () => alloc(1024)) // 3000 x 1 KiB > initial 1 MiB
  const late = new Lock()
  const threads = spawnMany(
    2,
    (_i: number, a: Lock, b: Lock) => {
      if (!a.acquire({ timeout: 10_000 }) || !b.acquire({ timeout: 10_000 })) throw new Error('not acquired')
      a.release()
      b.release()
    },
    first,
    late,
  )
  await joinAll(threads)
  t.false(first.locked())
  t.false(late.locked())
  for (const b of blocks) release(b)
})

test('arena: a Lock passed to workers that exit is owned by its creator alone again', async (t) => {
  t.timeout(60_000)
  const lock = new Lock()
  const at = offsetOf(lock)
  t.is(refCount(at), 1)
  const threads = spawnMany(
    6,
    (_i: number, lock: Lock) => {
      lock.acquire({ timeout: 10_000 })
      lock.release()
    },
    lock,
  )
  await joinAll(threads)
  // A thread counts as finished when its target returns; its worker's exit handler (which gives
  // the references back) runs a little later, so wait for it, boundedly.
  await until(() => refCount(at) === 1, 30_000, 'the workers to give back their references').catch(() => {})
  t.is(refCount(at), 1, 'each worker gave back the reference its handle adopted')
})

test.serial('arena: a Condition and its lock are freed when their last handles are collected', async (t) => {
  t.timeout(30_000)
  const before = blocksInUse()
  ;(() => {
    const cond = new Condition(new Lock())
    t.truthy(cond)
  })()
  t.is(blocksInUse(), before + 3, 'the lock, the condition and its first segment of waiter slots')
  for (let i = 0; i < 10 && blocksInUse() > before; i++) {
    gc()
    await sleep(20)
  }
  t.is(blocksInUse(), before)
})

test('arena: encode adds a transit reference that the decoded handle adopts', (t) => {
  const lock = new Lock()
  const { value } = encode(lock)
  const at = ((value as Record<string, unknown>).d as { at: number }).at
  t.truthy((value as Record<string, unknown>)[MARKER])
  t.is(refCount(at), 2)
  const copy = decode(value) as Lock
  t.is(refCount(at), 2)
  copy.acquire()
  t.true(lock.locked())
  copy.release()
})

// ---- the per-thread block cache ------------------------------------------------------------------

test.serial('arena: small blocks freed by a thread come back zeroed, last freed first, and leave the block count', (t) => {
  const before = blocksInUse()
  const blocks = Array.from({ length: 10 }, () => alloc(64))
  t.is(blocksInUse(), before + 10)
  for (const b of blocks) int32At(b, 16).fill(-1)
  for (const b of blocks) release(b)
  t.is(blocksInUse(), before)
  const again = Array.from({ length: 10 }, () => alloc(64))
  t.deepEqual(again, [...blocks].reverse())
  for (const b of again) t.deepEqual([...int32At(b, 16)], new Array(16).fill(0))
  for (const b of again) release(b)
  t.is(blocksInUse(), before)
})

test('arena: a small block released twice is caught while it sits in the cache', (t) => {
  const a = alloc(16)
  release(a)
  t.throws(() => release(a), { instanceOf: InternalStateError })
})

/**
 * Worker target: allocates `n` blocks of 32 bytes and frees them (into its cache), raises
 * `flags[CACHED]`, and waits for `flags[GO]`; then, if `oneMore`, frees one more 32-byte block
 * and raises `flags[FREED]`, and waits for `flags[END]` before returning.
 */
async function cacheAndWait(_i: number, flags: Int32Array, n: number, oneMore: boolean): Promise<void> {
  const { alloc, release } = await import('@tandem/sync/kit')
  const CACHED = 0,
    GO = 1,
    FREED = 2,
    END = 3
  const extra = alloc(32)
  const blocks = Array.from({ length: n }, () => alloc(32))
  for (const b of blocks) release(b)
  Atomics.store(flags, CACHED, 1)
  Atomics.wait(flags, GO, 0, 30_000)
  if (oneMore) release(extra)
  Atomics.store(flags, FREED, 1)
  Atomics.wait(flags, END, 0, 30_000)
  if (!oneMore) release(extra)
}

const [CACHED, GO, FREED, END] = [0, 1, 2, 3]
/** Block size of a 32-byte payload (8-byte header), what a cached 32-byte block keeps in use. */
const BLOCK_32 = 40

test.serial('arena: a worker that exits gives its cached free blocks back to the free memory', async (t) => {
  t.timeout(60_000)
  const N = 100
  const before = arenaStats()
  const flags = new Int32Array(new SharedArrayBuffer(16))
  const threads = spawnMany(1, cacheAndWait, flags, N, false)
  try {
    await until(() => Atomics.load(flags, CACHED) === 1, 30_000, 'the worker to cache its blocks')
    // The freed blocks sit in the worker's cache: no longer live, but not free memory either.
    t.true(arenaStats().used >= before.used + N * BLOCK_32, 'cached blocks stay in use')
  } finally {
    for (const i of [GO, END]) {
      Atomics.store(flags, i, 1)
      Atomics.notify(flags, i)
    }
    await joinAll(threads)
  }
  // Its exit handler (a little after the target returns) empties the cache.
  await until(() => arenaStats().used <= before.used, 30_000, 'the exited worker to give its cache back').catch(() => {})
  t.is(arenaStats().used, before.used)
  t.is(blocksInUse(), before.blocks)
  arenaCheck()
})

test.serial('arena: a thread that grows the arena makes every other thread give its cache back at its next free', async (t) => {
  t.timeout(60_000)
  const N = 100
  const flags = new Int32Array(new SharedArrayBuffer(16))
  const threads = spawnMany(1, cacheAndWait, flags, N, true)
  let big = 0
  try {
    await until(() => Atomics.load(flags, CACHED) === 1, 30_000, 'the worker to cache its blocks')
    // Larger than the buffer: this allocation must grow it.
    big = alloc(arenaStats().size)
    const grown = arenaStats().used
    Atomics.store(flags, GO, 1)
    Atomics.notify(flags, GO)
    await until(() => Atomics.load(flags, FREED) === 1, 30_000, 'the worker to free one more block')
    const after = arenaStats().used
    t.true(after <= grown - BLOCK_32 * N, `the worker's ${N} cached blocks went back with its next free (used ${after}, was ${grown})`)
  } finally {
    if (big !== 0) release(big)
    for (const i of [GO, END]) {
      Atomics.store(flags, i, 1)
      Atomics.notify(flags, i)
    }
    await joinAll(threads)
  }
  arenaCheck()
})

// ---- grouped references ---------------------------------------------------------------------------

test.serial('arena: grouped references are given back when every handle of the group is collected', async (t) => {
  t.timeout(30_000)
  const before = blocksInUse()
  ;(() => {
    const handles: { group: RefGroup }[] = []
    for (let i = 0; i < 3 * GROUP_SIZE; i++) handles.push({ group: groupRef(alloc(32)) })
    t.is(blocksInUse(), before + 3 * GROUP_SIZE)
    t.is(new Set(handles.map((h) => h.group)).size, 3)
  })()
  // A new group, so that none of the three above stays open.
  const keep = { group: groupRef(alloc(32)) }
  for (let i = 0; i < 20 && blocksInUse() > before + 1; i++) {
    gc()
    await sleep(20)
  }
  t.is(blocksInUse(), before + 1)
  dropGroupedRef(keep.group, keep.group.held.refs.length - 1)
  t.is(blocksInUse(), before)
})

test('arena: dropGroupedRef() gives one reference back at once, and only once', (t) => {
  const at = alloc(32)
  const freed: number[] = []
  const hook = (x: number): void => void freed.push(x)
  const g = groupRef(at, hook)
  const slot = g.held.refs.length - 1
  dropGroupedRef(g, slot)
  t.deepEqual(freed, [at])
  t.is(g.held.refs[slot], 0)
  dropGroupedRef(g, slot)
  t.deepEqual(freed, [at])
})

test.serial('arena: blocks of an arena grown by a worker are reachable from a thread that has not seen it grow', async (t) => {
  t.timeout(60_000)
  const before = blocksInUse()
  const out = new Int32Array(new SharedArrayBuffer(4))
  await joinAll(
    spawnMany(
      1,
      async (_i: number, out: Int32Array) => {
        const { alloc, arenaBuffer, int32At, release } = await import('@tandem/sync/kit')
        const start = arenaBuffer().byteLength
        const blocks: number[] = []
        while (arenaBuffer().byteLength < 2 * start) blocks.push(alloc(4096))
        const at = alloc(4096) // wholly past the old end
        for (const b of blocks) release(b)
        int32At(at, 1)[0] = 12345
        out[0] = at
      },
      out,
    ),
  )
  const at = out[0]!
  t.is(blocksInUse(), before + 1)
  t.is(refCount(at), 1)
  t.is(int32At(at, 1)[0], 12345)
  release(at)
  t.is(blocksInUse(), before)
  t.throws(() => release(at), { instanceOf: InternalStateError })
})
