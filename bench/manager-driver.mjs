/**
 * Parent side of the `ipc` benchmark's manager scenarios (`ipc.bench.ts` runs it as a child
 * process): a `SyncManager` (its server is a process of its own) and one or two Tandem `Process`
 * children (targets in `manager-child.mjs`) that use its proxies.
 *
 * `node [--import=tsx --conditions=@tandem/source] bench/manager-driver.mjs MODE CPU N0 REPS REP_MS`
 * prints one JSON line `{ "sync": [rates], "childExits": [codes] }` (operations per second, one
 * per timed repetition; the children's exit codes):
 *
 * - `dict`: two children, each `d.set(key, i)` for i in `0..n-1` on its own key of one
 *   `manager.dict()`; rate = the 2n sets over the repetition. The parent sets both keys to -1
 *   first and checks afterwards that each holds n-1, that the dict has 2 keys and that each child
 *   made n sets.
 * - `lock`: one child, `n` times `lock.acquire(); lock.release()` on a `manager.Lock()`; rate =
 *   pairs per second. Checks: n acquires returned true, and the lock is free afterwards.
 * - `queue`: one child puts the ints `0..n-1` then `null` on a `manager.Queue()`, another gets
 *   until `null`; rate = items per second. Checks: the consumer got n items with the id sum
 *   n(n-1)/2, and the queue is empty afterwards.
 *
 * Each run starts the manager and the children once (not timed), then runs one warm-up
 * repetition of N0 and REPS timed ones, each sized from the previous rate to last about REP_MS
 * ms. A repetition is timed on the parent's main thread, from sending the command to the
 * children until every child has answered. Placement: whoever starts the driver places it; the
 * manager's server inherits it, and so do the children unless `CPU` >= 0 (they then pin
 * themselves to that CPU: `ipc.bench.ts` starts the driver under `taskset -c 0` and gives `CPU`
 * 1, so that the server has core 0 and the clients core 1). `ipc.bench.ts` also sets
 * `TANDEM_NO_SPARE=1`: otherwise a spare Tandem child boots in the background after the last
 * start, during the first repetitions.
 *
 * Plain JavaScript so that it runs both under tsx (sources) and under plain node (`dist/`).
 *
 * @module
 */
import { Manager } from '@tandem/ipc/manager'
import { Pipe } from '@tandem/ipc/pipe'
import { Process } from '@tandem/ipc/process'
import { moduleRef } from '@tandem/sync/task'

const CHILD = new URL('./manager-child.mjs', import.meta.url)
const [mode, cpu, n0, reps, repMs] = process.argv.slice(2).map((a, i) => (i === 0 ? a : Number(a)))

/** Bounds of a repetition's size. */
const MIN_SIZE = 1_000
const MAX_SIZE = 20_000_000

/**
 * A child on the target `name` of `manager-child.mjs`, given a command pipe end and `args`.
 * @param {string} name
 * @param {unknown[]} args
 */
function child(name, args) {
  const [conn, end] = Pipe()
  const p = new Process({ target: moduleRef(CHILD, name), args: [end, ...args, cpu], daemon: true, name: `bench-manager-${name}` })
  p.start()
  end.close()
  return { conn, p }
}

/**
 * One repetition of size `n`: sends it to every child (in order), waits for every answer; the
 * rate (`ops` per second, `ops` operations in all) and the answers.
 * @param {{ conn: import('@tandem/ipc/pipe').Connection }[]} children
 * @param {number} n
 * @param {number} ops
 */
function timed(children, n, ops) {
  const t0 = performance.now()
  for (const c of children) c.conn.send(n)
  const answers = children.map((c) => c.conn.recv())
  const elapsed = performance.now() - t0
  return { rate: (ops * 1000) / elapsed, answers }
}

/** The children of `mode` and the repetition it runs (a rate, after its checks). */
function setUp(manager) {
  if (mode === 'dict') {
    const d = manager.dict()
    const keys = ['k0', 'k1']
    const children = keys.map((key) => child('setter', [d, key]))
    return {
      children,
      measure(n) {
        for (const key of keys) d.set(key, -1)
        const { rate, answers } = timed(children, n, 2 * n)
        const got = keys.map((key) => d.get(key))
        if (answers.some((a) => a !== n) || got.some((v) => v !== n - 1) || d.size() !== keys.length) {
          throw new Error(`dict: ${n} sets per child: the children answered ${JSON.stringify(answers)}, the keys hold ${JSON.stringify(got)}, ${d.size()} keys`)
        }
        return rate
      },
    }
  }
  if (mode === 'lock') {
    const lock = manager.Lock()
    const children = [child('locker', [lock])]
    return {
      children,
      measure(n) {
        const { rate, answers } = timed(children, n, n)
        if (answers[0] !== n || lock.locked()) throw new Error(`lock: ${answers[0]} of ${n} acquires succeeded, locked afterwards: ${lock.locked()}`)
        return rate
      },
    }
  }
  if (mode === 'queue') {
    const q = manager.Queue()
    // The consumer first: its command is sent first.
    const children = [child('consumer', [q]), child('producer', [q])]
    return {
      children,
      measure(n) {
        const { rate, answers } = timed(children, n, n)
        const [count, sum] = answers[0]
        const left = q.qsize()
        if (count !== n || sum !== (n * (n - 1)) / 2 || answers[1] !== n || left !== 0) {
          throw new Error(
            `queue: received ${count} items (id sum ${sum}), expected ${n} (id sum ${(n * (n - 1)) / 2}); producer answered ${answers[1]}; ${left} left on the queue: items lost or duplicated`,
          )
        }
        return rate
      },
    }
  }
  throw new Error(`manager-driver: unknown mode ${mode}`)
}

const manager = Manager()
let result
try {
  const { children, measure } = setUp(manager)
  for (const c of children) if (c.conn.recv() !== 'ready') throw new Error('a child did not start')
  let n = n0
  let rate = measure(n)
  const sync = []
  for (let r = 0; r < reps; r++) {
    n = Math.min(MAX_SIZE, n * 20, Math.max(MIN_SIZE, Math.round((rate * repMs) / 1000)))
    rate = measure(n)
    sync.push(rate)
  }
  for (const c of children) c.conn.send(null)
  const childExits = []
  for (const c of children) {
    if (!(await c.p.joinAsync(30_000))) throw new Error('a child did not exit')
    // A child that fails after serving every command does not void the measurement (every
    // repetition was checked): its exit code is reported next to the rates.
    childExits.push(c.p.exitCode)
  }
  result = { sync, childExits }
} finally {
  manager.shutdown()
}
console.log(JSON.stringify(result))
process.exit(0)
