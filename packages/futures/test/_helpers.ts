/**
 * Shared helpers of the futures test suites ported from CPython's test_concurrent_futures:
 * bounded waits, CPython's fixture futures in each state, pre-warmed pools, and child scripts
 * run with a bound. (The process pool suites' own helpers: _process-helpers.ts.)
 */
import type { ExecutionContext } from 'ava'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Future } from '../src/future.ts'
import { ThreadPoolExecutor, type ThreadPoolExecutorOptions } from '../src/thread-pool-executor.ts'
import { Barrier } from '../../sync/src/barrier.ts'
import type { Event } from '../../sync/src/event.ts'
import type { Thread } from '../../sync/src/thread.ts'
import { joinAll as joinAllWithin, until as untilWithin } from '../../sync/test/_helpers.ts'

/** Bound for waits that should never expire in a passing run (the machine may be very busy). */
export const LONG = 60_000
/**
 * Bound for a blocking wait or iteration on the main thread: it stops every other test of the
 * file, so it stays well below ava's 60 s inactivity timeout (a stall must fail this test, not kill the file).
 */
export const BLOCK = 20_000

export function until(pred: () => boolean, what?: string): Promise<void> {
  return untilWithin(pred, LONG, what)
}

export function joinAll(threads: Thread[]): Promise<void> {
  return joinAllWithin(threads, LONG)
}

export type State = 'pending' | 'running' | 'cancelled' | 'cancelledAndNotified' | 'exception' | 'successful'

/**
 * CPython's `create_future(state=...)` (the *_FUTURE fixtures of test_concurrent_futures/util.py).
 * @param error what an 'exception' future fails with
 */
export function makeFuture<T = unknown>(state: State, error: unknown = new Error('OSError')): Future<T> {
  const f = new Future<T>()
  switch (state) {
    case 'pending':
      break
    case 'running':
      f.setRunningOrNotifyCancel()
      break
    case 'cancelled':
      f.cancel()
      break
    case 'cancelledAndNotified':
      f.cancel()
      f.setRunningOrNotifyCancel()
      break
    case 'exception':
      f.setException(error)
      break
    case 'successful':
      f.setResult(42 as T)
      break
  }
  return f
}

/** Fresh fixture futures per test. */
export function fixtures() {
  return {
    PENDING: makeFuture('pending'),
    RUNNING: makeFuture('running'),
    CANCELLED: makeFuture('cancelled'),
    CANCELLED_AND_NOTIFIED: makeFuture('cancelledAndNotified'),
    EXCEPTION: makeFuture('exception'),
    SUCCESSFUL: makeFuture('successful'),
  }
}

/**
 * A pool with its `maxWorkers` workers already started (they met at a barrier), shut down (queued
 * work cancelled, gates opened) when the test ends. Warm workers keep the blocking iterations
 * short: the main thread never blocks while workers boot, which takes seconds on a loaded machine.
 */
export async function newPool(t: ExecutionContext, maxWorkers: number, ...gates: Event[]): Promise<ThreadPoolExecutor> {
  const pool = new ThreadPoolExecutor({ maxWorkers })
  t.teardown(() => {
    for (const g of gates) g.set()
    pool.shutdown({ wait: false, cancelFutures: true })
  })
  const all = new Barrier(maxWorkers)
  await Promise.all(Array.from({ length: maxWorkers }, () => pool.submit((b: Barrier) => void b.wait(60_000), all).resultAsync(LONG)))
  return pool
}

/** A pool shut down (without waiting, queued calls cancelled) when the test ends; `gates` are opened first. */
export function makePool(t: ExecutionContext, opts: ThreadPoolExecutorOptions = {}, ...gates: Event[]): ThreadPoolExecutor {
  const pool = new ThreadPoolExecutor(opts)
  t.teardown(async () => {
    for (const g of gates) g.set()
    await pool.shutdownAsync({ wait: false, cancelFutures: true })
  })
  return pool
}

/** Waits until submit() refuses (the pool is known broken on this thread). */
export async function untilSubmitThrows(pool: ThreadPoolExecutor): Promise<void> {
  await until(() => {
    try {
      pool.submit(() => 0).cancel()
      return false
    } catch {
      return true
    }
  }, 'submit() to throw BrokenThreadPool')
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const CHILD = fileURLToPath(new URL('../../../test/fixtures/futures-exit.ts', import.meta.url))

/** `p`'s value, or `onTimeout` if it does not settle within `ms` (the timer is cleared either way). */
export async function within<T, U>(p: PromiseLike<T>, ms: number, onTimeout: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<U>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout), ms)
  })
  try {
    return await Promise.race([Promise.resolve(p), expired])
  } finally {
    clearTimeout(timer)
  }
}

/** What `p` rejects with (bounded: a `still pending` string if it neither settles nor rejects). */
export async function rejection(p: PromiseLike<unknown>, ms = LONG): Promise<unknown> {
  return within(
    Promise.resolve(p).then(
      (v) => `resolved with ${JSON.stringify(v)}`,
      (e: unknown) => e,
    ),
    ms,
    'still pending',
  )
}

/** How a child process of {@link runScript} ended. */
export interface ChildResult {
  code: number | null
  signal: string | null
  stdout: string
  stderr: string
}

/**
 * Runs the fixture script `script` (a path) with `scenario` in a child process, under tsx with the
 * source condition (`flags` go first: Node flags); never rejects (killed after `timeout`, which
 * shows in `signal`).
 */
export function runScript(script: string, scenario: string, { timeout = LONG, flags = [] }: { timeout?: number; flags?: string[] } = {}): Promise<ChildResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...flags, '--import=tsx', '--conditions=@tandem/source', script, scenario],
      { cwd: ROOT, timeout, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: unknown; signal?: string | null }) | null
        resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr })
      },
    )
  })
}

/** Runs a scenario of test/fixtures/futures-exit.ts in a child process; never rejects (a kill by timeout shows in `signal`). */
export function runChild(scenario: string, timeout = LONG): Promise<ChildResult> {
  return runScript(CHILD, scenario, { timeout })
}

/** The non-empty lines of a child's output. */
export function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '')
}

/**
 * Checks that a child script exited by itself (`killed` says what a kill by its timeout means)
 * with code 0, and returns the JSON report it printed last.
 */
export function jsonReport<T>(t: ExecutionContext, r: ChildResult, killed: string): T {
  t.is(r.signal, null, `${killed}; stdout: ${r.stdout}`)
  t.is(r.code, 0, r.stderr.slice(-2000))
  return JSON.parse(lines(r.stdout).pop() ?? '{}') as T
}
