/**
 * `pnpm bench futures`: `@tandem/futures` executors against piscina (and, for information,
 * tinypool, workerpool and poolifier) and against CPython's `concurrent.futures` and
 * `multiprocessing.Pool`, each baseline measured in the same run: the thread pools first, then
 * `ProcessPoolExecutor` against CPython's `ProcessPoolExecutor` and tinypool's child processes.
 *
 * Everything here is timed on the main thread around the submitting code: tasks are
 * submitted from the main thread and their results come back to it. Peer pools load their
 * worker files from `bench/futures-*-worker.js` / `bench/futures-noop.js` (plain ESM).
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import Tinypool from 'tinypool'
import workerpool from 'workerpool'
import { FixedThreadPool } from 'poolifier'
import { ThreadPoolExecutor } from '@tandem/futures'
import { Pool } from '@tandem/futures/pool'
import { ProcessPoolExecutor } from '@tandem/futures/process-pool-executor'
import { ThreadPool } from '@tandem/futures/thread-pool'
import { pythonRuns, rounds, timeRuns, type Measured, type BenchContext, type Rate, type Row, type Scenario } from './lib.ts'

/** Workers of every pool. */
const WORKERS = 2

/**
 * Sizes. Each measurement runs `rounds` rounds; a round is a CPU-idle sample, then each side in
 * turn (Tandem first), each side opening a fresh pool, running one untimed warm-up repetition
 * of `warmup` tasks (which also starts its workers) and `reps` timed repetitions (`infoReps`
 * for the peers without a target: tinypool and workerpool take 20-30 s per 200,000 tasks),
 * then closing the pool. `quick` only checks that everything runs.
 *
 * The process no-op row sizes each side separately (`proc*`, `pyProc*`, `tinyProc*`) so that a
 * timed repetition lasts about 200-300 ms on each: CPython's ProcessPoolExecutor does ~12 k
 * no-op tasks/s here and tinypool's child processes ~19 k/s. The process map and fib rows use
 * the sizes of the thread rows (`map`, `chunksize`, `fibN`, `fibTasks`).
 */
function sizes(quick: boolean) {
  return quick
    ? {
        rounds: 1,
        reps: 2,
        infoReps: 1,
        warmup: 1_000,
        burst: 5_000,
        windowed: 5_000,
        window: 1_000,
        latency: 500,
        latencyWarmup: 100,
        fibN: 24,
        fibTasks: 8,
        map: 20_000,
        chunksize: 1_000,
        procBurst: 2_000,
        procWarmup: 500,
        pyProcBurst: 500,
        pyProcWarmup: 100,
        tinyProcBurst: 500,
        tinyProcWarmup: 100,
      }
    : {
        rounds: 3,
        reps: 3,
        infoReps: 1,
        warmup: 20_000,
        burst: 200_000,
        windowed: 200_000,
        window: 1_000,
        latency: 5_000,
        latencyWarmup: 1_000,
        fibN: 30,
        fibTasks: 32,
        map: 500_000,
        chunksize: 1_000,
        procBurst: 30_000,
        procWarmup: 5_000,
        pyProcBurst: 3_000,
        pyProcWarmup: 500,
        tinyProcBurst: 5_000,
        tinyProcWarmup: 1_000,
      }
}

/** Sum of 0..n-1, what the no-op tasks over ids 0..n-1 return in total. */
const idSum = (n: number): number => (n * (n - 1)) / 2

// ---- the pools ---------------------------------------------------------------------------------

/** The no-op task of the Tandem side (shipped to the workers by source). */
const noop = (x: number): number => x

/** A pool as the throughput and latency loops see it: submit task `i`, get its result back. */
interface Submitter {
  submit(i: number): PromiseLike<number>
  close(): Promise<void>
}

/** One side of a no-op measurement: a name for the table and a way to open a fresh pool. */
interface Side {
  readonly name: string
  open(): Submitter
}

/** Path of a file in bench/ (the peers' worker files). */
const here = (file: string): string => fileURLToPath(new URL(`./${file}`, import.meta.url))

const TANDEM: Side = {
  name: `Tandem ThreadPoolExecutor({ maxWorkers: ${WORKERS} })`,
  open() {
    const pool = new ThreadPoolExecutor({ maxWorkers: WORKERS })
    return { submit: (i) => pool.submit(noop, i), close: () => pool.shutdownAsync() }
  },
}

const PISCINA: Side = {
  name: 'piscina',
  open() {
    const pool = new Piscina<number, number>({ filename: here('futures-noop.js'), minThreads: WORKERS, maxThreads: WORKERS })
    return { submit: (i) => pool.run(i), close: () => pool.destroy() }
  },
}

const TINYPOOL: Side = {
  name: 'tinypool',
  open() {
    const pool = new Tinypool({ filename: here('futures-noop.js'), minThreads: WORKERS, maxThreads: WORKERS })
    return { submit: (i) => pool.run(i) as Promise<number>, close: () => pool.destroy() }
  },
}

const WORKERPOOL: Side = {
  name: 'workerpool',
  open() {
    const pool = workerpool.pool(here('futures-workerpool-worker.js'), { minWorkers: WORKERS, maxWorkers: WORKERS, workerType: 'thread' })
    return {
      submit: (i) => pool.exec('noop', [i]) as PromiseLike<number>,
      close: async () => {
        await pool.terminate()
      },
    }
  },
}

