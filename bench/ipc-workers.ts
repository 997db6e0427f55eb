/**
 * Code that runs inside the worker threads of `ipc.bench.ts` (the thread-to-thread Pipe row),
 * loaded with `moduleRef`.
 *
 * Two Tandem Threads share one `Pipe()`: party 0 sends the ints `0..n-1` and then a `null` on its
 * end, party 1 `recv()`s until the `null`, counting and adding up the ints. Per repetition each
 * party writes `[start, end]` wall-clock ms at `times[(rep * 2 + k) * 2]`; the consumer writes
 * `[count, sum]` at `stats[rep * 2]`. Repetition 0 is a warm-up; after each repetition party 0
 * sizes the next one to last about `ctl[REP_MS]` ms, into `sizes[rep + 1]` (one slot per
 * repetition, as in `queue-workers.ts`). The parties of a repetition start together through
 * `rendezvous` (from `sync-workers.ts`).
 *
 * @module
 */
import type { Connection } from '@tandem/ipc/pipe'
import { REP_MS, rendezvous } from './sync-workers.ts'

/** Bounds of the size chosen after each repetition. */
const MIN_SIZE = 1_000
const MAX_SIZE = 20_000_000

/** Wall clock in ms, comparable across workers. */
function wallNow(): number {
  return performance.timeOrigin + performance.now()
}

/** Party `k` (0 sender, 1 receiver) of the one-way thread Pipe run; see the module comment. */
export function pipeParty(k: number, conn: Connection, ctl: Int32Array, sizes: Int32Array, times: Float64Array, stats: Float64Array): void {
  const reps = sizes.length
  for (let r = 0; r < reps; r++) {
    rendezvous(ctl, 2)
    const n = Atomics.load(sizes, r)
    const t0 = wallNow()
    if (k === 0) {
      for (let i = 0; i < n; i++) conn.send(i)
      conn.send(null)
    } else {
      let count = 0
      let sum = 0
      for (let x = conn.recv() as number | null; x !== null; x = conn.recv() as number | null) {
        count++
        sum += x
      }
      stats[r * 2] = count
      stats[r * 2 + 1] = sum
    }
    const t1 = wallNow()
    times[(r * 2 + k) * 2] = t0
    times[(r * 2 + k) * 2 + 1] = t1
    if (k === 0 && r + 1 < reps) {
      const perMs = n / Math.max(t1 - t0, 0.001)
      Atomics.store(sizes, r + 1, Math.min(MAX_SIZE, n * 20, Math.max(MIN_SIZE, Math.round(perMs * Atomics.load(ctl, REP_MS)))))
    }
  }
  conn.close()
}
