/**
 * Bounded random stress of Condition, Semaphore and Event across 4 worker threads plus async
 * users on the main thread. Every scenario is built so that a lost wake-up hangs a party (and
 * the bounded join fails the test) instead of being masked, and every run checks exact totals.
 *
 * Randomness comes from a seeded generator per party; the seed is logged and can be replayed
 * with `STRESS_SEED=<seed> npx ava packages/sync/test/stress.test.ts` (the random inputs repeat;
 * the interleaving itself is up to the machine).
 */
import test from 'ava'
import { Condition } from '../src/condition.ts'
import { Event } from '../src/event.ts'
import { Lock } from '../src/lock.ts'
import { Semaphore } from '../src/semaphore.ts'
import type { Thread } from '../src/thread.ts'
import { joinAll as joinAllWithin, sharedInts, sleep, spawn, spawnMany, until } from './_helpers.ts'

/** Bound for waits that should never expire in a passing run (the machine may be very busy). */
const LONG = 60_000
const SEED = Number(process.env.STRESS_SEED) || (Date.now() % 1_000_000) + 1

/** Joins `threads`, failing if one is still alive after LONG ms or if a target threw. */
function joinAll(threads: Thread[]): Promise<void> {
  return joinAllWithin(threads, LONG)
}

/** Acquires without blocking the event loop, failing after LONG ms instead of hanging. */
async function take(cond: Condition): Promise<void> {
  if (!(await cond.acquireAsync(LONG))) throw new Error(`condition lock not acquired within ${LONG} ms`)
}

/** xorshift32; the same generator is re-declared inside workers (they cannot import it). */
function rng(seed: number): () => number {
  let x = seed | 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 0x1_0000_0000
  }
}

/**
 * Bounded buffer with two Conditions on one Lock (ArrayBlockingQueue's design) and notify(1)
 * only: each put wakes one consumer, each get one producer. A notify absorbed by a timed-out
 * waiter, or a wake-up lost between threads, leaves a forever-waiting party behind.
 * Some waits use short random timeouts (racing notifies), others wait forever.
 */
