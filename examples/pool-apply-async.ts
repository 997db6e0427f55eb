/**
 * Seed 001, section 6.5 (进程池): `multiprocessing.Pool(multiprocessing.cpu_count())`, one
 * `apply_async(get_html, args=(3,))`, then `close()` and `join()` (在调用 join 之前, 需要调用 close
 * 方法, 关闭池子), then `result.get()`, which no longer waits.
 *
 * Python:                                                Tandem:
 *   def get_html(n):                                       function getHtml(n: number) {
 *       time.sleep(n)                                          (sleep n / 3 s)
 *       print("sub_progress success")                          console.log('sub_progress success')
 *       return n                                               return n
 *   if __name__ == "__main__":
 *       pool = multiprocessing.Pool(                       const pool = new Pool(cpuCount())
 *           multiprocessing.cpu_count())
 *       result = pool.apply_async(get_html, args=(3,))     const result = pool.applyAsync(getHtml, [3])
 *       pool.close()                                       pool.close()
 *       pool.join()                                        pool.join()
 *       print(result.get())                                console.log(result.get())
 *
 * Differences:
 * - `getHtml` is shipped to the worker process by its source text (a self-contained function: it
 *   sleeps with the one-line `Atomics.wait` instead of `time.sleep`), so no worker imports this
 *   file and no main guard is needed; CPython's spawn imports `__main__` to find `get_html`.
 * - The sleep is divided by 3 (get_html(3) sleeps 1 s and returns 3).
 * - `cpuCount()` is `multiprocessing.cpu_count()` (from `@tandem/ipc/process`); `new Pool()` with no
 *   argument means the same.
 * - The seed's part is as blocking as Python's: `join()` blocks the main thread until the worker
 *   processes have exited. The Tandem idiom is in the second part, not in the seed: `using pool`
 *   (terminated at the end of the block, as Python's `with`), `await` on an AsyncResult (it is
 *   awaitable: `await result` is `result.get()` without blocking the event loop), and the
 *   `callback` / `errorCallback` of `apply_async` (in the main process, once the result is ready;
 *   seed 004 lists them), with a call that throws: its error comes back to the main process
 *   (`errorCallback`, and `await` rejects with it).
 * - Not in the seed: the demo checks that `get()` gave 3, that the result was ready when `join()`
 *   returned and not before the call could have finished (it sleeps 1 s), that `apply_async`
 *   after `close()` is refused (`ERR_POOL_NOT_RUNNING`, CPython's ValueError "Pool not running"),
 *   and the callbacks of the second part; it exits with code 1 otherwise.
 */
import { Pool } from '@tandem/futures/pool'
import { cpuCount } from '@tandem/ipc/process'
import * as time from './_time.ts'

// 多进程编程
function getHtml(n: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, (n * 1000) / 3) // time.sleep(n), / 3
  console.log('sub_progress success')
  return n
}

const failures: string[] = []
const start = time.time()

// 使用进程池
const pool = new Pool(cpuCount())
// 提交任务到池子中
const result = pool.applyAsync(getHtml, [3])
const readyAtOnce = result.ready()
// 等待所有任务完成
// 在调用 join 之前,需要调用 close 方法,关闭池子
pool.close()
let refused = 'accepted'
try {
  pool.applyAsync(getHtml, [1]) // not in the seed
} catch (e) {
  refused = (e as { code?: string }).code ?? String(e)
}
pool.join()
const readyAtJoin = result.ready()
const took = time.time() - start
console.log(result.get())

console.log(
  `(Pool(${pool.size}): ready() ${readyAtOnce} right after apply_async, ${readyAtJoin} when join() returned after ${took.toFixed(2)} s; ` +
    `apply_async after close(): ${refused})`,
)
if (result.get() !== 3) failures.push(`result.get() gave ${result.get()}, not 3`)
if (readyAtOnce) failures.push('the result was ready right after apply_async')
if (!readyAtJoin) failures.push('the result was not ready when join() returned')
if (took < 1 - 0.05) failures.push(`join() returned after ${took.toFixed(2)} s, before get_html(3) could have slept 1 s`)
if (refused !== 'ERR_POOL_NOT_RUNNING') failures.push(`apply_async after close(): ${refused}`)

// ---- not in the seed: the same with await, using and the callbacks ------------------------
{
  using pool = new Pool(2) // terminated at the end of the block, as `with multiprocessing.Pool(2) as pool:`
  const called: string[] = []
  const ok = pool.applyAsync(getHtml, [3], { callback: (value) => called.push(`callback(${value})`) })
  const bad = pool.applyAsync(
    (n: number) => {
      throw new RangeError(`no page ${n}`)
    },
    [4],
    { errorCallback: (err) => called.push(`errorCallback(${(err as Error).name}: ${(err as Error).message})`) },
  )
  const value = await ok // the event loop runs while the call does
  let rejected = 'resolved'
  try {
    await bad
  } catch (e) {
    rejected = `${(e as Error).name}: ${(e as Error).message}`
  }
  console.log(`await ok: ${value}; await bad: ${rejected}; callbacks run: ${called.join(', ')}`)
  if (value !== 3) failures.push(`await ok gave ${value}, not 3`)
  if ([...called].sort().join() !== 'callback(3),errorCallback(RangeError: no page 4)') failures.push(`callbacks: ${called.join(', ') || 'none'}`)
  if (rejected !== 'RangeError: no page 4') failures.push(`await bad: ${rejected}`)
}

console.log(
  'Node: a worker process is a fresh node (no fork), started by new Pool() as in CPython; ' +
    'the error thrown there comes back as a RangeError with its message, as CPython pickles the exception.',
)
if (failures.length > 0) {
  console.error(`FAIL: ${failures.join('; ')}`)
  process.exitCode = 1
}
