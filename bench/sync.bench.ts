/**
 * `pnpm bench sync`: Tandem's Lock, RLock and Condition against CPython's `threading`
 * equivalents, and `Lock.acquireAsync` against async-mutex, each baseline measured in the same
 * run. Worker code lives in `sync-workers.ts`.
 *
 * @module
 */
import { Mutex } from 'async-mutex'
import { Condition, Lock, RLock } from '@tandem/sync'
import { CONTROL_WORDS, REP_MS, SIZE } from './sync-workers.ts'
import { alternate, pythonRuns, runThreads, sharedFloats, sharedInts, timeRuns, type BenchContext, type Row, type Scenario } from './lib.ts'

const WORKERS = new URL('./sync-workers.ts', import.meta.url)

/**
 * Sizes. Each measurement runs in `rounds` rounds alternating Tandem and its baseline, each
 * round `reps` timed runs after a warm-up. Counts are per run (per thread where several threads
 * run); the two-worker Tandem scenarios size each run from the previous one's rate to last
 * about `repMs` (see `sync-workers.ts`), starting from the warm-up counts given here. `quick` only checks that
 * everything runs.
 */
function sizes(quick: boolean) {
  return quick
    ? {
        rounds: 1,
        reps: 2,
        repMs: 20,
        uncontended: 100_000,
        pyUncontended: 50_000,
        counterWarmup: 20_000,
        pyCounter: 20_000,
        pingPongWarmup: 2_000,
        pyPingPong: 1_000,
        async: 20_000,
        asyncMutex: 5_000,
      }
    : {
        rounds: 3,
        reps: 3,
        repMs: 300,
        uncontended: 2_000_000,
        pyUncontended: 1_000_000,
        counterWarmup: 1_000_000,
        pyCounter: 500_000,
        pingPongWarmup: 20_000,
        pyPingPong: 10_000,
        async: 2_000_000,
        asyncMutex: 200_000,
      }
}

/** A control block for the workers of one scenario, with the warm-up size. */
function control(warmupSize: number, repMs: number): Int32Array {
  const ctl = sharedInts(CONTROL_WORDS)
  ctl[SIZE] = warmupSize
  ctl[REP_MS] = repMs
  return ctl
}

// One CPython script for every baseline: `mode n reps` -> JSON list of rates (ops/s), one per
// repetition. Multi-thread modes time each thread around its loop, start the threads of a
// repetition together with a Barrier, drop a warm-up repetition and count total ops over the
// span from the first start to the last end, exactly as the Tandem side does.
const PYTHON = String.raw`
import json, sys, threading, time
mode, n, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
perf = time.perf_counter

def uncontended(lock):
    def loop():
        for _ in range(n):
            lock.acquire()
            lock.release()
    loop()
    out = []
    for _ in range(reps):
        t0 = perf()
        loop()
        out.append(n / (perf() - t0))
    return out

def parallel(make_body, ops_per_rep, parties=2):
    out = []
    for rep in range(reps + 1):
        body = make_body()
        barrier = threading.Barrier(parties)
        spans = [None] * parties
        def run(i):
            barrier.wait()
            t0 = perf()
            body(i)
            spans[i] = (t0, perf())
        threads = [threading.Thread(target=run, args=(i,)) for i in range(parties)]
        for t in threads: t.start()
        for t in threads: t.join()
        if rep > 0:
            out.append(ops_per_rep / (max(e for _, e in spans) - min(s for s, _ in spans)))
    return out

def counter():
    lock = threading.Lock()
    count = [0]
    def body(i):
        for _ in range(n):
            lock.acquire()
            count[0] += 1
            lock.release()
    return body

def ping_pong():
    cond = threading.Condition()
    turn = [0]
    def body(i):
        other = 1 - i
        for _ in range(n):
            cond.acquire()
            while turn[0] != i:
                cond.wait()
            turn[0] = other
            cond.notify()
            cond.release()
    return body

if mode == 'lock': result = uncontended(threading.Lock())
elif mode == 'rlock': result = uncontended(threading.RLock())
elif mode == 'counter': result = parallel(counter, 2 * n)
elif mode == 'pingpong': result = parallel(ping_pong, 2 * n)
else: raise SystemExit('unknown mode ' + mode)
print(json.dumps(result))
`

