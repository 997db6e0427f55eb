/**
 * Randomized abort/timeout stress for Lock, Semaphore and Condition (issue 9): 8 workers wait
 * with 0-2 ms timeouts while the main thread waits asynchronously with random aborts
 * (AbortSignal.timeout, manual aborts from timers) and timeouts. Exact totals: the plain counter
 * under the Lock counts every successful acquire and nothing else; the Semaphore never has more
 * holders than permits and ends with all of them; every Condition token is consumed exactly once
 * and the run finishes although half the consumers wait without a timeout (a lost wake-up would
 * strand them). Seeded: the seed is printed, `ABORT_STRESS_SEED=<n>` replays it. Worker code:
 * test/fixtures/abort-stress-workers.ts.
 */
import test, { type ExecutionContext } from 'ava'
import { Condition } from '../src/condition.ts'
import { Lock } from '../src/lock.ts'
import { Semaphore } from '../src/semaphore.ts'
import { moduleRef } from '../src/task.ts'
import { Thread } from '../src/thread.ts'
import { BAD, COUNTER, CTL_WORDS, GAVE_UP, GOT, INSIDE, rng, STOP } from '../../../test/fixtures/abort-stress-workers.ts'

const WORKERS = new URL('../../../test/fixtures/abort-stress-workers.ts', import.meta.url)
const DEADLINE_MS = 120_000

function seedOf(t: ExecutionContext): number {
  const seed = Number(process.env.ABORT_STRESS_SEED ?? Date.now() % 1_000_000_007)
  t.log(`seed ${seed} (replay with ABORT_STRESS_SEED=${seed})`)
  return seed
}

/** Options for one main-thread async wait: a random abort (timer or AbortSignal.timeout) and/or timeout. */
function randomOpts(rand: () => number): { opts: { signal?: AbortSignal; timeout?: number }; cancel: () => void } {
  const r = rand()
  if (r < 0.35) return { opts: { signal: AbortSignal.timeout(Math.floor(rand() * 3)) }, cancel: () => {} }
  if (r < 0.7) {
    const c = new AbortController()
    const timer = setTimeout(() => c.abort(), Math.floor(rand() * 3))
    return { opts: { signal: c.signal, timeout: rand() < 0.3 ? Math.floor(rand() * 3) : undefined }, cancel: () => clearTimeout(timer) }
  }
  return { opts: { timeout: Math.floor(rand() * 3) }, cancel: () => {} }
}

function harness(t: ExecutionContext): { ctl: Int32Array; start: (name: string, args: unknown[]) => void; joinAll: (seed: number) => Promise<void> } {
  const ctl = new Int32Array(new SharedArrayBuffer(4 * CTL_WORDS))
  const threads: Thread[] = []
  t.teardown(async () => {
    Atomics.store(ctl, STOP, 1)
    for (const th of threads) await th.joinAsync(60_000)
  })
  const timer = setTimeout(() => Atomics.store(ctl, STOP, 1), DEADLINE_MS)
  return {
    ctl,
    start(name, args) {
      const th = new Thread({ target: moduleRef(WORKERS, name as never), args, daemon: true })
      th.start()
      threads.push(th)
    },
    async joinAll(seed) {
      for (const th of threads) t.true(await th.joinAsync(DEADLINE_MS + 10_000), `seed ${seed}: ${th.name} did not finish`)
      clearTimeout(timer)
      t.is(Atomics.load(ctl, STOP), 0, `seed ${seed}: the run did not finish within ${DEADLINE_MS} ms`)
      t.is(Atomics.load(ctl, BAD), 0, `seed ${seed}: impossible observations`)
      t.log(`${Atomics.load(ctl, GAVE_UP)} worker waits gave up`)
    },
  }
}

