/**
 * Seed 001, section 3.1 (通过共享变量方式): a producer thread `get_detail_url` appends the
 * detail-page URLs of a list page to a shared list, at most 10 at a time, and 10 consumer threads
 * `get_detail_html` pop them off and crawl them; every access to the list is made under one lock.
 *
 * Python:                                              Tandem:
 *   from chapter11 import variables                      const detailUrlList = new SharedUrlList()   // in main, passed in args
 *   def get_detail_html(lock):                           export async function getDetailHtml(lock, buffer, noMore, server, rounds) {
 *       detail_url_list = variables.detail_url_list          const detailUrlList = new SharedUrlList(buffer)
 *       while True:                                          for (;;) {
 *           if len(variables.detail_url_list):                   if (detailUrlList.length) {
 *               lock.acquire()                                       lock.acquire()
 *               if len(detail_url_list):                             if (detailUrlList.length) {
 *                   url = detail_url_list.pop()                          const url = detailUrlList.pop()
 *                   lock.release()                                       lock.release()
 *                   print("get detail html started")                     console.log(`get detail html started: ${url}`)
 *                   time.sleep(2)                                        await fetch(server + new URL(url).pathname)
 *                   print("get detail html end")                         console.log(`get detail html end: ${url} (200)`)
 *               else:                                                } else {
 *                   lock.release()                                       lock.release()
 *                   time.sleep(1)                                        time.sleep(0.1)
 *   def get_detail_url(lock):                            export function getDetailUrl(lock, buffer, rounds) {
 *       while True:                                          for (let round = 0; round < rounds; round++) {
 *           print("get detail url started")                      console.log('get detail url started')
 *           time.sleep(4)                                        time.sleep(0.4)
 *           for i in range(20):                                  for (let i = 0; i < 20; i++) {
 *               lock.acquire()                                       lock.acquire()
 *               if len(detail_url_list) >= 10:                       if (detailUrlList.length >= 10) {
 *                   lock.release()                                       lock.release()
 *                   time.sleep(1)                                        time.sleep(0.1)
 *               else:                                                } else {
 *                   detail_url_list.append(                              detailUrlList.append(`http://projectsedu.com/${round * 20 + i}`)
 *                       "http://projectsedu.com/{id}".format(id=i))
 *                   lock.release()                                       lock.release()
 *           print("get detail url end")                          console.log('get detail url end')
 *   lock = RLock()                                       const lock = new RLock()
 *   html_thread = threading.Thread(                      const htmlThread = new Thread({
 *       target=get_detail_html, args=(lock,))                target: moduleRef(import.meta.url, 'getDetailHtml'), args: [lock, ...] })
 *
 * Differences:
 * - The shared list. The seed's threads share `variables.detail_url_list` because CPython
 *   threads share one heap. A Tandem thread is a worker with its own V8 isolate: this module is
 *   imported afresh in each one, so a module-level array is a different array in every thread
 *   (the demo shows it first: a thread appends to `variables.detailUrlList`, the main thread
 *   still sees it empty). The list is therefore a {@link SharedUrlList}: up to 10 URL strings in a
 *   SharedArrayBuffer, created by the main thread and passed to every thread in `args`, with
 *   `length`, `append()` and `pop()` (from the end, as `list.pop()`).
 * - The seed never imports `RLock` (a NameError) and never starts `thread_detail_url` (commented
 *   out), so it would crawl nothing; here the RLock comes from @tandem/sync and the producer runs.
 * - The seed loops forever in both functions. Here the producer does 2 rounds and returns; the
 *   main thread then sets an Event, `noMore`, and a consumer that finds the list empty after that
 *   returns, so every thread ends.
 * - As in the seed, the producer moves on to the next `i` after sleeping on a full list, so the
 *   URL it could not append is skipped, never crawled; the demo prints which ones.
 * - URL ids run on across rounds (0..19, then 20..39) instead of repeating `range(20)`, so that
 *   "every URL fetched exactly once" can be checked; printed lines carry the URL.
 * - The consumer's `time.sleep(2)` stands for downloading the page; here the download is real:
 *   the URL's path is fetched from a local HTTP server on 127.0.0.1 (answering after 0.2 s;
 *   projectsedu.com is never contacted), so the consumer is async and the main thread, which
 *   serves HTTP, waits with `joinAsync()`. Other sleeps are divided by 10.
 * - The targets are exported functions of this module, given as `moduleRef(import.meta.url,
 *   name)`: each thread imports this file, so the process-level code runs only `if
 *   (isMainThread)` (the seed's `if __name__ == "__main__"`).
 * - The seed prints "last time" at once (it joins nothing); here it is printed after every thread
 *   has ended.
 * - Not in the seed: the demo checks that each URL appended was fetched exactly once (no two
 *   consumers popped the same one), that no skipped URL was fetched, that the list never held
 *   more than 10, and that all 11 threads ended; it exits with code 1 otherwise.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { isMainThread } from 'node:worker_threads'
import { Event } from '@tandem/sync/event'
import { RLock } from '@tandem/sync/rlock'
import { moduleRef } from '@tandem/sync/task'
import { Thread } from '@tandem/sync/thread'
import * as time from './_time.ts'

const ROUNDS = 2 // the seed: while True
const PER_ROUND = 20 // for i in range(20)
const CONSUMERS = 10 // for i in range(10)
const LIMIT = 10 // if len(detail_url_list) >= 10
const DOWNLOAD_MS = 200 // time.sleep(2), / 10: how long the local server takes to answer

// ---- the shared list -----------------------------------------------------------------------

/*
 * Layout of a SharedUrlList's buffer:
 *
 * | Int32 slot / bytes            | name       | meaning                                        | written by             |
 * | ----------------------------- | ---------- | ---------------------------------------------- | ---------------------- |
 * | slot 0                        | LENGTH     | items in the list, 0..CAPACITY                 | append/pop (lock held) |
 * | slot 1                        | MOST       | the largest LENGTH ever reached (checked)      | append (lock held)     |
 * | slot 2                        | APPENDED   | URLs appended so far                           | append (lock held)     |
 * | bytes [HEADER + k * SLOT, +SLOT) | item k  | byte 0: length n of the URL; bytes 1..n: ASCII  | append (lock held)     |
 *
 * Every change is made with the caller's lock held; the lock's release/acquire makes it visible to
 * the next holder. LENGTH is also stored with `Atomics.store`, because the seed's consumers read
 * `len(...)` once without the lock (a hint only: they read it again under the lock).
 */
