/**
 * Parent side of the `ipc` benchmark's process scenarios (`ipc.bench.ts` runs it as a child
 * process, under `taskset` for a placement): one Tandem `Process` and a `Pipe` to it.
 *
 * `node [--import=tsx --conditions=@tandem/source] bench/ipc-driver.mjs MODE CHILD_CPU N0 REPS REP_MS`
 * prints one JSON line `{ "sync": [rates], "async": [rates], "childExit": code }` (items or round
 * trips per second, one per timed repetition; start-up: starts per second; the child's exit code):
 *
 * - `rt`: round trips, the parent's main thread `send(i)` then `recv()` (blocking), the child
 *   echoing; then the same with `await recvAsync()`.
 * - `ow`: one way, the child sends the ints `0..n-1` and a `null`, the parent `recv()`s them
 *   (then `await recvAsync()`); the parent checks the sum.
 * - `q`: the same through a process `Queue()` created by the parent (the child `put`s, the
 *   parent `get()`s, then `await getAsync()`).
 * - `start`: `new Process()` + `start()` until the parent receives the child's first message over
 *   a `Pipe`, REPS + 1 times (the first a warm-up); no async form. REP_MS is a pause before each
 *   timed start (not timed), which lets the spare child Tandem launches after each start boot.
 *
 * The throughput modes start one child (pinned to CHILD_CPU unless it is -1; the parent is
 * placed by whoever starts this driver), run one warm-up repetition of N0 items, then REPS timed
 * ones per form, each sized from the previous rate to last about REP_MS ms.
 *
 * Plain JavaScript so that it runs both under tsx (sources) and under plain node (`dist/`).
 *
 * @module
 */
import { Pipe } from '@tandem/ipc/pipe'
import { Process } from '@tandem/ipc/process'
import { Queue } from '@tandem/ipc/queue'
import { moduleRef } from '@tandem/sync/task'

const CHILD = new URL('./ipc-child.mjs', import.meta.url)
const [mode, childCpu, n0, reps, repMs] = process.argv.slice(2).map((a, i) => (i === 0 ? a : Number(a)))

/** Bounds of a repetition's size. */
const MIN_SIZE = 1_000
const MAX_SIZE = 20_000_000

/**
 * One repetition of `what` with `n` items: the rate (per second), after checking the id sum.
 * @param {import('@tandem/ipc/pipe').Connection} conn
 * @param {Queue<number | null>} q
 * @param {string} what
 * @param {number} n
 * @param {boolean} async
 */
async function measure(conn, q, what, n, async) {
  let total = 0
  let t0
  if (what === 'rt') {
    conn.send([what, n])
    t0 = performance.now()
    if (async) {
      for (let i = 0; i < n; i++) {
        conn.send(i)
        total += await conn.recvAsync()
      }
    } else {
      for (let i = 0; i < n; i++) {
        conn.send(i)
        total += conn.recv()
      }
    }
  } else {
    t0 = performance.now()
    conn.send([what, n])
    if (what === 'ow') {
      if (async) for (let x = await conn.recvAsync(); x !== null; x = await conn.recvAsync()) total += x
      else for (let x = conn.recv(); x !== null; x = conn.recv()) total += x
    } else {
      if (async) for (let x = await q.getAsync(); x !== null; x = await q.getAsync()) total += x
      else for (let x = q.get(); x !== null; x = q.get()) total += x
    }
  }
  const elapsed = performance.now() - t0
  if (total !== (n * (n - 1)) / 2) throw new Error(`${what}: id sum ${total} for ${n} messages, expected ${(n * (n - 1)) / 2}: messages lost or duplicated`)
  return (n * 1000) / elapsed
}

/** Warm-up plus `reps` timed repetitions of one form; the timed rates. */
async function series(conn, q, what, async) {
  let n = n0
  let rate = await measure(conn, q, what, n, async)
  const out = []
  for (let r = 0; r < reps; r++) {
    n = Math.min(MAX_SIZE, n * 20, Math.max(MIN_SIZE, Math.round((rate * repMs) / 1000)))
    rate = await measure(conn, q, what, n, async)
    out.push(rate)
  }
  return out
}

async function throughput() {
  const [parent, child] = Pipe()
  const q = mode === 'q' ? new Queue() : null
  const p = new Process({ target: moduleRef(CHILD, 'serve'), args: [child, q, childCpu], daemon: true })
  p.start()
  if (parent.recv() !== 'ready') throw new Error('the child did not start')
  const sync = await series(parent, q, mode, false)
  const async = await series(parent, q, mode, true)
  parent.send(null)
  if (!(await p.joinAsync(30_000))) throw new Error('the child did not exit')
  // A child that fails after serving every message (e.g. while exiting) does not void the
  // measurement (the sums were checked): its exit code is reported next to the rates.
  return { sync, async, childExit: p.exitCode }
}

async function startup() {
  const target = moduleRef(CHILD, 'first')
  const out = []
  for (let r = 0; r <= reps; r++) {
    if (r > 0 && repMs > 0) await new Promise((resolve) => setTimeout(resolve, repMs))
    const [a, b] = Pipe(false)
    const t0 = performance.now()
    const p = new Process({ target, args: [b], daemon: true })
    p.start()
    const got = a.recv()
    const elapsed = performance.now() - t0
    if (got !== 'ready') throw new Error(`first message ${JSON.stringify(got)}`)
    if (!(await p.joinAsync(30_000))) throw new Error('the child did not exit')
    a.close()
    if (p.exitCode !== 0) throw new Error(`the child exited with ${p.exitCode}`)
    if (r > 0) out.push(1000 / elapsed)
  }
  return { sync: out, async: [], childExit: 0 }
}

const result = mode === 'start' ? await startup() : await throughput()
console.log(JSON.stringify(result))
process.exit(0)