test.serial('Lock under random aborts and timeouts: the counter counts exactly the successful acquires', async (t) => {
  t.timeout(DEADLINE_MS + 60_000)
  const seed = seedOf(t)
  const rand = rng(seed)
  const lock = new Lock()
  const h = harness(t)
  const W = 8
  const N = 300
  const M = 200
  for (let w = 0; w < W; w++) h.start('lockWorker', [lock, h.ctl, N, seed + w])
  let mainGaveUp = 0
  for (let i = 0; i < M && Atomics.load(h.ctl, STOP) === 0; ) {
    const { opts, cancel } = randomOpts(rand)
    let ok = false
    try {
      ok = await lock.acquireAsync(opts)
    } catch (err) {
      if (!(err instanceof DOMException) && !(err instanceof Error && err.name === 'AbortError')) throw err
    } finally {
      cancel()
    }
    if (!ok) {
      mainGaveUp++
      continue
    }
    const v = h.ctl[COUNTER]!
    await Promise.resolve()
    h.ctl[COUNTER] = v + 1
    lock.release()
    i++
  }
  await h.joinAll(seed)
  t.log(`main thread gave up ${mainGaveUp} times`)
  t.is(h.ctl[COUNTER], W * N + M, `seed ${seed}: counter`)
  t.false(lock.locked())
})

test.serial('Semaphore(3) under random aborts and timeouts: never more than 3 holders, every permit back at the end', async (t) => {
  t.timeout(DEADLINE_MS + 60_000)
  const seed = seedOf(t)
  const rand = rng(seed)
  const sem = new Semaphore(3)
  const h = harness(t)
  const W = 8
  const N = 300
  const M = 200
  for (let w = 0; w < W; w++) h.start('semWorker', [sem, h.ctl, 3, N, seed + w])
  let passes = 0
  for (let i = 0; i < M && Atomics.load(h.ctl, STOP) === 0; ) {
    const { opts, cancel } = randomOpts(rand)
    let ok = false
    try {
      ok = await sem.acquireAsync(opts)
    } catch (err) {
      if (!(err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError'))) throw err
    } finally {
      cancel()
    }
    if (!ok) continue
    if (Atomics.add(h.ctl, INSIDE, 1) >= 3) Atomics.add(h.ctl, BAD, 1)
    await Promise.resolve()
    Atomics.sub(h.ctl, INSIDE, 1)
    sem.release()
    passes++
    i++
  }
  await h.joinAll(seed)
  t.is(passes, M)
  t.is(sem.value, 3, `seed ${seed}: permits at the end`)
})

test.serial('Condition(Lock) under random aborts and timeouts: every token consumed exactly once, untimed consumers never stranded', async (t) => {
  t.timeout(DEADLINE_MS + 60_000)
  const seed = seedOf(t)
  const rand = rng(seed)
  const cond = new Condition(new Lock())
  const tokens = new Int32Array(new SharedArrayBuffer(4))
  const h = harness(t)
  const PRODUCERS = 4
  const PER = 500
  const total = PRODUCERS * PER
  for (let p = 0; p < PRODUCERS; p++) h.start('condProducer', [cond, h.ctl, tokens, PER, seed + p])
  for (let c = 0; c < 4; c++) h.start('condConsumer', [cond, h.ctl, tokens, total, seed + 100 + c, c % 2 === 0])
  // At STOP, wake the untimed consumers so that the test ends (and fails) instead of hanging.
  const stopper = setInterval(() => {
    if (Atomics.load(h.ctl, STOP) === 0) return
    if (cond.acquire({ timeout: 100 })) {
      cond.notifyAll()
      cond.release()
    }
  }, 500)
  t.teardown(() => clearInterval(stopper))
  // The main thread consumes too, with aborted and timed-out waitAsync.
  let mine = 0
  let aborted = 0
  while (Atomics.load(h.ctl, GOT) < total && Atomics.load(h.ctl, STOP) === 0) {
    t.true(await cond.acquireAsync(60_000))
    try {
      while (tokens[0] === 0 && Atomics.load(h.ctl, GOT) < total && Atomics.load(h.ctl, STOP) === 0) {
        const { opts, cancel } = randomOpts(rand)
        try {
          await cond.waitAsync(opts)
        } catch (err) {
          if (!(err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError'))) throw err
          aborted++
        } finally {
          cancel()
        }
      }
      if (tokens[0]! > 0 && Atomics.load(h.ctl, GOT) < total) {
        tokens[0]!--
        mine++
        if (Atomics.add(h.ctl, GOT, 1) + 1 >= total) cond.notifyAll()
      }
    } finally {
      cond.release()
    }
  }
  await h.joinAll(seed)
  t.log(`main thread consumed ${mine} tokens; ${aborted} of its waits were aborted`)
  t.is(Atomics.load(h.ctl, GOT), total, `seed ${seed}: tokens consumed`)
  t.is(tokens[0], 0, `seed ${seed}: tokens left`)
})
