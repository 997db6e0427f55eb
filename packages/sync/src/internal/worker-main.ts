/**
 * Entry point of every Tandem Thread's worker: installs synchronous stdio, loads the target
 * (task function or Thread subclass), revives shareables in its arguments, runs it, reports an
 * escaping error like `threading.excepthook`, and marks the thread finished in shared memory.
 */
import { parentPort } from 'node:worker_threads'
import { boot, markFinished } from './process-state.ts'
import { installSyncStdio } from './stdio.ts'
import { InternalStateError } from '../errors.ts'
import { serializeError } from '../task.ts'
import { type RunDescription, runDescribed } from './run-target.ts'
import { currentThread, Thread, _setCurrentThread } from '../thread.ts'

if (boot === undefined) throw new InternalStateError('worker-main must be started by Thread.start()')
const control = boot.control
installSyncStdio()
// EXIT_PRELUDE (internal/process-state.ts) already marks the thread finished on exit.

function report(err: unknown): void {
  const data = serializeError(err)
  if (boot!.parentHook) {
    parentPort!.postMessage({ type: 'tandem.excepthook', error: data })
    return
  }
  const text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `${data.name}: ${String(err)}`
  process.stderr.write(`Exception in thread ${currentThread().name}:\n${text}\n`)
}

function main(run: RunDescription): Promise<void> {
  return runDescribed(
    run,
    Thread,
    (cls) => {
      const self = Thread._describe(cls as typeof Thread, { name: boot!.name, ident: currentThread().ident!, daemon: boot!.daemon, alive: true })
      _setCurrentThread(self)
      return self
    },
    boot!.kinds,
  )
}

try {
  await main(boot.run as RunDescription)
} catch (err) {
  report(err)
} finally {
  markFinished(control)
}
