/**
 * Shared pieces of the fault suites (packages/sync/test/faults.test.ts,
 * packages/queue/test/faults.test.ts): the ways a thread dies, a handle on each daemon Thread's
 * Worker (to terminate it from outside), starting fixture exports and waiting for a thread that
 * was meant to die.
 */
import type { ExecutionContext } from 'ava'
import { Worker } from 'node:worker_threads'
import { moduleRef } from '../src/task.ts'
import { Thread, type HeapLimits } from '../src/thread.ts'
import { sleep, takeEscaped } from './_helpers.ts'
import type { Death } from './fixtures/fault-workers.ts'

/** Bound of every wait that must not expire in a passing run (the machine may be very busy). */
export const LONG = 30_000
/** The limit for the out-of-memory deaths. */
export const LIMITS: HeapLimits = { maxOldGenerationSizeMb: 16 }
export const DEATHS: Death[] = ['throw', 'return', 'exit', 'terminate', 'oom']
export const HOW: Record<Death, string> = {
  throw: 'throws',
  return: 'returns',
  exit: 'calls process.exit(3)',
  terminate: 'is terminated',
  oom: 'runs out of memory',
}

// Daemon Threads unref their Worker in start(): that is where we get hold of it, to terminate it.
const workers = new Map<number, Worker>()
const unref = Worker.prototype.unref
Worker.prototype.unref = function (this: Worker) {
  workers.set(this.threadId, this)
  return unref.call(this)
}

/** The Worker of a started daemon Thread. */
export function workerOf(th: Thread): Worker {
  const w = workers.get(th.ident! - 1)
  if (w === undefined) throw new Error(`no Worker recorded for ${th.name}`)
  return w
}

type Fn = (...a: any[]) => unknown
type Target<Fx> = { [K in keyof Fx]: Fx[K] extends Fn ? K : never }[keyof Fx]

/** `start(t, name, args, resourceLimits?)`: a daemon Thread on export `name` of the fixture module at `url`; teardown terminates its worker. */
export function fixtureStarter<Fx>(url: URL) {
  return function start<K extends Target<Fx>>(t: ExecutionContext, name: K, args: Parameters<Extract<Fx[K], Fn>>, resourceLimits?: HeapLimits): Thread {
    const th = new Thread({ target: moduleRef(url, name as string), args, daemon: true, resourceLimits })
    th.start()
    const w = workerOf(th)
    t.teardown(async () => {
      await w.terminate()
    })
    return th
  }
}

/** Waits for a thread that was meant to die; drops the error its death reported, if any. */
export async function died(t: ExecutionContext, th: Thread): Promise<void> {
  t.true(await th.joinAsync(LONG), `${th.name} did not end`)
  await sleep(20) // let an excepthook report (the throw, the out-of-memory error) arrive
  for (const e of takeEscaped()) if (e.thread !== th) t.fail(`${e.thread.name} threw ${String(e.excValue)}`)
}
