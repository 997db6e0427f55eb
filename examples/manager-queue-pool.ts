/**
 * Seed 001, section 6.7.1, second example (multiprocessing中的queue不能用于pool进程池. pool中的进程间
 * 通信需要使用manager中的queue): a `Manager().Queue(10)` passed to two calls on `Pool(2)`, the
 * producer putting "a", the consumer getting it and printing it; `close()`, `join()`.
 *
 * Python:                                                Tandem:
 *   from multiprocessing import Pool, Manager              import { Pool } from '@tandem/futures/pool'
 *                                                          import { Manager, type QueueProxy } from '@tandem/ipc/manager'
 *   def producer(queue):                                   function producer(queue: QueueProxy<string>) {
 *       queue.put("a")                                         queue.put('a')
 *       time.sleep(2)                                          (sleep 0.5 s)
 *   def consumer(queue):                                   function consumer(queue: QueueProxy<string>) {
 *       time.sleep(2)                                          (sleep 0.5 s)
 *       data = queue.get()                                     const data = queue.get()
 *       print(data)                                            console.log(data)
 *   if __name__ == "__main__":                             using manager = Manager()
 *       queue = Manager().Queue(10)                        const queue = manager.Queue<string>(10)
 *       pool = Pool(2)                                     const pool = new Pool(2)
 *       pool.apply_async(producer, args=(queue,))          pool.applyAsync(producer, [queue])
 *       pool.apply_async(consumer, args=(queue,))          pool.applyAsync(consumer, [queue])
 *       pool.close()                                       pool.close()
 *       pool.join()                                        await pool.joinAsync()
 *
 * Differences:
 * - The tasks are shipped to the worker processes by their source text (self-contained
 *   functions: they sleep with the one-line `Atomics.wait`), so no worker imports this file and
 *   no main guard is needed; CPython's spawn imports `__main__` to find them.
 * - Sleeps are divided by 4 (2 s -> 0.5 s).
 * - The manager is kept in `using manager`, which shuts its server process down at the end of the
 *   file; the seed drops the `Manager()` object at once (CPython keeps its server alive while
 *   proxies exist). `join()` is `await pool.joinAsync()`, which waits for the worker processes to
 *   exit without blocking the event loop.
 * - The seed's warning does not hold in Tandem, and the demo shows it (not in the seed): a
 *   `multiprocessing.Queue` (`@tandem/ipc/queue`) passed to a Pool call works, as a handle on the
 *   queue in the main process, where CPython refuses it (RuntimeError: Queue objects should only
 *   be shared between processes through inheritance, raised when the pool sends the call to a
 *   worker and stored in its AsyncResult, so it goes unseen unless `get()` is called). What a Pool refuses is a thread queue
 *   (`@tandem/queue`, Python's `queue.Queue`): `applyAsync` throws `ERR_NOT_SHAREABLE` at once
 *   (CPython: TypeError: cannot pickle '_thread.lock' object).
 * - Not in the seed: the demo keeps the AsyncResults (the seed drops them, so a failing call
 *   would go unnoticed), the consumer also returns what it got, and the demo checks that both
 *   calls succeeded, that the consumer got "a" (with the manager queue and with the process
 *   queue), that both queues are empty afterwards and that the thread queue was refused; it exits
 *   with code 1 otherwise.
 */
import { Pool } from '@tandem/futures/pool'
import { Manager, type QueueProxy } from '@tandem/ipc/manager'
import { Queue as ProcessQueue } from '@tandem/ipc/queue'
import { Queue as ThreadQueue } from '@tandem/queue/queue'

/** A queue either kind: the manager's proxy or a process queue (both have put and get). */
type AnyQueue = QueueProxy<string> | ProcessQueue<string>

function producer(queue: AnyQueue) {
  queue.put('a')
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500) // time.sleep(2), / 4
}

function consumer(queue: AnyQueue) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500) // time.sleep(2), / 4
  const data = queue.get()
  console.log(data)
  return data // not in the seed: for the checks below
}

const failures: string[] = []

// ---- the seed ------------------------------------------------------------------------------
using manager = Manager()
const queue = manager.Queue<string>(10)
const pool = new Pool(2)
const produced = pool.applyAsync(producer, [queue])
const consumed = pool.applyAsync(consumer, [queue])
pool.close()
await pool.joinAsync()

// ---- not in the seed: the checks, and the queues a Pool takes or refuses ---------------------
const got = consumed.successful() ? consumed.get() : undefined
console.log(`(Manager().Queue(10): producer ${produced.successful() ? 'ok' : 'failed'}, consumer got ${JSON.stringify(got)}, queue.empty() ${queue.empty()})`)
if (!produced.successful() || !consumed.successful()) failures.push('a call failed')
if (got !== 'a') failures.push(`the consumer got ${JSON.stringify(got)}`)
if (!queue.empty()) failures.push('the manager queue is not empty')

{
  using pool = new Pool(2)
  const processQueue = new ProcessQueue<string>(10) // multiprocessing.Queue(10)
  const results = [pool.applyAsync(producer, [processQueue]), pool.applyAsync(consumer, [processQueue])]
  const gotHere = await results[1]
  await results[0]
  console.log(`(multiprocessing.Queue(10) in the same two calls: the consumer got ${JSON.stringify(gotHere)}; CPython: RuntimeError, only through inheritance)`)
  if (gotHere !== 'a') failures.push(`with a process queue, the consumer got ${JSON.stringify(gotHere)}`)
  if (!processQueue.empty()) failures.push('the process queue is not empty')

  let refused = 'accepted'
  try {
    pool.applyAsync(producer, [new ThreadQueue<string>(10) as unknown as AnyQueue])
  } catch (e) {
    refused = `${(e as Error).name} ${(e as { code?: string }).code}`
  }
  console.log(`(queue.Queue(10) in a call: ${refused}; CPython: TypeError: cannot pickle '_thread.lock' object)`)
  if (!refused.endsWith('ERR_NOT_SHAREABLE')) failures.push(`a thread queue in applyAsync: ${refused}`)
}

console.log(
  'Node: a worker process is a fresh node (no fork); the manager queue lives in the manager server process and a process queue in the main process, ' +
    'and both reach a Pool call as working handles (CPython takes only the first), while a thread queue lives in shared memory and cannot leave this process.',
)
if (failures.length > 0) {
  console.error(`FAIL: ${failures.join('; ')}`)
  process.exitCode = 1
}
