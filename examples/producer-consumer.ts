/**
 * Producers and consumers on one bounded Queue, with `taskDone()` / `join()` and `shutdown()`:
 * not from a seed but the pattern of the `queue` module's own documentation example, which
 * seed 001 §3.2 (`queue-crawler`) uses without `task_done`. Two producer threads put 100 numbers
 * each on a `Queue(8)`; two consumer threads and the main thread take them, "process" them
 * (add them up) and call `taskDone()`; the main thread waits with `join`, then shuts the queue
 * down so the consumers end.
 *
 * Python (the same program):                       Tandem:
 *   q = queue.Queue(maxsize=8)                       const q = new Queue<number>(8)
 *   def producer(q, first, n, name):                 function producer(q, first, n, name) {
 *       for item in range(first, first + n):           for (let item = first; item < first + n; item++) {
 *           try:                                           try {
 *               q.put_nowait(item)                             q.putNowait(item)
 *           except queue.Full:                             } catch (e) {   // e.code === 'ERR_QUEUE_FULL'
 *               waits += 1                                     waits++
 *               q.put(item)                                    q.put(e.item)
 *   def consumer(q, tally, seen, slot, name):        function consumer(q, tally, seen, slot, name) {
 *       while True:                                      for (;;) {
 *           try:                                             try { item = q.get() }
 *               item = q.get()                               catch (e) { if (e.code === 'ERR_QUEUE_SHUT_DOWN') return }
 *           except queue.ShutDown:
 *               return
 *           tally[slot] += item                              Atomics.add(tally, slot, item) ...
 *           q.task_done()                                    q.taskDone()
 *   threading.Thread(target=consumer, ...).start()   new Thread({ target: consumer, args: [q, tally, seen, 0, 'consumer-1'] }).start()
 *   (no counterpart: queue.Queue has no async get)   const mine = mainConsumer(q, ...)   // await q.getAsync() in a loop
 *   q.join()                                         await q.joinAsync(60_000)
 *   q.shutdown()                                     q.shutdown()
 *
 * Notes and differences:
 * - The tallies are Int32Arrays over a SharedArrayBuffer, passed in `args` (threads share no
 *   JavaScript heap): per consumer the item count and sum, and per item how often it was got.
 * - Targets are shipped by source, so they get their name in `args`, sleep 1 ms per item (the
 *   "processing") with the one-line `Atomics.wait`, and tell QueueFull / QueueShutDown by `code`.
 * - A third consumer runs on the main thread with `await q.getAsync()`: CPython's `queue.Queue`
 *   has no async form (asyncio.Queue is a different, single-thread queue). Because the main
 *   thread is a consumer too, it waits with `joinAsync()`; a blocking `join()` there would
 *   freeze its event loop and with it its own consumer (the workers would still finish).
 *   The main consumer usually gets the largest share: it is taking items while the worker
 *   consumers are still booting their isolates.
 * - Every wait of the main thread has a timeout, so a broken queue fails the demo instead of
 *   hanging it. The demo checks that 200 items were got, each exactly once, with the right
 *   sum, that `join` returned and that every consumer ended, and exits with code 1 otherwise.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Queue } from '@tandem/queue/queue'
import { Thread } from '@tandem/sync/thread'

const N = 100 // items per producer
const PRODUCERS = 2
const WORKER_CONSUMERS = 2
const MAIN = WORKER_CONSUMERS // tally slot of the main-thread consumer
// tally layout: [count, sum] per consumer, workers first, then the main thread.
const COUNT = 0
const SUM = 1

function producer(q: Queue<number>, first: number, n: number, name: string) {
  let waits = 0
  for (let item = first; item < first + n; item++) {
    try {
      q.putNowait(item)
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_QUEUE_FULL') throw e
      waits++ // the queue holds maxsize items: wait for a consumer to make room
      q.put((e as { item: number }).item)
    }
  }
  console.log(`${name}: put ${n} items (${first}..${first + n - 1}); found the queue full ${waits} times and waited`)
}

function consumer(q: Queue<number>, tally: Int32Array, seen: Int32Array, slot: number, name: string) {
  for (;;) {
    let item: number
    try {
      item = q.get()
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_QUEUE_SHUT_DOWN') throw e
      break // shutdown() and the queue is empty: no more items will come
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1) // processing
    Atomics.add(seen, item, 1)
    Atomics.add(tally, slot * 2 + 0, 1)
    Atomics.add(tally, slot * 2 + 1, item)
    q.taskDone()
  }
  console.log(`${name}: QueueShutDown after ${Atomics.load(tally, slot * 2 + 0)} items; done`)
}

/** The main thread's consumer: the same loop with `await q.getAsync()`, never blocking the event loop. */
async function mainConsumer(q: Queue<number>, tally: Int32Array, seen: Int32Array): Promise<void> {
  for (;;) {
    let item: number
    try {
      item = await q.getAsync()
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_QUEUE_SHUT_DOWN') throw e
      break
    }
    await sleep(1) // processing
    Atomics.add(seen, item, 1)
    Atomics.add(tally, MAIN * 2 + COUNT, 1)
    Atomics.add(tally, MAIN * 2 + SUM, item)
    q.taskDone()
  }
  console.log(`main thread: QueueShutDown after ${Atomics.load(tally, MAIN * 2 + COUNT)} items; done`)
}