/**
 * Total rate of each timed repetition (the first is a warm-up) from per-thread [start, end]
 * spans and the operations of each repetition.
 */
function spanRates(times: Float64Array, ops: Float64Array, parties: number, reps: number): number[] {
  const runs: number[] = []
  for (let r = 1; r < reps; r++) {
    let start = Infinity
    let end = -Infinity
    for (let id = 0; id < parties; id++) {
      start = Math.min(start, times[(r * parties + id) * 2]!)
      end = Math.max(end, times[(r * parties + id) * 2 + 1]!)
    }
    runs.push((ops[r]! * 1000) / (end - start))
  }
  return runs
}

async function uncontended(ctx: BenchContext, kind: 'Lock' | 'RLock'): Promise<Row> {
  const s = sizes(ctx.quick)
  ctx.log(`${kind} uncontended: 1 worker, ${s.rounds} x ${s.reps} runs of ${s.uncontended}; CPython ${s.pyUncontended}`)
  const { tandem, baseline, idleBefore } = await alternate(
    s.rounds,
    async () => {
      const out = sharedFloats(s.reps)
      await runThreads(WORKERS, 'uncontended', [[kind === 'Lock' ? new Lock() : new RLock(), s.uncontended, s.reps, out]], 120_000)
      return [...out]
    },
    () => pythonRuns(ctx, PYTHON, [kind.toLowerCase(), s.pyUncontended, s.reps]),
  )
  return {
    scenario: `${kind} acquire+release, uncontended, in a worker`,
    unit: 'ops/s',
    tandem,
    baselineName: `CPython threading.${kind}`,
    baseline,
    target: 3,
    idleBefore,
  }
}

async function counter(ctx: BenchContext, sized: number[]): Promise<Row> {
  const s = sizes(ctx.quick)
  const parties = 2
  const reps = s.reps + 1
  ctx.log(`Lock counter: ${parties} workers, ${s.rounds} x ${s.reps} runs of ~${s.repMs} ms; CPython ${parties} x ${s.pyCounter}`)
  const { tandem, baseline, idleBefore } = await alternate(
    s.rounds,
    async () => {
      const lock = new Lock()
      const count = sharedInts(1)
      const ctl = control(s.counterWarmup, s.repMs)
      const times = sharedFloats(reps * parties * 2)
      const ops = sharedFloats(reps)
      const args = Array.from({ length: parties }, (_, id) => [id, parties, lock, count, ctl, reps, times, ops])
      await runThreads(WORKERS, 'counter', args, 120_000)
      const expected = ops.reduce((a, b) => a + b, 0)
      if (count[0] !== expected) throw new Error(`Lock counter: mutual exclusion broken, counted ${count[0]} increments instead of ${expected}`)
      for (let r = 1; r < reps; r++) sized.push(ops[r]! / parties)
      return spanRates(times, ops, parties, reps)
    },
    () => pythonRuns(ctx, PYTHON, ['counter', s.pyCounter, s.reps]),
  )
  return {
    scenario: `Lock-protected counter, ${parties} workers (total ops/s)`,
    unit: 'ops/s',
    tandem,
    baselineName: `CPython, ${parties} threads`,
    baseline,
    target: 1,
    idleBefore,
  }
}

async function pingPong(ctx: BenchContext, sized: number[]): Promise<Row> {
  const s = sizes(ctx.quick)
  const reps = s.reps + 1
  ctx.log(`Condition ping-pong: 2 workers, ${s.rounds} x ${s.reps} runs of ~${s.repMs} ms; CPython ${2 * s.pyPingPong} handoffs`)
  const { tandem, baseline, idleBefore } = await alternate(
    s.rounds,
    async () => {
      const cond = new Condition()
      const turn = sharedInts(1)
      const ctl = control(s.pingPongWarmup, s.repMs)
      const times = sharedFloats(reps * 2 * 2)
      const ops = sharedFloats(reps)
      await runThreads(
        WORKERS,
        'pingPong',
        [0, 1].map((id) => [id, cond, turn, ctl, reps, times, ops]),
        120_000,
      )
      for (let r = 1; r < reps; r++) sized.push(ops[r]!)
      return spanRates(times, ops, 2, reps)
    },
    () => pythonRuns(ctx, PYTHON, ['pingpong', s.pyPingPong, s.reps]),
  )
  return {
    scenario: 'Condition ping-pong, 2 workers (handoffs/s)',
    unit: 'handoffs/s',
    tandem,
    baselineName: 'CPython threading.Condition, 2 threads',
    baseline,
    target: 5,
    idleBefore,
  }
}

