/**
 * Shared helpers of the process pool suites (pool.test.ts, process-pool-executor.test.ts) and of
 * their child scripts (fixtures/pool-tasks.ts, fixtures/process-pool.ts):
 *
 * - processes: whether a pid is gone, bounded waits for pids to end, a kill sent while the main
 *   thread is blocked, the Tandem child processes of this one, and the after-hook sweep of them;
 * - the worker pids a test saw, per pool (`watch`, `track`), killed in teardown if they outlive it;
 * - gates across processes: a process `Queue` that held calls (`hold`) wait on until it opens;
 * - a call's outcome as a child script reports it (`Outcome`, `outcomeOf`).
 *
 * The fixture scripts load this module, and so do worker processes (fixtures/pool-tasks.ts is also
 * a `moduleRef` task module): it has no side effects, and it does not load _helpers.ts (which
 * replaces the Thread excepthook when loaded).
 */
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { Queue } from '../../ipc/src/queue.ts'
import { isGone, sleep, stillRunningAfter as pollGone } from '../../../test/fixtures/processes.ts'

export { isGone, sleep }

/** 60 s, the LONG of _helpers.ts (not imported from there: see above). */
const LONG = 60_000

/** Per-test bound (several Node processes start in most tests; the machine is shared). */
export const TEST_BOUND = 4 * LONG
/** Bound for a worker process to be gone after its pool let it go. */
export const GONE_BOUND = 20_000
/** How long teardown gives the worker processes a test saw before it kills them. */
export const TEARDOWN_BOUND = 10_000

// ---- processes -----------------------------------------------------------------------------------

/** Polls until every pid is gone or `bound` ms passed; returns the pids still running. */
export function stillRunningAfter(pids: Iterable<number>, bound = GONE_BOUND): Promise<number[]> {
  return pollGone(pids, bound)
}

/** SIGKILLs each pid (one already gone is passed over). */
export function killAll(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
}

/** Sends `signal` to `pid` after `ms`, from a shell of its own: it happens while this thread is blocked. */
export function killLater(pid: number, signal: 'KILL' | 'TERM', ms: number): void {
  spawn('sh', ['-c', `sleep ${ms / 1000}; kill -${signal} ${pid}`], { stdio: 'ignore' })
}

/**
 * Live child processes of this one that run the Tandem child entry: pool workers, and the one
 * spare child that `Process` keeps ready for the next start.
 */
export function tandemChildren(): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === process.pid && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('child-main') && !isGone(Number(d))) out.push(Number(d))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/**
 * For the after hook: waits (up to {@link GONE_BOUND}) until at most one Tandem child of this
 * process is left (the spare child `Process` keeps ready); if more are left then, kills them all.
 * Returns the children that were left.
 */
export async function sweepChildren(): Promise<number[]> {
  const deadline = Date.now() + GONE_BOUND
  let left = tandemChildren()
  while (left.length > 1 && Date.now() < deadline) {
    await sleep(100)
    left = tandemChildren()
  }
  if (left.length > 1) killAll(left)
  return left
}

// ---- the worker pids a test saw ------------------------------------------------------------------

/** The worker pids each pool's test has seen (killed in teardown if they outlive it). */
const seenPids = new WeakMap<object, Set<number>>()

/** Starts recording the worker pids of `pool` (a Pool or a ProcessPoolExecutor). */
export function watch(pool: object): void {
  seenPids.set(pool, new Set())
}

/** Records worker pids of `pool` (for teardown); returns the first. */
export function track(pool: object, ...pids: number[]): number {
  for (const p of pids) seenPids.get(pool)?.add(p)
  return pids[0]!
}

/** For teardown: gives the worker processes of `pool` the test saw {@link TEARDOWN_BOUND} to end, then kills those left. */
export async function killSeen(pool: object): Promise<void> {
  killAll(await stillRunningAfter(seenPids.get(pool) ?? [], TEARDOWN_BOUND))
}

// ---- gates ---------------------------------------------------------------------------------------

/** A gate across processes: calls wait in it (`hold`) until the test opens it; an open gate stays open. */
export function newGate(): Queue<number> {
  return new Queue<number>()
}

export function openGate(gate: Queue<number>): void {
  gate.put(1)
}

/** A call (shipped by source) that tells `started` its pid, waits until `gate` opens (passing it on), and returns its pid. */
export const hold = (started: Queue<number>, gate: Queue<number>): number => {
  started.put(process.pid)
  gate.put(gate.get({ timeout: 60_000 }))
  return process.pid
}

/** The next pid a `hold` call of `pool` reported (the call runs now), tracked. */
export async function startedPid(pool: object, started: Queue<number>): Promise<number> {
  return track(pool, await started.getAsync({ timeout: LONG }))
}

/**
 * Starts `n` calls by `start` (each one a `hold` on a gate, given the `started` queue), one after
 * the other, each once the previous one runs: `n` different worker processes of `pool` (a worker
 * whose call may be long takes no other). Returns the calls and their pids.
 */
export async function holdEach<R>(pool: object, n: number, start: (started: Queue<number>) => R): Promise<{ calls: R[]; pids: number[] }> {
  const started = new Queue<number>()
  const calls: R[] = []
  const pids: number[] = []
  for (let i = 0; i < n; i++) {
    calls.push(start(started))
    pids.push(await startedPid(pool, started))
  }
  return { calls, pids }
}

// ---- child scripts -------------------------------------------------------------------------------

/** What a call threw (or returned), in a form the test can check (a child script prints it as JSON). */
export interface Outcome {
  returned?: unknown
  name?: string
  code?: string
  message?: string
  /** A WorkerLostError (fixtures/pool-tasks.ts). */
  lost?: boolean
  /** A CancelledError (fixtures/pool-tasks.ts). */
  cancelled?: boolean
  /** A BrokenProcessPool (fixtures/process-pool.ts). */
  isBroken?: boolean
}

/** The error classes an {@link Outcome} reports membership of, by flag. */
export type OutcomeClasses = { [K in 'lost' | 'cancelled' | 'isBroken']?: abstract new (...args: never[]) => unknown }

/** Runs `fn`: what it returned, or what it threw (name, code, message, and for each of `classes` whether it is one). */
export function outcomeOf(fn: () => unknown, classes: OutcomeClasses = {}): Outcome {
  try {
    return { returned: fn() }
  } catch (err) {
    const e = err as Error & { code?: string }
    const out: Outcome = { name: e?.name, code: e?.code, message: e?.message }
    for (const [flag, cls] of Object.entries(classes) as [keyof OutcomeClasses, OutcomeClasses[keyof OutcomeClasses]][]) {
      if (cls !== undefined) out[flag] = err instanceof cls
    }
    return out
  }
}
