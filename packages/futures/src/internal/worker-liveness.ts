/**
 * How a blocked wait learns that a pool worker died without running its exit handlers
 * (terminated from outside, out of memory under `resourceLimits`).
 *
 * Such a death is reported to the thread that started the worker by a Worker `exit` event, on
 * that thread's event loop, and that loop may be the very one blocked in `result()`, `wait()` or
 * `asCompleted()`. So every blocking wait of the futures package sleeps in slices of at most
 * {@link SLICE_MS}, and after each slice it calls {@link checkDeaths}, which asks the process-wide
 * liveness table of `@tandem/sync` (`hasEnded`, after a rate-limited `sweep`):
 *
 * - about **this thread's pool workers** (registered by {@link watchWorker} when a pool of this
 *   thread starts one): an ended worker's pool runs its break path (`ExecutorCore.workerLost`:
 *   fail the call the worker was running and every queued one, mark the pool broken) here and
 *   now; the `exit` event runs it again later, which does nothing more (it is idempotent);
 * - about **the futures it waits for**, which may belong to another thread's pool: a pool worker
 *   writes its token into the cell's RUNNER word when it starts a call, so a waiter that finds
 *   its future still running on an ended worker fails that future itself (the queued futures of
 *   that pool are failed by the pool's own thread, from its waits or its event loop).
 *
 * A worker that ended cleanly (shutdown sentinel, `process.exit()` and uncaught errors, whose
 * exit handler breaks the pool itself) is told apart by the pool (see `workerLost`).
 *
 * @module
 */
import { hasEnded, SLICE_MS, sweep } from '@tandem/sync/kit'
import { BrokenThreadPool } from '../errors.ts'
import { completeCell, EXCEPTION, RUNNER, RUNNING, STATE } from './cell.ts'

export { SLICE_MS }

/** One pool worker started by this thread and not yet known to have ended. */
export interface WatchedWorker {
  /** The worker's thread token (`threadId + 1`, its Thread's `ident`). */
  readonly token: number
  /** Runs the pool's break path for this worker (idempotent). */
  readonly lost: () => void
}

const workers: WatchedWorker[] = []

/** Watches a pool worker this thread started: {@link checkDeaths} runs `lost` once it has ended. */
export function watchWorker(token: number, lost: () => void): WatchedWorker {
  const w = { token, lost }
  workers.push(w)
  return w
}

/** Stops watching `w` (its end was handled from the event loop). */
export function unwatchWorker(w: WatchedWorker): void {
  const i = workers.indexOf(w)
  if (i >= 0) workers.splice(i, 1)
}

/** The longest a blocking wait of the futures package sleeps at once, for a wait of `ms` left. */
export function slice(ms: number): number {
  return ms < SLICE_MS ? ms : SLICE_MS
}

/**
 * After a slice of a blocking wait: runs the break path of this thread's pools whose workers
 * have ended, and fails `cell` (a future waited for) if it is still running on an ended worker.
 */
export function checkDeaths(cell?: Int32Array): void {
  sweep()
  for (let i = workers.length - 1; i >= 0; i--) {
    const w = workers[i]!
    if (!hasEnded(w.token)) continue
    workers.splice(i, 1)
    w.lost()
  }
  if (cell !== undefined) failOrphan(cell)
}

/** Fails `cell` if it is running on a pool worker that has ended (call after a sweep). */
export function failOrphan(cell: Int32Array): void {
  if (Atomics.load(cell, STATE) !== RUNNING) return
  const runner = Atomics.load(cell, RUNNER)
  if (runner === 0 || !hasEnded(runner)) return
  try {
    completeCell(
      cell,
      EXCEPTION,
      new BrokenThreadPool(`The pool worker running this call (thread ${runner - 1}) was terminated or ran out of memory; the pool is broken`),
      'setException',
    )
  } catch {
    // completed meanwhile (its pool's thread got there first)
  }
}