test('Condition stress: producer/consumer through a bounded buffer with notify(1), 4 workers + main async, exact totals', async (t) => {
  t.timeout(120_000)
  t.log(`seed ${SEED}`)
  const lock = new Lock()
  const notEmpty = new Condition(lock)
  const notFull = new Condition(lock)
  const CAP = 4
  const WORKER_ITEMS = 2500 // per worker producer
  const MAIN_ITEMS = 400
  const PRODUCERS = 3 // 2 workers + main
  const TOTAL = 2 * WORKER_ITEMS + MAIN_ITEMS
  // buf: [HEAD, TAIL, COUNT, PRODUCERS_DONE, items...]; items are item ids + 1; under `lock`.
  const buf = sharedInts(4 + CAP)
  const seen = sharedInts(TOTAL) // times each item id was consumed
  const stats = sharedInts(4) // [CONSUMED, TRUE_WAITS, FALSE_WAITS, _]

  const producer = (p: number, notEmpty: Condition, notFull: Condition, buf: Int32Array, cap: number, items: number, base: number, producers: number, seed: number) => {
    let x = seed | 0 || 1
    const rand = (): number => {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      return (x >>> 0) / 0x1_0000_0000
    }
    for (let k = 0; k < items; k++) {
      notFull.acquire()
      while (buf[2] === cap) {
        // Producer 0 waits forever; producer 1 mostly with short timeouts.
        if (p === 0 || rand() < 0.3) notFull.wait(60_000)
        else notFull.wait(rand() * 2)
      }
      buf[4 + buf[1]!] = base + k + 1
      buf[1] = (buf[1]! + 1) % cap
      buf[2] = buf[2]! + 1
      notEmpty.notify()
      notFull.release()
    }
    notFull.acquire()
    buf[3] = buf[3]! + 1
    if (buf[3] === producers) notEmpty.notifyAll() // termination: consumers see the end
    notFull.release()
  }
  const consumer = (c: number, notEmpty: Condition, notFull: Condition, buf: Int32Array, cap: number, seen: Int32Array, stats: Int32Array, producers: number, seed: number) => {
    let x = seed | 0 || 1
    const rand = (): number => {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      return (x >>> 0) / 0x1_0000_0000
    }
    for (;;) {
      notEmpty.acquire()
      while (buf[2] === 0 && buf[3]! < producers) {
        const ok = c === 0 || rand() < 0.3 ? notEmpty.wait(60_000) : notEmpty.wait(rand() * 2)
        Atomics.add(stats, ok ? 1 : 2, 1)
      }
      if (buf[2] === 0) {
        notEmpty.release()
        return
      }
      const item = buf[4 + buf[0]!]!
      buf[0] = (buf[0]! + 1) % cap
      buf[2] = buf[2]! - 1
      notFull.notify()
      notEmpty.release()
      Atomics.add(seen, item - 1, 1)
      Atomics.add(stats, 0, 1)
    }
  }
  const threads = [
    spawn(producer, 0, notEmpty, notFull, buf, CAP, WORKER_ITEMS, 0, PRODUCERS, SEED + 1),
    spawn(producer, 1, notEmpty, notFull, buf, CAP, WORKER_ITEMS, WORKER_ITEMS, PRODUCERS, SEED + 2),
    spawn(consumer, 0, notEmpty, notFull, buf, CAP, seen, stats, PRODUCERS, SEED + 3),
    spawn(consumer, 1, notEmpty, notFull, buf, CAP, seen, stats, PRODUCERS, SEED + 4),
  ]

  // Main thread: one async producer and one async consumer, concurrently.
  const rand = rng(SEED + 5)
  const mainProducer = (async () => {
    const base = 2 * WORKER_ITEMS
    for (let k = 0; k < MAIN_ITEMS; k++) {
      await take(notFull)
      while (buf[2] === CAP) {
        if (rand() < 0.5) await notFull.waitAsync(LONG)
        else await notFull.waitAsync(rand() * 2)
      }
      buf[4 + buf[1]!] = base + k + 1
      buf[1] = (buf[1]! + 1) % CAP
      buf[2] = buf[2]! + 1
      notEmpty.notify()
      notFull.release()
    }
    await take(notFull)
    buf[3] = buf[3]! + 1
    if (buf[3] === PRODUCERS) notEmpty.notifyAll()
    notFull.release()
  })()
  const mainConsumer = (async () => {
    for (;;) {
      await take(notEmpty)
      while (buf[2] === 0 && buf[3]! < PRODUCERS) {
        const ok = rand() < 0.5 ? await notEmpty.waitAsync(LONG) : await notEmpty.waitAsync(rand() * 2)
        Atomics.add(stats, ok ? 1 : 2, 1)
      }
      if (buf[2] === 0) {
        notEmpty.release()
        return
      }
      const item = buf[4 + buf[0]!]!
      buf[0] = (buf[0]! + 1) % CAP
      buf[2] = buf[2]! - 1
      notFull.notify()
      notEmpty.release()
      Atomics.add(seen, item - 1, 1)
      Atomics.add(stats, 0, 1)
    }
  })()
  await Promise.all([mainProducer, mainConsumer])
  await joinAll(threads)
  t.log(`waits: ${stats[1]} notified, ${stats[2]} timed out`)
  t.is(stats[0], TOTAL, 'every item consumed')
  const wrong = Array.from(seen).findIndex((n) => n !== 1)
  t.is(wrong, -1, `item ${wrong} consumed ${seen[wrong]} times`)
  t.deepEqual([buf[2], buf[3]], [0, PRODUCERS])
  t.false(lock.locked())
})

/**
 * Ping-pong: two workers hand a turn back and forth through one Condition with notify(1) (the
 * only other party is the one to wake), then a three-party ring (2 workers + main) with
 * notifyAll. A lost wake-up stalls the ring; the counts must match the rounds exactly.
 */
