/**
 * Where a future's shared memory goes: a finished future whose outcome has been read gives its
 * reference to its arena cell back at once (the cell and its payload block are freed with the
 * last reference) and goes on answering from a stand-in; one never read is freed when its
 * handle is collected (references grouped per 16 futures); futures awaited in order reuse a few
 * cells.
 *
 * Tests that count arena blocks run serially (ava runs `test.serial` before the others).
 */
import test from 'ava'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Future } from '../src/future.ts'
import { CancelledError, InvalidStateError } from '../src/errors.ts'
import { ThreadPoolExecutor } from '../src/thread-pool-executor.ts'
import { asCompleted } from '../src/as-completed.ts'
import { FIRST_EXCEPTION, wait } from '../src/wait.ts'
import { blocksInUse, GROUP_SIZE, refCount } from '../../sync/src/internal/arena.ts'
import { sleep, spawn, spawnMany } from '../../sync/test/_helpers.ts'
import { Queue } from '../../queue/src/queue.ts'
import { BLOCK, joinAll, LONG } from './_helpers.ts'

setFlagsFromString('--expose_gc')
const gc = runInNewContext('gc') as () => void

/** A result too big for the cell's inline bytes: it takes a payload block of its own. */
const BIG = { text: 'x'.repeat(200), list: [1, 2, 3] }

// The thread's stand-in cells for finished futures (made once, on first use) and its mailbox
// exist before any test counts blocks.
{
  const ok = new Future<number>()
  const bad = new Future<number>()
  ok.addDoneCallback(() => {})
  ok.setResult(1)
  ok.result()
  bad.setException(new Error('warm-up'))
  bad.exception()
  new Future<number>().setResult(2)
  const r = new Future<number>()
  r.setResult(3)
  r.result()
}

test.serial('a finished future gives its cell and payload back when its result is read, and keeps answering', async (t) => {
  const before = blocksInUse()
  const f = new Future<typeof BIG>()
  let called = 0
  f.setResult(BIG)
  t.is(blocksInUse(), before + 2, 'the cell and the payload block')
  t.deepEqual(f.result(), BIG)
  t.is(blocksInUse(), before, 'both given back at once')
  // The handle answers as before.
  t.deepEqual(f.result(0), BIG)
  t.deepEqual(await f.resultAsync(), BIG)
  t.deepEqual(await f, BIG)
  t.is(f.exception(), undefined)
  t.true(f.done())
  t.false(f.running())
  t.false(f.cancelled())
  t.false(f.cancel())
  t.is(String(f), '<Future state=finished>')
  t.throws(() => f.setResult(BIG), { instanceOf: InvalidStateError })
  t.throws(() => f.setException(new Error('late')), { instanceOf: InvalidStateError })
  t.throws(() => f.setRunningOrNotifyCancel(), { instanceOf: InvalidStateError })
  f.addDoneCallback(() => called++)
  t.is(called, 1, 'a callback added now runs at once')
  const r = wait([f], { timeout: 0 })
  t.true(r.done.has(f))
  t.is(blocksInUse(), before)
})

test.serial('a failed future gives its cell back once its error is read; wait(FIRST_EXCEPTION) and asCompleted still see it', async (t) => {
  const before = blocksInUse()
  const f = new Future<number>()
  const pending = new Future<number>()
  f.setException(new RangeError('out of range'))
  const err = f.exception()
  t.true(err instanceof RangeError)
  t.is(blocksInUse(), before + 1, "only the pending future's cell is left")
  t.throws(() => f.result(), { instanceOf: RangeError, message: 'out of range' })
  const r = wait([f, pending], { returnWhen: FIRST_EXCEPTION, timeout: BLOCK })
  t.deepEqual([...r.done], [f])
  t.deepEqual([...r.notDone], [pending])
  const seen: Future<number>[] = []
  for (const g of asCompleted([f], BLOCK)) seen.push(g)
  t.deepEqual(seen, [f])
  await t.throwsAsync(f.resultAsync(), { instanceOf: RangeError })
  pending.cancel()
  t.throws(() => pending.result(0), { instanceOf: CancelledError })
})