/** The process `Pool` side: `applyAsync` of the same no-op task; `terminate()` as Python's `with`. */
const TANDEM_POOL: Side = {
  name: `Tandem Pool(${WORKERS})`,
  open() {
    const pool = new Pool(WORKERS)
    return {
      submit: (i) => pool.applyAsync(noop, [i]),
      close: async () => {
        pool.close()
        await pool.joinAsync()
      },
    }
  },
}

/** The process rows' Tandem side: worker processes, the same no-op task shipped by source. */
const TANDEM_PROCESS: Side = {
  name: `Tandem ProcessPoolExecutor({ maxWorkers: ${WORKERS} })`,
  open() {
    const pool = new ProcessPoolExecutor({ maxWorkers: WORKERS })
    return { submit: (i) => pool.submit(noop, i), close: () => pool.shutdownAsync() }
  },
}

/** tinypool with child processes (`runtime: 'child_process'`), otherwise as {@link TINYPOOL}. */
const TINYPOOL_PROCESS: Side = {
  name: "tinypool runtime: 'child_process'",
  open() {
    const pool = new Tinypool({ runtime: 'child_process', filename: here('futures-noop.js'), minThreads: WORKERS, maxThreads: WORKERS })
    return { submit: (i) => pool.run(i) as Promise<number>, close: () => pool.destroy() }
  },
}

const POOLIFIER: Side = {
  name: 'poolifier',
  open() {
    const pool = new FixedThreadPool<number, number>(WORKERS, here('futures-poolifier-worker.js'))
    return { submit: (i) => pool.execute(i), close: () => pool.destroy() }
  },
}

/** `name version` of an installed peer library, from its package.json. */
function peerVersion(name: string): string {
  const pkg = JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }
  return `${name} ${pkg.version}`
}

// ---- the loops -----------------------------------------------------------------------------------

/**
 * Submits tasks 0..n-1 at once, then awaits each in submission order (as CPython's
 * `for f in fs: f.result()`); returns the sum of results.
 */
async function burst(pool: Submitter, n: number): Promise<number> {
  const pending = new Array<PromiseLike<number>>(n)
  for (let i = 0; i < n; i++) pending[i] = pool.submit(i)
  let sum = 0
  for (const p of pending) sum += await p
  return sum
}

/**
 * Submits tasks 0..n-1 keeping at most `w` in flight: once `w` are outstanding, awaits the
 * oldest before submitting the next (a ring of `w` slots); returns the sum of results.
 */
async function windowed(pool: Submitter, n: number, w: number): Promise<number> {
  const ring = new Array<PromiseLike<number>>(w)
  let sum = 0
  for (let i = 0; i < n; i++) {
    const k = i % w
    if (i >= w) sum += await ring[k]!
    ring[k] = pool.submit(i)
  }
  for (let i = Math.max(0, n - w); i < n; i++) sum += await ring[i % w]!
  return sum
}

/** Submits tasks 0..n-1 one at a time, awaiting each before the next; returns the sum of results. */
async function sequential(pool: Submitter, n: number): Promise<number> {
  let sum = 0
  for (let i = 0; i < n; i++) sum += await pool.submit(i)
  return sum
}

type Loop = (pool: Submitter, n: number) => Promise<number>

/** Longest wait for a pool to close (see {@link closeWithin}). */
const CLOSE_MS = 10_000

/**
 * Waits for `closing` (a pool's close/destroy), at most `ms`. poolifier 5.3.2's `destroy()`
 * sometimes never settles (its thread worker exits on the kill message, possibly before
 * `destroy()` listens for the worker's `exit` event, and it has `unref`'d the worker): with
 * nothing else keeping the event loop alive the process would then end mid-run (exit code 13).
 * A ref'd timer keeps the benchmark going; the workers are gone by then.
 */
async function closeWithin(closing: Promise<void>, ms: number, what: string, log: (message: string) => void): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms)
  })
  try {
    if ((await Promise.race([closing, late])) === 'late') log(`${what}: closing the pool did not settle within ${ms / 1000} s; going on`)
  } finally {
    clearTimeout(timer)
  }
}

/** Tasks per timed repetition, tasks of the untimed warm-up repetition, timed repetitions. */
interface RunSizes {
  readonly n: number
  readonly warmup: number
  readonly reps: number
}

/**
 * Opens a fresh pool of `side`, runs `loop` once untimed over `warmup` tasks (starts the
 * workers, warms the JIT) and `reps` times timed over `n` tasks, closes the pool; returns the
 * rates (tasks/s). Checks every repetition's sum of results.
 */
async function sideRuns(side: Side, loop: Loop, z: RunSizes, log: (message: string) => void): Promise<number[]> {
  const pool = side.open()
  const checked = async (n: number): Promise<void> => {
    const sum = await loop(pool, n)
    if (sum !== idSum(n)) throw new Error(`${side.name}: results of ${n} no-op tasks add up to ${sum} instead of ${idSum(n)}; results were lost or wrong`)
  }
  try {
    await checked(z.warmup)
    return await timeRuns(z.reps, 0, z.n, () => checked(z.n))
  } finally {
    await closeWithin(pool.close(), CLOSE_MS, side.name, log)
  }
}

