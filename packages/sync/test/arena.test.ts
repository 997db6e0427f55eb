/**
 * The process arena (src/internal/arena.ts): allocation and reuse, growth, and reference counts
 * that return to their owner when handles in other threads go away (worker exit) or are
 * garbage-collected.
 */
import test from 'ava'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { alloc, blocksInUse, int32At, refCount, release } from '../src/internal/arena.ts'
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

test('arena: a freed block is reused by the next allocation of its size class', (t) => {
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

test('arena: a Condition and its lock are freed when their last handles are collected', async (t) => {
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