test('a future given back early and then sent to a worker arrives finished, with its result or its error', async (t) => {
  t.timeout(LONG + 10_000)
  const ok = new Future<typeof BIG>()
  const bad = new Future<number>()
  ok.setResult(BIG)
  bad.setException(new TypeError('bad type'))
  t.deepEqual(ok.result(), BIG)
  t.true(bad.exception() instanceof TypeError)
  const seen = new Future<string>()
  const th = spawn(
    (ok: Future<typeof BIG>, bad: Future<number>, seen: Future<string>) => {
      const e = bad.exception(0) as Error
      seen.setResult(`${ok.done()} ${ok.result(0).text.length} ${ok.result(0).list.join(',')} ${e.name}: ${e.message}`)
    },
    ok,
    bad,
    seen,
  )
  t.is(await seen.resultAsync(LONG), 'true 200 1,2,3 TypeError: bad type')
  await joinAll([th])
  // The main thread's handles still answer after the worker's are gone.
  t.deepEqual(ok.result(0), BIG)
})

test('a future read on the main thread while a worker holds it stays valid for the worker', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<typeof BIG>()
  const go = new Future<void>()
  const seen = new Future<string>()
  const th = spawn(
    (f: Future<typeof BIG>, go: Future<void>, seen: Future<string>) => {
      go.result(60_000) // the main thread has read f by now
      seen.setResult(f.result(0).text.slice(0, 3))
    },
    f,
    go,
    seen,
  )
  const at = Future.cellOf(f).byteOffset
  f.setResult(BIG)
  t.deepEqual(f.result(), BIG)
  // Cells are reused at once when given back: churn some, so a wrongly freed cell gets overwritten.
  for (let i = 0; i < 100; i++) {
    const g = new Future<number>()
    g.setResult(i)
    t.is(g.result(), i)
  }
  // This thread's reference went back (after a few retries: one other holder), the worker's stays.
  t.not(Future.cellOf(f).byteOffset, at)
  t.is(refCount(at), 1)
  t.deepEqual(f.result(0), BIG)
  go.setResult()
  t.is(await seen.resultAsync(LONG), 'xxx')
  await joinAll([th])
})

/**
 * Makes futures that are read at once (their cells go back at once): they fill the rest of this
 * thread's open reference group and the next, so that every group holding earlier futures can be
 * collected; making them also retries the early release of futures read while a worker still
 * held them.
 */
function fillOpenGroup(): void {
  for (let i = 0; i < 2 * GROUP_SIZE; i++) {
    const f = new Future<number>()
    f.setResult(i)
    f.result()
  }
}

/** Collects garbage until the block count stops falling (futures other tests dropped). */
async function collected(): Promise<number> {
  let n = blocksInUse()
  for (let i = 0; i < 20; i++) {
    gc()
    await sleep(20)
    const m = blocksInUse()
    if (m === n && i >= 2) break
    n = m
  }
  return n
}

test.serial('futures dropped unread are freed when collected', async (t) => {
  t.timeout(30_000)
  const before = await collected()
  ;(() => {
    for (let i = 0; i < 300; i++) {
      const f = new Future<typeof BIG>()
      if (i % 2 === 0) f.setResult(BIG)
    }
  })()
  t.true(blocksInUse() >= before + 300)
  fillOpenGroup()
  // At most `before`: the open group counted in `before` may have held dropped futures too.
  const after = await collected()
  t.true(after <= before, `${after} blocks in use after collection, ${before} before`)
})

test.serial('calls whose results are read one by one reuse a few cells', async (t) => {
  t.timeout(LONG + 10_000)
  const pool = new ThreadPoolExecutor({ maxWorkers: 2 })
  try {
    await pool.submit((x: number) => x, 0) // workers started
    const cells = new Set<number>()
    let sum = 0
    for (let i = 0; i < 500; i++) {
      const f = pool.submit((x: number) => x, i)
      cells.add(Future.cellOf(f).byteOffset)
      sum += f.result(BLOCK) // blocking: no garbage-collection pass can free cells meanwhile
    }
    t.is(sum, (500 * 499) / 2)
    // Without early give-back every call takes a fresh cell (500 distinct). A worker lets go of
    // its call a moment after completing it, so a cell comes back by the next submit or so.
    t.true(cells.size < 50, `${cells.size} distinct cells for 500 calls`)
  } finally {
    await pool.shutdownAsync()
  }
})