// ---- CPython ---------------------------------------------------------------------------------------

// CPython baseline: `mode n warmup reps window chunksize` -> JSON list of rates (tasks or items
// per second), one per timed repetition of n after one untimed warm-up of `warmup`, the same
// shapes as the Node side:
// - burst: ThreadPoolExecutor(2), submit f(i) for i in range(n), then result() of each in order;
// - windowed: the same with at most `window` futures outstanding: a ring of `window` slots,
//   result() of the oldest before each new submit (CPython's fastest windowing here: see notes);
// - map: multiprocessing.Pool(2).map(f, range(n), chunksize), f doubling its argument;
// - process-burst: burst on a ProcessPoolExecutor(2);
// - process-map: ProcessPoolExecutor(2).map(f, range(n), chunksize=chunksize), f doubling.
// The process pools use the fork start method, CPython's default on Linux up to 3.13, named
// explicitly so that a newer interpreter (forkserver by default from 3.14) measures the same
// thing; fork is also what lets the children find the functions of this inline (-c) script.
// Every repetition's sum of results is checked.
const PYTHON = String.raw`
import json, sys, time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
import multiprocessing
mode, n, warmup, reps, window, chunksize = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
perf = time.perf_counter

def noop(x):
    return x

def double(x):
    return 2 * x

def burst(ex, n):
    submit = ex.submit
    fs = [submit(noop, i) for i in range(n)]
    return sum(f.result() for f in fs)

def windowed(ex, n):
    submit = ex.submit
    ring = [None] * window
    total = 0
    for i in range(n):
        k = i % window
        if i >= window:
            total += ring[k].result()
        ring[k] = submit(noop, i)
    for i in range(max(0, n - window), n):
        total += ring[i % window].result()
    return total

def timed(body, expected):
    # body(k) runs k tasks and returns the sum of their results; expected(k) is what it must be.
    out = []
    for rep in range(reps + 1):
        k = warmup if rep == 0 else n
        t0 = perf()
        got = body(k)
        elapsed = perf() - t0
        if got != expected(k):
            raise SystemExit('results add up to %d instead of %d' % (got, expected(k)))
        if rep > 0:
            out.append(k / elapsed)
    return out

if __name__ == '__main__':
    if mode in ('burst', 'windowed'):
        ex = ThreadPoolExecutor(2)
        body = burst if mode == 'burst' else windowed
        result = timed(lambda k: body(ex, k), lambda k: k * (k - 1) // 2)
        ex.shutdown()
    elif mode == 'map':
        with multiprocessing.Pool(2) as pool:
            result = timed(lambda k: sum(pool.map(double, range(k), chunksize)), lambda k: k * (k - 1))
    elif mode == 'apply-async':
        with multiprocessing.Pool(2) as pool:
            def applied(k):
                rs = [pool.apply_async(noop, (i,)) for i in range(k)]
                return sum(r.get() for r in rs)
            result = timed(applied, lambda k: k * (k - 1) // 2)
    elif mode in ('process-burst', 'process-map'):
        ex = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context('fork'))
        if mode == 'process-burst':
            result = timed(lambda k: burst(ex, k), lambda k: k * (k - 1) // 2)
        else:
            result = timed(lambda k: sum(ex.map(double, range(k), chunksize=chunksize)), lambda k: k * (k - 1))
        ex.shutdown()
    else:
        raise SystemExit('unknown mode ' + mode)
    print(json.dumps(result))
`

// ---- rows --------------------------------------------------------------------------------------------

/** One row per baseline of a no-op measurement; a baseline with target 0 is marked (info). */
function rowsFor(scenario: string, m: Measured, baselines: { name: string; target: number }[]): Row[] {
  return baselines.map((b, j) => ({
    scenario: b.target === 0 ? `${scenario} (info)` : scenario,
    unit: 'tasks/s',
    tandem: m.tandem,
    baselineName: b.name,
    baseline: m.baselines[j]!,
    target: b.target,
    idleBefore: m.idleBefore,
  }))
}

async function burstRows(ctx: BenchContext): Promise<Row[]> {
  const s = sizes(ctx.quick)
  const n = s.burst
  const z = { n, warmup: s.warmup, reps: s.reps }
  const info = { ...z, reps: s.infoReps }
  ctx.log(`no-op burst: ${n} tasks submitted at once, ${WORKERS} workers; Tandem, piscina, CPython, tinypool, workerpool, poolifier; ${s.rounds} rounds x ${s.reps} runs`)
  const m = await rounds(s.rounds, () => sideRuns(TANDEM, burst, z, ctx.log), [
    () => sideRuns(PISCINA, burst, z, ctx.log),
    () => pythonRuns(ctx, PYTHON, ['burst', n, s.warmup, s.reps, 0, 0], 300_000),
    () => sideRuns(TINYPOOL, burst, info, ctx.log),
    () => sideRuns(WORKERPOOL, burst, info, ctx.log),
    () => sideRuns(POOLIFIER, burst, z, ctx.log),
  ])
  return rowsFor(`no-op tasks, ${n.toLocaleString('en')} submitted at once, ${WORKERS} workers`, m, [
    { name: peerVersion('piscina'), target: 5 },
    { name: `CPython ThreadPoolExecutor(${WORKERS})`, target: 3 },
    { name: peerVersion('tinypool'), target: 0 },
    { name: peerVersion('workerpool'), target: 0 },
    { name: peerVersion('poolifier'), target: 0 },
  ])
}

