/**
 * Python's `time` module as the demos use it: `import * as time from './_time.ts'` makes
 * `time.sleep(2)` and `time.time()` read as in the seeds.
 *
 * Not a demo (the runner skips files starting with `_`). Thread targets shipped by source cannot
 * use this module (they may not touch imports of their file), so they inline the one-liner of
 * {@link sleep}; Thread subclasses and module-level code import it.
 */

const nap = new Int32Array(new SharedArrayBuffer(4))

/** `time.sleep(seconds)`: blocks the calling thread (main or worker) without spinning. */
export function sleep(seconds: number): void {
  Atomics.wait(nap, 0, 0, seconds * 1000)
}

/** `time.time()`: seconds since the epoch, as a float. */
export function time(): number {
  return Date.now() / 1000
}
