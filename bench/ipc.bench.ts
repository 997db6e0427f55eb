/**
 * `pnpm bench ipc`: `@tandem/ipc`'s process half (Pipe between processes, process Queue, Process
 * start-up) against CPython's `multiprocessing`, and the thread Pipe against raw `postMessage`,
 * each baseline measured in the same run.
 *
 * The process scenarios run in a driver process of their own (`ipc-driver.mjs`, with its child
 * targets in `ipc-child.mjs`), so that it can be placed with `taskset`: same core (`taskset -c 0`
 * for the whole pair) or different cores (the parent under `taskset -c 0`, the child pinning
 * itself to CPU 1). The CPython script below is placed the same way. Without `taskset` the pairs
 * run unpinned. The thread Pipe row runs in this process (`ipc-workers.ts`).
 *
 * The `SyncManager` scenarios run in a driver of their own too (`manager-driver.mjs`, children in
 * `manager-child.mjs`), against CPython's `multiprocessing.Manager()` (the `PYTHON_MANAGER` script
 * below), placed alike on both sides: the manager's server on core 0 and the client processes on
 * core 1 (the rows with targets), and unpinned (information: there the server is a third or
 * fourth process on the 2 cores, and where the scheduler puts them swings CPython's rate 2x).
 *
 * @module
 */