async function windowedRows(ctx: BenchContext): Promise<Row[]> {
  const s = sizes(ctx.quick)
  const n = s.windowed
  const w = s.window
  const z = { n, warmup: s.warmup, reps: s.reps }
  const loop: Loop = (pool, k) => windowed(pool, k, w)
  ctx.log(`no-op windowed: ${n} tasks, at most ${w} in flight, ${WORKERS} workers; Tandem, piscina, CPython, poolifier; ${s.rounds} rounds x ${s.reps} runs`)
  const m = await rounds(s.rounds, () => sideRuns(TANDEM, loop, z, ctx.log), [
    () => sideRuns(PISCINA, loop, z, ctx.log),
    () => pythonRuns(ctx, PYTHON, ['windowed', n, s.warmup, s.reps, w, 0], 300_000),
    () => sideRuns(POOLIFIER, loop, z, ctx.log),
  ])
  return rowsFor(`no-op tasks, ${n.toLocaleString('en')} with at most ${w.toLocaleString('en')} in flight, ${WORKERS} workers`, m, [
    { name: peerVersion('piscina'), target: 5 },
    { name: `CPython ThreadPoolExecutor(${WORKERS})`, target: 3 },
    { name: peerVersion('poolifier'), target: 0 },
  ])
}

/**
 * Round trips with the blocking form: `pool.submit(noop, i).result()` one at a time on a fresh
 * ThreadPoolExecutor (the main thread sleeps in Atomics.wait instead of going through the event
 * loop); rates (round trips/s) of the timed repetitions.
 */
async function blockingRoundTrips(z: RunSizes): Promise<number[]> {
  const pool = new ThreadPoolExecutor({ maxWorkers: WORKERS })
  const checked = (n: number): void => {
    let sum = 0
    for (let i = 0; i < n; i++) sum += pool.submit(noop, i).result(RESULT_TIMEOUT_MS)
    if (sum !== idSum(n)) throw new Error(`Tandem blocking round trips: results add up to ${sum} instead of ${idSum(n)}`)
  }
  try {
    checked(z.warmup)
    return await timeRuns(z.reps, 0, z.n, () => checked(z.n))
  } finally {
    await pool.shutdownAsync()
  }
}

/** Longest blocking wait for one result on the main thread (a stuck pool fails the run instead of hanging it). */
const RESULT_TIMEOUT_MS = 60_000

/**
 * Latency rows: `await` round trips against piscina (with a target), and blocking `result()`
 * round trips against the same piscina runs (info); also the microseconds per round trip of
 * each side's best run, for the notes.
 */
async function latencyRows(ctx: BenchContext): Promise<{ rows: Row[]; micros: { tandem: number; blocking: number; piscina: number } }> {
  const s = sizes(ctx.quick)
  const n = s.latency
  ctx.log(`round trip: ${n} tasks one at a time (submit, await), ${WORKERS} workers; Tandem, piscina, Tandem with blocking result(); ${s.rounds} rounds x ${s.reps} runs`)
  const z = { n, warmup: s.latencyWarmup, reps: s.reps }
  const m = await rounds(s.rounds, () => sideRuns(TANDEM, sequential, z, ctx.log), [() => sideRuns(PISCINA, sequential, z, ctx.log), () => blockingRoundTrips(z)])
  const piscina = m.baselines[0] as Rate
  const blocking = m.baselines[1] as Rate
  const common = { unit: 'round trips/s', baselineName: `${peerVersion('piscina')} \`await run()\``, baseline: piscina, idleBefore: m.idleBefore }
  return {
    rows: [
      { scenario: 'round trip of one no-op task, one at a time: `await pool.submit()`', tandem: m.tandem, target: 2, ...common },
      { scenario: 'round trip of one no-op task, one at a time: blocking `pool.submit().result()` (info)', tandem: blocking, target: 0, ...common },
    ],
    micros: { tandem: 1e6 / m.tandem.best, blocking: 1e6 / blocking.best, piscina: 1e6 / piscina.best },
  }
}

/** fib(n), naive recursion: the CPU-bound task (shipped by source, self-contained). */
const fib = (n: number): number => {
  const f = (k: number): number => (k < 2 ? k : f(k - 1) + f(k - 2))
  return f(n)
}

/** The executors of the fib rows. */
type Executor = ThreadPoolExecutor | ProcessPoolExecutor

/** Opens the thread rows' executor. */
const threadExecutor = (workers: number): Executor => new ThreadPoolExecutor({ maxWorkers: workers })

/** Opens the process rows' executor. */
const processExecutor = (workers: number): Executor => new ProcessPoolExecutor({ maxWorkers: workers })

/**
 * `tasks` fib(n) tasks on a fresh executor of `workers` (a ThreadPoolExecutor unless `open` says
 * otherwise); rates (tasks/s) of the timed repetitions. The untimed warm-up repetition also
 * starts the workers.
 */
