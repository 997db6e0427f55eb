/**
 * The loop every ThreadPoolExecutor worker runs (a Tandem Thread whose target is
 * `moduleRef(this module, 'workerLoop')`): take a work item from the shared queue, run it,
 * complete its future through shared memory; a `null` item ends the loop.
 *
 * A worker that dies (process.exit in a task, an uncaught error outside a task) breaks the pool
 * from its own exit handler, as CPython does when a worker is lost: the future it was running
 * and every queued one fail with BrokenThreadPool, so no future is left pending even while the
 * submitting thread is blocked in `result()`.
 */
import { currentThread } from '@tandem/sync/thread'
import type { Event } from '@tandem/sync/event'
import type { Semaphore } from '@tandem/sync/semaphore'
import { loadTask, type TaskSpec } from '@tandem/sync/task'
import type { Queue } from '@tandem/queue/queue'
import { BrokenThreadPool } from '../errors.ts'
import type { Future } from '../future.ts'

/** One submitted call. */
export interface WorkItem {
  readonly f: Future<unknown>
  readonly fn: TaskSpec
  readonly args: unknown[]
}

/** Fails every future still queued, and marks the pool broken. */
export function breakPool(q: Queue<WorkItem | null>, broken: Event, why: string): void {
  broken.set()
  for (;;) {
    let item: WorkItem | null
    try {
      item = q.getNowait()
    } catch {
      return
    }
    if (item === null) {
      q.put(null) // keep the shutdown sentinel for the other workers
      return
    }
    try {
      if (item.f.setRunningOrNotifyCancel()) item.f.setException(new BrokenThreadPool(why))
    } catch {}
  }
}

/** Worker main loop. */
export async function workerLoop(
  q: Queue<WorkItem | null>,
  broken: Event,
  idle: Semaphore,
  initializer: TaskSpec | undefined,
  initargs: unknown[],
): Promise<void> {
  const name = currentThread().name
  let current: Future<unknown> | undefined
  process.on('exit', (code) => {
    const why = `Worker ${name} exited (exit code ${code}) ${current ? 'while running a task' : 'between tasks'}; the pool is broken`
    if (current && !current.done()) {
      try {
        current.setException(new BrokenThreadPool(why))
      } catch {}
    }
    breakPool(q, broken, why)
  })
  if (initializer !== undefined) {
    try {
      const init = await loadTask(initializer)
      await init(...initargs)
    } catch (err) {
      breakPool(q, broken, `The initializer of ${name} failed (${(err as Error)?.name}: ${(err as Error)?.message}); the pool is broken`)
      return
    }
  }
  const fns = new Map<string, Function>()
  for (;;) {
    idle.release()
    const item = q.get()
    if (item === null) {
      q.put(null) // one sentinel serves every worker
      return
    }
    const { f, fn, args } = item
    if (!f.setRunningOrNotifyCancel()) continue
    current = f
    try {
      const key = fn.kind === 'source' ? fn.source : `${fn.module}#${fn.name}`
      let task = fns.get(key)
      if (task === undefined) fns.set(key, (task = await loadTask(fn)))
      const result = await task(...args)
      try {
        f.setResult(result)
      } catch (err) {
        f.setException(err) // a result that cannot be cloned fails this future only
      }
    } catch (err) {
      f.setException(err)
    }
    current = undefined
  }
}
