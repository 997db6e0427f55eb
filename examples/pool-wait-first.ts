/**
 * Seed 001, section 5.3 (等待特定的线程执行完,再向下执行): `wait(all_task,
 * return_when=FIRST_COMPLETED)` blocks the main thread until the first of three calls is done;
 * then "main" prints while the other calls are still running.
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
 *   wait(all_task, return_when=FIRST_COMPLETED)          const { done, notDone } = wait(allTask, { returnWhen: FIRST_COMPLETED })
 *   print("main")                                        console.log('main')
 *
 * Differences:
 * - Sleeps are halved (get_html(3) sleeps 1.5 s); the numbers printed are the seed's.
 * - `getHtml` is shipped to the workers by source text, so it sleeps with the one-line
 *   `Atomics.wait` instead of this file's `time` import.
 * - Keyword arguments become an options object: `return_when=FIRST_COMPLETED` is
 *   `{ returnWhen: FIRST_COMPLETED }`; the result `(done, not_done)` is `{ done, notDone }`.
 * - After "main" the seed's script ends, and CPython waits for the busy pool before the process
 *   exits, so "get page 3 success" and "get page 4 success" still print. Tandem would wait too;
 *   the demo writes the wait out as `executor.shutdown()` because it checks the results after.
 * - Not in the seed: the demo prints the sizes of `done` and `not_done` when "main" prints and
 *   checks that at least one future was done then and every one at the end; it exits with code
 *   1 otherwise.
 */
import { FIRST_COMPLETED, wait } from '@tandem/futures/wait'
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
// FIRST_COMPLETED 表示当第一个线程执行完成时,便不再等待了。
// return_when 没有设置的时候,等待所有的线程执行完再向下执行。
const { done, notDone } = wait(allTask, { returnWhen: FIRST_COMPLETED })
console.log('main')
const firstDone = [...done].map((f) => f.result())
console.log(`(done: [${firstDone.join(', ')}], not_done: ${notDone.size} futures)`)

executor.shutdown() // the seed leaves this to the end of the script, which waits for the pool too

const results = allTask.map((f) => (f.done() ? f.result() : 'pending'))
console.log('Node: wait() blocks the main thread until the first worker finishes; the other two calls keep running on their workers meanwhile.')
if (done.size < 1 || done.size + notDone.size !== urls.length || firstDone.some((r) => !urls.includes(r)) || results.join() !== urls.join()) {
  console.error(
    `FAIL: expected at least one done future at "main" and all results [${urls.join(', ')}] at the end; got done ${done.size}, not_done ${notDone.size}, results [${results.join(', ')}]`,
  )
  process.exitCode = 1
}
