/**
 * Condition: CPython's `Lib/test/lock_tests.py` ConditionTests, ported, plus the cross-thread
 * behaviours Tandem adds (FIFO across blocking worker waiters and async main-thread waiters,
 * aborted `waitAsync`). The other side of every wait runs in real worker threads.
 *
 * Shared logs are Int32Arrays: slot 0 counts entries, slots 1.. hold non-zero entries appended
 * with `arr[1 + Atomics.add(arr, 0, 1)] = v` (an entry is complete once it reads non-zero).
 */
import test, { type ExecutionContext } from 'ava'
import { Condition } from '../src/condition.ts'
import { LockNotOwnedError } from '../src/errors.ts'
import { Lock } from '../src/lock.ts'
import { RLock } from '../src/rlock.ts'
import type { Thread } from '../src/thread.ts'
import { joinAll as joinAllWithin, sharedInts, sleep, spawn, spawnMany, until as untilWithin } from './_helpers.ts'

/** Bound for waits that should never expire in a passing run (the machine may be very busy). */
const LONG = 60_000

/** Joins `threads`, failing if one is still alive after LONG ms or if a target threw. */
function joinAll(threads: Thread[]): Promise<void> {
  return joinAllWithin(threads, LONG)
}

/** Polls `pred` until true; throws after `timeout` ms (default LONG). */
function until(pred: () => boolean, timeout = LONG, what?: string): Promise<void> {
  return untilWithin(pred, timeout, what)
}

type Kind = 'RLock' | 'Lock'
const KINDS: Kind[] = ['RLock', 'Lock']

function makeCond(kind: Kind): Condition {
  return kind === 'RLock' ? new Condition() : new Condition(new Lock())
}

/** Complete entries of a shared log (see the file header). */
function entries(log: Int32Array): number[] {
  const n = Atomics.load(log, 0)
  const out: number[] = []
  for (let i = 1; i <= n && i < log.length; i++) {
    const v = Atomics.load(log, i)
    if (v === 0) break
    out.push(v)
  }
  return out
}

function sorted(xs: number[]): number[] {
  return [...xs].sort((x, y) => x - y)
}

function append(log: Int32Array, v: number): void {
  Atomics.store(log, 1 + Atomics.add(log, 0, 1), v)
}

/** Acquires `cond` without blocking the event loop, failing after LONG ms instead of hanging. */
async function take(cond: Condition): Promise<void> {
  if (!(await cond.acquireAsync(LONG))) throw new Error(`condition lock not acquired within ${LONG} ms`)
}

/**
 * True if the calling thread holds the condition's lock, for both lock kinds: `notify(0)` wakes
 * nobody but throws LockNotOwnedError unless the caller holds the lock.
 */
function heldHere(cond: Condition): boolean {
  try {
    cond.notify(0)
    return true
  } catch (err) {
    if (err instanceof LockNotOwnedError) return false
    throw err
  }
}

// ---- acquire / release ---------------------------------------------------------------------

test('Condition.acquire/release delegate to the default RLock, which is re-entrant and excludes other threads', async (t) => {
  t.timeout(120_000)
  const cond = new Condition()
  t.true(cond.lock instanceof RLock)
  const rlock = cond.lock as RLock
  t.true(cond.acquire())
  t.true(cond.acquire())
  t.is(rlock.recursionCount(), 2)
  const out = sharedInts(2)
  const probe = (cond: Condition, out: Int32Array, slot: number): void => {
    const got = cond.acquire({ blocking: false })
    out[slot] = got ? 1 : 2
    if (got) cond.release()
  }
  await joinAll([spawn(probe, cond, out, 0)])
  t.is(out[0], 2, 'another thread cannot take the condition while main holds it')
  cond.release()
  t.true(rlock.locked(), 'one release of two leaves it held')
  cond.release()
  t.false(rlock.locked())
  t.throws(() => cond.release(), { instanceOf: LockNotOwnedError, code: 'ERR_LOCK_NOT_OWNED' })
  await joinAll([spawn(probe, cond, out, 1)])
  t.is(out[1], 1, 'another thread takes it once main released it')
})

test('Condition.acquire/release/hold delegate to a plain Lock (lock_tests test_acquire)', async (t) => {
  t.timeout(120_000)
  const lock = new Lock()
  const cond = new Condition(lock)
  t.is(cond.lock, lock)
  cond.acquire()
  t.false(lock.acquire({ blocking: false }))
  cond.release()
  t.true(lock.acquire({ blocking: false }))
  t.false(cond.acquire({ blocking: false }))
  lock.release()
  {
    using _ = cond.hold()
    t.false(lock.acquire({ blocking: false }))
  }
  t.false(lock.locked())
  // A worker holding the lock directly blocks cond.acquireAsync until it releases it.
  const ctl = sharedInts(2) // [HELD, RELEASE]
  const worker = spawn(
    (lock: Lock, ctl: Int32Array) => {
      lock.acquire()
      Atomics.store(ctl, 0, 1)
      while (Atomics.load(ctl, 1) === 0) Atomics.wait(ctl, 1, 0, 1000)
      lock.release()
    },
    lock,
    ctl,
  )
  await until(() => Atomics.load(ctl, 0) === 1)
  t.false(await cond.acquireAsync(0))
  let got = false
  const p = cond.acquireAsync(LONG).then((r) => (got = r))
  await sleep(30)
  t.false(got, 'cond.acquireAsync must wait while a worker holds the lock')
  Atomics.store(ctl, 1, 1)
  Atomics.notify(ctl, 1)
  await p
  t.true(got)
  t.true(lock.locked())
  cond.release()
  await joinAll([worker])
})

