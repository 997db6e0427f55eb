/**
 * Randomized abort/timeout stress on a bounded Queue(4) (issue 9): 8 producer workers, 8
 * consumer workers and the main thread, mixing blocking put/get with 0-2 ms timeouts and
 * putAsync/getAsync with random aborts (AbortSignal.timeout, manual aborts from timers) and
 * timeouts. Every item is retried until one put succeeds; per-item counters in shared memory
 * check that every item put is got exactly once and that no item is got that was not put (an
 * aborted or timed-out put that enqueued anyway is retried, so its item would be got twice),
 * and that the totals are exact. The
 * run must finish (a lost wake-up or an item lost by an aborted get would stall it; the bound is
 * generous). Seeded: the seed is printed, and `ABORT_STRESS_SEED=<n>` replays it. Worker code:
 * test/fixtures/abort-stress-workers.ts.
 */
import test from 'ava'
import { moduleRef } from '@tandem/sync/task'
import { Thread } from '@tandem/sync/thread'
import { Queue } from '../src/queue.ts'
import { BAD, consume, CTL_WORDS, GAVE_UP, GOT, produce, STOP } from '../../../test/fixtures/abort-stress-workers.ts'

const WORKERS = new URL('../../../test/fixtures/abort-stress-workers.ts', import.meta.url)
const PRODUCERS = 8
const CONSUMERS = 8
const PER_PRODUCER = 1000
const MAIN_ITEMS = 500
const DEADLINE_MS = 150_000

test('Queue(4) under random aborts and timeouts from 17 threads: every item put is got exactly once, none got unput, totals exact, the run finishes', async (t) => {
  t.timeout(DEADLINE_MS + 60_000)
  const seed = Number(process.env.ABORT_STRESS_SEED ?? Date.now() % 1_000_000_007)
  t.log(`seed ${seed} (replay with ABORT_STRESS_SEED=${seed})`)
  const total = PRODUCERS * PER_PRODUCER + MAIN_ITEMS
  const q = new Queue<number>(4)
  const ctl = new Int32Array(new SharedArrayBuffer(4 * CTL_WORDS))
  const put = new Int32Array(new SharedArrayBuffer(4 * total))
  const got = new Int32Array(new SharedArrayBuffer(4 * total))
  const threads: Thread[] = []
  t.teardown(async () => {
    Atomics.store(ctl, STOP, 1)
    for (const th of threads) await th.joinAsync(60_000)
  })
  const start = (name: 'produce' | 'consume', args: unknown[]): void => {
    const th = new Thread({ target: moduleRef(WORKERS, name), args, daemon: true })
    th.start()
    threads.push(th)
  }
  for (let p = 0; p < PRODUCERS; p++) start('produce', [q, ctl, put, p * PER_PRODUCER, PER_PRODUCER, seed + p, p % 2 === 0])
  for (let c = 0; c < CONSUMERS; c++) start('consume', [q, ctl, put, got, total, seed + 100 + c, c % 2 === 0])
  // At the deadline: stop, and shut the queue down so that a put or get waiting without a
  // timeout ends too (the STOP assertion below then reports the unfinished run).
  const timer = setTimeout(() => {
    Atomics.store(ctl, STOP, 1)
    q.shutdown(true)
  }, DEADLINE_MS)
  try {
    // The main thread produces its own items and consumes, both with async waits and aborts.
    await Promise.all([produce(q, ctl, put, PRODUCERS * PER_PRODUCER, MAIN_ITEMS, seed + 1000, true), consume(q, ctl, put, got, total, seed + 2000, true)])
    for (const th of threads) t.true(await th.joinAsync(DEADLINE_MS), `seed ${seed}: ${th.name} did not finish`)
  } finally {
    clearTimeout(timer)
  }
  t.log(`${Atomics.load(ctl, GAVE_UP)} waits gave up (timeout or abort)`)
  t.is(Atomics.load(ctl, STOP), 0, `seed ${seed}: the run did not finish within ${DEADLINE_MS} ms (lost wake-up or lost item?)`)
  t.is(Atomics.load(ctl, BAD), 0, `seed ${seed}: items got that were never put (out of range)`)
  const notPutOnce: number[] = []
  const notGotOnce: number[] = []
  for (let i = 0; i < total; i++) {
    if (put[i] !== 1) notPutOnce.push(i)
    if (got[i] !== 1) notGotOnce.push(i)
  }
  t.deepEqual(notPutOnce.slice(0, 20), [], `seed ${seed}: items whose successful puts were not exactly one`)
  t.deepEqual(notGotOnce.slice(0, 20), [], `seed ${seed}: items not got exactly once (${notGotOnce.length}; counts ${notGotOnce.slice(0, 5).map((i) => got[i])})`)
  t.is(Atomics.load(ctl, GOT), total, `seed ${seed}: total got`)
  t.is(q.qsize(), 0, `seed ${seed}: items left`)
})
