/**
 * Seed 001, section 4.1: the counter of the race demo, now with every `+=` / `-=` under an RLock
 * shared by both threads. The total must be 0; the demo fails (exit code 1) if it is not.
 *
 * Python:                                  Tandem:
 *   total = 0                                const total = new Int32Array(new SharedArrayBuffer(4))
 *   lock = RLock()                           const lock = new RLock()
 *                                            const go = new Barrier(2)
 *   def add():                               function add(lock, total, go) {
 *       global lock                            // no globals across workers: all come in args
 *       global total                           go.wait()  // start together (see below)
 *       for i in range(1000000):               for (let i = 0; i < 1_000_000; i++) {
 *           lock.acquire()                         lock.acquire()
 *           total += 1                             total[0] += 1
 *           lock.release()                         lock.release()
 *
 * The lock arrives in each thread as a live handle on the same shared state (the shareable
 * protocol), like the module global in Python. As in race-counter, both threads first meet at a
 * Barrier (not in the seed) so that their loops overlap and the lock is really contended.
 */
import { Barrier } from '@tandem/sync/barrier'
import { RLock } from '@tandem/sync/rlock'
import { Thread } from '@tandem/sync/thread'

// RLock 表示可重入的锁
// 在同一个线程里面,可以连续调用多次acquire, 一定要注意acquire的次数要和release的次数相等。
// 注意,这里是同一个线程,并不是多个线程之间可以调用多次
const total = new Int32Array(new SharedArrayBuffer(4))
const lock = new RLock()
// Not in the seed, as in race-counter: both threads start their loops together, so the lock is
// really contended (a worker starts far more slowly than a CPython thread).
const go = new Barrier(2)

function add(lock: RLock, total: Int32Array, go: Barrier) {
  // 1. dosomething1
  // 2. io操作
  // 1. dosomething3
  go.wait()
  for (let i = 0; i < 1_000_000; i++) {
    lock.acquire()
    total[0] += 1
    lock.release()
  }
}

function desc(lock: RLock, total: Int32Array, go: Barrier) {
  go.wait()
  for (let i = 0; i < 1_000_000; i++) {
    lock.acquire()
    total[0] -= 1
    lock.release()
  }
}

const thread1 = new Thread({ target: add, args: [lock, total, go] })
const thread2 = new Thread({ target: desc, args: [lock, total, go] })
thread1.start()
thread2.start()
//
thread1.join()
thread2.join()
console.log(total[0])

// 1. 用锁会影响性能
// 2. 锁会引起死锁
if (total[0] !== 0) {
  console.error(`FAIL: total is ${total[0]}, expected 0: the RLock did not exclude the other thread`)
  process.exitCode = 1
} else {
  console.log('Node: the threads run in parallel, without a GIL; the RLock alone keeps every update, so the total is 0.')
}