/** What the worker-completed futures of the test below should hold. */
function expectedOutcome(i: number): string {
  return i % 2 === 1 ? `no ${i}` : JSON.stringify(i % 4 === 0 ? { i, pad: 'p'.repeat(100) } : i)
}

/**
 * Sends `n` futures through a queue to a worker that completes them; reads each (32 behind) while
 * that worker may still hold it, and sends every 5th read one to a second worker that reads it
 * again. Runs in its own function so that no future outlives it on this thread.
 * @returns how many outcomes read here were wrong, and the second worker's first complaint
 */
async function roundTrips(n: number): Promise<{ bad: number; complaint: string | undefined }> {
  const jobs = new Queue<[Future<unknown>, number] | null>()
  const rechecks = new Queue<[Future<unknown>, number] | null>()
  const complaint = new Future<string>()
  const threads = spawnMany(
    2,
    async (w: number, jobs: Queue<[Future<unknown>, number] | null>, rechecks: Queue<[Future<unknown>, number] | null>, complaint: Future<string>) => {
      const expected = (i: number): string => (i % 2 === 1 ? `no ${i}` : JSON.stringify(i % 4 === 0 ? { i, pad: 'p'.repeat(100) } : i))
      const q = w === 0 ? jobs : rechecks
      for (;;) {
        const item = q.get({ timeout: 60_000 })
        if (item === null) return
        const [f, i] = item
        if (q === jobs) {
          // Odd calls fail; some results need a payload block of their own.
          if (i % 2 === 1) f.setException(new RangeError(`no ${i}`))
          else f.setResult(i % 4 === 0 ? { i, pad: 'p'.repeat(100) } : i)
        } else {
          const got = i % 2 === 1 ? (f.exception(0) as Error).message : JSON.stringify(f.result(0))
          if (got !== expected(i) && !complaint.done()) complaint.setResult(`recheck ${i}: ${got}`)
        }
      }
    },
    jobs,
    rechecks,
    complaint,
  )
  const outcome = (f: Future<unknown>, i: number): string => (i % 2 === 1 ? (f.exception(BLOCK) as Error).message : JSON.stringify(f.result(BLOCK)))
  const ring: [Future<unknown>, number][] = []
  let bad = 0
  for (let i = 0; i < n; i++) {
    const f = new Future<unknown>()
    jobs.put([f, i])
    ring.push([f, i])
    if (ring.length > 32) {
      const [g, k] = ring.shift()!
      if (outcome(g, k) !== expectedOutcome(k)) bad++
      if (k % 5 === 0) rechecks.put([g, k])
    }
    if (i % 500 === 0) await sleep(0)
  }
  for (const [g, k] of ring) if (outcome(g, k) !== expectedOutcome(k)) bad++
  jobs.put(null)
  rechecks.put(null)
  await joinAll(threads)
  return { bad, complaint: complaint.done() ? complaint.result(0) : undefined }
}

test.serial('futures completed by workers, read and dropped by the main thread while workers still hold some: every outcome right, nothing leaked', async (t) => {
  t.timeout(LONG + 30_000)
  const before = await collected()
  const { bad, complaint } = await roundTrips(4000)
  t.is(bad, 0)
  t.is(complaint, undefined)
  // The workers give their handles back as they exit, a moment after their targets return:
  // collect until the count is back (bounded).
  let after = blocksInUse()
  for (const end = Date.now() + 30_000; after > before && Date.now() < end; after = blocksInUse()) {
    fillOpenGroup()
    gc()
    await sleep(50)
  }
  t.true(after <= before, `${after} blocks in use after collection, ${before} before`)
})