async function acquireAsync(ctx: BenchContext): Promise<Row> {
  const s = sizes(ctx.quick)
  ctx.log(`Lock.acquireAsync: main thread, ${s.rounds} x ${s.reps} runs of ${s.async}; async-mutex ${s.asyncMutex}`)
  const lock = new Lock()
  const mutex = new Mutex()
  const { tandem, baseline, idleBefore } = await alternate(
    s.rounds,
    () =>
      timeRuns(s.reps, 1, s.async, async () => {
        for (let i = 0; i < s.async; i++) {
          await lock.acquireAsync()
          lock.release()
        }
      }),
    () =>
      timeRuns(s.reps, 1, s.asyncMutex, async () => {
        for (let i = 0; i < s.asyncMutex; i++) {
          const release = await mutex.acquire()
          release()
        }
      }),
  )
  return {
    scenario: 'Lock.acquireAsync+release, main thread, uncontended',
    unit: 'ops/s',
    tandem,
    baselineName: 'async-mutex 0.5.0 Mutex.acquire+release',
    baseline,
    target: 1,
    idleBefore,
  }
}

const range = (xs: readonly number[]): string => `${Math.min(...xs).toLocaleString('en')}-${Math.max(...xs).toLocaleString('en')}`

const scenario: Scenario = {
  title: '@tandem/sync primitives',
  async run(ctx) {
    const s = sizes(ctx.quick)
    const rows: Row[] = []
    const counterSizes: number[] = []
    const pingPongSizes: number[] = []
    rows.push(await uncontended(ctx, 'Lock'))
    rows.push(await uncontended(ctx, 'RLock'))
    rows.push(await counter(ctx, counterSizes))
    rows.push(await pingPong(ctx, pingPongSizes))
    rows.push(await acquireAsync(ctx))
    return {
      rows,
      notes: [
        `Runs: every measurement is ${s.rounds} rounds alternating Tandem and its baseline, each round a warm-up then ${s.reps} timed runs, so ${s.rounds * s.reps} runs per side; the table shows the best run of each side.`,
        "Worker scenarios run in Tandem Threads (`moduleRef` targets in `bench/sync-workers.ts`), a fresh set per round; each worker times its own loop, so worker start-up is excluded. Multi-worker rates are total operations over the span from the first thread's start to the last thread's end; the threads of a run start together.",
        `Uncontended: ${s.uncontended.toLocaleString('en')} acquire+release pairs per run in Tandem, ${s.pyUncontended.toLocaleString('en')} in CPython (\`lock.acquire(); lock.release()\` in a loop).`,
        `Counter: 2 workers increment a plain shared Int32Array slot under one Lock (the final count is checked), ${range(counterSizes)} increments per worker per run in this report; CPython 2 threads x ${s.pyCounter.toLocaleString('en')} increments of a list item under one \`threading.Lock\`.`,
        `Ping-pong: 2 workers pass a turn back and forth over one Condition (default RLock) with the loop: acquire, \`while (turn !== me) wait()\`, pass the turn, \`notify()\`, release; ${range(pingPongSizes)} handoffs per run in this report. CPython runs the same loop, ${(2 * s.pyPingPong).toLocaleString('en')} handoffs per run.`,
        `The two-worker Tandem runs size themselves (from the previous run's rate) to last about ${s.repMs} ms each, since their rate ranges from thousands to millions per second depending on whether both workers get a core.`,
        `acquireAsync: \`await lock.acquireAsync(); lock.release()\` on the main thread, ${s.async.toLocaleString('en')} per run, against async-mutex's \`const release = await mutex.acquire(); release()\`, ${s.asyncMutex.toLocaleString('en')} per run.`,
        'CPython runs as a child process (`python3 -c`, script inline in `bench/sync.bench.ts`) with the same structure: warm-up, timed runs, threads of a run released together by a `threading.Barrier` and timed inside the threads.',
      ],
    }
  },
}

export default scenario
