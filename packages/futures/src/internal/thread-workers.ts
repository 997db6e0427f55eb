/**
 * Worker threads for the thread pools: starts a Tandem Thread running `workerLoop` for an
 * {@link ExecutorCore} and watches it for a death its exit handler could not report.
 * @module
 */
import { moduleRef, type TaskSpec } from '@tandem/sync/task'
import { Thread, type HeapLimits } from '@tandem/sync/thread'
import type { ExecutorCore } from './executor-core.ts'

const WORKER_LOOP = moduleRef(new URL(`./worker-loop${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url), 'workerLoop')

/** How a pool's worker threads are made. */
export interface ThreadWorkerOptions {
  readonly name: string
  readonly initializer: TaskSpec | undefined
  readonly initargs: unknown[]
  readonly resourceLimits: HeapLimits | undefined
}

/** Starts worker `index` of `core`. */
export function startThreadWorker(core: ExecutorCore, index: number, opts: ThreadWorkerOptions): Thread {
  const shared = core.shared
  const t = new Thread({
    target: WORKER_LOOP,
    args: [shared, index, opts.initializer, opts.initargs],
    name: opts.name,
    daemon: true,
    resourceLimits: opts.resourceLimits,
  })
  t.start()
  // A worker killed from outside (out of memory, terminated) cannot run its exit handler:
  // notice it here, from the event loop (without keeping the process alive for an idle pool).
  void t._finished().then(() => {
    if (!shared.broken.isSet() && (!core.isShutdown || Atomics.load(shared.running, index) !== 0)) {
      core.workerLost(index, `Worker ${t.name} terminated abruptly (killed, or out of memory under resourceLimits); the pool is broken`)
    }
  })
  return t
}
