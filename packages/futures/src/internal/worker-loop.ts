/**
 * The loop every pool worker thread runs (a Tandem Thread whose target is
 * `moduleRef(this module, 'workerLoop')`): take a work item from the shared queue, run it,
 * complete its future through shared memory; a `null` item ends the loop.
 *
 * A worker that dies (process.exit in a task, an uncaught error outside a task) breaks the pool
 * from its own exit handler, as CPython does when a worker is lost: the future it was running
 * and every queued one fail with BrokenThreadPool, so no future is left pending even while the
 * submitting thread is blocked in `result()`. A worker killed from outside runs no handler: the
 * pool's thread, or a thread waiting for the call, notices (`worker-liveness.ts`), through the
 * `running` slot and the cell's RUNNER word written here.
 */
import { describe, THREAD_TOKEN } from '@tandem/sync/kit'
import { currentThread } from '@tandem/sync/thread'
import { loadTask, type TaskSpec } from '@tandem/sync/task'
import { BrokenThreadPool } from '../errors.ts'
import { cellAt, completeCell, EXCEPTION, releaseCell, RESULT, RUNNER, startCell } from './cell.ts'
import { breakPool, EAGER_BACKLOG, IN_FLIGHT, itemDone, POLLER, runItem, taskAt, type PoolShared, type WorkItem } from './executor-core.ts'

/** How long an idle worker polls the queue before it sleeps. */
const POLL_MS = 0.05

function tryTake(queue: PoolShared['queue']): WorkItem | null | undefined {
  try {
    return queue.getNowait()
  } catch {
    return undefined // another worker took it
  }
}

/** Worker main loop. */
export async function workerLoop(shared: PoolShared, index: number, initializer: TaskSpec | undefined, initargs: unknown[]): Promise<void> {
  const { queue, idle, running } = shared
  const name = currentThread().name
  let current: WorkItem | undefined
  let leaving = false
  // First among the exit listeners: the Thread's own marks the worker finished, and the pool's
  // watcher must not report a plain death before this names the exit code.
  process.prependListener('exit', (code) => {
    if (leaving) return // left through the shutdown sentinel: a clean exit
    const why = `Worker ${name} exited (exit code ${code}) ${current ? 'while running a task' : 'between tasks'}; the pool is broken`
    Atomics.store(running, index, 0)
    if (current !== undefined) {
      const c = cellAt(current[0])
      try {
        completeCell(c, EXCEPTION, new BrokenThreadPool(why), 'setException')
      } catch {}
      itemDone(shared)
    }
    breakPool(shared, why, BrokenThreadPool)
  })
  if (initializer !== undefined) {
    try {
      const init = await loadTask(initializer)
      await init(...initargs)
    } catch (err) {
      const what = err instanceof Error ? `${err.name}: ${err.message}` : `threw ${describe(err)}`
      breakPool(shared, `The initializer of ${name} failed (${what}); the pool is broken`, BrokenThreadPool)
      return
    }
  }
  for (;;) {
    let item = queue.qsize() > 0 ? tryTake(queue) : undefined
    if (item === undefined && Atomics.load(shared.outstanding, IN_FLIGHT) < EAGER_BACKLOG && Atomics.compareExchange(shared.outstanding, POLLER, 0, 1) === 0) {
      // A submitter that awaits each result sends the next call a few microseconds after this
      // one's result: poll briefly before sleeping, as waking a sleeping thread costs tens of
      // microseconds, and the submitter wakes nobody while a worker polls. One worker polls at
      // a time: more would only take cores from the submitter. (With a backlog in flight the
      // submitter wakes workers in batches instead.)
      const until = performance.now() + POLL_MS
      do {
        if (queue.qsize() > 0 && (item = tryTake(queue)) !== undefined) break
      } while (performance.now() < until)
      // Cleared before the queue.get() or the pass-on check below: a submit (or flush) that saw
      // the flag set woke nobody, and one of those two finds its item.
      Atomics.store(shared.outstanding, POLLER, 0)
    }
    if (item === undefined) {
      // Idle only when there is nothing to take (CPython's worker): a permit released while
      // items wait would let a submit skip starting a worker that is needed.
      idle.release()
      item = queue.get()
    }
    if (item === null) {
      queue.put(null) // one sentinel serves every worker
      leaving = true
      return
    }
    // Pass the wake-up on: the submitter wakes one worker per burst (see ExecutorCore.submit).
    if (queue.qsize() > 0) queue._wake(1)
    const at = item[0]
    const c = cellAt(at)
    // Published before the call starts: a death from here on (terminated, out of memory) fails it.
    Atomics.store(running, index, at)
    if (!startCell(c)) {
      Atomics.store(running, index, 0)
      releaseCell(at)
      itemDone(shared)
      continue
    }
    // A thread waiting for this future, in any thread, fails it if this worker ends meanwhile.
    Atomics.store(c, RUNNER, THREAD_TOKEN)
    current = item
    try {
      const fn = await taskAt(item[1])
      const { value: result } = await runItem(fn, item[2], item[3])
      try {
        completeCell(c, RESULT, result, 'setResult')
      } catch (err) {
        completeCell(c, EXCEPTION, err, 'setException') // a result that cannot be cloned fails this future only
      }
    } catch (err) {
      completeCell(c, EXCEPTION, err, 'setException')
    }
    current = undefined
    Atomics.store(running, index, 0)
    releaseCell(at)
    itemDone(shared)
  }
}
