/**
 * Seed 002, 回调函数: 20 calls submitted to a process pool of 4, each future given a done
 * callback `parse` with `add_done_callback`; when a call returns, `parse(future)` runs and prints
 * the result, and the submitting code never waits for anything (异步提交 + 回调机制).
 *
 * Python (the seed):                                Tandem:
 *   def task(i):                                      async function task(i: number) {
 *       print(f'{current_process().name} 在运行 任务{i}')   console.log(`${currentProcess().name} 在运行 任务${i}`)
 *       time.sleep(0.2)                                   (sleep 0.2 s)
 *       return i**2                                       return i ** 2
 *   def parse(future):                                function parse(future: Future<number>) {
 *       print(current_process().name, '拿到了结果',       console.log(currentProcess().name, '拿到了结果', future.result())
 *             future.result())
 *   pool = ProcessPoolExecutor(4)                     const pool = new ProcessPoolExecutor({ maxWorkers: 4 })
 *   for i in range(20):                               for (let i = 0; i < 20; i++) {
 *       future = pool.submit(task,i)                      const future = pool.submit(task, i)
 *       future.add_done_callback(parse)                   future.addDoneCallback(parse)
 *
 * Differences:
 * - Where the callback runs: the seed's comment says that in a process pool the main process
 *   runs it (`MainProcess 拿到了结果 ...`), and so does Tandem: a done callback runs in the
 *   thread that added it, here the main thread of the main process, from its event loop as soon
 *   as it sees the future done. (CPython's thread pool, the seed's commented variant, would run
 *   it in the worker thread.)
 * - `task` is shipped to the worker processes by source text, so it imports `currentProcess`
 *   itself (`await import('@tandem/ipc/process')`) and sleeps with the one-line `Atomics.wait`.
 *   Worker processes are named `ProcessPoolExecutor-N_i` (CPython: `SpawnProcess-i`).
 * - The seed's script ends after the loop; the process then waits for the busy pool (CPython and
 *   Tandem alike), and the callbacks fire meanwhile. Here the main thread writes that wait out,
 *   `await pool.shutdownAsync()` (its event loop stays free for the callbacks), then `await`s
 *   the futures, which runs any callback not yet run, so that it can check them.
 * - Not in the seed: the demo checks that `parse` ran exactly once per future, in the main
 *   process's main thread, with i**2, that the tasks ran in other processes, and exits with
 *   code 1 otherwise.
 */
import type { Future } from '@tandem/futures/future'
import { ProcessPoolExecutor } from '@tandem/futures/process-pool-executor'
import { currentProcess } from '@tandem/ipc/process'
import { currentThread } from '@tandem/sync/thread'

async function task(i: number) {
  const { currentProcess } = await import('@tandem/ipc/process')
  console.log(`${currentProcess().name} 在运行 任务${i}`)
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200) // time.sleep(0.2)
  return [i ** 2, process.pid]
}

const seen: { where: string; result: number }[] = []
const pids = new Set<number>()

function parse(future: Future<number[]>) {
  // 如果是进程池 执行完当前任务 负责执行回调函数的是主进程
  const [result, pid] = future.result()
  console.log(currentProcess().name, '拿到了结果', result)
  seen.push({ where: `${currentProcess().name}/${currentThread().name}`, result: result! })
  pids.add(pid!)
}

const pool = new ProcessPoolExecutor({ maxWorkers: 4 })
const fuList: Future<number[]>[] = []
for (let i = 0; i < 20; i++) {
  const future = pool.submit(task, i)
  future.addDoneCallback(parse) // 绑定回调函数
  // 当任务执行结束拿到返回值的时候自动触发回调函数。并且把future当做参数直接传给回调函数parse
  fuList.push(future)
}
console.log(`(main process: 20 tasks submitted, ${seen.length} callbacks run so far; the main thread goes on)`)

// The seed's script just ends (the process waits for the busy pool); the callbacks run meanwhile.
await pool.shutdownAsync()
await Promise.all(fuList)

const expected = [...Array(20).keys()].map((i) => i ** 2)
const results = seen.map((s) => s.result).sort((a, b) => a - b)
const where = new Set(seen.map((s) => s.where))
console.log(
  `Node: parse ran ${seen.length} times, in ${[...where].join(', ')}, for tasks run in ${pids.size} worker processes: ` +
    'a done callback runs in the thread that added it (as the seed says of its process pool: in the main process).',
)
if (results.join() !== expected.join() || where.size !== 1 || !where.has('MainProcess/MainThread') || pids.has(process.pid) || pids.size < 1) {
  console.error(
    `FAIL: expected parse once per future on MainProcess/MainThread with i**2, tasks in other processes; got [${results.join(', ')}] in ${[...where].join(', ')}, pids ${[...pids].join(', ')}`,
  )
  process.exitCode = 1
}
