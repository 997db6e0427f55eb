/**
 * Seed 001, section 5.2.1 (使用 as_completed 方法): three calls submitted to a
 * ThreadPoolExecutor(max_workers=2), their results taken with `as_completed`, which yields each
 * future as soon as it is done: in the order the calls finish, not the order they were submitted.
 *
 * Python:                                              Tandem:
 *   def get_html(times):                                 function getHtml(times: number) {
 *       time.sleep(times)                                    (sleep times / 2 s)
 *       print("get page {} success".format(times))           console.log(`get page ${times} success`)
 *       return times                                         return times
 *   executor = ThreadPoolExecutor(max_workers=2)         const executor = new ThreadPoolExecutor({ maxWorkers: 2 })
 *   urls = [3, 2, 4]                                     const urls = [3, 2, 4]
 *   all_task = [executor.submit(get_html, (url))         const allTask = urls.map((url) => executor.submit(getHtml, url))
 *               for url in urls]
 *   for future in as_completed(all_task):                for (const future of asCompleted(allTask)) {
 *       data = future.result()                               const data = future.result()
 *       print("get {} page".format(data))                    console.log(`get ${data} page`)
 *
 * Differences:
 * - Sleeps are halved (get_html(3) sleeps 1.5 s); the numbers printed are the seed's.
 * - `getHtml` is shipped to the workers by source text, so it sleeps with the one-line
 *   `Atomics.wait` instead of this file's `time` import.
 * - The loop is the blocking form (`for...of`), as in Python; `for await` is the form that keeps
 *   the event loop running.
 * - Not in the seed: the demo prints the order in which the futures came, checks that each of the
 *   three came exactly once with its result, and exits with code 1 otherwise (the order itself is
 *   not checked: it depends on timing, 2, 3, 4 as a rule). The seed leaves the pool to the end
 *   of the script (CPython, like Tandem, lets a busy pool finish before the process exits); the
 *   demo shuts it down explicitly.
 */
import { asCompleted } from '@tandem/futures/as-completed'
import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'

function getHtml(times: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, times * 500) // time.sleep(times), halved
  console.log(`get page ${times} success`)
  return times
}

const executor = new ThreadPoolExecutor({ maxWorkers: 2 })

// 要获取已经成功的task的返回
const urls = [3, 2, 4]
const allTask = urls.map((url) => executor.submit(getHtml, url))
const order: number[] = []
for (const future of asCompleted(allTask)) {
  const data = future.result()
  console.log(`get ${data} page`)
  order.push(data)
}

executor.shutdown() // the seed leaves this to the end of the script

console.log(`as_completed order: [${order.join(', ')}] (submitted: [${urls.join(', ')}])`)
console.log('Node: the calls run in parallel on two worker threads; as_completed hands each future to the main thread as soon as it is done.')
if ([...order].sort().join() !== [...urls].sort().join()) {
  console.error(`FAIL: as_completed yielded [${order.join(', ')}], expected each of [${urls.join(', ')}] once`)
  process.exitCode = 1
}
