/**
 * Seed 001, section 4.3: a `UrlProducer` thread starts 20 `HtmlSpider` threads, taking a permit
 * of a Semaphore(3) before each one; every spider gives its permit back when it is done, so at
 * most 3 spiders run at once.
 *
 * Python:                                      Tandem:
 *   class HtmlSpider(threading.Thread):          export class HtmlSpider extends Thread {
 *       def __init__(self, url, sem):              static override module = import.meta.url
 *           super().__init__()                     constructor(url, sem, running) { super() ... }
 *       def run(self):                             override run() {
 *           time.sleep(2)                              time.sleep(0.5)
 *           print("got html text success")             console.log('got html text success')
 *           self.sem.release()                         this.sem.release()
 *   sem = threading.Semaphore(3)                 const sem = new Semaphore(3)
 *
 * Differences:
 * - The producer is itself a worker thread that starts threads: Tandem supports that, and the
 *   Semaphore reaches every spider as a live handle through the subclass fields.
 * - Each thread also carries `running`, a shared Int32Array in which spiders count themselves
 *   in and out, to show that no more than 3 ever run at once (not in the seed).
 * - The seed's main thread just returns; here it waits for the spiders (by taking back all 3
 *   permits) so that it can print the maximum and fail the demo if it exceeds 3.
 * - The spiders' fetch is only a sleep in the seed too; it is shortened from 2 s to 0.5 s.
 */
import { isMainThread } from 'node:worker_threads'
import { Semaphore } from '@tandem/sync/semaphore'
import { Thread } from '@tandem/sync/thread'
import * as time from './_time.ts'

// Slots of `running` (Tandem addition).
const NOW = 0 // spiders inside run() at this moment
const MAX = 1 // highest NOW seen
const DONE = 2 // spiders finished

// Semaphore 是用于控制进入数量的锁
// 文件, 读、写, 写一般只是用于一个线程写,读可以允许有多个
// 做爬虫
export class HtmlSpider extends Thread {
  static override module = import.meta.url
  url: string
  sem: Semaphore
  running: Int32Array

  constructor(url: string, sem: Semaphore, running: Int32Array) {
    super()
    this.url = url
    this.sem = sem
    this.running = running
  }

  override run() {
    const now = Atomics.add(this.running, NOW, 1) + 1
    // Atomic max: retry if another spider raised MAX in between.
    for (let max = Atomics.load(this.running, MAX); now > max; max = Atomics.load(this.running, MAX)) {
      if (Atomics.compareExchange(this.running, MAX, max, now) === max) break
    }
    time.sleep(0.5)
    console.log('got html text success')
    Atomics.sub(this.running, NOW, 1)
    Atomics.add(this.running, DONE, 1)
    // 每调用 release 时,semaphore 都会加一
    this.sem.release()
  }
}

export class UrlProducer extends Thread {
  static override module = import.meta.url
  sem: Semaphore
  running: Int32Array

  constructor(sem: Semaphore, running: Int32Array) {
    super()
    this.sem = sem
    this.running = running
  }

  override run() {
    for (let i = 0; i < 20; i++) {
      // 每调用 acquire 时,semaphore 都会减一
      this.sem.acquire()
      const htmlThread = new HtmlSpider(`https://baidu.com/${i}`, this.sem, this.running)
      htmlThread.start()
    }
  }
}

if (isMainThread) {
  // 最多允许三个线程并发
  const sem = new Semaphore(3)
  const running = new Int32Array(new SharedArrayBuffer(3 * 4))
  const startTime = time.time()
  const urlProducer = new UrlProducer(sem, running)
  urlProducer.start()

  // Not in the seed: wait for the producer, then for every spider (all 3 permits back means
  // every spider has released its own), and report.
  let finished = urlProducer.join(120_000)
  for (let i = 0; i < 3 && finished; i++) finished = sem.acquire({ timeout: 60_000 })
  const done = Atomics.load(running, DONE)
  const max = Atomics.load(running, MAX)
  console.log(`${done} spiders done in ${(time.time() - startTime).toFixed(1)} s; at most ${max} ran at once (Semaphore(3))`)
  console.log('Node: the spiders are real parallel workers, so up to 3 really run at the same time; the Semaphore is what caps them.')
  if (!finished || done !== 20 || max > 3) {
    console.error(`FAIL: expected 20 spiders with at most 3 at once; got ${done} done, max ${max}${finished ? '' : ', timed out'}`)
    process.exitCode = 1
  }
}
