/**
 * Worker threads for the pools: starts a Tandem Thread running `workerLoop` (or a process
 * worker's stand-in, `process-stub.ts`) for an {@link ExecutorCore} and watches it for a death
 * its exit handler could not report (from the event loop, and from this thread's blocked waits:
 * `worker-liveness.ts`).
 * @module
 */
import { moduleRef, type TaskSpec } from '@tandem/sync/task'
import { Thread, type HeapLimits } from '@tandem/sync/thread'
import type { ExecutorCore } from './executor-core.ts'
import { unwatchWorker, watchWorker } from './worker-liveness.ts'

const WORKER_LOOP = moduleRef(new URL(`./worker-loop${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url), 'workerLoop')

/** How a pool's worker threads are made. */
export interface ThreadWorkerOptions {
  readonly name: string
  readonly initializer: TaskSpec | undefined
  readonly initargs: unknown[]
  readonly resourceLimits: HeapLimits | undefined
}

/**
 * Starts worker `index` of `core`: a thread running `workerLoop`, or `loop` (a process pool's
 * stand-in, `process-stub.ts`, given `loop.args` after the shared state and the index).
 */
export function startThreadWorker(core: ExecutorCore, index: number, opts: ThreadWorkerOptions, loop?: { target: typeof WORKER_LOOP; args: unknown[] }): Thread {
  const shared = core.shared
  const t = new Thread({
    target: loop?.target ?? WORKER_LOOP,
    args: loop === undefined ? [shared, index, opts.initializer, opts.initargs] : [shared, index, ...loop.args],
    name: opts.name,
    daemon: true,
    resourceLimits: opts.resourceLimits,
  })
  t.start()
  // A worker killed from outside (out of memory, terminated) cannot run its exit handler. Its
  // death is noticed here, from the event loop (without keeping the process alive for an idle
  // pool), or sooner by a wait of this thread that is blocked meanwhile (worker-liveness.ts).
  const lost = (): void => core.workerLost(index, t.name)
  const watched = watchWorker(t.ident!, lost)
  void t._finished().then(() => {
    unwatchWorker(watched)
    lost()
  })
  return t
}
