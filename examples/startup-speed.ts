/**
 * Seed 002 (进程vs线程创建速度): the same `task` started once as a Thread and once as a Process,
 * each followed at once by `print('主')`. In CPython the thread is already running when `start()`
 * returns ("子线程 is running" comes before "主"), while the process is not ("主" comes first):
 * 开启子进程需要申请资源开辟空间, 开启子线程只是告诉操作系统一个执行方案.
 *
 * Python:                                                 Tandem:
 *   def task(name):                                         function task(name: string) {
 *       print(f'{name} is running')                             console.log(`${name} is running`)
 *       time.sleep(2)                                           (sleep 0.5 s)
 *       print(f'{name} is end')                                 console.log(`${name} is end`)
 *   if __name__ == '__main__':
 *       t = Thread(target=task,args=('子线程',))              const t = new Thread({ target: task, args: ['子线程'] })
 *       p = Process(target=task,args=('子进程',))             const p = new Process({ target: task, args: ['子进程'] })
 *       t.start()    # or: p.start()                            t.start()    // then: p.start()
 *       print('主')                                             console.log('主')
 *
 * Expected output in CPython:   子线程 is running / 主 / 子线程 is end     and     主 / 子进程 is running / 子进程 is end
 *
 * Differences:
 * - The seed runs one of the two (the other `start()` is commented out); the demo runs both, the
 *   thread first, and joins each before the next (the seed just lets the program end).
 * - `task` is shipped to the worker thread and to the child process by source text, so it
 *   cannot use this file's imports: it sleeps with the one-line `Atomics.wait`; the sleep is
 *   divided by 4 (2 s -> 0.5 s).
 * - Not in the seed: the start-up is timed. Each of 5 threads and 5 processes runs a target that
 *   only reports when it began (a thread in shared memory, a process over a Pipe); the table gives the median time from `start()` to the target
 *   running, and to `join()` returning. The demo checks that every target ran and does not fail
 *   on timing (the machine is shared and noisy).
 *
 * Node truth: a Tandem Thread is a worker thread with its own V8 isolate, and `start()` returns
 * before that isolate has booted, so "主" usually comes first for the thread too; a thread still
 * starts faster than a process (about twice as fast on the machine this was written on), which is
 * a new `node` (no fork) loading V8 and its modules.
 */
import { isMainThread } from 'node:worker_threads'
import { currentProcess, Process } from '@tandem/ipc/process'
import { type Connection, Pipe } from '@tandem/ipc/pipe'
import { Thread } from '@tandem/sync/thread'

const RUNS = 5

function task(name: string) {
  console.log(`${name} is running`)
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500) // time.sleep(2), / 4
  console.log(`${name} is end`)
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
const now = () => performance.timeOrigin + performance.now()

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

if (isMainThread && currentProcess().name === 'MainProcess') {
  const failures: string[] = []

  console.log("--- t = Thread(target=task, args=('子线程',)); t.start(); print('主') ---")
  const t = new Thread({ target: task, args: ['子线程'] })
  t.start()
  console.log('主')
  t.join()

  console.log("--- p = Process(target=task, args=('子进程',)); p.start(); print('主') ---")
  const p = new Process({ target: task, args: ['子进程'] })
  p.start()
  console.log('主')
  p.join()
  if (p.exitCode !== 0) failures.push(`the process exited with ${p.exitCode}`)

  // ---- timed (not in the seed) ---------------------------------------------------------------
  // A thread writes the time its target began into a shared Float64Array slot.
  const began = new Float64Array(new SharedArrayBuffer(8 * RUNS))
  const threadRunning: number[] = []
  const threadJoined: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const t0 = now()
    const th = new Thread({
      target: (slots: Float64Array, k: number) => {
        slots[k] = performance.timeOrigin + performance.now()
      },
      args: [began, i],
    })
    th.start()
    th.join()
    threadJoined.push(now() - t0)
    if (began[i] === 0) failures.push(`thread ${i} did not run`)
    else threadRunning.push(began[i]! - t0)
  }
  // A process sends the time its target began over a pipe.
  const processRunning: number[] = []
  const processJoined: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const [reader, writer] = Pipe(false)
    const t0 = now()
    const pr = new Process({
      target: (w: Connection) => {
        w.send(performance.timeOrigin + performance.now())
      },
      args: [writer],
    })
    pr.start()
    pr.join()
    processJoined.push(now() - t0)
    if (pr.exitCode !== 0 || !reader.poll(5000)) failures.push(`process ${i} did not run (exit code ${pr.exitCode})`)
    else processRunning.push((reader.recv() as number) - t0)
    reader.close()
  }
  const ms = (x: number) => `${x.toFixed(1)} ms`.padStart(10)
  console.log(`median of ${RUNS}:     start() -> target running   start() -> join() returned`)
  console.log(`  Thread           ${ms(median(threadRunning))}                ${ms(median(threadJoined))}`)
  console.log(`  Process          ${ms(median(processRunning))}                ${ms(median(processJoined))}`)
  console.log(
    `Node: a Thread is a worker with its own V8 isolate and start() returns before it has booted, so '主' usually comes first for the thread too ` +
      `(CPython's start() waits for the thread: microseconds); a Process is a new node (no fork), ${(median(processRunning) / median(threadRunning)).toFixed(1)}x slower to start here.`,
  )
  if (failures.length > 0) {
    console.error(`FAIL: ${failures.join('; ')}`)
    process.exitCode = 1
  }
}