test('Condition stress: ping-pong between workers (notify) and a ring with the main thread (notifyAll), exact round counts', async (t) => {
  t.timeout(120_000)
  const ROUNDS = 3000
  const cond = new Condition()
  const st = sharedInts(4) // [TURN, MOVES_0, MOVES_1, _]
  const pingPong = spawnMany(
    2,
    (me: number, cond: Condition, st: Int32Array, rounds: number) => {
      for (let k = 0; k < rounds; k++) {
        cond.acquire()
        // Mix forever waits with timed ones racing the notify.
        const ok = cond.waitFor(() => st[0] === me, k % 3 === 0 ? 1 : 60_000)
        if (!ok) {
          // Timed out: try again without a timeout (the turn must still come).
          cond.waitFor(() => st[0] === me, 60_000)
        }
        if (st[0] !== me) throw new Error(`worker ${me}: not my turn after waitFor`)
        st[1 + me] = st[1 + me]! + 1
        st[0] = 1 - me
        cond.notify()
        cond.release()
      }
    },
    cond,
    st,
    ROUNDS,
  )
  await joinAll(pingPong)
  t.deepEqual([st[1], st[2]], [ROUNDS, ROUNDS])

  const RING = 300
  const ring = new Condition(new Lock())
  const rs = sharedInts(4) // [TURN (0, 1 workers; 2 main), MOVES_0, MOVES_1, MOVES_MAIN]
  const ringWorkers = spawnMany(
    2,
    (me: number, ring: Condition, rs: Int32Array, rounds: number) => {
      for (let k = 0; k < rounds; k++) {
        ring.acquire()
        if (!ring.waitFor(() => rs[0] === me, 60_000)) throw new Error(`worker ${me}: turn never came`)
        rs[1 + me] = rs[1 + me]! + 1
        rs[0] = (me + 1) % 3
        ring.notifyAll()
        ring.release()
      }
    },
    ring,
    rs,
    RING,
  )
  for (let k = 0; k < RING; k++) {
    await take(ring)
    const ok = await ring.waitForAsync(() => rs[0] === 2, LONG)
    t.true(ok, `main: turn ${k} never came`)
    rs[3] = rs[3]! + 1
    rs[0] = 0
    ring.notifyAll()
    ring.release()
  }
  await joinAll(ringWorkers)
  t.deepEqual(Array.from(rs), [0, RING, RING, RING], 'the main thread moved last, handing the turn to worker 0')
})

/**
 * Semaphore(3) hammered by 4 workers (blocking, timed, non-blocking acquires; release(1) and
 * release(2)) and the main thread (acquireAsync with timeouts and aborts). Never more than 3
 * holders at once; every permit comes back (value 3 at the end); an aborted or timed-out
 * acquire takes none.
 */
