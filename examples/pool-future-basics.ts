/**
 * Seed 001, section 5.1 (done, cancel 和 result 三个方法): two calls submitted to a
 * ThreadPoolExecutor(max_workers=2); `done()` asked at once, `cancel()` tried on the second,
 * then, after a sleep as long as the first call, `done()` again and `result()`.
 *
 * Python:                                           Tandem:
 *   def get_html(times):                              function getHtml(times: number) {
 *       time.sleep(times)                                 (sleep times / 2 s)
 *       print("get page {} success".format(times))        console.log(`get page ${times} success`)
 *       return times                                      return times
 *   executor = ThreadPoolExecutor(max_workers=2)      const executor = new ThreadPoolExecutor({ maxWorkers: 2 })
 *   task1 = executor.submit(get_html, (3))            const task1 = executor.submit(getHtml, 3)
 *   task2 = executor.submit(get_html, (2))            const task2 = executor.submit(getHtml, 2)
 *   print(task1.done())                               console.log(task1.done())
 *   print(task2.cancel())                             console.log(task2.cancel())
 *   time.sleep(3)                                     time.sleep(3 / 2)
 *   print(task1.done())                               console.log(task1.done())
 *   print(task1.result())                             console.log(task1.result())
 *
 * Differences:
 * - Sleeps are halved (get_html(3) sleeps 1.5 s, the main thread's `time.sleep(3)` too);
 *   the numbers passed and printed are the seed's.
 * - `getHtml` is shipped to the pool's workers by source text, so it sleeps with the one-line
 *   `Atomics.wait` instead of this file's `time` import.
 * - Worker start-up. A CPython pool thread starts in microseconds and takes `task2` off the
 *   queue at once, so there `task2.cancel()` usually prints False (already running). A Tandem
 *   pool thread is a worker with its own V8 isolate that takes a fraction of a second to start,
 *   so at that moment `task2` is still queued and `cancel()` succeeds (True): its
 *   "get page 2 success" never prints. For the same reason `task1.done()` after sleeping as long
 *   as the call takes is False here (the call began only once its worker was up) and the
 *   blocking `result()` waits the rest. The demo prints what actually happened and explains it.
 * - Not in the seed: to show `cancel()` refusing a running call, a third call is submitted,
 *   its `running()` awaited, and `cancel()` tried on it (False). The demo also prints what a
 *   cancelled future's `result()` throws (CancelledError), and checks the outcome: `task1`
 *   returns 3, `task2` is either cancelled or returned 2 as its `cancel()` said, the third call
 *   cannot be cancelled and returns 1. It exits with code 1 otherwise.
 * - The seed never shuts the executor down (CPython, like Tandem, lets a busy pool finish before
 *   the process exits); the demo calls `executor.shutdown()` at the end.
 */
import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'
import * as time from './_time.ts'

function getHtml(times: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, times * 500) // time.sleep(times), halved
  console.log(`get page ${times} success`)
  return times
}

const failures: string[] = []

const executor = new ThreadPoolExecutor({ maxWorkers: 2 })
// 通过submit函数提交执行的函数到线程池中, submit 是立即返回
// 注意,这里传递的是函数名,不是函数的调用
const submitted = performance.now()
const task1 = executor.submit(getHtml, 3)
const task2 = executor.submit(getHtml, 2)

// done方法用于判定某个任务是否完成
console.log(task1.done())
const cancelled2 = task2.cancel()
console.log(cancelled2)
time.sleep(3 / 2)
const doneAfterSleep = task1.done()
console.log(doneAfterSleep)

// result方法可以获取task的执行结果
const result1 = task1.result()
console.log(result1)
const ms = Math.round(performance.now() - submitted)

// ---- not in the seed -------------------------------------------------------------------------

if (cancelled2) {
  try {
    task2.result()
    failures.push('task2.result() returned although task2.cancel() returned true')
  } catch (e) {
    const err = e as Error & { code?: string }
    console.log(`task2.cancelled() = ${task2.cancelled()}; task2.result() throws ${err.name} (${err.code})`)
    if (err.code !== 'ERR_CANCELLED') failures.push(`task2.result() threw ${err.name} ${err.code}, expected CancelledError`)
  }
} else {
  const r2 = task2.result(30_000)
  console.log(`task2 was already running, so it was not cancelled: task2.result() = ${r2}`)
  if (r2 !== 2) failures.push(`task2.result() = ${r2}, expected 2`)
}

// cancel() on a call that is running: False, as the seed's comment says.
const task3 = executor.submit(getHtml, 1)
for (let waited = 0; !task3.running() && !task3.done() && waited < 10_000; waited += 5) time.sleep(0.005)
const running3 = task3.running()
const cancelled3 = task3.cancel()
const result3 = cancelled3 ? 'CancelledError' : task3.result(30_000)
console.log(`task3 = submit(get_html, 1): running() = ${running3}, cancel() = ${cancelled3}, result() = ${result3}`)
if (!running3 || cancelled3 || result3 !== 1) failures.push(`task3: running() = ${running3} and cancel() = ${cancelled3} (expected true, false), result ${result3}`)

// The seed leaves this to the end of the script.
executor.shutdown()

if (result1 !== 3) failures.push(`task1.result() = ${result1}, expected 3`)

console.log(
  `Node: the pool's threads are workers with their own V8 isolates and take a moment to start, ` +
    (cancelled2
      ? 'so task2 was still queued when cancel() was called and was cancelled (CPython: usually False, its thread starts at once); '
      : 'yet task2 was already running when cancel() was called, as in CPython; ') +
    (doneAfterSleep
      ? 'task1 was done after the sleep.'
      : `task1 began only once its worker was up, so it was not done after the 1.5 s sleep; result() came ${ms} ms after submit.`),
)
if (failures.length > 0) {
  console.error(`FAIL: ${failures.join('; ')}`)
  process.exitCode = 1
}