const LENGTH = 0
const MOST = 1
const APPENDED = 2
const HEADER = 16 // bytes: the Int32 slots above, rounded up
const SLOT = 64 // bytes per item: a length byte and up to 63 ASCII characters
const CAPACITY = LIMIT

/** The seed's `variables.detail_url_list`: a list of URL strings in shared memory. */
export class SharedUrlList {
  readonly buffer: SharedArrayBuffer
  readonly #slots: Int32Array
  readonly #bytes: Uint8Array

  /** A new empty list, or (given the buffer of one) the same list seen from another thread. */
  constructor(buffer = new SharedArrayBuffer(HEADER + CAPACITY * SLOT)) {
    this.buffer = buffer
    this.#slots = new Int32Array(buffer, 0, HEADER / 4)
    this.#bytes = new Uint8Array(buffer)
  }

  /** `len(list)`; safe to read without the lock (then only a hint). */
  get length(): number {
    return Atomics.load(this.#slots, LENGTH)
  }

  /** The largest length the list ever had. */
  get most(): number {
    return Atomics.load(this.#slots, MOST)
  }

  /** How many URLs were ever appended. */
  get appended(): number {
    return Atomics.load(this.#slots, APPENDED)
  }

  /** `list.append(url)`. Caller holds the lock. */
  append(url: string): void {
    const n = this.#slots[LENGTH]!
    if (n >= CAPACITY) throw new RangeError(`SharedUrlList holds at most ${CAPACITY} URLs`)
    if (url.length >= SLOT || !/^[\x20-\x7e]*$/.test(url)) throw new RangeError(`not a short ASCII URL: ${url}`)
    const at = HEADER + n * SLOT
    this.#bytes[at] = url.length
    for (let c = 0; c < url.length; c++) this.#bytes[at + 1 + c] = url.charCodeAt(c)
    Atomics.store(this.#slots, LENGTH, n + 1)
    this.#slots[MOST] = Math.max(this.#slots[MOST]!, n + 1)
    this.#slots[APPENDED]!++
  }

  /** `list.pop()`: removes and returns the last URL. Caller holds the lock. */
  pop(): string {
    const n = this.#slots[LENGTH]!
    if (n === 0) throw new RangeError('pop from empty list')
    const at = HEADER + (n - 1) * SLOT
    const url = String.fromCharCode(...this.#bytes.subarray(at + 1, at + 1 + this.#bytes[at]!))
    Atomics.store(this.#slots, LENGTH, n - 1)
    return url
  }
}

// ---- the trap: a module-level list is per thread -------------------------------------------

/** What the seed's `chapter11/variables.py` holds, as a plain module-level array. */
export const variables = { detailUrlList: [] as string[] }

/** Appends to this module's `variables.detailUrlList`, as seen by the calling thread. */
export function appendToModuleList(url: string): void {
  variables.detailUrlList.push(url)
  console.log(`in the thread: variables.detailUrlList.length = ${variables.detailUrlList.length}`)
}

// ---- 1. 线程通信方式- 共享变量 ----------------------------------------------------------------

/** 爬取文章详情页 */
export async function getDetailHtml(lock: RLock, buffer: SharedArrayBuffer, noMore: Event, server: string) {
  // 互斥变量
  const detailUrlList = new SharedUrlList(buffer)
  for (;;) {
    if (detailUrlList.length) {
      lock.acquire()
      if (detailUrlList.length) {
        // 每次弹出从 list 中弹出一个元素
        const url = detailUrlList.pop()
        lock.release()
        console.log(`get detail html started: ${url}`)
        const res = await fetch(server + new URL(url).pathname) // the seed's time.sleep(2)
        await res.text()
        console.log(`get detail html end: ${url} (${res.status})`)
      } else {
        lock.release()
        time.sleep(0.1)
      }
    } else {
      if (noMore.isSet()) return // not in the seed: the producer is done and the list is empty
      time.sleep(0.1)
    }
  }
}

/** 爬取文章列表页 */
export function getDetailUrl(lock: RLock, buffer: SharedArrayBuffer, rounds: number) {
  // 互斥变量
  const detailUrlList = new SharedUrlList(buffer)
  for (let round = 0; round < rounds; round++) {
    console.log('get detail url started')
    time.sleep(0.4)
    for (let i = 0; i < 20; i++) {
      const url = `http://projectsedu.com/${round * 20 + i}`
      lock.acquire()
      if (detailUrlList.length >= 10) {
        lock.release()
        console.log(`list full: ${url} skipped`)
        time.sleep(0.1)
      } else {
        detailUrlList.append(url)
        lock.release()
      }
    }
    console.log('get detail url end')
  }
}

if (isMainThread) {
  // The trap the seed warns about (from chapter11.variables import ...), in its Node form.
  const trap = new Thread({ target: moduleRef<typeof appendToModuleList>(import.meta.url, 'appendToModuleList'), args: ['http://projectsedu.com/x'] })
  trap.start()
  await trap.joinAsync()
  console.log(`in the main thread: variables.detailUrlList.length = ${variables.detailUrlList.length}`)
  console.log('-> each thread imports its own copy of this module, so a module-level list is not shared: the list below lives in a SharedArrayBuffer')

  // ---- the local "projectsedu.com": counts every request by path -------------------------------
  const hits = new Map<string, number>()
  const server = createServer((req, res) => {
    hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1)
    setTimeout(() => res.end(`<html><body>detail page ${req.url}</body></html>`), DOWNLOAD_MS)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  console.log(`(local server for http://projectsedu.com/ on ${base})`)

  // 一般不建议使用共享变量的方式进行线程通信,除非对锁有比较扎实的了解
  const lock = new RLock()
  const detailUrlList = new SharedUrlList()
  const noMore = new Event()
  const threadDetailUrl = new Thread({ target: moduleRef<typeof getDetailUrl>(import.meta.url, 'getDetailUrl'), args: [lock, detailUrlList.buffer, ROUNDS] })
  const htmlThreads: Thread[] = []
  for (let i = 0; i < CONSUMERS; i++) {
    const htmlThread = new Thread({ target: moduleRef<typeof getDetailHtml>(import.meta.url, 'getDetailHtml'), args: [lock, detailUrlList.buffer, noMore, base] })
    htmlThread.start()
    htmlThreads.push(htmlThread)
  }
  const startTime = time.time()
  threadDetailUrl.start()
  const produced = await threadDetailUrl.joinAsync(60_000)
  noMore.set() // not in the seed: lets the consumers return once the list is empty
  const ended = await Promise.all(htmlThreads.map((t) => t.joinAsync(30_000)))
  console.log(`last time: ${time.time() - startTime}`)
  server.closeAllConnections()
  server.close()

  const ids = [...Array(ROUNDS * PER_ROUND).keys()]
  const fetched = ids.filter((id) => hits.has(`/${id}`))
  const twice = ids.filter((id) => (hits.get(`/${id}`) ?? 0) > 1)
  const total = [...hits.values()].reduce((a, b) => a + b, 0)
  console.log(
    `${detailUrlList.appended} URLs appended (${ROUNDS * PER_ROUND - detailUrlList.appended} skipped on a full list, as in the seed), ` +
      `${total} pages fetched, ${twice.length} fetched more than once; the list held at most ${detailUrlList.most} (limit ${LIMIT}); ` +
      `${ended.filter(Boolean).length} of ${CONSUMERS} consumers ended`,
  )
  console.log(
    'Node: the 11 threads really run at once (no GIL), so only the RLock keeps two consumers from popping the same URL, ' +
      'and the main thread serves HTTP and awaits meanwhile; a module-level list is per thread (see above).',
  )
  const ok =
    produced &&
    ended.every(Boolean) &&
    twice.length === 0 &&
    total === detailUrlList.appended &&
    fetched.length === detailUrlList.appended &&
    detailUrlList.length === 0 &&
    detailUrlList.most <= LIMIT
  if (!ok) {
    console.error(
      `FAIL: expected each appended URL fetched once and every thread ended; producer ${produced ? 'done' : 'hung'}, ` +
        `${detailUrlList.appended} appended, ${total} requests for ${fetched.length} ids, twice [${twice.join(', ')}], ` +
        `${detailUrlList.length} left in the list, most ${detailUrlList.most}, ${ended.filter(Boolean).length}/${CONSUMERS} consumers ended`,
    )
    process.exitCode = 1
  }
}
