/**
 * Entry point of every Tandem child process: starts this process's own I/O thread on descriptors 3-5
 * (the channel to the parent, `internal/channel.ts`), waits for the boot record the parent's I/O thread sends as the
 * first frame on it, then runs the target (or the subclass's `run()`) with its args revived. An error escaping the
 * target is printed under `Process NAME:` and the exit code is 1, as in Python.
 *
 * @module
 */
import { deserialize } from 'node:v8'
import { type RunDescription, runDescribed } from '@tandem/sync/kit'
import { Queue } from '@tandem/queue/queue'
import { Process, _setCurrentProcess, currentProcess } from '../process.ts'
// The kinds a child receives most (loaded as ES modules here, not by the decoder's require fallback).
import '../pipe.ts'
import '../queue.ts'
import { startHub } from './hub-client.ts'
import { setProcessInfo, type ProcessInfo } from './process-info.ts'

// Start-up happens before the boot record arrives (this process may be a spare started ahead
// of need, see hub.ts): the I/O thread reads the pipe and hands the record over.
const bootQueue = new Queue<Uint8Array>()
startHub({ child: true, bootQueue })
const boot = deserialize(bootQueue.get()) as { info: ProcessInfo; run: RunDescription }
const info = boot.info
setProcessInfo(info)

function main(run: RunDescription): Promise<void> {
  return runDescribed(run, Process, (cls) => {
    const self = Process._describe(cls as typeof Process, info, process.pid)
    _setCurrentProcess(self)
    return self
  })
}

try {
  await main(boot.run)
} catch (err) {
  const text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err)
  process.stderr.write(`Process ${currentProcess().name}:\n${text}\n`)
  process.exitCode = 1
}
