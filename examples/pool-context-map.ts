/**
 * Seed 004 (Python使用进程池管理进程), the map example: the pool used as a context manager
 * (进程池同样实现了上下文管理协议, 因此程序可以使用 with 子句来管理进程池), `pool.map(action, (50, 100,
 * 150))` running `action` in the pool's processes (the seed says 3, one per item), each line
 * printing the pid and the loop counter, then the three sums 0+..+49, 0+..+99 and 0+..+149
 * (1225, 4950, 11175).
 *
 * Python:                                                 Tandem:
 *   def action(max):                                        function action(max: number) {
 *       my_sum = 0                                              let mySum = 0
 *       for i in range(max):                                    for (let i = 0; i < max; i++) {
 *           print('(%s)进程正在执行: %d' % (os.getpid(), i))          console.log(`(${process.pid})进程正在执行: ${i}`)
 *           my_sum += i                                             mySum += i
 *       return my_sum                                           return mySum
 *   if __name__ == '__main__':                              {
 *       with multiprocessing.Pool(processes=4) as pool:         using pool = new Pool(4)
 *           results = pool.map(action, (50, 100, 150))          const results = pool.map(action, [50, 100, 150])
 *           print('--------------')                             console.log('--------------')
 *           for r in results:                                   for (const r of results) {
 *               print(r)                                            console.log(r)
 *
 * Differences:
 * - `with ... as pool:` is `using pool` in a block: leaving it calls `pool.terminate()`, as
 *   Python's `Pool.__exit__` does (terminate, not close + join: the work must be done by then, as
 *   it is here since `map` blocks until the last result).
 * - `action` is shipped to the worker processes by its source text (a self-contained function:
 *   `process.pid` is a global), so no worker imports this file and no main guard is needed;
 *   CPython's spawn imports `__main__` to find `action`.
 * - The tuple `(50, 100, 150)` is an array; `processes=4` is the first argument, `new Pool(4)`.
 *   `map` splits its input into chunks as CPython does (about 4 chunks per process, so here one
 *   item per chunk): 3 calls, in up to 3 processes.
 * - The children's lines go straight to the shared stdout, as in CPython, so the three processes'
 *   lines interleave as they run; all of them are printed before `map` returns and the dashes.
 * - Not in the seed: `action` also reports its pid back (on a second value it returns, which the
 *   demo takes off the results before printing them, so the printed `results` are the seed's);
 *   the demo checks the three sums, that the calls ran in worker processes (not the main one),
 *   that `pool.map` after the block is refused (`ERR_POOL_NOT_RUNNING`: the pool was
 *   terminated), and exits with code 1 otherwise. The number of processes used is printed, not
 *   checked: a worker process done with its item takes the next one, and the first worker up may
 *   run the three calls (milliseconds each) before the others have booted (a fresh node takes a
 *   second or two here; the 4 processes start in `new Pool(4)`, as CPython's).
 */
import { Pool } from '@tandem/futures/pool'

// 定义一个准备作为进程任务的函数
function action(max: number): [number, number] {
  let mySum = 0
  for (let i = 0; i < max; i++) {
    console.log(`(${process.pid})进程正在执行: ${i}`)
    mySum += i
  }
  return [mySum, process.pid] // the seed returns my_sum; the pid is for the checks below
}

let outside: Pool | undefined // not in the seed: the pool, to try it after the block
let results: number[] = []
let pids: number[] = []
{
  // 创建一个包含4条进程的进程池
  using pool = new Pool(4)
  outside = pool
  // 使用进程执行map计算
  // 后面元组有3个元素,因此程序启动3条进程来执行action函数
  const returned = pool.map(action, [50, 100, 150])
  results = returned.map(([mySum]) => mySum)
  pids = returned.map(([, pid]) => pid)
  console.log('--------------')
  for (const r of results) {
    console.log(r)
  }
} // pool.terminate(), as Python's with

// ---- not in the seed: the checks ----------------------------------------------------------
let refused = 'accepted'
try {
  outside.map(action, [1])
} catch (e) {
  refused = (e as { code?: string }).code ?? String(e)
}
const used = new Set(pids)
console.log(`(the 3 calls ran in ${used.size} worker process${used.size === 1 ? '' : 'es'}, pids ${pids.join(', ')}; pool.map after the block: ${refused})`)
console.log(
  'Node: no fork: each worker process is a fresh node, started by new Pool(4) as CPython starts its 4; ' +
    'a worker done with its item takes the next one, so the first one up may run all 3 calls before the others have booted.',
)
const failures: string[] = []
if (results.join() !== '1225,4950,11175') failures.push(`results ${results.join(', ')}, not 1225, 4950, 11175`)
if (used.has(process.pid)) failures.push('a call ran in the main process')
if (refused !== 'ERR_POOL_NOT_RUNNING') failures.push(`pool.map after the with block: ${refused}`)
if (failures.length > 0) {
  console.error(`FAIL: ${failures.join('; ')}`)
  process.exitCode = 1
}
