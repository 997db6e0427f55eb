/**
 * Entry point of every Tandem child process: starts this process's own I/O thread on descriptor 3
 * (the socket to the parent), waits for the boot record the parent's I/O thread sends as the
 * first frame on it, then runs the target (or the subclass's `run()`) with its args revived. An error escaping the
 * target is printed under `Process NAME:` and the exit code is 1, as in Python.
 *
 * @module
 */
import { deserialize } from 'node:v8'
import { decode, preload } from '@tandem/sync/shareable'
import { loadTask, type TaskSpec } from '@tandem/sync/task'
import { TaskModuleError } from '@tandem/sync/errors'
import { Queue } from '@tandem/queue/queue'
import { Process, _setCurrentProcess, currentProcess } from '../process.ts'
// The kinds a child receives most (loaded as ES modules here, not by the decoder's require fallback).
import '../pipe.ts'
import '../queue.ts'
import { startHub } from './hub-client.ts'
import { setProcessInfo, type ProcessInfo } from './process-info.ts'

const FD = 3

type Run =
  | { kind: 'target'; target: TaskSpec | undefined; args: unknown[]; shareables: boolean; modules: string[] }
  | { kind: 'subclass'; module: string; exportName: string; fields: Record<string, unknown>; shareables: boolean; modules: string[] }

// Start-up happens before the boot record arrives (this process may be a spare started ahead
// of need, see hub.ts): the I/O thread reads the pipe and hands the record over.
const bootQueue = new Queue<Uint8Array>()
startHub({ parentFd: FD, bootQueue })
const boot = deserialize(bootQueue.get()) as { info: ProcessInfo; run: Run }
const info = boot.info
setProcessInfo(info)

async function main(run: Run): Promise<void> {
  await preload(run.modules)
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
    throw new TaskModuleError(`Cannot import Process subclass module ${run.module}: ${(cause as Error)?.message ?? cause}`, { cause })
  }
  const cls = ns[run.exportName]
  if (typeof cls !== 'function' || !(cls.prototype instanceof Process)) {
    throw new TaskModuleError(`Module ${run.module} does not export a Process subclass named "${run.exportName}"; export the class under its own name`)
  }
  const self = Process._describe(cls as typeof Process, info, process.pid)
  Object.assign(self, run.shareables ? decode(run.fields) : run.fields)
  _setCurrentProcess(self)
  await self.run()
}

try {
  await main(boot.run)
} catch (err) {
  const text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err)
  process.stderr.write(`Process ${currentProcess().name}:\n${text}\n`)
  process.exitCode = 1
}