test('new Condition(lock) rejects something that is not a Tandem Lock or RLock', (t) => {
  t.throws(() => new Condition({} as Lock), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
})

// ---- ownership -----------------------------------------------------------------------------

for (const kind of KINDS) {
  test(`Condition.wait/notify/notifyAll/waitFor without holding the lock throw LockNotOwnedError (${kind})`, async (t) => {
    t.timeout(120_000)
    const cond = makeCond(kind)
    const notOwned = { instanceOf: LockNotOwnedError, code: 'ERR_LOCK_NOT_OWNED' }
    // (Timeouts everywhere: a broken check must not block the main thread forever.)
    t.throws(() => cond.wait(10), notOwned)
    t.throws(() => cond.notify(), notOwned)
    t.throws(() => cond.notify(3), notOwned)
    t.throws(() => cond.notifyAll(), notOwned)
    t.throws(() => cond.waitFor(() => true, 10), notOwned)
    await t.throwsAsync(cond.waitAsync(10), notOwned)
    await t.throwsAsync(
      cond.waitForAsync(() => true),
      notOwned,
    )

    // Held by another thread is not held by us.
    const ctl = sharedInts(2) // [HELD, RELEASE]
    const holder = spawn(
      (cond: Condition, ctl: Int32Array) => {
        cond.acquire()
        Atomics.store(ctl, 0, 1)
        while (Atomics.load(ctl, 1) === 0) Atomics.wait(ctl, 1, 0, 1000)
        cond.release()
      },
      cond,
      ctl,
    )
    await until(() => Atomics.load(ctl, 0) === 1)
    t.throws(() => cond.notify(), notOwned)
    t.throws(() => cond.notifyAll(), notOwned)
    t.throws(() => cond.wait(10), notOwned)
    await t.throwsAsync(cond.waitAsync(10), notOwned)
    Atomics.store(ctl, 1, 1)
    Atomics.notify(ctl, 1)
    await joinAll([holder])

    // And in a worker, against a lock held by nobody.
    const codes = sharedInts(4)
    await joinAll([
      spawn(
        (cond: Condition, codes: Int32Array) => {
          const calls = [() => cond.wait(10), () => cond.notify(), () => cond.notifyAll(), () => cond.waitFor(() => 1, 10)]
          calls.forEach((call, i) => {
            try {
              call()
              codes[i] = 1
            } catch (e) {
              const err = e as { code?: string; constructor: { name: string } }
              codes[i] = err.code === 'ERR_LOCK_NOT_OWNED' && err.constructor.name === 'LockNotOwnedError' ? 2 : 3
            }
          })
        },
        cond,
        codes,
      ),
    ])
    t.deepEqual(Array.from(codes), [2, 2, 2, 2])
  })
}

test('Condition wait/waitAsync/waitFor/waitForAsync reject a negative or NaN timeout with RangeError', async (t) => {
  const cond = new Condition()
  const bad = { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' }
  cond.acquire()
  t.throws(() => cond.wait(-1), bad)
  t.throws(() => cond.wait(Number.NaN), bad)
  t.throws(() => cond.waitFor(() => false, -1), bad)
  await t.throwsAsync(cond.waitAsync(-1), bad)
  await t.throwsAsync(cond.waitAsync({ timeout: -5 }), bad)
  await t.throwsAsync(
    cond.waitForAsync(() => false, -1),
    bad,
  )
  await t.throwsAsync(
    cond.waitForAsync(() => false, { timeout: Number.NaN }),
    bad,
  )
  t.throws(() => cond.notify(-1), bad)
  t.throws(() => cond.notify(1.5), bad)
  t.is((cond.lock as RLock).recursionCount(), 1, 'failed calls leave the lock held as it was')
  cond.release()
})

// ---- notify / notifyAll (lock_tests _check_notify) -------------------------------------------

/**
 * Port of lock_tests `_check_notify`: N workers wait twice; notify(3), then notify(5) (reaching
 * waiters in their first and second wait), then notifyAll. Each woken worker reads the phase
 * number with the lock re-acquired, which proves it ran only after the notifier released the
 * lock (the notifier sets the phase after notifying, before releasing). Unlike CPython this
 * needs no sleeps: a worker logs "ready" under the lock and enqueues before releasing it, so
 * once the main thread holds the lock with N ready, all N are enqueued.
 */
async function checkNotify(t: ExecutionContext, cond: Condition): Promise<void> {
  const N = 5
  const st = sharedInts(2) // [PHASE, _]
  const ready = sharedInts(1 + 2 * N) // worker ids + 1, in order of arrival
  const results1 = sharedInts(1 + N) // result * 10 + phase, result 1 true / 2 false
  const results2 = sharedInts(1 + N)
  const ids1 = sharedInts(1 + N)
  const threads = spawnMany(
    N,
    (i: number, cond: Condition, st: Int32Array, ready: Int32Array, results1: Int32Array, results2: Int32Array, ids1: Int32Array) => {
      const append = (log: Int32Array, v: number): void => {
        Atomics.store(log, 1 + Atomics.add(log, 0, 1), v)
      }
      for (const results of [results1, results2]) {
        cond.acquire()
        append(ready, i + 1)
        const r = cond.wait(60_000)
        const phase = Atomics.load(st, 0)
        if (results === results1) append(ids1, i + 1)
        cond.release()
        append(results, (r ? 10 : 20) + phase)
      }
    },
    cond,
    st,
    ready,
    results1,
    results2,
    ids1,
  )
  await until(() => entries(ready).length >= N, LONG, 'all workers waiting')
  t.deepEqual(entries(results1), [])

  // Phase 1: notify 3, the three oldest waiters.
  await take(cond)
  cond.notify(3)
  Atomics.store(st, 0, 1)
  cond.release()
  await until(() => entries(results1).length >= 3, LONG, 'three woken')
  await sleep(30) // a fourth wake-up would show here
  t.deepEqual(entries(results1), [11, 11, 11])
  t.deepEqual(entries(results2), [])
  t.deepEqual(sorted(entries(ids1)), sorted(entries(ready).slice(0, 3)), 'notify(3) wakes the three oldest waiters')

  // Phase 2: once the three are back in their second wait, notify 5: the two still in their
  // first wait (older) and the three in their second.
  await until(() => entries(ready).length >= N + 3, LONG, 'three in second wait')
  await take(cond)
  cond.notify(5)
  Atomics.store(st, 0, 2)
  cond.release()
  await until(() => entries(results1).length + entries(results2).length >= N + 3, LONG, 'phase 2 wake-ups')
  t.deepEqual(entries(results1), [11, 11, 11, 12, 12])
  t.deepEqual(entries(results2), [12, 12, 12])

  // Phase 3: notifyAll reaches the two left.
  await until(() => entries(ready).length >= 2 * N, LONG, 'all in second wait')
  await take(cond)
  cond.notifyAll()
  Atomics.store(st, 0, 3)
  cond.release()
  await joinAll(threads)
  t.deepEqual(entries(results1), [11, 11, 11, 12, 12])
  t.deepEqual(entries(results2), [12, 12, 12, 13, 13])
}

for (const kind of KINDS) {
  test(`Condition.notify(n)/notifyAll wake exactly n/all waiters, who run after the notifier releases (${kind}, lock_tests test_notify)`, async (t) => {
    t.timeout(120_000)
    const cond = makeCond(kind)
    await checkNotify(t, cond)
    // A second time, to check the internal state is still right.
    await checkNotify(t, cond)
  })
}

/**
 * Lines waiters up in a known order: position p is either a worker or (if listed in `mainAt`)
 * an async waiter on the main thread. Each waiter takes its turn (TURN === p), acquires the
 * condition, logs its arrival, passes the turn on and waits; the next can only acquire the lock
 * after the previous one has enqueued itself and released it. Wake-ups are logged as p + 1 (or
 * -(p + 1) for a wait that returned false) with the lock re-acquired.
 */
async function lineUp(cond: Condition, n: number, mainAt: number[] = [], waitMs = LONG) {
  const ctl = sharedInts(1) // [TURN]
  const arrivals = sharedInts(1 + n)
  const wakes = sharedInts(1 + n)
  const workerAt = Array.from({ length: n }, (_, p) => p).filter((p) => !mainAt.includes(p))
  const threads: Thread[] = workerAt.map((p) =>
    spawn(
      (p: number, cond: Condition, ctl: Int32Array, arrivals: Int32Array, wakes: Int32Array, waitMs: number) => {
        for (;;) {
          const turn = Atomics.load(ctl, 0)
          if (turn === p) break
          Atomics.wait(ctl, 0, turn, 1000)
        }
        cond.acquire()
        Atomics.store(arrivals, 1 + Atomics.add(arrivals, 0, 1), p + 1)
        Atomics.store(ctl, 0, p + 1)
        Atomics.notify(ctl, 0)
        const r = cond.wait(waitMs)
        Atomics.store(wakes, 1 + Atomics.add(wakes, 0, 1), r ? p + 1 : -(p + 1))
        cond.release()
      },
      p,
      cond,
      ctl,
      arrivals,
      wakes,
      waitMs,
    ),
  )
  const mains: Promise<void>[] = []
  for (const p of mainAt) {
    await until(() => Atomics.load(ctl, 0) === p, LONG, `turn ${p}`)
    await take(cond)
    append(arrivals, p + 1)
    Atomics.store(ctl, 0, p + 1)
    Atomics.notify(ctl, 0)
    // waitAsync enqueues and releases the lock synchronously, before it returns.
    mains.push(
      cond.waitAsync(waitMs).then((r) => {
        append(wakes, r ? p + 1 : -(p + 1))
        cond.release()
      }),
    )
  }
  await until(() => entries(arrivals).length === n, LONG, 'all waiters lined up')
  return { arrivals, wakes, threads, mains }
}

async function notifyOnce(cond: Condition, n: number | 'all'): Promise<void> {
  await take(cond)
  if (n === 'all') cond.notifyAll()
  else cond.notify(n)
  cond.release()
}

for (const kind of KINDS) {
  test(`Condition.notify(1) wakes one waiter at a time in FIFO order of waiting, across workers and async main-thread waiters (${kind})`, async (t) => {
    t.timeout(120_000)
    const cond = makeCond(kind)
    const n = 7
    const { arrivals, wakes, threads, mains } = await lineUp(cond, n, [2, 5])
    t.deepEqual(entries(arrivals), [1, 2, 3, 4, 5, 6, 7])
    for (let k = 0; k < n; k++) {
      await notifyOnce(cond, 1)
      await until(() => entries(wakes).length >= k + 1, LONG, `wake-up ${k + 1}`)
      await sleep(15) // a second wake-up from the same notify(1) would show here
      t.deepEqual(
        entries(wakes),
        Array.from({ length: k + 1 }, (_, i) => i + 1),
        `after notify(1) #${k + 1}`,
      )
    }
    await Promise.all(mains)
    await joinAll(threads)
  })

  test(`Condition.notify(0) wakes nobody, notify(2) the two oldest, notifyAll the rest (${kind})`, async (t) => {
    t.timeout(120_000)
    const cond = makeCond(kind)
    const n = 6
    const { wakes, threads, mains } = await lineUp(cond, n, [1])
    await notifyOnce(cond, 0)
    await sleep(50)
    t.deepEqual(entries(wakes), [], 'notify(0) woke someone')
    await notifyOnce(cond, 2)
    await until(() => entries(wakes).length >= 2, LONG, 'two woken')
    await sleep(30)
    t.deepEqual(sorted(entries(wakes)), [1, 2])
    await notifyOnce(cond, 'all')
    await until(() => entries(wakes).length >= n, LONG, 'all woken')
    t.deepEqual(sorted(entries(wakes)), [1, 2, 3, 4, 5, 6])
    await Promise.all(mains)
    await joinAll(threads)
  })
}

test('Condition.notify(n) with fewer waiters does not bank wake-ups for later waiters', async (t) => {
  t.timeout(120_000)
  const cond = new Condition()
  const { wakes, threads } = await lineUp(cond, 3)
  await notifyOnce(cond, 10)
  await joinAll(threads)
  t.deepEqual(sorted(entries(wakes)), [1, 2, 3])
  // A waiter arriving after the notify is not woken by it.
  await take(cond)
  t.false(await cond.waitAsync(50))
  cond.release()
  const late = sharedInts(1)
  await joinAll([
    spawn(
      (cond: Condition, late: Int32Array) => {
        cond.acquire()
        late[0] = cond.wait(50) ? 1 : 2
        cond.release()
      },
      cond,
      late,
    ),
  ])
  t.is(late[0], 2)
})

// ---- timeouts ------------------------------------------------------------------------------

for (const kind of KINDS) {
  test(`Condition.wait(timeout) returns false with the lock re-acquired when not notified (${kind}, lock_tests test_timeout)`, async (t) => {
    t.timeout(120_000)
    const cond = makeCond(kind)
    const N = 5
    const results = sharedInts(1 + N)
    const threads = spawnMany(
      N,
      (_i: number, cond: Condition, results: Int32Array) => {
        cond.acquire()
        const r = cond.wait(50)
        // Re-acquired by this thread: notify(0) throws unless the caller holds the lock.
        let held = true
        try {
          cond.notify(0)
        } catch {
          held = false
        }
        cond.release()
        Atomics.store(results, 1 + Atomics.add(results, 0, 1), (r ? 10 : 20) + (held ? 1 : 2))
      },
      cond,
      results,
    )
    await take(cond)
    t.false(await cond.waitAsync(50))
    t.true(heldHere(cond))
    t.false(cond.wait(30), 'blocking wait with a timeout on the main thread')
    t.true(heldHere(cond))
    t.false(await cond.waitAsync(0))
    t.false(cond.wait(0))
    cond.release()
    await joinAll(threads)
    t.deepEqual(entries(results), Array(N).fill(21))
  })
}

test('Condition.wait: a waiter that timed out does not consume a later notify (the next waiter gets it)', async (t) => {
  t.timeout(120_000)
  const cond = new Condition()
  const res = sharedInts(4) // [A arrived, A result, B arrived, B result]; result 1 true / 2 false
  const a = spawn(
    (cond: Condition, res: Int32Array) => {
      cond.acquire()
      Atomics.store(res, 0, 1)
      const r = cond.wait(30)
      Atomics.store(res, 1, r ? 1 : 2)
      cond.release()
    },
    cond,
    res,
  )
  await until(() => Atomics.load(res, 0) === 1)
  const b = spawn(
    (cond: Condition, res: Int32Array) => {
      cond.acquire()
      Atomics.store(res, 2, 1)
      const r = cond.wait(60_000)
      Atomics.store(res, 3, r ? 1 : 2)
      cond.release()
    },
    cond,
    res,
  )
  await until(() => Atomics.load(res, 2) === 1 && Atomics.load(res, 1) !== 0, LONG, 'A timed out, B waiting')
  t.is(res[1], 2, 'A timed out')
  await notifyOnce(cond, 1)
  await joinAll([a, b])
  t.is(res[3], 1, "B must get the notify: A's stale slot must not absorb it")
})

/**
 * Races a timed wait against notify(1) many times. Worker A waits with a short timeout, worker
 * B behind it waits "forever"; worker N notifies once at about A's deadline (timeouts and
 * delays vary per round, so both outcomes occur). Exactly one of A and B may be woken by that
 * single notify: either A returns true and B keeps waiting, or A times out (false) and B gets
 * the notify. Two trues would be a spurious true; none would be a lost wake-up. N checks each
 * round and, if A took the notify, sends a second one for B.
 */
test('Condition.wait: timeout racing notify(1) yields exactly one wake-up, never a spurious true nor a lost one', async (t) => {
  t.timeout(120_000)
  const cond = new Condition()
  const ROUNDS = 60
  // Per round r: a[r], b[r] = 1 arrived (queued), then 10 returned true / 20 returned false.
  // n[r] = 1 N saw A take the notify and B still waiting, 2 A took it but B had returned too,
  // 3 A timed out.
  const a = sharedInts(ROUNDS)
  const b = sharedInts(ROUNDS)
  const n = sharedInts(ROUNDS)
  const wa = spawn(
    (cond: Condition, a: Int32Array, n: Int32Array, rounds: number) => {
      for (let r = 0; r < rounds; r++) {
        // Round r starts once N has finished round r - 1.
        while (r > 0 && Atomics.load(n, r - 1) === 0) Atomics.wait(n, r - 1, 0, 1000)
        cond.acquire()
        Atomics.store(a, r, 1)
        Atomics.notify(a, r)
        const ok = cond.wait(1 + (r % 5))
        Atomics.store(a, r, ok ? 10 : 20)
        Atomics.notify(a, r)
        cond.release()
      }
    },
    cond,
    a,
    n,
    ROUNDS,
  )
  const wb = spawn(
    (cond: Condition, a: Int32Array, b: Int32Array, rounds: number) => {
      for (let r = 0; r < rounds; r++) {
        while (Atomics.load(a, r) === 0) Atomics.wait(a, r, 0, 1000)
        cond.acquire()
        Atomics.store(b, r, 1)
        Atomics.notify(b, r)
        const ok = cond.wait(60_000)
        Atomics.store(b, r, ok ? 10 : 20)
        Atomics.notify(b, r)
        cond.release()
      }
    },
    cond,
    a,
    b,
    ROUNDS,
  )
  const wn = spawn(
    (cond: Condition, a: Int32Array, b: Int32Array, n: Int32Array, rounds: number) => {
      const nap = new Int32Array(new SharedArrayBuffer(4))
      const waitWhile = (arr: Int32Array, i: number, pred: (v: number) => boolean): void => {
        for (;;) {
          const v = Atomics.load(arr, i)
          if (!pred(v)) return
          Atomics.wait(arr, i, v, 1000)
        }
      }
      for (let r = 0; r < rounds; r++) {
        waitWhile(b, r, (v) => v === 0)
        // B set its flag under the lock; acquiring the lock proves it is queued behind A.
        cond.acquire()
        cond.release()
        Atomics.wait(nap, 0, 0, (r * 3) % 7) // 0..6 ms, against A's 1..5 ms timeout
        cond.acquire()
        cond.notify(1)
        cond.release()
        waitWhile(a, r, (v) => v < 10)
        let outcome = 3
        if (Atomics.load(a, r) === 10) {
          Atomics.wait(nap, 0, 0, 10)
          outcome = Atomics.load(b, r) === 1 ? 1 : 2
          cond.acquire()
          cond.notify(1)
          cond.release()
        }
        waitWhile(b, r, (v) => v < 10)
        Atomics.store(n, r, outcome)
        Atomics.notify(n, r)
      }
    },
    cond,
    a,
    b,
    n,
    ROUNDS,
  )
  await joinAll([wa, wb, wn])
  const aTook = Array.from(n).filter((v) => v !== 3).length
  t.log(`A got the first notify in ${aTook} of ${ROUNDS} rounds, timed out in ${ROUNDS - aTook}`)
  t.deepEqual(
    Array.from(n).filter((v) => v === 2),
    [],
    'A returned true, yet B was woken by the same notify',
  )
  t.deepEqual(Array.from(b), Array(ROUNDS).fill(10), 'B must always be woken by a notify, never time out')
  for (let r = 0; r < ROUNDS; r++) t.is(a[r], n[r] === 3 ? 20 : 10)
})

// ---- waitFor / waitForAsync ----------------------------------------------------------------

test('Condition.waitFor returns the truthy predicate value once notified state satisfies it (lock_tests test_waitfor)', async (t) => {
  t.timeout(120_000)
  const cond = new Condition()
  const state = sharedInts(4) // [STATE, RESULT, CALLS, PREDICATE_CALLED_WITHOUT_LOCK]
  const worker = spawn(
    (cond: Condition, state: Int32Array) => {
      cond.acquire()
      const result = cond.waitFor(() => {
        Atomics.add(state, 2, 1)
        if (!(cond.lock as unknown as { isOwned(): boolean }).isOwned()) Atomics.store(state, 3, 1)
        return Atomics.load(state, 0) === 4 ? 'four' : 0
      })
      Atomics.store(state, 1, result === 'four' && Atomics.load(state, 0) === 4 ? 1 : 2)
      cond.release()
    },
    cond,
    state,
  )
  for (let i = 0; i < 4; i++) {
    await until(() => Atomics.load(state, 2) >= i + 1, LONG, 'predicate evaluated')
    await take(cond)
    Atomics.add(state, 0, 1)
    cond.notify()
    cond.release()
  }
  await joinAll([worker])
  t.is(state[1], 1)
  t.is(state[3], 0, 'the predicate always runs with the lock held')
  t.true(state[2]! >= 2)
})

test('Condition.waitFor on timeout returns the last falsy predicate value (lock_tests test_waitfor_timeout)', async (t) => {
  t.timeout(120_000)
  const cond = new Condition()
  // [STATE, CALLS, OUTCOME, RESULT_IS_NULL, DONE]
  // OUTCOME 1: the result is falsy and is the very value the predicate returned last.
  const state = sharedInts(5)
  const worker = spawn(
    (cond: Condition, state: Int32Array) => {
      const falsy = [0, '', Number.NaN, null, false]
      let last: unknown = 'never called'
      cond.acquire()
      const result = cond.waitFor(() => {
        Atomics.add(state, 1, 1)
        const s = Atomics.load(state, 0)
        last = s === 4 ? 'four' : falsy[s]
        return last
      }, 2_000)
      Atomics.store(state, 2, Object.is(result, last) && !result ? 1 : 2)
      Atomics.store(state, 3, result === null ? 1 : 2)
      Atomics.store(state, 4, 1)
      cond.release()
    },
    cond,
    state,
  )
  // Only 3 increments: STATE === 4 is never reached.
  let stillWaitingAtLast = false
  for (let i = 0; i < 3; i++) {
    await until(() => Atomics.load(state, 1) >= i + 1 || Atomics.load(state, 4) === 1, LONG, 'predicate evaluated')
    await take(cond)
    Atomics.add(state, 0, 1)
    // Holding the lock: if the worker has not returned yet, its last evaluation will see 3.
    stillWaitingAtLast = Atomics.load(state, 4) === 0
    cond.notify()
    cond.release()
  }
  await joinAll([worker])
  t.is(state[2], 1, 'waitFor must return the last (falsy) value of the predicate')
  if (stillWaitingAtLast) t.is(state[3], 1, 'the last value, for state 3, is null')
  else t.log('the worker timed out before the third increment (busy machine); null check skipped')
})

test('Condition.waitFor/waitForAsync evaluate the predicate first and return at once when it holds or the timeout is 0', async (t) => {
  const cond = new Condition()
  cond.acquire()
  t.is(
    cond.waitFor(() => 'ready', LONG),
    'ready',
  )
  t.is(
    cond.waitFor(() => '', 0),
    '',
  )
  t.is(
    cond.waitFor(() => 0, 20),
    0,
  )
  t.is(await cond.waitForAsync(() => 42), 42)
  t.is(await cond.waitForAsync(() => null, 0), null)
  t.is(await cond.waitForAsync(() => undefined, 20), undefined)
  t.is((cond.lock as RLock).recursionCount(), 1)
  cond.release()
})

test('Condition.waitForAsync on the main thread is satisfied by blocking notifiers in workers', async (t) => {
  t.timeout(120_000)
  const cond = new Condition()
  const state = sharedInts(1)
  await take(cond)
  const workers = spawnMany(
    3,
    (_i: number, cond: Condition, state: Int32Array) => {
      for (let k = 0; k < 5; k++) {
        cond.acquire()
        state[0] = state[0]! + 1
        cond.notify()
        cond.release()
      }
    },
    cond,
    state,
  )
  const v = await cond.waitForAsync(() => state[0] === 15 && 'all 15', LONG)
  t.is(v, 'all 15')
  t.true((cond.lock as RLock).isOwned())
  cond.release()
  await joinAll(workers)
  // Timeout: returns the last falsy value.
  await take(cond)
  t.is(await cond.waitForAsync(() => state[0] === 16 && 'never', 30), false)
  cond.release()
})

test('Condition.waitForAsync aborted: rejects with the reason and re-acquires the lock', async (t) => {
  t.timeout(120_000)
  const cond = new Condition()
  await take(cond)
  const ac = new AbortController()
  const reason = new Error('stop waiting')
  const p = cond.waitForAsync(() => false, { signal: ac.signal })
  await sleep(10)
  ac.abort(reason)
  const err = await t.throwsAsync(p)
  t.is(err, reason)
  t.true((cond.lock as RLock).isOwned())
  cond.release()
  t.false(cond.lock.locked())
})

// ---- RLock recursion -----------------------------------------------------------------------

test('Condition.wait (RLock) fully releases a recursively held lock and restores the recursion count', async (t) => {
  t.timeout(120_000)
  const cond = new Condition()
  const rlock = cond.lock as RLock
  const st = sharedInts(3) // [ENQUEUED, RESULT, COUNT_AFTER]
  const worker = spawn(
    (cond: Condition, st: Int32Array) => {
      const rlock = cond.lock as unknown as { recursionCount(): number }
      cond.acquire()
      cond.acquire()
      cond.acquire()
      Atomics.store(st, 0, 1)
      const r = cond.wait(60_000)
      Atomics.store(st, 2, rlock.recursionCount())
      Atomics.store(st, 1, r ? 1 : 2)
      cond.release()
      cond.release()
      cond.release()
    },
    cond,
    st,
  )
  await until(() => Atomics.load(st, 0) === 1)
  // Acquirable now proves the worker released all three levels while waiting.
  t.true(await cond.acquireAsync(LONG))
  t.is(rlock.recursionCount(), 1)
  cond.notify()
  cond.release()
  await joinAll([worker])
  t.is(st[1], 1)
  t.is(st[2], 3)
  t.false(rlock.locked())

  // Same on the main thread with waitAsync, notified from a worker.
  cond.acquire()
  cond.acquire()
  const p = cond.waitAsync(LONG)
  const notifier = spawn((cond: Condition) => {
    cond.acquire() // possible only if main released both levels
    cond.notify()
    cond.release()
  }, cond)
  t.true(await p)
  t.is(rlock.recursionCount(), 2)
  cond.release()
  cond.release()
  t.false(rlock.locked())
  await joinAll([notifier])
})

// Guards the rule that "woken waiters run only after the notifier releases the lock" for two
// async tasks on the main thread, which share one thread identity: a re-entrant restore would
// let the waiter resume inside the other task's critical section and clobber its count.
for (const kind of KINDS) {
  // Serial: nothing else may block the main thread meanwhile.
  test.serial(`Condition.waitAsync (${kind}) on the main thread resumes only after another main-thread task releases the lock`, async (t) => {
    t.timeout(120_000)
    const cond = makeCond(kind)
    let marker = 0
    let seen = -1
    await take(cond)
    const waiter = cond.waitAsync(LONG).then((r) => {
      seen = marker
      cond.release()
      return r
    })
    await take(cond)
    cond.notify()
    // Still holding the lock, give the waiter every chance to (wrongly) resume.
    await until(() => seen !== -1, 300).catch(() => {})
    marker = 1
    t.notThrows(() => cond.release())
    t.true(await waiter)
    t.is(seen, 1, 'the woken waiter ran before the notifying task released the lock')
    t.false(cond.lock.locked())
  })
}

// ---- aborted waitAsync ---------------------------------------------------------------------

for (const kind of KINDS) {
  test(`Condition.waitAsync aborted: rejects with the reason, only after re-acquiring the lock, and consumes no notify (${kind})`, async (t) => {
    t.timeout(120_000)
    const cond = makeCond(kind)
    const ctl = sharedInts(3) // [HELD, RELEASE, _]
    await take(cond)
    const ac = new AbortController()
    const reason = new Error('abort reason')
    let settled = false
    const p = cond.waitAsync({ signal: ac.signal, timeout: LONG }).finally(() => (settled = true))
    // A worker takes the lock (released by waitAsync) and holds it across the abort.
    const holder = spawn(
      (cond: Condition, ctl: Int32Array) => {
        cond.acquire()
        Atomics.store(ctl, 0, 1)
        while (Atomics.load(ctl, 1) === 0) Atomics.wait(ctl, 1, 0, 1000)
        cond.release()
      },
      cond,
      ctl,
    )
    await until(() => Atomics.load(ctl, 0) === 1)
    ac.abort(reason)
    await sleep(30)
    t.false(settled, 'waitAsync must not settle before it re-acquired the lock')
    Atomics.store(ctl, 1, 1)
    Atomics.notify(ctl, 1)
    const err = await t.throwsAsync(p)
    t.is(err, reason)
    t.true(heldHere(cond), 'the lock is held again when the abort is reported')
    cond.release()
    await joinAll([holder])

    // The aborted waiter's slot must not absorb the next notify.
    const { wakes, threads } = await lineUp(cond, 1)
    await notifyOnce(cond, 1)
    await joinAll(threads)
    t.deepEqual(entries(wakes), [1])

    // An already-aborted signal rejects at once, lock still held.
    await take(cond)
    await t.throwsAsync(cond.waitAsync({ signal: AbortSignal.abort(reason) }), { is: reason })
    t.true(heldHere(cond))
    cond.release()
  })

  test(`Condition.waitAsync aborted after a notify reached it passes the wake-up on to the next waiter (${kind})`, async (t) => {
    t.timeout(120_000)
    const cond = makeCond(kind)
    const wakes = sharedInts(2)
    // Main waits first, a worker behind it.
    await take(cond)
    const ac = new AbortController()
    const reason = new Error('abort after notify')
    const p = cond.waitAsync({ signal: ac.signal, timeout: LONG })
    const behind = await lineUpWorkerBehind(cond, wakes)
    // Notify and abort in the same tick: the notify already marked the main waiter.
    await take(cond)
    cond.notify(1)
    ac.abort(reason)
    cond.release()
    const err = await t.throwsAsync(p)
    t.is(err, reason)
    t.true(heldHere(cond))
    await sleep(20)
    t.deepEqual(entries(wakes), [], 'the passed-on wake-up waits for the lock we hold')
    cond.release()
    await joinAll([behind])
    t.deepEqual(entries(wakes), [1], 'the worker behind got the wake-up the aborted waiter received')
  })
}

/** Starts one worker that waits on `cond` (logging 1 / -1 into `wakes` when it returns). */
async function lineUpWorkerBehind(cond: Condition, wakes: Int32Array): Promise<Thread> {
  const st = sharedInts(1)
  const th = spawn(
    (cond: Condition, st: Int32Array, wakes: Int32Array) => {
      cond.acquire()
      Atomics.store(st, 0, 1)
      const r = cond.wait(60_000)
      Atomics.store(wakes, 1 + Atomics.add(wakes, 0, 1), r ? 1 : -1)
      cond.release()
    },
    cond,
    st,
    wakes,
  )
  await until(() => Atomics.load(st, 0) === 1)
  // Holding the lock once proves the worker has enqueued and released it.
  await take(cond)
  cond.release()
  return th
}

/**
 * A notifier worker races the main thread's abort. Whatever wins, the single notify must
 * produce exactly one wake-up: the main waiter resolves true (then the worker behind it stays
 * waiting), or the main waiter rejects and the worker behind is woken (passed on, or directly).
 */
test('Condition.waitAsync: abort racing a notify from a worker never loses or duplicates the wake-up', async (t) => {
  t.timeout(120_000)
  const cond = new Condition()
  const ROUNDS = 40
  const go = sharedInts(1) // rounds the notifier may run
  const done = sharedInts(1) // rounds the notifier completed
  const turn = sharedInts(1) // rounds the worker behind may queue for
  const arrived = sharedInts(ROUNDS) // 1 once the worker behind set it under the lock
  const woke = sharedInts(ROUNDS) // 1 woken / 2 timed out
  const notifier = spawn(
    (cond: Condition, go: Int32Array, done: Int32Array, rounds: number) => {
      for (let r = 0; r < rounds; r++) {
        for (let v = Atomics.load(go, 0); v <= r; v = Atomics.load(go, 0)) Atomics.wait(go, 0, v, 1000)
        const spin = (r * 7919) % 20_000
        for (let i = 0; i < spin; i++) Atomics.load(go, 0)
        cond.acquire()
        cond.notify(1)
        cond.release()
        Atomics.store(done, 0, r + 1)
      }
    },
    cond,
    go,
    done,
    ROUNDS,
  )
  const behind = spawn(
    (cond: Condition, turn: Int32Array, arrived: Int32Array, woke: Int32Array, rounds: number) => {
      for (let r = 0; r < rounds; r++) {
        for (let v = Atomics.load(turn, 0); v <= r; v = Atomics.load(turn, 0)) Atomics.wait(turn, 0, v, 1000)
        cond.acquire()
        Atomics.store(arrived, r, 1)
        const ok = cond.wait(60_000)
        Atomics.store(woke, r, ok ? 1 : 2)
        cond.release()
      }
    },
    cond,
    turn,
    arrived,
    woke,
    ROUNDS,
  )
  const stats = { mainTrue: 0, aborted: 0 }
  for (let r = 0; r < ROUNDS; r++) {
    await take(cond)
    const ac = new AbortController()
    const reason = new Error(`round ${r}`)
    const p = cond.waitAsync({ signal: ac.signal, timeout: LONG }).then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    )
    // The worker behind queues after the main waiter; holding the lock once proves it is queued.
    Atomics.store(turn, 0, r + 1)
    Atomics.notify(turn, 0)
    await until(() => Atomics.load(arrived, r) === 1, LONG, `worker behind queued in round ${r}`)
    await take(cond)
    cond.release()
    Atomics.store(go, 0, r + 1)
    Atomics.notify(go, 0)
    if (r % 3 === 1) await sleep(1)
    else if (r % 3 === 2) await new Promise((res) => setImmediate(res))
    ac.abort(reason)
    const out = await p
    t.true(heldHere(cond), `round ${r}: lock held after waitAsync settled`)
    cond.release()
    await until(() => Atomics.load(done, 0) === r + 1, LONG, `notifier round ${r}`)
    if (out.ok) {
      t.true(out.v, `round ${r}: no timeout was possible`)
      stats.mainTrue++
      await sleep(10)
      t.is(Atomics.load(woke, r), 0, `round ${r}: main consumed the notify; the worker behind must still wait`)
      await notifyOnce(cond, 1)
    } else {
      t.is(out.e, reason)
      stats.aborted++
    }
    await until(() => Atomics.load(woke, r) !== 0, LONG, `worker behind done in round ${r}`)
    t.is(woke[r], 1, `round ${r}: the worker behind must be woken, not time out`)
  }
  await joinAll([notifier, behind])
  t.log(`main kept the notify ${stats.mainTrue} times, was aborted ${stats.aborted} times`)
})
