/**
 * Seed 002, 进程池/线程池的基本用法: 20 calls submitted to `ProcessPoolExecutor(4)` without waiting
 * (异步提交), `pool.shutdown(wait=True)` (等待池内所有任务执行完毕, like a Pool's close() + join()),
 * then every `result()`, which no longer blocks. The pool keeps the processes to 4 (池的功能是限制
 * 启动的进程数).
 *
 * Python:                                                 Tandem:
 *   def task(i):                                            export function task(i: number) {
 *       print(f'{current_process().name} 在运行 任务{i}')        console.log(`${currentProcess().name} 在运行 任务${i}`)
 *       time.sleep(0.2)                                         time.sleep(0.2)
 *       return i**2                                             return i ** 2
 *   if name == 'main':                                      if (isMainProcess) {
 *       pool = ProcessPoolExecutor(4)                           const pool = new ProcessPoolExecutor({ maxWorkers: 4 })
 *       fu_list = []                                            const fuList = []
 *       for i in range(20):                                     for (let i = 0; i < 20; i++) {
 *           future = pool.submit(task,i)                            const future = pool.submit(TASK, i)
 *           fu_list.append(future)                                  fuList.push(future)
 *       pool.shutdown(wait=True)                                pool.shutdown({ wait: true })
 *       for i in fu_list:                                       for (const i of fuList)
 *           print(i.result())                                       console.log(i.result())
 *
 * Differences:
 * - No fork: a worker process is a fresh `node` that finds `task` by importing this module
 *   (`TASK` is `moduleRef(import.meta.url, 'task')`), as CPython's spawn imports `__main__`; so
 *   `task` uses this file's imports (`currentProcess`, `time.sleep`) and the pool code runs only
 *   under the main-process guard, `isMainProcess` (the seed's `if __name__ == '__main__'`, which
 *   the article prints as `if name == 'main'`).
 * - The workers are named `ProcessPoolExecutor-1_0` .. `_3` where CPython prints
 *   `SpawnProcess-1` .. (or `ForkProcess-...`).
 * - The sleep is the seed's 0.2 s: 20 calls, 4 at a time, take at least 1 s.
 * - Not in the seed: the demo times `shutdown(wait=True)`, and checks that every future is done
 *   when it returns (before any `result()`), that the results are i**2 in submission order, that
 *   the calls took at least 20 x 0.2 s / 4 = 1 s (no more than 4 at once), and that a submit after
 *   shutdown is refused (submit和map必须在shutdown之前: `ERR_EXECUTOR_SHUT_DOWN`, CPython's
 *   RuntimeError); it exits with code 1 otherwise.
 */
import { isMainThread } from 'node:worker_threads'
import type { Future } from '@tandem/futures/future'
import { ProcessPoolExecutor } from '@tandem/futures/process-pool-executor'
import { currentProcess } from '@tandem/ipc/process'
import { moduleRef } from '@tandem/sync/task'
import * as time from './_time.ts'

/** True in the process the demo was started as (a worker process imports this module). */
const isMainProcess = isMainThread && currentProcess().name === 'MainProcess'

/** The seed's task, run in a worker process. */
export function task(i: number) {
  // print(f'{currentThread().name} 在运行 任务{i}')  (the seed's thread-pool line)
  console.log(`${currentProcess().name} 在运行 任务${i}`)
  time.sleep(0.2)
  return i ** 2
}

/** `task` as the worker processes find it: an export of this module. */
const TASK = moduleRef<typeof task>(import.meta.url, 'task')

if (isMainProcess) {
  const failures: string[] = []
  const pool = new ProcessPoolExecutor({ maxWorkers: 4 })
  const fuList: Future<number>[] = []
  const start = time.time()
  for (let i = 0; i < 20; i++) {
    const future = pool.submit(TASK, i)
    // console.log(future.result()) // 拿不到值会阻塞在这里。
    fuList.push(future)
  }

  pool.shutdown({ wait: true }) // 等待池内所有任务执行完毕
  const took = time.time() - start
  const doneAtShutdown = fuList.filter((f) => f.done()).length
  for (const i of fuList) {
    console.log(i.result()) // 拿不到值会阻塞在这里。(not any more: all done)
  }

  let refused = 'accepted'
  try {
    pool.submit(TASK, 20)
  } catch (e) {
    refused = (e as { code?: string }).code ?? String(e)
  }
  console.log(
    `(shutdown(wait=True) returned after ${took.toFixed(2)} s with ${doneAtShutdown} of 20 futures done; 20 x 0.2 s on 4 processes is at least 1 s; ` +
      `submit after shutdown: ${refused})`,
  )
  console.log(
    'Node: no fork: the 4 worker processes are fresh node processes (named ProcessPoolExecutor-1_0.._3, CPython: SpawnProcess-N) ' +
      'that import this module to find task, so the time above includes their start-up.',
  )

  const results = fuList.map((f) => f.result())
  const expected = [...Array(20).keys()].map((i) => i ** 2)
  if (doneAtShutdown !== 20) failures.push(`${doneAtShutdown} of 20 futures done when shutdown(wait=True) returned`)
  if (results.join() !== expected.join()) failures.push(`results [${results.join(', ')}], expected [${expected.join(', ')}]`)
  if (took < 1 - 0.05) failures.push(`20 calls of 0.2 s took ${took.toFixed(2)} s: more than 4 ran at once`)
  if (refused !== 'ERR_EXECUTOR_SHUT_DOWN') failures.push(`submit after shutdown: ${refused}`)
  if (failures.length > 0) {
    console.error(`FAIL: ${failures.join('; ')}`)
    process.exitCode = 1
  }
}