async function fibRuns(workers: number, n: number, tasks: number, reps: number, open: (workers: number) => Executor = threadExecutor): Promise<number[]> {
  const pool = open(workers)
  const expected = fib(n)
  try {
    return await timeRuns(reps, 1, tasks, async () => {
      const fs = Array.from({ length: tasks }, () => pool.submit(fib, n))
      for (const r of await Promise.all(fs)) if (r !== expected) throw new Error(`fib(${n}) returned ${r} instead of ${expected}`)
    })
  } finally {
    await pool.shutdownAsync()
  }
}

async function fibRow(ctx: BenchContext): Promise<Row> {
  const s = sizes(ctx.quick)
  ctx.log(`CPU-bound: ${s.fibTasks} x fib(${s.fibN}) on ThreadPoolExecutor(${WORKERS}) vs ThreadPoolExecutor(1); ${s.rounds} rounds x ${s.reps} runs`)
  const m = await rounds(s.rounds, () => fibRuns(WORKERS, s.fibN, s.fibTasks, s.reps), [() => fibRuns(1, s.fibN, s.fibTasks, s.reps)])
  return {
    scenario: `CPU-bound: ${s.fibTasks} x fib(${s.fibN}), ${WORKERS} workers vs 1 (speed-up)`,
    unit: 'tasks/s',
    tandem: m.tandem,
    baselineName: 'Tandem ThreadPoolExecutor({ maxWorkers: 1 }), same tasks',
    baseline: m.baselines[0]!,
    target: 1.8,
    idleBefore: m.idleBefore,
  }
}

/** The mapped function of the ThreadPool.map row. */
const double = (x: number): number => 2 * x

async function mapRow(ctx: BenchContext): Promise<Row> {
  const s = sizes(ctx.quick)
  const n = s.map
  ctx.log(`ThreadPool.map: ${n} ints, chunksize ${s.chunksize}, ${WORKERS} workers; CPython multiprocessing.Pool(${WORKERS}).map; ${s.rounds} rounds x ${s.reps} runs`)
  const items = Array.from({ length: n }, (_, i) => i)
  const m = await rounds(s.rounds, async () => {
    const pool = new ThreadPool(WORKERS)
    try {
      return await timeRuns(s.reps, 1, n, () => {
        const out = pool.map(double, items, s.chunksize)
        let sum = 0
        for (const r of out) sum += r
        if (out.length !== n || sum !== 2 * idSum(n))
          throw new Error(`ThreadPool.map returned ${out.length} results adding up to ${sum} instead of ${n} adding up to ${2 * idSum(n)}`)
      })
    } finally {
      pool.close()
      await pool.joinAsync()
    }
  }, [() => pythonRuns(ctx, PYTHON, ['map', n, n, s.reps, 0, s.chunksize], 300_000)])
  return {
    scenario: `ThreadPool(${WORKERS}).map(fn, ${n.toLocaleString('en')} ints, chunksize ${s.chunksize.toLocaleString('en')})`,
    unit: 'items/s',
    tandem: m.tandem,
    baselineName: `CPython multiprocessing.Pool(${WORKERS}).map, same chunksize`,
    baseline: m.baselines[0]!,
    target: 1,
    idleBefore: m.idleBefore,
  }
}

// ---- process rows ------------------------------------------------------------------------------------

/**
 * No-op tasks submitted at once to `WORKERS` worker processes: Tandem ProcessPoolExecutor against
 * CPython's ProcessPoolExecutor (fork) and tinypool's child processes, each side sized to about
 * 200-300 ms per repetition (see {@link sizes}).
 */
async function processBurstRows(ctx: BenchContext): Promise<Row[]> {
  const s = sizes(ctx.quick)
  const z = { n: s.procBurst, warmup: s.procWarmup, reps: s.reps }
  const tiny = { n: s.tinyProcBurst, warmup: s.tinyProcWarmup, reps: s.reps }
  ctx.log(
    `process no-op burst: ${WORKERS} worker processes, tasks submitted at once; Tandem ProcessPoolExecutor ${z.n}, CPython ProcessPoolExecutor ${s.pyProcBurst}, tinypool child_process ${tiny.n} per run; ${s.rounds} rounds x ${s.reps} runs`,
  )
  const m = await rounds(s.rounds, () => sideRuns(TANDEM_PROCESS, burst, z, ctx.log), [
    () => pythonRuns(ctx, PYTHON, ['process-burst', s.pyProcBurst, s.pyProcWarmup, s.reps, 0, 0], 300_000),
    () => sideRuns(TINYPOOL_PROCESS, burst, tiny, ctx.log),
  ])
  return rowsFor(`ProcessPoolExecutor: no-op tasks, ${z.n.toLocaleString('en')} submitted at once, ${WORKERS} worker processes`, m, [
    { name: `CPython ProcessPoolExecutor(${WORKERS}), fork, ${s.pyProcBurst.toLocaleString('en')} tasks`, target: 5 },
    { name: `${peerVersion('tinypool')} \`runtime: 'child_process'\`, ${tiny.n.toLocaleString('en')} tasks`, target: 3 },
  ])
}