test('Semaphore stress: random acquire/release across 4 workers + main async keeps <= 3 holders and loses no permit', async (t) => {
  t.timeout(120_000)
  t.log(`seed ${SEED}`)
  const PERMITS = 3
  const ITER = 2500
  const MAIN_ITER = 300
  const sem = new Semaphore(PERMITS)
  const st = sharedInts(7) // [INSIDE, MAX_INSIDE, ACQUIRED, FAILED_TRIES, OVER_LIMIT, STARTED, FINISHED]
  const threads = spawnMany(
    4,
    (w: number, sem: Semaphore, st: Int32Array, iter: number, permits: number, seed: number) => {
      let x = seed + w * 7919 || 1
      const rand = (): number => {
        x ^= x << 13
        x ^= x >>> 17
        x ^= x << 5
        return (x >>> 0) / 0x1_0000_0000
      }
      const enter = (n: number): void => {
        const now = Atomics.add(st, 0, n) + n
        if (now > permits) Atomics.add(st, 4, 1)
        for (let m = Atomics.load(st, 1); now > m; m = Atomics.load(st, 1)) {
          if (Atomics.compareExchange(st, 1, m, now) === m) break
        }
        Atomics.add(st, 2, n)
        const spin = Math.floor(rand() * 3000)
        for (let i = 0; i < spin; i++) Atomics.load(st, 0)
        Atomics.sub(st, 0, n)
      }
      Atomics.add(st, 5, 1)
      for (let k = 0; k < iter; k++) {
        const r = rand()
        if (r < 0.4) {
          sem.acquire()
          enter(1)
          sem.release()
        } else if (r < 0.7) {
          if (sem.acquire({ timeout: rand() * 2 })) {
            enter(1)
            sem.release()
          } else Atomics.add(st, 3, 1)
        } else if (r < 0.9) {
          if (sem.acquire({ blocking: false })) {
            enter(1)
            sem.release()
          } else Atomics.add(st, 3, 1)
        } else {
          // Two permits, released together with release(2); the second is timed so that
          // workers each holding one cannot deadlock.
          sem.acquire()
          if (sem.acquire({ timeout: rand() * 3 })) {
            enter(2)
            sem.release(2)
          } else {
            Atomics.add(st, 3, 1)
            sem.release()
          }
        }
      }
      Atomics.add(st, 6, 1)
    },
    sem,
    st,
    ITER,
    PERMITS,
    SEED,
  )
  const rand = rng(SEED + 99)
  let mainAborted = 0
  await until(() => Atomics.load(st, 5) === 4, LONG, 'workers started') // contend with them
  // At least MAIN_ITER rounds, and on until the workers are done (bounded by their ITER).
  let mainRounds = 0
  for (let k = 0; k < MAIN_ITER || Atomics.load(st, 6) < 4; k++, mainRounds++) {
    const r = rand()
    let got: boolean
    if (r < 0.3) {
      const ac = new AbortController()
      setTimeout(() => ac.abort(new Error('give up')), rand() * 3)
      got = await sem.acquireAsync({ signal: ac.signal }).catch(() => {
        mainAborted++
        return false
      })
    } else if (r < 0.6) {
      got = await sem.acquireAsync(rand() * 3)
    } else {
      got = await sem.acquireAsync(LONG)
      if (!got) throw new Error(`main: no permit within ${LONG} ms`)
    }
    if (got) {
      const now = Atomics.add(st, 0, 1) + 1
      if (now > PERMITS) Atomics.add(st, 4, 1)
      Atomics.add(st, 2, 1)
      if (rand() < 0.3) await sleep(rand() < 0.5 ? 0 : 1)
      Atomics.sub(st, 0, 1)
      sem.release()
    } else Atomics.add(st, 3, 1)
  }
  await joinAll(threads)
  t.log(`acquired ${st[2]} permits, ${st[3]} tries failed, main ran ${mainRounds} rounds and was aborted ${mainAborted} times, max holders ${st[1]}`)
  t.is(st[4], 0, 'more than 3 holders at once')
  t.is(st[0], 0)
  t.true(st[1]! <= PERMITS)
  t.is(sem.value, PERMITS, 'every permit came back; aborted and timed-out acquires took none')
  t.true(st[2]! > 0)
})

/**
 * Hand-offs through two Semaphore(0): each acquire has exactly one sleeper (the other side),
 * so a release that fails to wake a lone sleeper stalls the exchange. Two workers first, then
 * a worker and the main thread (acquireAsync). Some acquires are timed and retried.
 */
