/**
 * Micro-benchmark of the process arena (`packages/sync/src/internal/arena.ts`): `alloc(size)`
 * followed by `release()` of the block (the last reference, so the block is freed), on one
 * thread, for the sizes Tandem allocates most (16-64 B cells: futures, locks, events; 1 KiB:
 * queue payloads), plus a batch pattern (allocate 1,000 blocks of mixed sizes, then free them).
 *
 * Not a `.bench.ts` scenario (it has no baseline to compare with): run it directly,
 * `node --import=tsx --conditions=@tandem/source bench/arena-alloc.ts`, and compare its numbers
 * before and after a change to the arena on the same machine. Prints the best of 7 runs (the
 * least disturbed by other load) and the median, in ns per alloc+free pair.
 *
 * Then, with `--rss`, what a peak does to the process's resident memory: 512 MiB of 4 KiB
 * blocks allocated and freed, then 512 MiB of 1 MiB blocks (served by the merged memory of the
 * first peak, so TOP and the resident set stay where they were), then freed.
 *
 * @module
 */
import { alloc, arenaBuffer, release } from '@tandem/sync/kit'

const RUNS = 7
const N = 1_000_000

function timeIt(fn: () => number): { best: number; median: number } {
  fn() // warm-up
  const ns: number[] = []
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint()
    const ops = fn()
    ns.push(Number(process.hrtime.bigint() - t0) / ops)
  }
  ns.sort((a, b) => a - b)
  return { best: ns[0]!, median: ns[RUNS >> 1]! }
}

function pairs(size: number): () => number {
  return () => {
    for (let i = 0; i < N; i++) release(alloc(size))
    return N
  }
}

/** 1,000 blocks of sizes cycling through 16..4096 B allocated, then freed in a shuffled order. */
function batch(): number {
  const sizes = [16, 24, 32, 48, 64, 100, 256, 1024, 4096]
  const order = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000)
  const blocks = new Array<number>(1000)
  const rounds = 200
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < 1000; i++) blocks[i] = alloc(sizes[i % sizes.length]!)
    for (const i of order) release(blocks[i]!)
  }
  return rounds * 1000
}

const rows: [string, () => number][] = [
  ['alloc+free 16 B', pairs(16)],
  ['alloc+free 32 B', pairs(32)],
  ['alloc+free 64 B', pairs(64)],
  ['alloc+free 1024 B', pairs(1024)],
  ['1,000 mixed 16 B-4 KiB, then freed shuffled', batch],
]
console.log(`arena micro-benchmark: Node ${process.version}, best and median of ${RUNS} runs, ns per alloc+free`)
for (const [name, fn] of rows) {
  const { best, median } = timeIt(fn)
  console.log(`${name.padEnd(45)} ${best.toFixed(1).padStart(8)} ns  (median ${median.toFixed(1)})`)
}

if (process.argv.includes('--rss')) {
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`
  const report = (what: string): void => {
    console.log(`${what.padEnd(45)} RSS ${mib(process.memoryUsage().rss).padStart(9)}, arena buffer ${mib(arenaBuffer().byteLength)}`)
  }
  const peak = (size: number): void => {
    const blocks = Array.from({ length: (512 * 2 ** 20) / size }, () => alloc(size))
    report(`${blocks.length} blocks of ${size} B allocated`)
    for (const b of blocks) release(b)
    report('  ... and freed')
  }
  report('before')
  peak(4096)
  peak(2 ** 20)
}
