/**
 * Seed 001, section 6.6 (imap 和 imap_unordered): `get_html` over `[1, 5, 3]` on
 * `multiprocessing.Pool(multiprocessing.cpu_count())`, first with `imap` (按顺序: the results in
 * the order of the input, 1, 5, 3, though 3 finishes before 5), then with `imap_unordered` (in
 * the order they finish: 1, 3, 5).
 *
 * Python:                                                Tandem:
 *   def get_html(n):                                       function getHtml(n: number) {
 *       time.sleep(n)                                          (sleep n / 2 s)
 *       print("sub_progress success")                          console.log('sub_progress success')
 *       return n                                               return n
 *   if __name__ == "__main__":
 *       pool = multiprocessing.Pool(                       using pool = new Pool(cpuCount())
 *           multiprocessing.cpu_count())
 *       for result in pool.imap(get_html, [1,5,3]):        for (const result of pool.imap(getHtml, [1, 5, 3])) {
 *           print("{} sleep success".format(result))           console.log(`${result} sleep success`)
 *       for result in pool.imap_unordered(                 for await (const result of pool.imapUnordered(getHtml, [1, 5, 3])) {
 *               get_html, [1, 5, 3]):
 *           print("{} sleep success".format(result))           console.log(`${result} sleep success`)
 *
 * Differences:
 * - `getHtml` is shipped to the worker processes by its source text (a self-contained function:
 *   it sleeps with the one-line `Atomics.wait` instead of `time.sleep`), so no worker imports this
 *   file and no main guard is needed; CPython's spawn imports `__main__` to find `get_html`.
 * - Sleeps are halved (get_html(5) sleeps 2.5 s); the numbers printed are the seed's.
 * - The pool is `using pool`: terminated when the file's code ends, where the seed leaves it to
 *   the interpreter's exit (its workers are daemons).
 * - The `imap` loop is the blocking `for...of`, as in Python (each step blocks the main thread until
 *   that result is there); the `imap_unordered` loop is `for await`, the same without blocking the
 *   event loop. Both iterators support both forms.
 * - `cpuCount()` is `multiprocessing.cpu_count()` (from `@tandem/ipc/process`). The seed's order
 *   of imap_unordered needs at least 2 processes (with 2: one runs 1 then 3, finishing at 0.5 s
 *   and 2 s, the other 5, at 2.5 s); on a 1-CPU machine it would be 1, 5, 3 as in CPython.
 * - Not in the seed: each result line also gives the time since the loop started; the demo checks
 *   that imap yielded 1, 5, 3 and imap_unordered 1, 3, 5 (with 2 processes or more), and exits
 *   with code 1 otherwise.
 */
import { Pool } from '@tandem/futures/pool'
import { cpuCount } from '@tandem/ipc/process'
import * as time from './_time.ts'

// 多进程编程
function getHtml(n: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, n * 500) // time.sleep(n), halved
  console.log('sub_progress success')
  return n
}

const failures: string[] = []

// 使用进程池
using pool = new Pool(cpuCount())

// imap 按顺序执行
const ordered: number[] = []
let start = time.time()
for (const result of pool.imap(getHtml, [1, 5, 3])) {
  console.log(`${result} sleep success`, `  (at ${(time.time() - start).toFixed(2)} s)`)
  ordered.push(result)
}

// imap_unordered
const unordered: number[] = []
start = time.time()
for await (const result of pool.imapUnordered(getHtml, [1, 5, 3])) {
  console.log(`${result} sleep success`, `  (at ${(time.time() - start).toFixed(2)} s)`)
  unordered.push(result)
}

console.log(
  `Node: Pool(${pool.size}) with the CPU count; the first loop's times include starting the worker processes (fresh node processes, ` +
    "started by new Pool(), as CPython's), the second loop's workers are already up.",
)
if (ordered.join() !== '1,5,3') failures.push(`imap yielded ${ordered.join(', ')}, not 1, 5, 3`)
const expected = pool.size >= 2 ? '1,3,5' : '1,5,3'
if (unordered.join() !== expected) failures.push(`imap_unordered yielded ${unordered.join(', ')}, not ${expected.replaceAll(',', ', ')}`)
if (failures.length > 0) {
  console.error(`FAIL: ${failures.join('; ')}`)
  process.exitCode = 1
}
