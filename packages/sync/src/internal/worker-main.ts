/**
 * Entry point of every Tandem Thread's worker: installs synchronous stdio, loads the target
 * (task function or Thread subclass), revives shareables in its arguments, runs it, reports an
 * escaping error like `threading.excepthook`, and marks the thread finished in shared memory.
 */
import { parentPort } from 'node:worker_threads'
import { boot, markFinished } from './process-state.ts'
import { installSyncStdio } from './stdio.ts'
import { decode, preload } from '../shareable.ts'
import { InternalStateError, TaskModuleError } from '../errors.ts'
import { loadTask, serializeError, type TaskSpec } from '../task.ts'
import { currentThread, Thread, _setCurrentThread } from '../thread.ts'

type Run =
  | { kind: 'target'; target: TaskSpec | undefined; args: unknown[]; shareables: boolean; modules: string[] }
  | { kind: 'subclass'; module: string; exportName: string; fields: Record<string, unknown>; shareables: boolean; modules: string[] }

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

async function main(run: Run): Promise<void> {
  await preload([...boot!.kinds, ...run.modules])
  if (run.kind === 'target') {
    const args = run.shareables ? (decode(run.args) as unknown[]) : run.args
    if (run.target === undefined) return
    const fn = await loadTask(run.target)
    await fn(...args)
    return
  }
  let ns: Record<string, unknown>
  try {
    ns = await import(run.module)
  } catch (cause) {
    throw new TaskModuleError(`Cannot import Thread subclass module ${run.module}: ${(cause as Error)?.message ?? cause}`, { cause })
  }
  const cls = ns[run.exportName]
  if (typeof cls !== 'function' || !(cls.prototype instanceof Thread)) {
    throw new TaskModuleError(`Module ${run.module} does not export a Thread subclass named "${run.exportName}"; export the class under its own name`)
  }
  const self = Thread._describe(cls as typeof Thread, { name: boot!.name, ident: currentThread().ident!, daemon: boot!.daemon, alive: true })
  Object.assign(self, run.shareables ? decode(run.fields) : run.fields)
  _setCurrentThread(self)
  await self.run()
}

try {
  await main(boot.run as Run)
} catch (err) {
  report(err)
} finally {
  markFinished(control)
}
