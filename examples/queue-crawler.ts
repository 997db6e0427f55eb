/**
 * Seed 001, section 3.2 (通过 queue 的方式进行线程间同步): a producer thread `get_detail_url` puts
 * the detail-page URLs of a list page on a `Queue(maxsize=1000)`, 20 per round, and 10 consumer
 * threads `get_detail_html` take them off and crawl them.
 *
 * Python:                                            Tandem:
 *   def get_detail_html(queue):                        async function getDetailHtml(queue, server) {
 *       while True:                                      for (;;) {
 *           url = queue.get()                                url = queue.get()   // QueueShutDown ends the loop
 *           print("get detail html started")                 console.log(`get detail html started: ${url}`)
 *           time.sleep(2)                                    await fetch(server + new URL(url).pathname)
 *           print("get detail html end")                     console.log(`get detail html end: ${url} (${res.status})`)
 *                                                            queue.taskDone()
 *   def get_detail_url(queue):                         function getDetailUrl(queue, rounds) {
 *       while True:                                      for (let round = 0; round < rounds; round++) {
 *           print("get detail url started")                  console.log('get detail url started')
 *           time.sleep(4)                                    (sleep 0.4 s)
 *           for i in range(20):                              for (let i = 0; i < 20; i++)
 *               queue.put("http://projectsedu.com/{id}".format(id=i))
 *                                                                queue.put(`http://projectsedu.com/${round * 20 + i}`)
 *           print("get detail url end")                      console.log('get detail url end')
 *   detail_url_queue = Queue(maxsize=1000)             const detailUrlQueue = new Queue<string>(1000)
 *   html_thread = threading.Thread(                    const htmlThread = new Thread({
 *       target=get_detail_html, args=(detail_url_queue,))  target: getDetailHtml, args: [detailUrlQueue, server] })
 *   detail_url_queue.task_done()                       detailUrlQueue.taskDone()   // throws, as in CPython (see below)
 *   detail_url_queue.join()                            await detailUrlQueue.joinAsync()
 *
 * Differences:
 * - The seed never starts its producer (`thread_detail_url.start()` is commented out) and calls
 *   `detail_url_queue.task_done()` on the main thread with nothing put: CPython raises
 *   `ValueError: task_done() called too many times` there, and the process then hangs, its 10
 *   non-daemon consumers blocked in `get()` forever. The demo makes that call once, before the
 *   producer starts (so it cannot upset the count), prints what it throws (RangeError
 *   `ERR_TASK_DONE_TOO_MANY`), then starts the producer; the consumers call `taskDone()` after
 *   each URL, which is what makes `join()` mean "every URL crawled".
 * - The seed loops forever in both functions. Here the producer does 2 rounds and returns; the
 *   main thread waits for it, then for the queue to be joined, then calls `shutdown()` (Python
 *   3.13's `Queue.shutdown()`): the consumers blocked in `get()` wake with QueueShutDown
 *   (`queue.ShutDown`) and return, so every thread ends and the process exits.
 * - URL ids run on across rounds (0..19, then 20..39) instead of repeating `range(20)`, so that
 *   "every URL fetched exactly once" can be checked; printed lines carry the URL.
 * - The consumer's `time.sleep(2)` stands for downloading the page; here the download is real:
 *   the URL's path is fetched from a local HTTP server on 127.0.0.1 that the demo starts (it
 *   answers after 0.2 s; projectsedu.com is never contacted). The producer's `time.sleep(4)`
 *   (crawling the list page) is shortened to 0.4 s.
 * - The consumer is async because `fetch` returns a Promise (a Thread awaits an async target).
 *   Both targets are shipped by source, so they get the server address and the round count in
 *   `args`, sleep with the one-line `Atomics.wait`, and tell QueueShutDown by its `code`.
 * - The main thread runs the HTTP server, so it waits with `joinAsync()` (queue and threads),
 *   which keeps its event loop serving; a blocking `join()` there would stall every fetch.
 * - The demo checks that the server saw each of the 40 URLs exactly once, that all 11 threads
 *   ended, and exits with code 1 otherwise.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Queue } from '@tandem/queue/queue'
import { Thread } from '@tandem/sync/thread'
import * as time from './_time.ts'

const ROUNDS = 2 // the seed: while True
const PER_ROUND = 20 // for i in range(20)
const CONSUMERS = 10 // for i in range(10)
const DOWNLOAD_MS = 200 // time.sleep(2), / 10: how long the local server takes to answer

// 2. 通过queue的方式进行线程间同步
async function getDetailHtml(queue: Queue<string>, server: string) {
  // 爬取文章详情页
  for (;;) {
    let url: string
    try {
      url = queue.get()
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_QUEUE_SHUT_DOWN') return // shutdown(): no more URLs
      throw e
    }
    try {
      console.log(`get detail html started: ${url}`)
      const res = await fetch(server + new URL(url).pathname) // the seed's time.sleep(2)
      await res.text()
      console.log(`get detail html end: ${url} (${res.status})`)
    } catch (e) {
      console.log(`get detail html failed: ${url}: ${e}`)
    } finally {
      queue.taskDone()
    }
  }
}

function getDetailUrl(queue: Queue<string>, rounds: number) {
  // 爬取文章列表页
  for (let round = 0; round < rounds; round++) {
    console.log('get detail url started')
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400) // time.sleep(4), / 10
    for (let i = 0; i < 20; i++) {
      queue.put(`http://projectsedu.com/${round * 20 + i}`)
    }
    console.log('get detail url end')
  }
}

// ---- the local "projectsedu.com": counts every request by path --------------------------------

const hits = new Map<string, number>()
const server = createServer((req, res) => {
  hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1)
  setTimeout(() => res.end(`<html><body>detail page ${req.url}</body></html>`), DOWNLOAD_MS)
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
console.log(`(local server for http://projectsedu.com/ on ${base})`)

// ---- if __name__ == "__main__": ---------------------------------------------------------------

const detailUrlQueue = new Queue<string>(1000)
const threadDetailUrl = new Thread({ target: getDetailUrl, args: [detailUrlQueue, ROUNDS] })
const htmlThreads: Thread[] = []
for (let i = 0; i < CONSUMERS; i++) {
  const htmlThread = new Thread({ target: getDetailHtml, args: [detailUrlQueue, base] })
  htmlThread.start()
  htmlThreads.push(htmlThread)
}
const startTime = time.time()

// The seed's `detail_url_queue.task_done()`, with nothing put yet (its producer never starts).
try {
  detailUrlQueue.taskDone()
  console.log('detail_url_queue.task_done(): no error (unexpected: nothing was put)')
} catch (e) {
  const err = e as Error & { code?: string }
  console.log(`detail_url_queue.task_done() with nothing put: ${err.name} ${err.code} (CPython: ValueError: task_done() called too many times)`)
}

threadDetailUrl.start()
const produced = await threadDetailUrl.joinAsync(60_000)
const joined = produced && (await detailUrlQueue.joinAsync(60_000))
console.log(`detail_url_queue.join(): ${joined ? 'every URL put has been crawled' : 'TIMED OUT'}`)
// Not in the seed (its threads loop forever): wake the idle consumers with QueueShutDown.
detailUrlQueue.shutdown()
const ended = await Promise.all(htmlThreads.map((t) => t.joinAsync(30_000)))
// 当主线程退出的时候, 子线程kill掉
console.log(`last time: ${time.time() - startTime}`)
server.closeAllConnections()
server.close()

const expected = ROUNDS * PER_ROUND
const wrong = [...Array(expected).keys()].filter((id) => hits.get(`/${id}`) !== 1)
const total = [...hits.values()].reduce((a, b) => a + b, 0)
console.log(
  `${total} pages fetched for ${expected} URLs put; ${expected - wrong.length} of ${expected} fetched exactly once; ` +
    `${ended.filter(Boolean).length} of ${CONSUMERS} consumers ended after shutdown()`,
)
console.log(
  'Node: the 10 consumers are worker threads, each with its own event loop and fetch, really running at once; ' +
    'the queue lives in shared memory and hands each URL to exactly one of them, while the main thread serves HTTP and awaits.',
)
if (!produced || !joined || wrong.length > 0 || total !== expected || !ended.every(Boolean)) {
  console.error(
    `FAIL: expected each of ${expected} URLs fetched once and every thread ended; ` +
      `producer ${produced ? 'done' : 'hung'}, join ${joined}, wrong ids [${wrong.join(', ')}], ${total} requests, ` +
      `${ended.filter(Boolean).length}/${CONSUMERS} consumers ended`,
  )
  process.exitCode = 1
}
