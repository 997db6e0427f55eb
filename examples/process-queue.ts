/**
 * Seed 001, section 6.7.1 (使用 multiprocessing 中的 Queue): a producer process puts "a" on a
 * `multiprocessing.Queue(10)`, a consumer process gets it and prints it. The seed's point: between
 * processes, the `queue.Queue` of threads does not work (多线程编程时通过 queue 进行通信, 但是在多进程
 * 编程时, 需要使用 from multiprocessing import Queue), and global variables are not shared
 * (多个进程之前的变量是完全隔离的).
 *
 * Python:                                                 Tandem:
 *   from multiprocessing import Process, Queue            import { Process } from '@tandem/ipc/process'
 *                                                         import { Queue } from '@tandem/ipc/queue'
 *   def producer(queue):                                  function producer(queue: Queue<string>) {
 *       queue.put("a")                                        queue.put('a')
 *       time.sleep(2)                                         (sleep 0.5 s)
 *   def consumer(queue):                                  function consumer(queue: Queue<string>) {
 *       time.sleep(2)                                         (sleep 0.5 s)
 *       data = queue.get()                                    const data = queue.get()
 *       print(data)                                           console.log(data)
 *   if __name__ == "__main__":
 *       queue = Queue(10)                                 const queue = new Queue<string>(10)
 *       my_producer = Process(target=producer, args=(queue,))
 *                                                         const myProducer = new Process({ target: producer, args: [queue] })
 *       my_consumer = Process(target=consumer, args=(queue,))
 *                                                         const myConsumer = new Process({ target: consumer, args: [queue] })
 *       my_producer.start()                               myProducer.start()
 *       my_consumer.start()                               myConsumer.start()
 *       my_producer.join()                                myProducer.join()
 *       my_consumer.join()                                myConsumer.join()
 *
 * Differences:
 * - The targets are shipped to the child processes by source text, so they cannot use this
 *   file's imports: they sleep with the one-line `Atomics.wait`; the queue arrives in each child
 *   as a working handle on the one queue, which lives in the main process.
 * - Sleeps are divided by 4 (2 s -> 0.5 s).
 * - Not in the seed, the two warnings of the section shown rather than told: a thread queue
 *   (`@tandem/queue`'s Queue, Python's `queue.Queue`) given to a Process is refused at `start()`
 *   with TypeError `ERR_NOT_SHAREABLE` (CPython, under spawn: "TypeError: cannot pickle
 *   '_thread.lock' object"); and a global changed by a child stays unchanged in the parent.
 * - Not in the seed: the consumer also puts what it got on a second queue, read by the main
 *   process; the demo checks it is "a", that the queue is empty afterwards and that both children
 *   exited with code 0 (exit code 1 otherwise).
 */
import { isMainThread } from 'node:worker_threads'
import { currentProcess, Process } from '@tandem/ipc/process'
import { Queue } from '@tandem/ipc/queue'
import { Queue as ThreadQueue } from '@tandem/queue/queue'
import { moduleRef } from '@tandem/sync/task'

function producer(queue: Queue<string>) {
  queue.put('a')
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500) // time.sleep(2), / 4
}

function consumer(queue: Queue<string>, seen: Queue<string>) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500) // time.sleep(2), / 4
  const data = queue.get()
  console.log(data)
  seen.put(data) // not in the seed: tells the main process what arrived
}

// ---- 多进程编程时不能通过共享全局变量方式通信 (not in the seed's code) ------------------------

/** A module-level variable, changed by {@link addToTotal} in a child process. */
export let total = 0

/** Adds to this module's `total` in the calling process and prints it there. */
export function addToTotal(n: number): void {
  total += n
  console.log(`in ${currentProcess().name}: total = ${total}`)
}

if (isMainThread && currentProcess().name === 'MainProcess') {
  const failures: string[] = []

  // The thread queue cannot cross to a process.
  const threadQueue = new ThreadQueue<string>(10)
  try {
    new Process({ target: producer, args: [threadQueue] }).start()
    failures.push('a @tandem/queue Queue was accepted in Process args')
    console.log('Process(args=(queue.Queue(10),)).start(): accepted (unexpected)')
  } catch (e) {
    const err = e as Error & { code?: string }
    console.log(`Process(args=(queue.Queue(10),)).start(): ${err.name} ${err.code} (CPython: TypeError: cannot pickle '_thread.lock' object)`)
    if (err.code !== 'ERR_NOT_SHAREABLE') failures.push(`a thread queue in args threw ${err.code}, not ERR_NOT_SHAREABLE`)
  }

  // A global changed in a child.
  const adder = new Process({ target: moduleRef<typeof addToTotal>(import.meta.url, 'addToTotal'), args: [100] })
  adder.start()
  adder.join()
  console.log(`in MainProcess: total = ${total}`)

  // ---- the seed ----------------------------------------------------------------------------
  const queue = new Queue<string>(10)
  const seen = new Queue<string>() // not in the seed
  const myProducer = new Process({ target: producer, args: [queue] })
  const myConsumer = new Process({ target: consumer, args: [queue, seen] })
  myProducer.start()
  myConsumer.start()
  myProducer.join()
  myConsumer.join()

  const got = seen.get({ timeout: 5000 })
  console.log(`main: the consumer got ${JSON.stringify(got)}; queue.empty() ${queue.empty()}; exit codes: producer ${myProducer.exitCode}, consumer ${myConsumer.exitCode}`)
  console.log(
    'Node: processes share no memory (no fork either): the multiprocessing Queue lives in the main process and the children reach it ' +
      "through it, as CPython's does through a pipe and a feeder thread; the thread Queue of @tandem/queue lives in this process's shared memory and cannot leave it.",
  )
  if (got !== 'a') failures.push(`the consumer got ${JSON.stringify(got)}`)
  if (!queue.empty()) failures.push('the queue is not empty')
  if (myProducer.exitCode !== 0 || myConsumer.exitCode !== 0 || adder.exitCode !== 0) failures.push('a child exited with a code other than 0')
  if (total !== 0) failures.push(`total is ${total} in the main process`)
  if (failures.length > 0) {
    console.error(`FAIL: ${failures.join('; ')}`)
    process.exitCode = 1
  }
}
