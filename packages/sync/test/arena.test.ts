/**
 * The process arena (src/internal/arena.ts): allocation and reuse, growth, and reference counts
 * that return to their owner when handles in other threads go away (worker exit) or are
 * garbage-collected.
 */
import test from 'ava'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { alloc, blocksInUse, dropGroupedRef, GROUP_SIZE, groupRef, int32At, refCount, release, type RefGroup } from '../src/internal/arena.ts'
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
  const threads = spawnMany(2, (_i: number, a: Lock, b: Lock) => {
    if (!a.acquire({ timeout: 10_000 }) || !b.acquire({ timeout: 10_000 })) throw new Error('not acquired')
    a.release()
    b.release()
  }, first, late)
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
  const threads = spawnMany(6, (_i: number, lock: Lock) => {
    lock.acquire({ timeout: 10_000 })
    lock.release()
  }, lock)
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
  t.is(blocksInUse(), before + 2)
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
 * Worker target: allocates `n` 32-byte blocks, notes their offsets in `out`, frees them. (`lock`
 * only gives the worker a handle, which its exit handler gives back after emptying its cache.)
 */
async function allocAndFree(_i: number, out: Int32Array, n: number, _lock: Lock): Promise<void> {
  const { alloc, release } = await import('@tandem/sync/kit')
  const blocks = Array.from({ length: n }, () => alloc(32))
  blocks.forEach((b, i) => (out[i] = b))
  for (const b of blocks) release(b)
}

test('arena: a worker that exits gives its cached free blocks back to the shared free lists', async (t) => {
  t.timeout(60_000)
  const N = 50
  const freed = new Int32Array(new SharedArrayBuffer(4 * N))
  const taken = new Int32Array(new SharedArrayBuffer(4 * N))
  // The first worker's freed blocks stay in its cache until it exits. Its exit handler (which
  // runs a little after its target returns) empties the cache, then gives back its Lock handle.
  // A second worker allocating the same class (its own cache empty) then gets exactly those
  // blocks from the shared lists.
  const lock = new Lock()
  const at = offsetOf(lock)
  await joinAll(spawnMany(1, allocAndFree, freed, N, lock))
  await until(() => refCount(at) === 1, 30_000, 'the worker to exit')
  await joinAll(spawnMany(1, allocAndFree, taken, N, lock))
  const first = new Set(freed)
  t.is([...taken].filter((b) => first.has(b)).length, N)
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
  await joinAll(spawnMany(1, async (_i: number, out: Int32Array) => {
    const { alloc, arenaBuffer, int32At, release } = await import('@tandem/sync/kit')
    const start = arenaBuffer().byteLength
    const blocks: number[] = []
    while (arenaBuffer().byteLength < 2 * start) blocks.push(alloc(4096))
    const at = alloc(4096) // wholly past the old end
    for (const b of blocks) release(b)
    int32At(at, 1)[0] = 12345
    out[0] = at
  }, out))
  const at = out[0]!
  t.is(blocksInUse(), before + 1)
  t.is(refCount(at), 1)
  t.is(int32At(at, 1)[0], 12345)
  release(at)
  t.is(blocksInUse(), before)
  t.throws(() => release(at), { instanceOf: InternalStateError })
})