import { execFile } from 'node:child_process'
import { statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { Pipe } from '@tandem/ipc/pipe'
import { POST_MESSAGE_WORKER } from './queue-workers.ts'
import { CONTROL_WORDS, REP_MS, SIZE } from './sync-workers.ts'
import { rate, rounds, runThreads, sharedFloats, sharedInts, type BenchContext, type Rate, type Row, type Scenario, type Skipped } from './lib.ts'

const DRIVER = fileURLToPath(new URL('./ipc-driver.mjs', import.meta.url))
const MANAGER_DRIVER = fileURLToPath(new URL('./manager-driver.mjs', import.meta.url))
const WORKERS = new URL('./ipc-workers.ts', import.meta.url)
const IPC_PACKAGE = new URL('../packages/ipc/', import.meta.url)

/** Sizes: rounds of (Tandem, baselines), timed repetitions per side and round, target duration of one. */
function sizes(quick: boolean) {
  return quick
    ? { rounds: 1, reps: 2, repMs: 30, rtWarmup: 1_000, owWarmup: 2_000, mgrWarmup: 500, startReps: 2, sparePauseMs: 500 }
    : { rounds: 3, reps: 3, repMs: 250, rtWarmup: 5_000, owWarmup: 50_000, mgrWarmup: 2_000, startReps: 5, sparePauseMs: 1_000 }
}

/** Where the two processes of a pair run. */
interface Placement {
  readonly name: string
  /** Prefix of the parent's command line, e.g. `taskset -c 0`. */
  readonly prefix: readonly string[]
  /** CPU the child pins itself to, -1 for none (it inherits the parent's placement). */
  readonly childCpu: number
}

const SAME: Placement = { name: 'same core', prefix: ['taskset', '-c', '0'], childCpu: -1 }
const DIFFERENT: Placement = { name: 'different cores', prefix: ['taskset', '-c', '0'], childCpu: 1 }
const UNPINNED: Placement = { name: 'unpinned', prefix: [], childCpu: -1 }

function run(file: string, args: readonly string[], timeoutMs: number, env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 1 << 20, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.slice(0, 6).join(' ')} ...: ${err.message}\n${stderr}`))
      else resolve({ stdout, stderr })
    })
  })
}

function lastJson(out: string): unknown {
  const lines = out.trim().split('\n')
  return JSON.parse(lines[lines.length - 1]!)
}

/** Whether `taskset` runs here and there are at least 2 CPUs to place on. */
async function tasksetWorks(): Promise<boolean> {
  try {
    await run('taskset', ['-c', '0,1', 'true'], 10_000)
    return true
  } catch {
    return false
  }
}

/** Rates of the driver's sync and async forms. */
interface DriverRuns {
  sync: number[]
  async: number[]
  /** The served child's exit code (0 expected). */
  childExit: number | null
}

/** Driver runs whose child exited with a code other than 0 after serving every message. */
const childFailures: string[] = []

/**
 * Runs `ipc-driver.mjs` once: under tsx against the sources (as `pnpm bench` runs), or with plain
 * `node` against `dist/` (`dist` true); `cold`: without the spare child Tandem starts ahead of
 * need (`TANDEM_NO_SPARE=1`), so that every `start()` launches a new node.
 */
async function driverRuns(mode: string, placement: Placement, n0: number, reps: number, repMs: number, dist = false, cold = false): Promise<DriverRuns> {
  const node = [process.execPath, ...(dist ? [] : ['--import=tsx', '--conditions=@tandem/source']), DRIVER]
  const cmd = [...placement.prefix, ...node, mode, String(placement.childCpu), String(n0), String(reps), String(repMs)]
  const { stdout, stderr } = await run(cmd[0]!, cmd.slice(1), 180_000, cold ? { TANDEM_NO_SPARE: '1' } : {})
  const out = lastJson(stdout) as DriverRuns
  if (!Array.isArray(out.sync) || !Array.isArray(out.async)) throw new Error(`ipc-driver printed ${JSON.stringify(out)}`)
  if (out.childExit !== 0) {
    const error = stderr.split('\n').find((l) => /Error/.test(l)) ?? 'no error on stderr'
    childFailures.push(`${mode}, ${placement.name}${dist ? ', dist' : ''}: exit code ${out.childExit} (${error.trim()})`)
  }
  return out
}

// CPython baseline: `mode child_cpu n0 reps rep_ms` -> JSON list of rates, the same shape as
// ipc-driver.mjs: one child (fork start method: the targets live in this -c script) pinned to
// child_cpu unless -1, serving commands over a multiprocessing.Pipe: 'rt' echoes n messages
// (round trips: the parent sends i then recv()s), 'ow' sends the ints 0..n-1 then None, 'q' puts
// them on a multiprocessing.Queue() made by the parent; the parent checks the sum. A warm-up
// repetition of n0, then reps timed ones each sized from the previous rate to last about rep_ms.
// Modes 'spawn' and 'fork': Process(target=first, args=(conn,)).start() until the parent recv()s
// the child's first message, reps + 1 times (the first a warm-up); rate = 1 / time. `first` lives
// in a module written to a temporary directory, since a spawned child cannot import this -c
// script's functions (spawn passes sys.path on, so the child finds it).
const PYTHON = String.raw`
import json, os, shutil, sys, tempfile, time, multiprocessing as mp
mode, child_cpu, n0, reps, rep_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
perf = time.perf_counter

def serve(conn, q):
    if child_cpu >= 0: os.sched_setaffinity(0, {child_cpu})
    recv, send = conn.recv, conn.send
    send('ready')
    while True:
        cmd = recv()
        if cmd is None: break
        what, n = cmd
        if what == 'rt':
            for _ in range(n): send(recv())
        elif what == 'ow':
            for i in range(n): send(i)
            send(None)
        else:
            put = q.put
            for i in range(n): put(i)
            put(None)
    conn.close()

def measure(conn, q, what, n):
    recv, send = conn.recv, conn.send
    total = 0
    if what == 'rt':
        send((what, n))
        t0 = perf()
        for i in range(n):
            send(i)
            total += recv()
    else:
        get = recv if what == 'ow' else q.get
        t0 = perf()
        send((what, n))
        while True:
            x = get()
            if x is None: break
            total += x
    t1 = perf()
    if total != n * (n - 1) // 2: raise SystemExit('%s: id sum %d for %d messages' % (what, total, n))
    return n / (t1 - t0)

def throughput(what):
    ctx = mp.get_context('fork')
    parent, child = ctx.Pipe()
    q = ctx.Queue() if what == 'q' else None
    p = ctx.Process(target=serve, args=(child, q), daemon=True)
    p.start()
    if parent.recv() != 'ready': raise SystemExit('the child did not start')
    n = n0
    rate = measure(parent, q, what, n)
    out = []
    for _ in range(reps):
        n = max(1000, min(n * 20, int(rate * rep_ms / 1000)))
        rate = measure(parent, q, what, n)
        out.append(rate)
    parent.send(None)
    p.join()
    if p.exitcode != 0: raise SystemExit('the child exited with %s' % p.exitcode)
    return out

def start(method):
    ctx = mp.get_context(method)
    d = tempfile.mkdtemp()
    try:
        with open(os.path.join(d, 'tandem_bench_ipc_child.py'), 'w') as f:
            f.write('def first(conn):\n    conn.send("ready")\n    conn.close()\n')
        sys.path.insert(0, d)
        from tandem_bench_ipc_child import first
        out = []
        for k in range(reps + 1):
            a, b = ctx.Pipe(False)
            t0 = perf()
            p = ctx.Process(target=first, args=(b,), daemon=True)
            p.start()
            got = a.recv()
            t1 = perf()
            if got != 'ready': raise SystemExit('first message %r' % (got,))
            p.join()
            a.close()
            b.close()
            if k > 0: out.append(1 / (t1 - t0))
        return out
    finally:
        shutil.rmtree(d, ignore_errors=True)

print(json.dumps(start(mode) if mode in ('spawn', 'fork') else throughput(mode)))
`

/** Runs the CPython script under `placement`; skipped without python. */
async function pythonRuns(ctx: BenchContext, placement: Placement, args: readonly (string | number)[]): Promise<number[] | Skipped> {
  if (ctx.python.version === undefined) return { skipped: `${ctx.python.executable} not found` }
  const cmd = [...placement.prefix, ctx.python.executable, '-c', PYTHON, args[0]!, placement.childCpu, ...args.slice(1)].map(String)
  const runs = lastJson((await run(cmd[0]!, cmd.slice(1), 180_000)).stdout)
  if (!Array.isArray(runs) || runs.length === 0 || runs.some((r) => typeof r !== 'number')) throw new Error(`CPython baseline printed ${JSON.stringify(runs)}`)
  return runs as number[]
}

const MODES = {
  rt: {
    title: 'Pipe round trip, parent main thread <-> child process',
    unit: 'round trips/s',
    tandem: 'blocking `send` + `recv`',
    async: '`send` + `await recvAsync()`',
    python: 'CPython multiprocessing.Pipe',
    target: 2,
  },
  ow: {
    title: 'Pipe one way, child process -> parent, small ints',
    unit: 'msgs/s',
    tandem: 'blocking `recv`',
    async: '`await recvAsync()`',
    python: 'CPython multiprocessing.Pipe',
    target: 3,
  },
  q: {
    title: 'process Queue() SPSC, child process puts, parent gets, small ints',
    unit: 'items/s',
    tandem: 'blocking `get`',
    async: '`await getAsync()`',
    python: 'CPython multiprocessing.Queue()',
    target: 3,
  },
} as const
type Mode = keyof typeof MODES

/** Rows of one mode and placement: the blocking form and the async form against CPython's blocking form. */
async function processRows(ctx: BenchContext, mode: Mode, placement: Placement): Promise<Row[]> {
  const s = sizes(ctx.quick)
  const m = MODES[mode]
  const n0 = mode === 'rt' ? s.rtWarmup : s.owWarmup
  ctx.log(`${m.title}, ${placement.name}: ${s.rounds} rounds x ${s.reps} runs of ~${s.repMs} ms per side (blocking, async, CPython)`)
  const asyncRuns: number[] = []
  const measured = await rounds(s.rounds, async () => {
    const out = await driverRuns(mode, placement, n0, s.reps, s.repMs)
    asyncRuns.push(...out.async)
    return out.sync
  }, [() => pythonRuns(ctx, placement, [mode, n0, s.reps, s.repMs])])
  const common = { unit: m.unit, baselineName: `${m.python}, ${placement.name}`, baseline: measured.baselines[0]!, idleBefore: measured.idleBefore }
  return [
    { scenario: `${m.title}, ${placement.name}: ${m.tandem}`, tandem: measured.tandem, target: m.target, ...common },
    { scenario: `${m.title}, ${placement.name}: ${m.async} (async form)`, tandem: rate(asyncRuns), target: 1, ...common },
  ]
}

// ---- SyncManager ---------------------------------------------------------------------------------

// CPython baseline of the manager rows: `mode cpu n0 reps rep_ms` -> JSON list of rates, the same
// shape as manager-driver.mjs: a multiprocessing Manager() (fork context: its server and the
// children are forked, the children's targets live in this -c script), children given the proxy
// and one end of a command Pipe, each command a size n answered when the child's loop is done.
// 'dict': 2 children, d[key] = i for i in range(n) on their own key of one Manager().dict() (the
// parent sets both keys to -1 first, then checks n-1 in each, 2 keys, n sets answered); 'lock':
// 1 child, n times acquire() + release() on a Manager().Lock() (checks n acquires and that the
// lock is free afterwards); 'queue': a consumer child get()s from a Manager().Queue() until None
// while a producer child puts range(n) then None (checks the count, the id sum and an empty
// queue). Timed in the parent from sending the command until every child answered; a warm-up
// repetition of n0, then reps timed ones each sized from the previous rate to last about rep_ms.
// Placement as manager-driver.mjs': the children pin themselves to cpu when it is >= 0 (the
// script then runs under taskset -c 0, and the manager's server inherits core 0).
const PYTHON_MANAGER = String.raw`
import json, sys, time, multiprocessing as mp
import os
mode, cpu, n0, reps, rep_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
perf = time.perf_counter

def serve(conn, body):
    if cpu >= 0: os.sched_setaffinity(0, {cpu})
    conn.send('ready')
    while True:
        n = conn.recv()
        if n is None: break
        conn.send(body(n))
    conn.close()

def setter(conn, d, key):
    def body(n):
        for i in range(n): d[key] = i
        return n
    serve(conn, body)

def locker(conn, lock):
    acquire, release = lock.acquire, lock.release
    def body(n):
        acquired = 0
        for _ in range(n):
            if acquire(): acquired += 1
            release()
        return acquired
    serve(conn, body)

def producer(conn, q):
    put = q.put
    def body(n):
        for i in range(n): put(i)
        put(None)
        return n
    serve(conn, body)

def consumer(conn, q):
    get = q.get
    def body(n):
        count = total = 0
        while True:
            x = get()
            if x is None: break
            count += 1
            total += x
        return [count, total]
    serve(conn, body)

def main():
    ctx = mp.get_context('fork')
    manager = ctx.Manager()
    children = []
    def child(target, *args):
        parent, end = ctx.Pipe()
        p = ctx.Process(target=target, args=(end,) + args, daemon=True)
        p.start()
        end.close()
        children.append((parent, p))
    def timed(n, ops):
        t0 = perf()
        for c, _ in children: c.send(n)
        answers = [c.recv() for c, _ in children]
        return ops / (perf() - t0), answers
    if mode == 'dict':
        d = manager.dict()
        keys = ['k0', 'k1']
        for key in keys: child(setter, d, key)
        def measure(n):
            for key in keys: d[key] = -1
            rate, answers = timed(n, 2 * n)
            got = [d[key] for key in keys]
            if any(a != n for a in answers) or any(v != n - 1 for v in got) or len(d) != len(keys):
                raise SystemExit('dict: %d sets per child: the children answered %r, the keys hold %r, %d keys' % (n, answers, got, len(d)))
            return rate
    elif mode == 'lock':
        lock = manager.Lock()
        child(locker, lock)
        def measure(n):
            rate, answers = timed(n, n)
            if answers[0] != n: raise SystemExit('lock: %r of %d acquires succeeded' % (answers[0], n))
            if not lock.acquire(False): raise SystemExit('lock: still held after the run')
            lock.release()
            return rate
    else:
        q = manager.Queue()
        child(consumer, q)
        child(producer, q)
        def measure(n):
            rate, answers = timed(n, n)
            count, total = answers[0]
            left = q.qsize()
            if count != n or total != n * (n - 1) // 2 or answers[1] != n or left != 0:
                raise SystemExit('queue: received %d items (id sum %d), expected %d; the producer answered %r; %d left on the queue' % (count, total, n, answers[1], left))
            return rate
    for c, _ in children:
        if c.recv() != 'ready': raise SystemExit('a child did not start')
    n = n0
    rate = measure(n)
    out = []
    for _ in range(reps):
        n = max(1000, min(n * 20, int(rate * rep_ms / 1000)))
        rate = measure(n)
        out.append(rate)
    for c, _ in children: c.send(None)
    for _, p in children:
        p.join()
        if p.exitcode != 0: raise SystemExit('a child exited with %s' % p.exitcode)
    manager.shutdown()
    return out

print(json.dumps(main()))
`

const MANAGER_MODES = {
  dict: {
    title: 'manager dict set, 2 child processes at once, each on its own key',
    unit: 'sets/s',
    tandem: 'blocking `d.set(key, i)`',
    python: 'CPython Manager().dict(), `d[key] = i`',
  },
  lock: {
    title: 'manager Lock acquire+release round trip, from a child process',
    unit: 'pairs/s',
    tandem: 'blocking `acquire()` + `release()`',
    python: 'CPython Manager().Lock()',
  },
  queue: {
    title: 'manager Queue put/get, child process -> child process, small ints',
    unit: 'items/s',
    tandem: 'blocking `put` / `get`',
    python: 'CPython Manager().Queue()',
  },
} as const
type ManagerMode = keyof typeof MANAGER_MODES

/**
 * Where a manager scenario runs: unpinned, or the manager's server on core 0 and the client
 * processes on core 1 (both sides alike; the parent only waits while a repetition runs).
 */
interface ManagerPlacement {
  readonly name: string
  readonly prefix: readonly string[]
  /** CPU the client processes pin themselves to, -1 for none. */
  readonly childCpu: number
  /** The rows' target (0: information only). */
  readonly target: number
}

/**
 * Unpinned, the comparison is a draw of the scheduler's: CPython's Manager() makes 35-40 k dict
 * sets/s in most runs and 80-90 k in some, by where its processes land (its server has a thread
 * per client), and a best-of-9 takes the lucky one. The rows that carry the targets fix the
 * placement on both sides.
 */
const MANAGER_UNPINNED: ManagerPlacement = { name: 'unpinned', prefix: [], childCpu: -1, target: 0 }
const MANAGER_SPLIT: ManagerPlacement = { name: 'server on core 0, clients on core 1', prefix: ['taskset', '-c', '0'], childCpu: 1, target: 2 }

/** Runs `manager-driver.mjs` once (under tsx, against the sources); the timed rates. */
async function managerDriverRuns(mode: ManagerMode, placement: ManagerPlacement, n0: number, reps: number, repMs: number): Promise<number[]> {
  const cmd = [
    ...placement.prefix,
    process.execPath,
    '--import=tsx',
    '--conditions=@tandem/source',
    MANAGER_DRIVER,
    mode,
    String(placement.childCpu),
    String(n0),
    String(reps),
    String(repMs),
  ]
  // No spare child (hub.ts): one would boot in the background (a second of CPU under tsx) while
  // the first repetitions run, right after the driver starts its children.
  const { stdout, stderr } = await run(cmd[0]!, cmd.slice(1), 180_000, { TANDEM_NO_SPARE: '1' })
  const out = lastJson(stdout) as { sync?: unknown; childExits?: unknown }
  if (!Array.isArray(out.sync) || out.sync.length === 0 || out.sync.some((r) => typeof r !== 'number') || !Array.isArray(out.childExits)) {
    throw new Error(`manager-driver printed ${JSON.stringify(out)}`)
  }
  if (out.childExits.some((c) => c !== 0)) {
    const error = stderr.split('\n').find((l) => /Error/.test(l)) ?? 'no error on stderr'
    childFailures.push(`manager ${mode}, ${placement.name}: exit codes ${JSON.stringify(out.childExits)} (${error.trim()})`)
  }
  return out.sync as number[]
}

/** Runs the CPython manager script; skipped without python. */
async function managerPythonRuns(ctx: BenchContext, placement: ManagerPlacement, args: readonly (string | number)[]): Promise<number[] | Skipped> {
  if (ctx.python.version === undefined) return { skipped: `${ctx.python.executable} not found` }
  const cmd = [...placement.prefix, ctx.python.executable, '-c', PYTHON_MANAGER, args[0]!, placement.childCpu, ...args.slice(1)].map(String)
  const runs = lastJson((await run(cmd[0]!, cmd.slice(1), 180_000)).stdout)
  if (!Array.isArray(runs) || runs.length === 0 || runs.some((r) => typeof r !== 'number')) throw new Error(`CPython manager baseline printed ${JSON.stringify(runs)}`)
  return runs as number[]
}

/** The row of one manager mode and placement: Tandem's blocking proxies against CPython's Manager(). */
async function managerRow(ctx: BenchContext, mode: ManagerMode, placement: ManagerPlacement): Promise<Row> {
  const s = sizes(ctx.quick)
  const m = MANAGER_MODES[mode]
  const title = `${m.title}, ${placement.name}${placement.target === 0 ? ' (info)' : ''}`
  ctx.log(`${title}: ${s.rounds} rounds x ${s.reps} runs of ~${s.repMs} ms per side (Tandem SyncManager, CPython Manager())`)
  const measured = await rounds(s.rounds, () => managerDriverRuns(mode, placement, s.mgrWarmup, s.reps, s.repMs), [
    () => managerPythonRuns(ctx, placement, [mode, s.mgrWarmup, s.reps, s.repMs]),
  ])
  return {
    scenario: `${title}: ${m.tandem}`,
    unit: m.unit,
    tandem: measured.tandem,
    baselineName: `${m.python}, ${placement.name}`,
    baseline: measured.baselines[0]!,
    target: placement.target,
    idleBefore: measured.idleBefore,
  }
}

/** Waits for a raw worker to exit cleanly. */
function exited(w: Worker, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    w.once('error', reject)
    w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${what} worker exited with code ${code}`))))
  })
}

