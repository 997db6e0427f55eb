/**
 * Seed 001, section 5.2.2 (使用 map 方法完成): `executor.map(get_html, urls)` on a
 * ThreadPoolExecutor(max_workers=2); the results come back in the order of `urls`, whatever the
 * order in which the calls finish.
 *
 * Python:                                           Tandem:
 *   def get_html(times):                              function getHtml(times: number) {
 *       time.sleep(times)                                 (sleep times / 2 s)
 *       print("get page {} success".format(times))        console.log(`get page ${times} success`)
 *       return times                                      return times
 *   executor = ThreadPoolExecutor(max_workers=2)      const executor = new ThreadPoolExecutor({ maxWorkers: 2 })
 *   urls = [3, 2, 4]   (from section 5.2.1)           const urls = [3, 2, 4]
 *   for data in executor.map(get_html, urls):         for (const data of executor.map(getHtml, urls)) {
 *       print("get {} page".format(data))                 console.log(`get ${data} page`)
 *
 * Differences:
 * - The seed's snippet uses `urls` without defining it (it comes from the as_completed snippet
 *   before it); the demo defines it the same way, `[3, 2, 4]`.
 * - Sleeps are halved (get_html(3) sleeps 1.5 s); the numbers printed are the seed's.
 * - `getHtml` is shipped to the workers by source text, so it sleeps with the one-line
 *   `Atomics.wait` instead of this file's `time` import.
 * - The loop is the blocking form (`for...of`), as in Python: each step blocks the main thread
 *   until that result is there. `for await` would do the same without blocking the event loop.
 * - Not in the seed: the demo checks that the results came in the order of `urls` (that is what
 *   map promises; "get page 2 success" finishes first) and exits with code 1 otherwise. The seed
 *   leaves the pool to the end of the script (CPython, like Tandem, lets a busy pool finish
 *   before the process exits); the demo shuts it down explicitly.
 */
import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'

function getHtml(times: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, times * 500) // time.sleep(times), halved
  console.log(`get page ${times} success`)
  return times
}

const executor = new ThreadPoolExecutor({ maxWorkers: 2 })
const urls = [3, 2, 4]

// 通过executor的map获取已经完成的task的值
const got: number[] = []
for (const data of executor.map(getHtml, urls)) {
  console.log(`get ${data} page`)
  got.push(data)
}

executor.shutdown() // the seed leaves this to the end of the script

console.log(
  'Node: the two calls really run in parallel on two worker threads; map yields the results in the order of urls ' + '(3 before 2) even though get_html(2) finishes first.',
)
if (got.join() !== urls.join()) {
  console.error(`FAIL: map yielded [${got.join(', ')}], expected [${urls.join(', ')}]`)
  process.exitCode = 1
}
