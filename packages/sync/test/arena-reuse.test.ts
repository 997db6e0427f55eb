/**
 * The arena gives freed memory back for any size (issue 9): free blocks merge with their free
 * neighbours and into TOP, a large free block is split for small requests, and the layout stays
 * consistent (`arenaCheck`) under fragmenting patterns and under 4 workers allocating and freeing
 * random sizes at once. Before the fix, freed blocks only served requests of their own power-of-two
 * class, so each test here that asks for a size it did not free grew the arena instead.
 */
import test from 'ava'
import { alloc, arenaBytes, arenaCheck, arenaStats, blocksInUse, int32At, release } from '../src/internal/arena.ts'
import { joinAll, spawnMany } from './_helpers.ts'

test.serial('arena: blocks freed every other one leave holes that a larger block cannot use, until their neighbours go too', (t) => {
  const before = arenaStats()
  const blocks = Array.from({ length: 2000 }, () => alloc(1024))
  const top = arenaStats().top
  for (let i = 0; i < blocks.length; i += 2) release(blocks[i]!)
  arenaCheck()
  // 1000 holes of one block each: a 4 KiB block fits none of them and comes from TOP.
  const big = alloc(4096)
  t.true(big > Math.max(...blocks), 'a 4 KiB block does not fit a 1 KiB hole')
  release(big)
  t.is(arenaStats().top, top, 'and TOP moves back down when it is freed')
  for (let i = 1; i < blocks.length; i += 2) release(blocks[i]!)
  arenaCheck()
  const after = arenaStats()
  t.is(after.used, before.used)
  t.true(after.top <= before.top, 'the merged blocks went back below TOP')
  // The 2000 KiB the blocks took now serve one 1.5 MiB block without growing TOP past them.
  const large = alloc(1536 * 1024)
  t.true(large + 1536 * 1024 <= top, 'one large block fits where the small ones were')
  release(large)
  t.is(arenaStats().used, before.used)
  arenaCheck()
})

test.serial('arena: a large free block is split for small requests, and the pieces merge back', (t) => {
  const before = arenaStats()
  const big = alloc(1 << 20)
  const pin = alloc(1024) // keeps the freed 1 MiB below TOP
  release(big)
  const top = arenaStats().top
  const free = arenaCheck()
  t.true(arenaStats().largestFree >= 1 << 20)
  const small = Array.from({ length: 500 }, (_, i) => alloc(100 + (i % 7) * 300))
  t.is(arenaStats().top, top, 'the small blocks were cut from the free 1 MiB, not from TOP')
  for (const b of small) t.true(b > big - 8 && b < big + (1 << 20), `block ${b} lies in the freed block`)
  for (let i = 0; i < small.length; i += 3) release(small[i]!)
  for (let i = 1; i < small.length; i += 3) release(small[i]!)
  for (let i = 2; i < small.length; i += 3) release(small[i]!)
  t.is(arenaCheck(), free, 'the pieces merged back into as many free blocks as before')
  t.true(arenaStats().largestFree >= 1 << 20)
  release(pin)
  const after = arenaStats()
  t.is(after.used, before.used)
  t.true(after.top <= before.top)
  arenaCheck()
})

test.serial('arena: small blocks (16-64 B, cached per thread) merge back into one large block when freed', (t) => {
  const _before = arenaStats()
  // More than the cache holds, so most go back to the free memory as they are freed.
  const blocks = Array.from({ length: 4000 }, (_, i) => alloc(16 + 16 * (i % 4)))
  const lo = Math.min(...blocks)
  const hi = Math.max(...blocks)
  for (const b of blocks) release(b)
  arenaCheck()
  const stats = arenaStats()
  t.true(stats.cachedHere <= 4 * 256, `at most 256 blocks of each size stay cached (${stats.cachedHere})`)
  // What the blocks took, less what stays cached (the last ones freed), is one free block again.
  const large = alloc(64 * 1024)
  t.true(large >= lo && large < hi, 'the 64 KiB block lies where the small blocks were')
  t.is(arenaStats().top, stats.top, 'it took no fresh memory from TOP')
  release(large)
  arenaCheck()
})

test('arena: a request larger than the arena can ever hold is a RangeError ERR_OUT_OF_RANGE', (t) => {
  t.throws(() => alloc(2 ** 31), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as never)
  t.throws(() => alloc(Number.NaN), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as never)
})

test('arena: a reused block comes back zeroed whatever it held', (t) => {
  const a = alloc(300)
  new Uint8Array(arenaBytes().buffer, a, 300).fill(0xab)
  release(a)
  const b = alloc(296)
  t.true(new Uint8Array(arenaBytes().buffer, b, 296).every((x) => x === 0))
  release(b)
  const c = alloc(20)
  int32At(c, 5).fill(-1)
  release(c)
  const d = alloc(24) // the same 32-byte block (from the cache, or merged back if the arena ran short meanwhile)
  t.deepEqual([...int32At(d, 6)], [0, 0, 0, 0, 0, 0])
  release(d)
})

/**
 * Worker target: `ops` random allocations (sizes skewed to small: 16 B .. 64 KiB) and frees,
 * each block filled with a pattern of its own and checked before it is freed (two threads given
 * overlapping memory would see each other's pattern); every block is checked to come back zeroed.
 * Writes its count of bad blocks to `out[i]`.
 */
async function churn(i: number, out: Int32Array, ops: number): Promise<void> {
  const { alloc, arenaBytes, release } = await import('@tandem/sync/kit')
  let seed = 0x9e3779b9 ^ (i * 0x85ebca6b)
  const rand = (): number => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) / 4294967296
  }
  const live: { at: number; size: number; tag: number }[] = []
  let bad = 0
  const check = (b: { at: number; size: number; tag: number }): void => {
    const bytes = arenaBytes()
    for (let k = b.at; k < b.at + b.size; k++) {
      if (bytes[k] !== b.tag) {
        bad++
        return
      }
    }
  }
  for (let n = 0; n < ops; n++) {
    if (live.length > 0 && (rand() < 0.45 || live.length > 300)) {
      const j = Math.floor(rand() * live.length)
      const b = live[j]!
      live[j] = live[live.length - 1]!
      live.pop()
      check(b)
      release(b.at)
    } else {
      const r = rand()
      const size = r < 0.6 ? 16 + Math.floor(rand() * 49) : r < 0.9 ? 65 + Math.floor(rand() * 4000) : 4096 + Math.floor(rand() * 61440)
      const at = alloc(size)
      const bytes = arenaBytes()
      for (let k = at; k < at + size; k++) {
        if (bytes[k] !== 0) {
          bad++
          break
        }
      }
      const tag = 1 + ((i * 64 + n) % 255)
      bytes.fill(tag, at, at + size)
      live.push({ at, size, tag })
    }
  }
  for (const b of live) {
    check(b)
    release(b.at)
  }
  out[i] = bad
}

test.serial('arena: 4 workers allocating and freeing random sizes at once never share a byte, and every block goes back', async (t) => {
  t.timeout(120_000)
  const before = arenaStats()
  const out = new Int32Array(new SharedArrayBuffer(16)).fill(-1)
  await joinAll(spawnMany(4, churn, out, 50_000), 100_000)
  t.deepEqual([...out], [0, 0, 0, 0], 'no block was overwritten by another, and every block came back zeroed')
  t.is(blocksInUse(), before.blocks)
  // The workers' exit handlers give their caches back a little after their targets return.
  const deadline = Date.now() + 30_000
  while (arenaStats().used > before.used && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  t.is(arenaStats().used, before.used, 'the workers gave their cached blocks back when they exited')
  arenaCheck()
})