/** Rates of the timed repetitions (the first is a warm-up) of a two-party run. */
function spanRates(times: Float64Array, counts: number[]): number[] {
  const out: number[] = []
  for (let r = 1; r < counts.length; r++) {
    const start = Math.min(times[r * 4]!, times[r * 4 + 2]!)
    const end = Math.max(times[r * 4 + 1]!, times[r * 4 + 3]!)
    out.push((counts[r]! * 1000) / (end - start))
  }
  return out
}

/** Throws unless every repetition received `n` items with the id sum n(n-1)/2. */
function checkCounts(what: string, stats: Float64Array, expected: number[]): void {
  for (let r = 0; r < expected.length; r++) {
    const n = expected[r]!
    if (stats[r * 2] !== n || stats[r * 2 + 1] !== (n * (n - 1)) / 2) {
      throw new Error(`${what}, repetition ${r}: received ${stats[r * 2]} items (id sum ${stats[r * 2 + 1]}), expected ${n} (id sum ${(n * (n - 1)) / 2})`)
    }
  }
}

function control(warmup: number, repMs: number): Int32Array {
  const ctl = sharedInts(CONTROL_WORDS)
  ctl[SIZE] = warmup
  ctl[REP_MS] = repMs
  return ctl
}

/** Thread Pipe one way: two Tandem Threads, one `Pipe()`; rates of the timed repetitions. */
async function threadPipeRuns(ctx: BenchContext, sized: number[]): Promise<number[]> {
  const s = sizes(ctx.quick)
  const reps = s.reps + 1
  const [a, b] = Pipe()
  const ctl = control(s.owWarmup, s.repMs)
  const repSizes = sharedInts(reps)
  repSizes[0] = s.owWarmup
  const times = sharedFloats(reps * 4)
  const stats = sharedFloats(reps * 2)
  await runThreads(
    WORKERS,
    'pipeParty',
    [0, 1].map((k) => [k, k === 0 ? a : b, ctl, repSizes, times, stats]),
    120_000,
  )
  const counts = Array.from(repSizes)
  checkCounts('Tandem thread Pipe', stats, counts)
  sized.push(...counts.slice(1))
  return spanRates(times, counts)
}