async function processMapRow(ctx: BenchContext): Promise<Row> {
  const s = sizes(ctx.quick)
  const n = s.map
  ctx.log(
    `ProcessPoolExecutor.map: ${n} ints, chunksize ${s.chunksize}, ${WORKERS} worker processes; CPython ProcessPoolExecutor(${WORKERS}).map; ${s.rounds} rounds x ${s.reps} runs`,
  )
  const items = Array.from({ length: n }, (_, i) => i)
  const m = await rounds(s.rounds, async () => {
    const pool = new ProcessPoolExecutor({ maxWorkers: WORKERS })
    try {
      return await timeRuns(s.reps, 1, n, () => {
        let count = 0
        let sum = 0
        for (const r of pool.map(double, items, { chunksize: s.chunksize })) {
          count++
          sum += r
        }
        if (count !== n || sum !== 2 * idSum(n))
          throw new Error(`ProcessPoolExecutor.map returned ${count} results adding up to ${sum} instead of ${n} adding up to ${2 * idSum(n)}`)
      })
    } finally {
      await pool.shutdownAsync()
    }
  }, [() => pythonRuns(ctx, PYTHON, ['process-map', n, n, s.reps, 0, s.chunksize], 300_000)])
  return {
    scenario: `ProcessPoolExecutor({ maxWorkers: ${WORKERS} }).map(fn, ${n.toLocaleString('en')} ints, { chunksize: ${s.chunksize.toLocaleString('en')} })`,
    unit: 'items/s',
    tandem: m.tandem,
    baselineName: `CPython ProcessPoolExecutor(${WORKERS}).map, fork, same chunksize`,
    baseline: m.baselines[0]!,
    target: 1.5,
    idleBefore: m.idleBefore,
  }
}

/**
 * Runs `body` (the process rows) with `TANDEM_NO_SPARE=1` in the environment unless it is set
 * already, and restores the environment afterwards. By default `@tandem/ipc`'s I/O thread boots a
 * spare child in the background after each process start, so every fresh pool would have a
 * Node start-up (~0.7 s of a core under tsx) running beside its timed repetitions; the ipc
 * bench's manager driver turns it off for the same reason. The I/O thread reads the variable
 * when it starts (with this group's first pool), so this holds only if no earlier code in this
 * process started it; `spare` is the variable's value during the process rows.
 */
async function withoutSpareChild<T>(body: () => Promise<T>): Promise<T & { spare: string }> {
  const before = process.env.TANDEM_NO_SPARE
  if (before === undefined) process.env.TANDEM_NO_SPARE = '1'
  try {
    return { ...(await body()), spare: process.env.TANDEM_NO_SPARE ?? '' }
  } finally {
    if (before === undefined) delete process.env.TANDEM_NO_SPARE
  }
}

/**
 * `Pool.applyAsync` of no-op tasks, all at once, then each result awaited in order, against
 * CPython's `multiprocessing.Pool(2).apply_async` then `get()` in order; sized as the process
 * no-op row (CPython's Pool does 36-56 k/s here).
 */
async function poolApplyRow(ctx: BenchContext): Promise<Row> {
  const s = sizes(ctx.quick)
  const z = { n: s.procBurst, warmup: s.procWarmup, reps: s.reps }
  const py = s.pyProcBurst * 4
  ctx.log(`Pool.applyAsync: ${WORKERS} worker processes, calls made at once; Tandem ${z.n}, CPython multiprocessing.Pool ${py} per run; ${s.rounds} rounds x ${s.reps} runs`)
  const m = await rounds(s.rounds, () => sideRuns(TANDEM_POOL, burst, z, ctx.log), [() => pythonRuns(ctx, PYTHON, ['apply-async', py, s.pyProcWarmup, s.reps, 0, 0], 300_000)])
  return rowsFor(`Pool.applyAsync: no-op calls, ${z.n.toLocaleString('en')} made at once, ${WORKERS} worker processes`, m, [
    { name: `CPython multiprocessing.Pool(${WORKERS}).apply_async, fork, ${py.toLocaleString('en')} calls`, target: 2 },
  ])[0]!
}

/** `Pool.map` over ints with the thread row's chunksize, against CPython's `multiprocessing.Pool.map` (the thread row's baseline). */
async function poolMapRow(ctx: BenchContext): Promise<Row> {
  const s = sizes(ctx.quick)
  const n = s.map
  ctx.log(`Pool.map: ${n} ints, chunksize ${s.chunksize}, ${WORKERS} worker processes; CPython multiprocessing.Pool(${WORKERS}).map; ${s.rounds} rounds x ${s.reps} runs`)
  const items = Array.from({ length: n }, (_, i) => i)
  const m = await rounds(s.rounds, async () => {
    const pool = new Pool(WORKERS)
    try {
      return await timeRuns(s.reps, 1, n, () => {
        const out = pool.map(double, items, s.chunksize)
        let sum = 0
        for (const r of out) sum += r
        if (out.length !== n || sum !== 2 * idSum(n)) throw new Error(`Pool.map returned ${out.length} results adding up to ${sum} instead of ${n} adding up to ${2 * idSum(n)}`)
      })
    } finally {
      pool.close()
      await pool.joinAsync()
    }
  }, [() => pythonRuns(ctx, PYTHON, ['map', n, n, s.reps, 0, s.chunksize], 300_000)])
  return {
    scenario: `Pool(${WORKERS}).map(fn, ${n.toLocaleString('en')} ints, ${s.chunksize.toLocaleString('en')})`,
    unit: 'items/s',
    tandem: m.tandem,
    baselineName: `CPython multiprocessing.Pool(${WORKERS}).map, fork, same chunksize`,
    baseline: m.baselines[0]!,
    target: 1,
    idleBefore: m.idleBefore,
  }
}

