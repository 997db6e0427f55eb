/**
 * Seed 003 (discussion): `threading.stack_size(65536)` makes every thread created afterwards
 * reserve a smaller stack, so a server with 2000 threads takes far less virtual memory.
 *
 * Python:                                   Tandem:
 *   import threading                          import { stackSize } from '@tandem/sync/thread'
 *   threading.stack_size()   # -> 0           stackSize()        // -> 0 (Node's default)
 *   threading.stack_size(65536)  # bytes      stackSize(64)      // KiB
 *
 * What the demo shows, with numbers:
 * 1. The seed's 64 KiB is refused: a Node worker cannot start on so small a stack (Python's own
 *    floor is 32 KiB); Tandem's minimum is 128 KiB.
 * 2. The deepest recursion a thread reaches grows with its stack size (one thread per setting).
 * 3. Creating threads: 8 parked threads with the default stack and with the smallest one, timed,
 *    with the resident memory each adds.
 *
 * Node maps `stackSize` onto the worker's `resourceLimits.stackSizeMb`. A worker's memory is
 * mostly its own V8 isolate, not its stack, so unlike CPython a small stack does not make
 * threads much cheaper; the demo prints that as measured. (Virtual memory is not shown: V8
 * reserves gigabytes of address space per isolate, which swamps the stack.)
 */
import { readFileSync } from 'node:fs'
import { Event } from '@tandem/sync/event'
import { Thread, stackSize } from '@tandem/sync/thread'

/** Recurses until the stack overflows; returns the depth reached. Self-contained: shipped to threads. */
function deepestRecursion(out: Int32Array) {
  let depth = 0
  function down(): void {
    depth++
    down()
  }
  try {
    down()
  } catch {
    // RangeError: Maximum call stack size exceeded
  }
  out[0] = depth
}

function residentKiB(): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1])
}

const label = (kib: number) => (kib === 0 ? 'default' : `${kib} KiB`)

// ---- 1. threading.stack_size(65536) --------------------------------------------------------

console.log(`stackSize() -> ${stackSize()}`)
try {
  stackSize(65536 / 1024)
} catch (err) {
  const e = err as Error & { code?: string }
  console.log(`stackSize(64) -> ${e.name} ${e.code}: ${e.message}`)
}

// ---- 2. deepest recursion ------------------------------------------------------------------

console.log('\ndeepest recursion reached, by stack size:')
console.log(`  ${'thread'.padEnd(26)}${'depth'.padStart(8)}`)
const here = new Int32Array(1)
deepestRecursion(here)
console.log(`  ${'main thread'.padEnd(26)}${String(here[0]).padStart(8)}`)
for (const kib of [0, 128, 256, 1024, 4096, 16384]) {
  stackSize(kib)
  const out = new Int32Array(new SharedArrayBuffer(4))
  const t = new Thread({ target: deepestRecursion, args: [out] })
  t.start()
  t.join()
  const call = kib === 0 ? 'stackSize(0), default' : `stackSize(${kib})`
  console.log(`  ${call.padEnd(26)}${String(out[0]).padStart(8)}`)
}

// ---- 3. creating threads ---------------------------------------------------------------------

const N = 8
console.log(`\ncreating ${N} threads that stay alive (parked on an Event):`)
console.log(`  ${'stack size'.padEnd(14)}${'all started'.padStart(12)}${'resident per thread'.padStart(22)}`)
for (const kib of [0, 128]) {
  stackSize(kib)
  await new Promise((r) => setTimeout(r, 300)) // let the previous threads' memory go
  const stop = new Event()
  const started = new Int32Array(new SharedArrayBuffer(4))
  const before = residentKiB()
  const t0 = performance.now()
  const threads = Array.from(
    { length: N },
    () =>
      new Thread({
        target: (stop: Event, started: Int32Array) => {
          Atomics.add(started, 0, 1)
          stop.wait()
        },
        args: [stop, started],
      }),
  )
  for (const t of threads) t.start()
  while (Atomics.load(started, 0) < N) await new Promise((r) => setTimeout(r, 5))
  const seconds = (performance.now() - t0) / 1000
  const perThread = (residentKiB() - before) / N / 1024
  stop.set()
  for (const t of threads) await t.joinAsync()
  console.log(`  ${label(kib).padEnd(14)}${`${seconds.toFixed(2)} s`.padStart(12)}${`+${perThread.toFixed(1)} MiB`.padStart(22)}`)
}
stackSize(0)

console.log(
  "\nNode: stackSize(KiB) becomes the worker's resourceLimits.stackSizeMb (plus the 192 KiB Node keeps " +
    'for itself); it bounds recursion depth as in Python, but a worker costs its V8 isolate (tens of MiB), ' +
    'so a small stack barely changes what a thread costs.',
)