/** Raw postMessage one way between two plain worker threads (the queue bench's worker, ints). */
async function postMessageRuns(ctx: BenchContext, sized: number[]): Promise<number[]> {
  const s = sizes(ctx.quick)
  const reps = s.reps + 1
  const ctl = control(s.owWarmup, s.repMs)
  const times = sharedFloats(reps * 4)
  const stats = sharedFloats(reps * 2)
  const { port1, port2 } = new MessageChannel()
  const common = { kind: 'int', ctl, reps, times, stats }
  const producer = new Worker(POST_MESSAGE_WORKER, { eval: true, workerData: { ...common, role: 'producer', port: port1 }, transferList: [port1] })
  const consumer = new Worker(POST_MESSAGE_WORKER, { eval: true, workerData: { ...common, role: 'consumer', port: port2 }, transferList: [port2] })
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('postMessage baseline still running after 120 s')), 120_000)
  })
  try {
    await Promise.race([Promise.all([exited(producer, 'postMessage producer'), exited(consumer, 'postMessage consumer')]), timeout])
  } finally {
    clearTimeout(timer)
    await Promise.all([producer.terminate(), consumer.terminate()])
  }
  const counts = Array.from({ length: reps }, (_, r) => stats[r * 2]!)
  checkCounts('postMessage', stats, counts)
  sized.push(...counts.slice(1))
  return spanRates(times, counts)
}