test('Semaphore stress: ping-pong through two Semaphore(0) between workers and with the main thread, exact counts', async (t) => {
  t.timeout(120_000)
  const ROUNDS = 3000
  const ping = new Semaphore(0)
  const pong = new Semaphore(0)
  const st = sharedInts(2) // [PINGS, PONGS]
  const pair = spawnMany(
    2,
    (me: number, ping: Semaphore, pong: Semaphore, st: Int32Array, rounds: number) => {
      const [mine, theirs] = me === 0 ? [ping, pong] : [pong, ping]
      for (let k = 0; k < rounds; k++) {
        if (me === 1 || k > 0) {
          if (k % 4 === 3) {
            while (!mine.acquire({ timeout: 1 })) {
              /* short timed acquires racing the release */
            }
          } else if (!mine.acquire({ timeout: 60_000 })) throw new Error(`side ${me}: hand-off ${k} never came`)
        }
        Atomics.add(st, me, 1)
        theirs.release()
      }
      if (me === 0 && !mine.acquire({ timeout: 60_000 })) throw new Error('last hand-off never came')
    },
    ping,
    pong,
    st,
    ROUNDS,
  )
  await joinAll(pair)
  t.deepEqual(Array.from(st), [ROUNDS, ROUNDS])
  t.deepEqual([ping.value, pong.value], [0, 0])

  const MAIN_ROUNDS = 300
  const counts = sharedInts(1)
  const partner = spawn(
    (ping: Semaphore, pong: Semaphore, counts: Int32Array, rounds: number) => {
      for (let k = 0; k < rounds; k++) {
        if (!ping.acquire({ timeout: 60_000 })) throw new Error(`worker: hand-off ${k} never came`)
        Atomics.add(counts, 0, 1)
        pong.release()
      }
    },
    ping,
    pong,
    counts,
    MAIN_ROUNDS,
  )
  for (let k = 0; k < MAIN_ROUNDS; k++) {
    ping.release()
    if (!(await pong.acquireAsync(k % 2 === 0 ? LONG : { timeout: LONG }))) t.fail(`main: hand-off ${k} never came`)
  }
  await joinAll([partner])
  t.is(counts[0], MAIN_ROUNDS)
  t.deepEqual([ping.value, pong.value], [0, 0])
})

/**
 * Event rounds: in round r, every participant (4 workers, one async task on the main thread)
 * waits on events[r % 2], then acknowledges through a Semaphore; the coordinator clears the
 * other event and sets this one. Waits mix forever and short-timeout retries. A participant
 * that misses a set() never acknowledges, so the round count would fall short.
 */
test('Event stress: set/clear rounds with 4 workers + main async participants, exact acknowledgement count', async (t) => {
  t.timeout(120_000)
  const ROUNDS = 300
  const W = 4
  const events = [new Event(), new Event()]
  const acks = new Semaphore(0)
  const st = sharedInts(2) // [ACKS, EARLY (acknowledged a round before it was set)]
  const round = sharedInts(1) // highest round whose event was set (+1)
  const threads = spawnMany(
    W,
    (w: number, events: Event[], acks: Semaphore, st: Int32Array, round: Int32Array, rounds: number) => {
      for (let r = 0; r < rounds; r++) {
        const ev = events[r % 2]!
        if ((r + w) % 4 === 0) {
          while (!ev.wait(1)) {
            /* short timed waits racing set() */
          }
        } else if (!ev.wait(60_000)) throw new Error(`worker ${w}: round ${r} never set`)
        if (Atomics.load(round, 0) < r + 1) Atomics.add(st, 1, 1)
        Atomics.add(st, 0, 1)
        acks.release()
      }
    },
    events,
    acks,
    st,
    round,
    ROUNDS,
  )
  const mainParticipant = (async () => {
    for (let r = 0; r < ROUNDS; r++) {
      const ok = await events[r % 2]!.waitAsync(r % 5 === 0 ? { timeout: LONG } : LONG)
      if (!ok) throw new Error(`main participant: round ${r} never set`)
      if (Atomics.load(round, 0) < r + 1) Atomics.add(st, 1, 1)
      Atomics.add(st, 0, 1)
      acks.release()
    }
  })()
  for (let r = 0; r < ROUNDS; r++) {
    // Everyone acknowledged round r - 1, so nobody waits on the other event any more.
    events[(r + 1) % 2]!.clear()
    Atomics.store(round, 0, r + 1)
    events[r % 2]!.set()
    for (let k = 0; k < W + 1; k++) {
      if (!(await acks.acquireAsync(LONG))) t.fail(`round ${r}: acknowledgement ${k} never came`)
    }
  }
  await mainParticipant
  await joinAll(threads)
  t.is(st[0], ROUNDS * (W + 1))
  t.is(st[1], 0, 'a participant passed a round before its event was set')
  t.is(acks.value, 0)
})
