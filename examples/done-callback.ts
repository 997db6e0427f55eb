/**
 * Seed 002, 回调函数: 20 calls submitted to a pool of 4, each future given a done callback
 * `parse` with `add_done_callback`; when a call returns, `parse(future)` runs and prints the
 * result, and the submitting code never waits for anything (异步提交 + 回调机制).
 *
 * Python (the seed's thread-pool lines):            Tandem:
 *   def task(i):                                      async function task(i: number) {
 *       print(f'{currentThread().name} 在运行 任务{i}')    console.log(`${currentThread().name} 在运行 任务${i}`)
 *       time.sleep(0.2)                                   (sleep 0.2 s)
 *       return i**2                                       return i ** 2
 *   def parse(future):                                function parse(future: Future<number>) {
 *       print(currentThread().name, '拿到了结果',          console.log(currentThread().name, '拿到了结果', future.result())
 *             future.result())
 *   pool = ThreadPoolExecutor(4)                      const pool = new ThreadPoolExecutor({ maxWorkers: 4 })
 *   for i in range(20):                               for (let i = 0; i < 20; i++) {
 *       future = pool.submit(task,i)                      const future = pool.submit(task, i)
 *       future.add_done_callback(parse)                   future.addDoneCallback(parse)
 *
 * Differences:
 * - The seed runs this on `ProcessPoolExecutor(4)` and comments `ThreadPoolExecutor(4)` out; this
 *   demo is the thread-pool variant (the seed's commented `currentThread()` lines). The process
 *   pool variant comes with ProcessPoolExecutor, in a later demo.
 * - Which thread runs the callback. The seed's comment: in a thread pool, the callback runs in
 *   the thread that ran the task; in a process pool, in the main process. Tandem runs a done
 *   callback in the thread that added it (a callback is a closure of that thread and cannot
 *   move to a worker): here `MainThread`, from its event loop, as soon as it sees the future
 *   done. So `parse` prints `MainThread 拿到了结果 ...`, which is what the seed's process pool
 *   prints (`MainProcess 拿到了结果 ...`). The demo says so in its `Node:` line.
 * - `task` is shipped to the workers by source text, so it imports `currentThread` itself
 *   (`await import('@tandem/sync/thread')`) and sleeps with the one-line `Atomics.wait`.
 * - The seed's script ends after the loop; the process then waits for the busy pool (CPython and
 *   Tandem alike), and the callbacks fire meanwhile. Here the main thread writes that wait out,
 *   `await pool.shutdownAsync()` (its event loop stays free for the callbacks), then `await`s
 *   the futures, which runs any callback not yet run, so that it can check them.
 * - Not in the seed: the demo checks that `parse` ran exactly once per future, on the main
 *   thread, with i**2, and exits with code 1 otherwise.
 */
import type { Future } from '@tandem/futures/future'
import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'
import { currentThread } from '@tandem/sync/thread'

async function task(i: number) {
  const { currentThread } = await import('@tandem/sync/thread')
  console.log(`${currentThread().name} 在运行 任务${i}`)
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200) // time.sleep(0.2)
  return i ** 2
}

const seen: { thread: string; result: number }[] = []

function parse(future: Future<number>) {
  // 如果是线程池 执行完当前任务 负责执行回调函数的是执行任务的线程 (CPython); Tandem: the thread that added the callback
  console.log(currentThread().name, '拿到了结果', future.result())
  seen.push({ thread: currentThread().name, result: future.result() })
}

const pool = new ThreadPoolExecutor({ maxWorkers: 4 })
const fuList: Future<number>[] = []
for (let i = 0; i < 20; i++) {
  const future = pool.submit(task, i)
  future.addDoneCallback(parse) // 绑定回调函数
  // 当任务执行结束拿到返回值的时候自动触发回调函数。并且把future当做参数直接传给回调函数parse
  fuList.push(future)
}
console.log(`(main thread: 20 tasks submitted, ${seen.length} callbacks run so far; the main thread goes on)`)

// The seed's script just ends (the process waits for the busy pool); the callbacks run meanwhile.
await pool.shutdownAsync()
await Promise.all(fuList)

const expected = [...Array(20).keys()].map((i) => i ** 2)
const results = seen.map((s) => s.result).sort((a, b) => a - b)
const threads = new Set(seen.map((s) => s.thread))
console.log(
  `Node: parse ran ${seen.length} times, in ${[...threads].join(', ')}: a done callback runs in the thread that added it ` +
    '(CPython runs it in the pool thread that finished the task; its process pool, in the main process, as here).',
)
if (results.join() !== expected.join() || threads.size !== 1 || !threads.has('MainThread')) {
  console.error(`FAIL: expected parse once per future on MainThread with i**2; got [${results.join(', ')}] in ${[...threads].join(', ')}`)
  process.exitCode = 1
}
