/**
 * Synchronous stdout/stderr for Tandem threads.
 *
 * A worker's `process.stdout` normally forwards each write to the main thread's event loop, so
 * lines from different threads come out in an order unrelated to the order they were written,
 * and not at all while the main thread blocks in `join()`. Python threads write to one shared
 * stream in program order; Tandem threads do the same by writing straight to file descriptors
 * 1 and 2.
 */
import { writeSync } from 'node:fs'

const pause = new Int32Array(new SharedArrayBuffer(4))

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0
  while (off < data.length) {
    try {
      off += writeSync(fd, data, off, data.length - off)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
      Atomics.wait(pause, 0, 0, 1) // a non-blocking pipe is full: wait for the reader
    }
  }
}

/** Replaces `process.stdout.write`/`process.stderr.write` of this worker by direct writes. */
export function installSyncStdio(): void {
  for (const [stream, fd] of [
    [process.stdout, 1],
    [process.stderr, 2],
  ] as const) {
    stream.write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((e?: Error) => void), cb?: (e?: Error) => void): boolean => {
      const done = typeof encoding === 'function' ? encoding : cb
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk
      try {
        writeAll(fd, bytes)
      } catch (err) {
        if (done) queueMicrotask(() => done(err as Error))
        return false
      }
      if (done) queueMicrotask(() => done())
      return true
    }) as typeof stream.write
  }
}
