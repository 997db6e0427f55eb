/**
 * Seed 001, sections 2.1 and 2.2: a Thread built from a target function, then Thread subclasses
 * (`GetDetailHtml` / `GetDetailUrl`) with names and `run()`; both started, joined, and the
 * elapsed time printed ("last time"), which is the longer of the two sleeps, not their sum.
 *
 * Python:                                          Tandem:
 *   thread1 = threading.Thread(target=get_detail_html, args=('',))
 *                                                    const thread1 = new Thread({ target: getDetailHtml, args: [''] })
 *   class GetDetailHtml(threading.Thread):           export class GetDetailHtml extends Thread {
 *       def __init__(self, name):                      static override module = import.meta.url
 *           super().__init__(name=name)                constructor(name: string) { super({ name }) }
 *       def run(self): ...                             override run() { ... }
 *   if __name__ == "__main__":                       if (isMainThread) {
 *
 * Differences, all forced by Node:
 * - A target function is shipped to its worker by source text, so it cannot use this file's
 *   imports: it sleeps with the one-line `Atomics.wait` that `time.sleep` stands for.
 * - A subclass is imported by its worker from `module`, so it is exported, declares
 *   `static module = import.meta.url`, and the process-level code runs only `if (isMainThread)`
 *   (the seed's `if __name__ == "__main__"` plays the same role).
 * - Sleeps are halved (2 s -> 1 s, 4 s -> 2 s) to keep the demo short.
 * - The two "started" lines may come in either order: the two workers boot in parallel, and
 *   whichever finishes booting first speaks first.
 */
import { isMainThread } from 'node:worker_threads'
import { Thread } from '@tandem/sync/thread'
import * as time from './_time.ts'

// ---- 2.1 通过Thread类实例化 --------------------------------------------------------------------

function getDetailHtml(_url: string) {
  console.log('get detail html started')
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000) // time.sleep(2), halved
  console.log('get detail html end')
}

function getDetailUrl(_url: string) {
  console.log('get detail url started')
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000) // time.sleep(4), halved
  console.log('get detail url end')
}

// ---- 2.2 通过继承Thread来实现多线程 --------------------------------------------------------------

export class GetDetailHtml extends Thread {
  static override module = import.meta.url

  constructor(name: string) {
    // 这是一个好习惯,在进行多线程编程时,首先调用父类的初始化方法
    super({ name })
  }

  override run() {
    console.log('get detail html started')
    time.sleep(1)
    console.log('get detail html end')
  }
}

export class GetDetailUrl extends Thread {
  static override module = import.meta.url

  constructor(name: string) {
    super({ name })
  }

  override run() {
    console.log('get detail url started')
    time.sleep(2)
    console.log('get detail url end')
  }
}

if (isMainThread) {
  {
    // 方式一:通过Thread类实例化
    // 注意这里面传入的是函数名,而不是函数的调用
    const thread1 = new Thread({ target: getDetailHtml, args: [''] })
    const thread2 = new Thread({ target: getDetailUrl, args: [''] })
    console.log(`--- 2.1 Thread(target=...): ${thread1.name}, ${thread2.name} ---`)
    // thread1.daemon = true 表示设置这个线程为守护线程 (setDaemon(True))
    const startTime = time.time()
    thread1.start()
    thread2.start()
    // join() 表示主线程会等待子线程执行完后才会向下执行。
    thread1.join()
    thread2.join()
    console.log(`last time: ${time.time() - startTime}`)
  }
  {
    // 方式二:通过继承Thread来实现多线程
    const thread1 = new GetDetailHtml('get_detail_html')
    const thread2 = new GetDetailUrl('get_detail_url')
    console.log(`--- 2.2 class GetDetailHtml(Thread): ${thread1.name}, ${thread2.name} ---`)
    const startTime = time.time()
    thread1.start()
    thread2.start()
    thread1.join()
    thread2.join()
    console.log(`last time: ${time.time() - startTime}`)
  }
  console.log(
    'Node: each Thread is a worker with its own V8 isolate, whose start-up (a fraction of a second) ' +
      "is part of 'last time'; the rest is max(1 s, 2 s), not the sum, as in Python.",
  )
}
