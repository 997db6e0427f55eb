/**
 * Entry point of every Tandem child process: reads the boot record the parent's I/O thread sent
 * as the first frame on descriptor 3, starts this process's own I/O thread on that descriptor,
 * then runs the target (or the subclass's `run()`) with its args revived. An error escaping the
 * target is printed under `Process NAME:` and the exit code is 1, as in Python.
 *
 * @module
 */
import { readSync } from 'node:fs'
import { deserialize } from 'node:v8'
import { decode, preload } from '@tandem/sync/shareable'
import { loadTask, type TaskSpec } from '@tandem/sync/task'
import { TaskModuleError } from '@tandem/sync/errors'
import { Process, _setCurrentProcess, currentProcess } from '../process.ts'
import { startHub } from './hub-client.ts'
import { HEADER } from './link.ts'
import { setProcessInfo, type ProcessInfo } from './process-info.ts'

const FD = 3

type Run =
  | { kind: 'target'; target: TaskSpec | undefined; args: unknown[]; shareables: boolean; modules: string[] }
  | { kind: 'subclass'; module: string; exportName: string; fields: Record<string, unknown>; shareables: boolean; modules: string[] }

const pause = new Int32Array(new SharedArrayBuffer(4))

/** Reads exactly `n` bytes from the (blocking) pipe to the parent. */
function readExactly(n: number): Buffer {
  const buf = Buffer.allocUnsafe(n)
  let got = 0
  while (got < n) {
    let k: number
    try {
      k = readSync(FD, buf, got, n - got, null)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 1)
        continue
      }
      throw err
    }
    if (k === 0) process.exit(1) // the parent went away before sending the boot record
    got += k
  }
  return buf
}

const header = readExactly(HEADER)
const boot = deserialize(readExactly(header.readUInt32BE(0))) as { info: ProcessInfo; run: Run }
const info = boot.info
setProcessInfo(info)
startHub({ parentFd: FD })

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