/** Whether `packages/ipc/dist` is built and no older than the sources it compiles. */
function distState(): string | undefined {
  const files = ['pipe', 'process', 'queue', 'internal/hub', 'internal/child-main']
  for (const f of files) {
    let dist: number
    try {
      dist = statSync(new URL(`dist/${f}.js`, IPC_PACKAGE)).mtimeMs
    } catch {
      return `packages/ipc/dist/${f}.js missing: run pnpm build`
    }
    if (statSync(new URL(`src/${f}.ts`, IPC_PACKAGE)).mtimeMs > dist) return `packages/ipc/dist/${f}.js older than its source: run pnpm build`
  }
  return undefined
}

const ms = (r: Rate | Skipped): string => ('best' in r ? `${(1000 / r.best).toFixed(1)} ms (median ${(1000 / r.median).toFixed(1)} ms)` : r.skipped)

const scenario: Scenario = {
  title: '@tandem/ipc: Pipe, process Queue, Process start-up and SyncManager',
  async run(ctx) {
    const s = sizes(ctx.quick)
    childFailures.length = 0
    const pinned = await tasksetWorks()
    const placements = pinned ? [SAME, DIFFERENT] : [UNPINNED]
    const rows: Row[] = []
    const asyncRows: Row[] = []
    for (const mode of Object.keys(MODES) as Mode[]) {
      for (const placement of placements) {
        const [blocking, async] = await processRows(ctx, mode, placement)
        rows.push(blocking!)
        asyncRows.push(async!)
      }
    }
    rows.push(...asyncRows)

    ctx.log(`Thread Pipe one way: 2 Tandem Threads vs raw postMessage between 2 worker threads, ${s.rounds} rounds x ${s.reps} runs of ~${s.repMs} ms`)
    const pipeSized: number[] = []
    const postSized: number[] = []
    const threads = await rounds(s.rounds, () => threadPipeRuns(ctx, pipeSized), [() => postMessageRuns(ctx, postSized)])
    rows.push({
      scenario: 'thread Pipe one way, worker thread -> worker thread, small ints',
      unit: 'msgs/s',
      tandem: threads.tandem,
      baselineName: 'raw postMessage over a MessageChannel',
      baseline: threads.baselines[0]!,
      target: 2,
      idleBefore: threads.idleBefore,
    })

    const dist = distState()
    ctx.log(
      `Process start to first message: ${s.rounds} rounds x ${s.startReps} starts per side (Tandem sources with and without the spare child, CPython spawn and fork, Tandem dist with and without the spare${dist === undefined ? '' : `: skipped, ${dist}`})`,
    )
    const startRuns = (compiled: boolean, cold: boolean) => async (): Promise<number[] | Skipped> =>
      compiled && dist !== undefined ? { skipped: dist } : (await driverRuns('start', UNPINNED, 0, s.startReps, cold ? 0 : s.sparePauseMs, compiled, cold)).sync
    const start = await rounds(s.rounds, async () => (await driverRuns('start', UNPINNED, 0, s.startReps, s.sparePauseMs)).sync, [
      startRuns(false, true),
      () => pythonRuns(ctx, UNPINNED, ['spawn', 0, s.startReps, 0]),
      () => pythonRuns(ctx, UNPINNED, ['fork', 0, s.startReps, 0]),
      startRuns(true, false),
      startRuns(true, true),
    ])
    const [tsxCold, spawn, fork, distWarm, distCold] = start.baselines as [Rate | Skipped, Rate | Skipped, Rate | Skipped, Rate | Skipped, Rate | Skipped]
    const startCommon = { unit: 'starts/s', idleBefore: start.idleBefore }
    const startRow = (what: string, tandem: Rate | Skipped, baselineName: string, baseline: Rate | Skipped, target: number): Row[] =>
      'best' in tandem
        ? [{ scenario: `Process start to first message over a Pipe, ${what}${target === 0 ? ' (info)' : ''}`, tandem, baselineName, baseline, target, ...startCommon }]
        : []
    rows.push(
      ...startRow('tsx + sources, spare child ready', start.tandem, 'CPython spawn', spawn, 1),
      ...startRow('tsx + sources, spare child ready', start.tandem, 'CPython fork', fork, 0),
      ...startRow('tsx + sources, no spare (a new node per start)', tsxCold, 'CPython spawn', spawn, 0),
      ...startRow('plain node + dist, spare child ready', distWarm, 'CPython spawn', spawn, 0),
      ...startRow('plain node + dist, spare child ready', distWarm, 'CPython fork', fork, 0),
      ...startRow('plain node + dist, no spare (a new node per start)', distCold, 'CPython spawn', spawn, 0),
    )

    const managerPlacements = pinned ? [MANAGER_SPLIT, MANAGER_UNPINNED] : [{ ...MANAGER_UNPINNED, target: 2 }]
    for (const mode of Object.keys(MANAGER_MODES) as ManagerMode[]) for (const placement of managerPlacements) rows.push(await managerRow(ctx, mode, placement))

    if (childFailures.length > 0) ctx.log(`WARNING: served children failed after the measurement: ${childFailures.join('; ')}`)
    const range = (xs: readonly number[]): string => (xs.length === 0 ? '-' : `${Math.min(...xs).toLocaleString('en')}-${Math.max(...xs).toLocaleString('en')}`)
    return {
      rows,
      notes: [
        `Runs: every measurement is ${s.rounds} rounds; a round is a CPU-idle sample, the Tandem side, then each baseline. A side runs a warm-up then ${s.reps} timed repetitions per round (${s.startReps} starts for the start-up rows), so ${s.rounds * s.reps} runs per side; the table shows each side's best run.`,
        `Placement (${pinned ? '`taskset` found' : '`taskset` missing or fewer than 2 CPUs: every pair ran unpinned'}): same core = the whole parent process (every thread) under \`taskset -c 0\`, its child inheriting it; different cores = the parent under \`taskset -c 0\` and the child pinning all its threads to CPU 1 once it runs (Tandem: \`taskset -a -p -c 1 <pid>\` from the child target; CPython: \`os.sched_setaffinity(0, {1})\` in the forked child). Tandem's processes each have an I/O thread (the hub) besides the main thread; it is placed with its process.`,
        `Process pairs: the parent side is \`bench/ipc-driver.mjs\`, run as its own process (\`node --import=tsx --conditions=@tandem/source\`, as \`pnpm bench\` runs), with one Tandem \`Process\` whose target is \`serve\` in \`bench/ipc-child.mjs\` (a \`moduleRef\`), given one end of a \`Pipe()\` (and the \`Queue()\`). The child is started once per driver run (start-up is not timed) and serves commands: round trips (the parent sends i, then receives the echo), one way (the child sends the ints 0..n-1 then null; the parent receives until null), queue (the child puts the same on the process \`Queue()\` the parent created, unbounded as CPython's default; the parent gets). The parent times each repetition on its main thread and checks the id sum. Repetitions size themselves from the previous rate to last about ${s.repMs} ms (warm-up ${s.rtWarmup.toLocaleString('en')} round trips or ${s.owWarmup.toLocaleString('en')} messages). The async rows are the same driver run right after the blocking repetitions, with \`await conn.recvAsync()\` / \`await q.getAsync()\` on the parent's main thread (the child unchanged), against the same CPython runs (blocking \`recv\`/\`get\`).`,
        `CPython: a child process (\`python3 -c\`, the script inline in \`bench/ipc.bench.ts\`) with the same shape under the same placement: the fork start method for the throughput rows (the child's target lives in the -c script), \`multiprocessing.Pipe()\` and \`multiprocessing.Queue()\`, bound \`send\`/\`recv\`/\`put\`/\`get\`, the same sizing and sum check.`,
        `Thread Pipe: two Tandem Threads (\`pipeParty\` in \`bench/ipc-workers.ts\`) on the two ends of one \`Pipe()\`, the first sending the ints 0..n-1 and a null, the second receiving; rate = messages over the span from the first start to the last end, the threads of a repetition released together. Baseline: raw \`port.postMessage(i)\` between two plain worker threads over a \`MessageChannel\`, received with a \`message\` listener (the worker source \`POST_MESSAGE_WORKER\` of \`bench/queue-workers.ts\`). Messages per repetition: Pipe ${range(pipeSized)}, postMessage ${range(postSized)}.`,
        `Start-up: the time from \`new Process({ target, args: [end] })\` + \`start()\` until the parent's \`recv()\` returns the child's first message (a \`Pipe(false)\`; the target \`first\` in \`bench/ipc-child.mjs\`, a \`moduleRef\`), unpinned; rate = 1 / that time, so ratio = CPython time / Tandem time. Best (median) times: Tandem tsx + sources ${ms(start.tandem)} with the spare child, ${ms(tsxCold)} without; plain node + dist ${ms(distWarm)} with the spare, ${ms(distCold)} without; CPython spawn ${ms(spawn)}; CPython fork ${ms(fork)}. Tandem keeps one spare child started ahead of need (it has loaded Node and Tandem and waits for its boot record; launched right after each start, like CPython's forkserver), so every start but the first of a program, when the spare has had time to boot, costs a message instead of a Node start-up (the spare rows pause ${s.sparePauseMs} ms, untimed, before each start so that the spare is ready); the no-spare rows (\`TANDEM_NO_SPARE=1\`) show the cost of a new node, which the first \`start()\` of a program, and any start right after another one, pays. The tsx rows are how \`pnpm bench\` and the tests run (every child loads tsx and transpiles the sources); the dist rows run the same driver with plain \`node\` against \`packages/ipc/dist\` (built by \`pnpm build\`), as an installed package runs. CPython's spawn child imports its target from a module written to a temporary directory; fork is shown for information (Node has no fork).`,
        `SyncManager: the parent side is \`bench/manager-driver.mjs\`, run as its own process like \`ipc-driver.mjs\` (tsx + sources), **unpinned** (the machine has 2 cores and the manager's server is a process of its own besides the parent and the children, so no same-core / different-cores placement is comparable; CPython unpinned too). It starts a \`Manager()\` and one or two Tandem \`Process\`es (targets in \`bench/manager-child.mjs\`, \`moduleRef\`s) given the proxy and one end of a command \`Pipe()\`; manager and children are started once per driver run (not timed). A command is a size n; a repetition is timed on the parent's main thread from sending it to every child until every child has answered. Dict: 2 children at once, each \`d.set(key, i)\` for i in 0..n-1 on its own key of one \`manager.dict()\`; rate = 2n sets / time; checked: each key holds n-1 (the parent set both to -1 first), the dict has 2 keys, each child made n sets. Lock: 1 child, n times \`lock.acquire(); lock.release()\` on a \`manager.Lock()\`; rate = pairs / time; checked: n acquires returned true, the lock is free afterwards. Queue: a consumer child \`get()\`s from a \`manager.Queue()\` (unbounded) until null while a producer child puts the ints 0..n-1 then null; rate = n / time; checked: count n, id sum n(n-1)/2, the queue empty afterwards. Every call is a blocking proxy method (one request and its answer to the server). Warm-up ${s.mgrWarmup.toLocaleString('en')} operations per child, then repetitions sized from the previous rate to last about ${s.repMs} ms. CPython: the \`PYTHON_MANAGER\` script inline in \`bench/ipc.bench.ts\`, same shape with the fork start method (\`multiprocessing.get_context('fork').Manager()\`: its server and the children are forked; \`d[key] = i\`, bound \`lock.acquire\`/\`release\`, \`q.put\`/\`q.get\`), the same sizing and checks.`,
        ...(childFailures.length === 0
          ? []
          : [
              `**Children that failed after serving every message** (their measurements stand: every sum was checked; the failure is a bug to fix): ${childFailures.length} of the driver runs: ${childFailures.join('; ')}.`,
            ]),
      ],
    }
  },
}

export default scenario
