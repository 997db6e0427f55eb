/**
 * Seed 004 (Python使用进程池管理进程), the apply_async example: `multiprocessing.Pool(processes=4)`,
 * `action` submitted three times with `apply_async` (no argument, a positional one, a keyword one),
 * then `close()` and `join()`. Each call prints the pid of the process running it: three calls,
 * three worker processes (程序分别使用 3 个进程来执行 action 任务).
 *
 * Python:                                                   Tandem:
 *   def action(name='default'):                               function action(name = 'default') {
 *       print('(%s)进程正在执行,参数为: %s'                        console.log(`(${process.pid})进程正在执行,参数为: ${name}`)
 *             % (os.getpid(), name))
 *       time.sleep(3)                                             (sleep 3 s)
 *   if __name__ == '__main__':
 *       pool = multiprocessing.Pool(processes=4)              const pool = new Pool(4)
 *       pool.apply_async(action)                              pool.applyAsync(action)
 *       pool.apply_async(action, args=('位置参数', ))         pool.applyAsync(action, ['位置参数'])
 *       pool.apply_async(action, kwds={'name': '关键字参数'})  pool.applyAsync(action, ['关键字参数'])
 *       pool.close()                                          pool.close()
 *       pool.join()                                           await pool.joinAsync()
 *
 * Differences:
 * - JavaScript has no keyword arguments, so `applyAsync(fn, args?, callbacks?)` has no `kwds`:
 *   `kwds={'name': '关键字参数'}` becomes the positional argument for `name`, the only parameter
 *   (a function with several optional parameters would take an options object instead, e.g.
 *   `action({ name: '关键字参数' })`). `processes=4` is the first argument, `new Pool(4)`.
 * - `action` is shipped to the worker processes by its source text (a self-contained function:
 *   `process.pid` is a global, and it sleeps with the one-line `Atomics.wait` instead of
 *   `time.sleep`), so no worker imports this file and no main guard is needed; CPython's spawn
 *   imports `__main__` to find `action`, hence the seed's `if __name__ == '__main__'`.
 * - The sleep is the seed's 3 s, not shortened: the worker processes start in `new Pool(4)`, as
 *   CPython's, but a fresh node under tsx takes 2 to 5 s to boot on this machine and the four
 *   boot up to about a second apart, so a worker that finished its call before the third one had
 *   booted could take the third call too.
 * - `join()` is `await pool.joinAsync()`, which waits for the worker processes to exit without
 *   blocking the event loop (`pool.join()` blocks, as Python's).
 * - Not in the seed: the demo keeps the three AsyncResults (the seed drops them) and `action`
 *   returns its pid and the time it ended, so the main process can check that every call
 *   succeeded, that the three ran in three different worker processes (none in the main one) and
 *   at the same time (they ended less than 3 s, the length of one call, apart), and that
 *   `close()` refused another call (`ERR_POOL_NOT_RUNNING`, CPython's ValueError "Pool not
 *   running"); it exits with code 1 otherwise.
 */
import { Pool } from '@tandem/futures/pool'

function action(name = 'default') {
  console.log(`(${process.pid})进程正在执行,参数为: ${name}`)
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000) // time.sleep(3)
  return { pid: process.pid, at: Date.now() / 1000 } // not in the seed: for the checks below
}

// 创建包含4条进程的进程池
const pool = new Pool(4)
// 将action分3次提交给进程池
const results = [
  pool.applyAsync(action),
  pool.applyAsync(action, ['位置参数']),
  pool.applyAsync(action, ['关键字参数']), // kwds={'name': '关键字参数'}: no keyword arguments in JavaScript
]
pool.close()

let refused = 'accepted'
try {
  pool.applyAsync(action, ['after close'])
} catch (e) {
  refused = (e as { code?: string }).code ?? String(e)
}

await pool.joinAsync()

// ---- not in the seed: the checks ----------------------------------------------------------
const failures: string[] = []
const done = results.filter((r) => r.ready() && r.successful())
if (done.length !== 3) failures.push(`${done.length} of 3 calls succeeded`)
const ran = done.map((r) => r.get())
const pids = new Set(ran.map((r) => r.pid))
const ends = ran.map((r) => r.at)
const spread = ran.length > 0 ? Math.max(...ends) - Math.min(...ends) : 0
console.log(`(3 calls in ${pids.size} worker processes (main process ${process.pid}), finished within ${spread.toFixed(2)} s of each other; applyAsync after close(): ${refused})`)
console.log(
  'Node: no fork: each worker process is a fresh node, started by new Pool(4) as CPython starts its 4, ' +
    'and action reaches it by its source text, so this file needs no main guard.',
)
if (pids.size !== 3) failures.push(`the 3 calls ran in ${pids.size} processes, not 3`)
if (pids.has(process.pid)) failures.push('a call ran in the main process')
if (spread >= 3) failures.push(`the calls finished ${spread.toFixed(2)} s apart: they did not all run at the same time`)
if (refused !== 'ERR_POOL_NOT_RUNNING') failures.push(`applyAsync after close(): ${refused}`)
if (failures.length > 0) {
  console.error(`FAIL: ${failures.join('; ')}`)
  process.exitCode = 1
}
