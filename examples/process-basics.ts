/**
 * Seed 001, section 6.4 (multiprocessing): a `multiprocessing.Process` built from a target
 * function, its `pid` printed before and after `start()`, then `join()` and "main progress end";
 * then the same with a Process subclass (the seed's comment: 也可以使用继承 multiprocessing.Process
 * 方式实现). Section 6.3 (`os.fork()`) has no Node counterpart: see below.
 *
 * Python:                                                 Tandem:
 *   def get_html(n):                                        function getHtml(n: number) {
 *       time.sleep(n)                                           (sleep n / 4 s)
 *       print("sub_progress success")                           console.log('sub_progress success')
 *       return n                                                return n
 *   if __name__ == "__main__":                              if (isMainProcess) {
 *       progress = multiprocessing.Process(                     const progress = new Process({ target: getHtml, args: [2] })
 *           target=get_html, args=(2,))
 *       print(progress.pid)                                     console.log(progress.pid)
 *       progress.start()                                        progress.start()
 *       print(progress.pid)                                     console.log(progress.pid)
 *       progress.join()                                         progress.join()
 *       print("main progress end")                              console.log('main progress end')
 *
 *   class GetHtml(multiprocessing.Process):                 export class GetHtml extends Process {
 *       def run(self): ...                                      static override module = import.meta.url
 *                                                               override run() { ... }
 *
 * Differences:
 * - No `os.fork()` (seed 6.3) in Node: a Process is a fresh `node` process, as with
 *   multiprocessing's "spawn" start method (the default on Windows and macOS). It gets a target
 *   function by its source text (so `getHtml` cannot use this file's imports: it sleeps with the
 *   one-line `Atomics.wait`), and a Process subclass by importing this module, so the
 *   process-level code runs only in the main process, under `isMainProcess` (the seed's
 *   `if __name__ == "__main__"` plays exactly this role under spawn).
 * - `pid` before `start()` is `null` where Python prints `None`.
 * - Sleeps are divided by 4 (2 s -> 0.5 s).
 * - Not in the seed: the child prints its `currentProcess().name` and `parentProcess().pid`,
 *   the parent prints `exitCode` after `join()` and the time from `start()` to the end of
 *   `join()`; the demo checks that both children exited with code 0 and ran in another process
 *   (exit code 1 otherwise).
 */
import { isMainThread } from 'node:worker_threads'
import { currentProcess, parentProcess, Process } from '@tandem/ipc/process'
import * as time from './_time.ts'

/** True in the process the demo was started as (a child imports this module to find `GetHtml`). */
const isMainProcess = isMainThread && currentProcess().name === 'MainProcess'

// 多进程编程
function getHtml(n: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, n * 250) // time.sleep(n), / 4
  console.log('sub_progress success')
  return n
}

// 下面这行代码也可以使用继承 multiprocessing.Process 方式实现,就像继承 Thread 方式实现多线程一样
export class GetHtml extends Process {
  static override module = import.meta.url
  n: number

  constructor(n: number) {
    super()
    this.n = n
  }

  override run() {
    const me = currentProcess()
    console.log(`${me.name} (pid ${process.pid}, parent pid ${parentProcess()?.pid}): sleeping ${this.n / 4} s`)
    time.sleep(this.n / 4)
    console.log('sub_progress success')
  }
}

if (isMainProcess) {
  const failures: string[] = []
  {
    console.log('--- Process(target=get_html, args=(2,)) ---')
    const progress = new Process({ target: getHtml, args: [2] })
    // 打印 pid
    console.log(progress.pid)
    const t0 = time.time()
    progress.start()
    console.log(progress.pid)
    progress.join()
    console.log('main progress end')
    console.log(`(${progress.name}: exitCode ${progress.exitCode}, start() to join() ${(time.time() - t0).toFixed(2)} s)`)
    if (progress.exitCode !== 0) failures.push(`${progress.name} exit code ${progress.exitCode}`)
    if (progress.pid == null || progress.pid === process.pid) failures.push(`${progress.name} pid ${progress.pid} (main is ${process.pid})`)
  }
  {
    console.log('--- class GetHtml(multiprocessing.Process) ---')
    const progress = new GetHtml(2)
    console.log(progress.pid)
    const t0 = time.time()
    progress.start()
    console.log(progress.pid)
    progress.join()
    console.log('main progress end')
    console.log(`(${progress.name}: exitCode ${progress.exitCode}, start() to join() ${(time.time() - t0).toFixed(2)} s)`)
    if (progress.exitCode !== 0) failures.push(`${progress.name} exit code ${progress.exitCode}`)
  }
  console.log(
    'Node: no os.fork(): a Process is a fresh node process (like the "spawn" start method), so the time above is the 0.5 s sleep ' +
      'plus the start-up of a new node with its V8 and this module; the target travels by source text or as an import of this module.',
  )
  if (failures.length > 0) {
    console.error(`FAIL: ${failures.join('; ')}`)
    process.exitCode = 1
  }
}