async function processFibRow(ctx: BenchContext): Promise<Row> {
  const s = sizes(ctx.quick)
  ctx.log(`CPU-bound: ${s.fibTasks} x fib(${s.fibN}) on ProcessPoolExecutor(${WORKERS}) vs ProcessPoolExecutor(1); ${s.rounds} rounds x ${s.reps} runs`)
  const m = await rounds(s.rounds, () => fibRuns(WORKERS, s.fibN, s.fibTasks, s.reps, processExecutor), [() => fibRuns(1, s.fibN, s.fibTasks, s.reps, processExecutor)])
  return {
    scenario: `ProcessPoolExecutor CPU-bound: ${s.fibTasks} x fib(${s.fibN}), ${WORKERS} worker processes vs 1 (speed-up)`,
    unit: 'tasks/s',
    tandem: m.tandem,
    baselineName: 'Tandem ProcessPoolExecutor({ maxWorkers: 1 }), same tasks',
    baseline: m.baselines[0]!,
    target: 1.8,
    idleBefore: m.idleBefore,
  }
}

const scenario: Scenario = {
  title: '@tandem/futures executors',
  async run(ctx) {
    const s = sizes(ctx.quick)
    const burstR = await burstRows(ctx)
    const windowedR = await windowedRows(ctx)
    const latency = await latencyRows(ctx)
    const fibR = await fibRow(ctx)
    const mapR = await mapRow(ctx)
    const { procBurstR, procMapR, procFibR, poolApplyR, poolMapR, spare } = await withoutSpareChild(async () => ({
      procBurstR: await processBurstRows(ctx),
      procMapR: await processMapRow(ctx),
      procFibR: await processFibRow(ctx),
      poolApplyR: await poolApplyRow(ctx),
      poolMapR: await poolMapRow(ctx),
    }))
    const versions = ['piscina', 'tinypool', 'workerpool', 'poolifier'].map(peerVersion).join(', ')
    return {
      rows: [...burstR, ...windowedR, ...latency.rows, fibR, mapR, ...procBurstR, procMapR, procFibR, poolApplyR, poolMapR],
      notes: [
        `Peers: ${versions}; every pool has ${WORKERS} worker threads (piscina and tinypool \`minThreads = maxThreads = ${WORKERS}\`, workerpool \`minWorkers = maxWorkers = ${WORKERS}\`, \`workerType: 'thread'\`, poolifier \`FixedThreadPool(${WORKERS})\`), otherwise default options. Their worker files are \`bench/futures-noop.js\` (piscina, tinypool: default export), \`bench/futures-workerpool-worker.js\` and \`bench/futures-poolifier-worker.js\`. Rows marked (info) have no target (shown as >= 0x).`,
        `Runs: every measurement is ${s.rounds} rounds; a round is a CPU-idle sample, then each side in turn (Tandem first, then the baselines in table order). A side opens a fresh pool, runs one untimed warm-up repetition (${s.warmup.toLocaleString('en')} tasks, ${s.latencyWarmup.toLocaleString('en')} round trips, or one full repetition for fib and map; it starts the workers and warms the JIT), then ${s.reps} timed repetitions (${s.infoReps} for tinypool and workerpool, which take tens of seconds per repetition), and closes the pool: ${s.rounds * s.reps} timed runs per side (${s.rounds * s.infoReps} for tinypool and workerpool); the table shows each side's best run. Rates are timed on the main thread around the whole repetition (submitting and collecting the results).`,
        `No-op task: Tandem submits \`(x) => x\` (shipped by source) with argument i, i = 0..n-1; piscina/tinypool run their worker's default export \`(x) => x\` on i, workerpool \`exec('noop', [i])\`, poolifier \`execute(i)\`; CPython \`submit(noop, i)\`. The sum of the results is checked on every repetition.`,
        `Submitted at once: submit all ${s.burst.toLocaleString('en')} tasks, then \`await\` each future/promise in submission order (Tandem futures are PromiseLike); CPython calls \`result()\` on each future in order. (Awaiting with one \`Promise.all\` instead was measured slower for Tandem, where each \`then\` starts its own \`resultAsync\`, and no faster for piscina or poolifier.)`,
        `At most ${s.window.toLocaleString('en')} in flight: a ring of ${s.window.toLocaleString('en')} slots; once full, each new submit first awaits (CPython: \`result()\`) the oldest outstanding task. With ${WORKERS} workers taking tasks from one queue, tasks complete in nearly submission order, so this keeps ~${s.window.toLocaleString('en')} tasks in flight, the same way on every side. For CPython the ring is also the fastest windowing measured here (200,000 no-op tasks: ring 150-215 k tasks/s, \`wait(FIRST_COMPLETED)\` on the pending set 90-120 k/s, a BoundedSemaphore released by a done-callback 60-64 k/s).`,
        `Round trip: ${s.latency.toLocaleString('en')} sequential \`await pool.submit(noop, i)\` (piscina \`await pool.run(i)\`) per repetition; rate = round trips/s, so ratio >= 2 means Tandem's round trip takes at most half of piscina's. The (info) row does the same with the blocking form \`pool.submit(noop, i).result()\` (the main thread sleeps in \`Atomics.wait\` rather than in the event loop), against the same piscina runs. Best runs: Tandem ${latency.micros.tandem.toFixed(1)} us with \`await\`, ${latency.micros.blocking.toFixed(1)} us with blocking \`result()\`; piscina ${latency.micros.piscina.toFixed(1)} us per round trip.`,
        `CPU-bound: ${s.fibTasks} tasks of naive recursive fib(${s.fibN}) submitted at once to a ThreadPoolExecutor with ${WORKERS} workers, against the same tasks on a ThreadPoolExecutor with 1 worker (run serially); ratio = speed-up from the second worker (ideal ${WORKERS}x), which needs ${WORKERS} free cores.`,
        `ThreadPool.map: Tandem \`new ThreadPool(${WORKERS})\`, blocking \`pool.map((x) => 2 * x, items, ${s.chunksize})\` over a prebuilt array of ${s.map.toLocaleString('en')} ints; CPython \`multiprocessing.Pool(${WORKERS}).map(double, range(${s.map}), ${s.chunksize})\` (fork start method, worker processes), the pool created before the warm-up. Both use the same explicit chunksize. Results are checked (count and sum).`,
        `Process rows: every Tandem side is a fresh \`new ProcessPoolExecutor({ maxWorkers })\` per round (tasks shipped by source, as in the thread rows; worker processes start on demand during the untimed warm-up repetition); CPython's is \`ProcessPoolExecutor(${WORKERS}, mp_context=multiprocessing.get_context('fork'))\` (fork, CPython 3.11's default on Linux; its workers start at the first submit, in the warm-up), tinypool's \`new Tinypool({ runtime: 'child_process', filename: 'bench/futures-noop.js', minThreads: ${WORKERS}, maxThreads: ${WORKERS} })\` (default JSON serialization, one task at a time per child). Spare child: \`@tandem/ipc\`'s I/O thread by default boots one spare child in the background after each process start, which would run beside the timed repetitions of every fresh pool; the process rows set \`TANDEM_NO_SPARE=1\` for their duration (unless the environment sets it), so each pool boots its own children during its warm-up. This run: \`TANDEM_NO_SPARE=${spare}\` (it applies if this group's first pool started the I/O thread, as in \`pnpm bench futures\` and \`pnpm bench\`).`,
        `Process no-op: the no-op loop of the thread rows (submit all, then await each in order; CPython \`result()\` in order), sized per side so that a repetition lasts about 200-300 ms: Tandem ${s.procBurst.toLocaleString('en')} tasks (warm-up ${s.procWarmup.toLocaleString('en')}), CPython ${s.pyProcBurst.toLocaleString('en')} (warm-up ${s.pyProcWarmup.toLocaleString('en')}), tinypool ${s.tinyProcBurst.toLocaleString('en')} (warm-up ${s.tinyProcWarmup.toLocaleString('en')}); ${s.reps} timed repetitions per round on every side (tinypool included, unlike its thread row); rates are tasks/s, so the sizes do not enter the ratio. Sums of results checked on every repetition.`,
        `ProcessPoolExecutor.map: Tandem blocking \`for (const r of pool.map((x) => 2 * x, items, { chunksize: ${s.chunksize} }))\` over a prebuilt array of ${s.map.toLocaleString('en')} ints; CPython \`sum(ex.map(double, range(${s.map}), chunksize=${s.chunksize}))\`; one full untimed repetition first on both sides. Results checked (count and sum).`,
        `ProcessPoolExecutor CPU-bound: the fib tasks of the thread row (${s.fibTasks} x fib(${s.fibN}), shipped by source, submitted at once, each result checked) on ProcessPoolExecutor({ maxWorkers: ${WORKERS} }) against ProcessPoolExecutor({ maxWorkers: 1 }); ratio = speed-up from the second worker process (ideal ${WORKERS}x), which needs ${WORKERS} free cores.`,
        `Pool rows: Tandem \`new Pool(${WORKERS})\` per round (closed and joined after), CPython \`multiprocessing.Pool(${WORKERS})\` (fork) per round. applyAsync: the no-op loop (all calls made at once, then each result awaited in order; CPython \`apply_async(noop, (i,))\` then \`get()\` in order), Tandem ${s.procBurst.toLocaleString('en')} calls per repetition, CPython ${(s.pyProcBurst * 4).toLocaleString('en')}. map: blocking \`pool.map((x) => 2 * x, items, ${s.chunksize})\` over ${s.map.toLocaleString('en')} ints, against the ThreadPool.map row's CPython baseline (measured again); results checked.`,
        'CPython runs as a child process (`python3 -c`, script inline in `bench/futures.bench.ts`), one process per side per round, with the same warm-up and timed repetitions.',
      ],
    }
  },
}

export default scenario
