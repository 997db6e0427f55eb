/**
 * Seed 001, section 1 (GIL): two threads do `total += 1` and `total -= 1` a million times each
 * without a lock, and the total is printed.
 *
 * Python keeps `total` in a global; Tandem threads share no JavaScript heap, so `total` is one
 * slot of an Int32Array over a SharedArrayBuffer, passed to both threads in `args`. `+=` on it
 * is a plain, non-atomic read-modify-write, exactly like CPython's LOAD / BINARY_OP / STORE.
 *
 * Python:                                  Tandem:
 *   total = 0                                const total = new Int32Array(new SharedArrayBuffer(4))
 *   def add():                               function add(total, go) {
 *                                              go.wait()
 *       for i in range(1000000):               for (let i = 0; i < 1_000_000; i++) {
 *           total += 1                             total[0] += 1
 *   thread1 = threading.Thread(target=add)   const thread1 = new Thread({ target: add, args: [total, go] })
 *   ...                                      ...
 *   print(total)                             console.log(total[0])
 *
 * One addition: both threads meet at a Barrier before their loops (see below), because a worker
 * starts far more slowly than a CPython thread and the loops would otherwise never overlap.
 *
 * The demo prints the total and does not check it: any value is a correct outcome of a race.
 */
import { Barrier } from '@tandem/sync/barrier'
import { Thread } from '@tandem/sync/thread'

const total = new Int32Array(new SharedArrayBuffer(4))
// Not in the seed: starting a worker takes ~100 ms, a million `+=` about 2 ms, so thread1 would
// be done before thread2 exists and the race would never happen. Both threads wait here first,
// the way two CPython threads started back to back overlap.
const go = new Barrier(2)

function add(total: Int32Array, go: Barrier) {
  // 1. dosomething1
  // 2. io操作
  // 1. dosomething3
  go.wait()
  for (let i = 0; i < 1_000_000; i++) {
    total[0] += 1 // read, add, write back: another thread may write in between
  }
}

function desc(total: Int32Array, go: Barrier) {
  go.wait()
  for (let i = 0; i < 1_000_000; i++) {
    total[0] -= 1
  }
}

const thread1 = new Thread({ target: add, args: [total, go] })
const thread2 = new Thread({ target: desc, args: [total, go] })
thread1.start()
thread2.start()

thread1.join()
thread2.join()
console.log(total[0])

console.log(
  'Node: no GIL, so the two threads really run at the same time on two cores and lose each ' +
    "other's updates: the total is usually nonzero and different on every run (0 only when the " +
    'threads did not overlap, e.g. on a busy machine).',
)