/** Resolves to true when `p` settles within `ms`, false otherwise. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)))
  return Promise.race([p.then(() => true), late]).finally(() => clearTimeout(timer))
}

const q = new Queue<number>(8)
const total = PRODUCERS * N
const tally = new Int32Array(new SharedArrayBuffer((WORKER_CONSUMERS + 1) * 2 * 4))
const seen = new Int32Array(new SharedArrayBuffer(total * 4))

const consumers: Thread[] = []
for (let i = 0; i < WORKER_CONSUMERS; i++) {
  const t = new Thread({ target: consumer, args: [q, tally, seen, i, `consumer-${i + 1}`], name: `consumer-${i + 1}` })
  t.start()
  consumers.push(t)
}
const mine = mainConsumer(q, tally, seen)
const producers: Thread[] = []
for (let p = 0; p < PRODUCERS; p++) {
  const t = new Thread({ target: producer, args: [q, p * N, N, `producer-${p + 1}`], name: `producer-${p + 1}` })
  t.start()
  producers.push(t)
}

const produced = (await Promise.all(producers.map((t) => t.joinAsync(60_000)))).every(Boolean)
// Block (asynchronously) until every item put has been got and marked done.
const joined = produced && (await q.joinAsync(60_000))
console.log(`q.join(): ${joined ? `all ${total} items processed` : 'TIMED OUT'}; q.qsize() = ${q.qsize()}`)
// Nothing more will be put: wake the consumers waiting in get() with QueueShutDown.
q.shutdown()
const ended = [...(await Promise.all(consumers.map((t) => t.joinAsync(30_000)))), await within(mine, 30_000)]

const counts = [...Array(WORKER_CONSUMERS + 1).keys()].map((s) => tally[s * 2 + COUNT]!)
const got = counts.reduce((a, b) => a + b, 0)
const sum = [...Array(WORKER_CONSUMERS + 1).keys()].reduce((a, s) => a + tally[s * 2 + SUM]!, 0)
const expectedSum = (total * (total - 1)) / 2
const notOnce = [...seen.keys()].filter((i) => seen[i] !== 1)
console.log(
  `got ${got} of ${total} items (consumer-1 ${counts[0]}, consumer-2 ${counts[1]}, main thread ${counts[MAIN]}), ` +
    `sum ${sum} (expected ${expectedSum}); ${total - notOnce.length} items got exactly once; ` +
    `${ended.filter(Boolean).length} of ${ended.length} consumers ended`,
)
console.log(
  "Node: two worker threads block in q.get() while the main thread consumes with await q.getAsync() (CPython's " +
    'queue.Queue has no async form); all three take from the same shared-memory queue, and the main event loop keeps running.',
)
if (!produced || !joined || got !== total || sum !== expectedSum || notOnce.length > 0 || !ended.every(Boolean)) {
  console.error(
    `FAIL: expected ${total} items each got once, sum ${expectedSum}, join true and every consumer ended; ` +
      `got ${got}, sum ${sum}, ${notOnce.length} items not got exactly once, join ${joined}, ` +
      `${ended.filter(Boolean).length}/${ended.length} consumers ended`,
  )
  process.exitCode = 1
}
