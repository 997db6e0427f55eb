/**
 * RLock: the behaviours of CPython's Lib/test/lock_tests.py (BaseLockTests, RLockTests), with
 * "the other thread" a real worker, plus Tandem's async waiters, AbortSignal and hold/holdAsync.
 *
 * Shared Int32Arrays carry phases and results between the main thread and the workers; worker
 * targets are shipped by source, so they only use their parameters and what they import.
 */
import test from 'ava'
import { RLock } from '../src/rlock.ts'
import { LockNotOwnedError, TimeoutError } from '../src/errors.ts'
import { go, JOIN, joinAll, reached, SETTLE, sharedInts, sleep, spawn, spawnMany, take } from './_helpers.ts'

/** URL of the errors module, for workers that check error classes with `instanceof`. */
const ERRORS = new URL('../src/errors.ts', import.meta.url).href

test('RLock constructor creates an unowned, unlocked lock', (t) => {
  const lock = new RLock()
  t.false(lock.locked())
  t.false(lock.isOwned())
  t.is(lock.recursionCount(), 0)
})

test('RLock.acquire() and release() toggle locked()', (t) => {
  const lock = new RLock()
  t.true(lock.acquire({ timeout: 5000 }))
  t.true(lock.locked())
  t.true(lock.isOwned())
  lock.release()
  t.false(lock.locked())
  t.false(lock.isOwned())
})

test('RLock.acquire({ blocking: false }) takes a free lock, and re-enters one this thread owns', (t) => {
  const lock = new RLock()
  t.true(lock.acquire({ blocking: false }))
  t.true(lock.acquire({ blocking: false }))
  t.is(lock.recursionCount(), 2)
  lock.release()
  lock.release()
  t.false(lock.locked())
})

test('RLock.acquire({ blocking: false }) in a worker returns false while the main thread owns the lock', async (t) => {
  t.timeout(90_000)
  const lock = new RLock()
  take(lock)
  const out = sharedInts(3)
  await joinAll(
    [
      spawn(
        (lock: RLock, out: Int32Array) => {
          out[0] = lock.acquire({ blocking: false }) ? 1 : 2
          out[1] = lock.isOwned() ? 1 : 2
          out[2] = lock.recursionCount()
        },
        lock,
        out,
      ),
    ],
    JOIN,
  )
  t.deepEqual(Array.from(out), [2, 2, 0])
  t.true(lock.isOwned())
  t.is(lock.recursionCount(), 1, "a failed try-acquire elsewhere must not touch the owner's count")
  lock.release()
  t.false(lock.locked())
})

test('RLock.acquire() blocks contending workers until the owner releases, then each gets it', async (t) => {
  t.timeout(90_000)
  const N = 5
  const lock = new RLock()
  take(lock)
  take(lock)
  const s = sharedInts(2) // [started, finished]
  const threads = spawnMany(
    N,
    (_i: number, lock: RLock, s: Int32Array) => {
      Atomics.add(s, 0, 1)
      lock.acquire()
      lock.release()
      Atomics.add(s, 1, 1)
    },
    lock,
    s,
  )
  await reached(s, 0, N, 'all workers started')
  await sleep(SETTLE)
  t.is(Atomics.load(s, 1), 0)
  lock.release()
  await sleep(SETTLE)
  t.is(Atomics.load(s, 1), 0, 'releasing one of two levels must keep the workers out')
  lock.release()
  await joinAll(threads, JOIN)
  t.is(Atomics.load(s, 1), N)
  t.false(lock.locked())
})

test('RLock.hold() with using nests and releases level by level, also when the scope throws', async (t) => {
  t.timeout(90_000)
  const lock = new RLock()
  {
    using _a = lock.hold({ timeout: 5000 })
    {
      using _b = lock.hold({ timeout: 5000 })
      t.is(lock.recursionCount(), 2)
    }
    t.is(lock.recursionCount(), 1)
    t.true(lock.locked())
  }
  t.false(lock.locked())
  t.throws(
    () => {
      using _a = lock.hold({ timeout: 5000 })
      using _b = lock.hold({ timeout: 5000 })
      throw new TypeError('boom')
    },
    { instanceOf: TypeError, message: 'boom' },
  )
  t.false(lock.locked())
  t.is(lock.recursionCount(), 0)
  {
    using _a = await lock.holdAsync()
    using _b = await lock.holdAsync({ timeout: 1000 })
    t.is(lock.recursionCount(), 2)
  }
  t.false(lock.locked())
  const out = sharedInts(1)
  await joinAll(
    [
      spawn(
        (lock: RLock, out: Int32Array) => {
          out[0] = lock.acquire({ timeout: 45_000 }) ? 1 : 2
          lock.release()
        },
        lock,
        out,
      ),
    ],
    JOIN,
  )
  t.is(out[0], 1)
})

test('RLock.hold() and holdAsync() throw TimeoutError while another thread owns the lock', async (t) => {
  t.timeout(90_000)
  const lock = new RLock()
  const f = sharedInts(2) // [held, go]
  const holder = spawn(
    (lock: RLock, f: Int32Array) => {
      lock.acquire()
      Atomics.store(f, 0, 1)
      for (let k = 0; k < 120 && Atomics.load(f, 1) === 0; k++) Atomics.wait(f, 1, 0, 500)
      lock.release()
    },
    lock,
    f,
  )
  await reached(f, 0, 1, 'worker holds the lock')
  t.throws(() => lock.hold({ blocking: false }), { instanceOf: TimeoutError, code: 'ERR_TIMEOUT' })
  t.throws(() => lock.hold({ timeout: 30 }), { instanceOf: TimeoutError, code: 'ERR_TIMEOUT' })
  await t.throwsAsync(lock.holdAsync({ timeout: 30 }), { instanceOf: TimeoutError, code: 'ERR_TIMEOUT' })
  t.true(lock.locked())
  t.false(lock.isOwned())
  go(f, 1)
  await joinAll([holder], JOIN)
  t.false(lock.locked())
})

test('RLock can be acquired and released by many short-lived workers (thread leak)', async (t) => {
  t.timeout(90_000)
  const lock = new RLock()
  const s = sharedInts(1)
  await joinAll(
    spawnMany(
      15,
      (_i: number, lock: RLock, s: Int32Array) => {
        lock.acquire()
        lock.acquire()
        lock.release()
        lock.release()
        Atomics.add(s, 0, 1)
      },
      lock,
      s,
    ),
    JOIN,
  )
  t.is(s[0], 15)
  t.false(lock.locked())
})

test('RLock.acquire() rejects a timeout with blocking: false, and negative or NaN timeouts, with RangeError', async (t) => {
  const lock = new RLock()
  const range = { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' }
  t.throws(() => lock.acquire({ blocking: false, timeout: 1 }), range)
  t.throws(() => lock.acquire({ timeout: -100 }), range)
  t.throws(() => lock.acquire({ timeout: Number.NaN }), range)
  await t.throwsAsync(lock.acquireAsync({ timeout: -1 }), range)
  await t.throwsAsync(lock.acquireAsync(Number.NaN), range)
  t.false(lock.locked())
  // Also while owned: the arguments are checked, not skipped by the re-entry fast path.
  take(lock)
  t.throws(() => lock.acquire({ blocking: false, timeout: 1 }), range)
  t.throws(() => lock.acquire({ timeout: -1 }), range)
  t.is(lock.recursionCount(), 1)
  lock.release()
  t.true(await lock.acquireAsync({ timeout: Infinity }))
  lock.release()
  t.true(await lock.acquireAsync({ timeout: 5000 }))
  lock.release()
  t.false(lock.locked())
})

test('RLock.acquire({ timeout }) in a worker returns false after the timeout while another thread owns it', async (t) => {
  t.timeout(90_000)
  const lock = new RLock()
  take(lock)
  const out = new Float64Array(new SharedArrayBuffer(16)) // [result, elapsed ms]
  await joinAll(
    [
      spawn(
        (lock: RLock, out: Float64Array) => {
          const t0 = performance.now()
          out[0] = lock.acquire({ timeout: 300 }) ? 1 : 2
          out[1] = performance.now() - t0
        },
        lock,
        out,
      ),
    ],
    JOIN,
  )
  t.is(out[0], 2)
  t.true(out[1]! >= 150, `waited ${out[1]} ms`)
  t.true(lock.isOwned())
  t.is(lock.recursionCount(), 1)
  lock.release()
  t.false(lock.locked())
})

test('RLock.acquire({ timeout }) and acquireAsync() return true when the owning worker releases in time', async (t) => {
  t.timeout(90_000)
  const lock = new RLock()
  const f = sharedInts(4) // [held, go, go again, main got it]
  const holder = spawn(
    (lock: RLock, f: Int32Array) => {
      for (const g of [1, 2]) {
        lock.acquire()
        lock.acquire()
        Atomics.store(f, 0, g)
        for (let k = 0; k < 120 && Atomics.load(f, g) === 0; k++) Atomics.wait(f, g, 0, 500)
        lock.release()
        lock.release()
        // Let the main thread take it before we take it again.
        for (let k = 0; k < 120 && Atomics.load(f, 3) < g; k++) Atomics.wait(f, 3, g - 1, 500)
      }
    },
    lock,
    f,
  )
  await reached(f, 0, 1, 'worker holds the lock')
  t.false(lock.acquire({ timeout: 20 }))
  go(f, 1)
  t.true(lock.acquire({ timeout: 45_000 }))
  t.is(lock.recursionCount(), 1)
  lock.release()
  Atomics.store(f, 3, 1)
  Atomics.notify(f, 3)
  await reached(f, 0, 2, 'worker holds the lock again')
  t.false(await lock.acquireAsync({ timeout: 20 }))
  const p = lock.acquireAsync({ timeout: 45_000 })
  await sleep(20)
  go(f, 2)
  t.true(await p)
  t.true(lock.isOwned())
  lock.release()
  Atomics.store(f, 3, 2)
  Atomics.notify(f, 3)
  await joinAll([holder], JOIN)
  t.false(lock.locked())
})

test('RLock re-acquired by its owner must be released as many times', (t) => {
  const lock = new RLock()
  take(lock)
  take(lock)
  lock.release()
  take(lock)
  lock.release()
  t.true(lock.locked())
  lock.release()
  t.false(lock.locked())
})

test('RLock.acquire() without timeout re-enters in a worker that owns it (no DeadlockError)', async (t) => {
  t.timeout(90_000)
  const lock = new RLock()
  const s = sharedInts(4) // [phase, count, go, mainGot]
  const w = spawn(
    (lock: RLock, s: Int32Array) => {
      lock.acquire()
      lock.acquire()
      lock.acquire({ timeout: Infinity }) // also forever: re-enters, no DeadlockError
      s[1] = lock.recursionCount()
      Atomics.store(s, 0, 1)
      for (const level of [2, 1, 0]) {
        for (let k = 0; k < 120 && Atomics.load(s, 2) === 0; k++) Atomics.wait(s, 2, 0, 500)
        Atomics.store(s, 2, 0)
        lock.release()
        s[1] = lock.recursionCount()
        Atomics.store(s, 0, 2 + (2 - level))
      }
    },
    lock,
    s,
  )
  await reached(s, 0, 1, 'worker owns the lock 3 times')
  t.is(s[1], 3)
  for (const [phase, count] of [
    [2, 2],
    [3, 1],
  ] as const) {
    go(s, 2)
    await reached(s, 0, phase)
    t.is(s[1], count)
    t.false(await lock.acquireAsync({ timeout: 30 }), `still owned by the worker at depth ${count}`)
  }
  go(s, 2)
  await reached(s, 0, 4)
  t.true(await lock.acquireAsync({ timeout: 45_000 }), 'the last release frees it')
  lock.release()
  await joinAll([w], JOIN)
})

test('RLock.release() of an unacquired lock throws LockNotOwnedError', (t) => {
  const lock = new RLock()
  const notOwned = { instanceOf: LockNotOwnedError, code: 'ERR_LOCK_NOT_OWNED' }
  t.throws(() => lock.release(), notOwned)
  take(lock)
  take(lock)
  lock.release()
  take(lock)
  lock.release()
  lock.release()
  t.throws(() => lock.release(), notOwned)
  t.false(lock.locked())
  t.is(lock.recursionCount(), 0)
  t.true(lock.acquire({ blocking: false }))
  lock.release()
})

test("RLock.recursionCount() counts the calling thread's levels and is 0 in other threads", async (t) => {
  t.timeout(90_000)
  const lock = new RLock()
  t.is(lock.recursionCount(), 0)
  take(lock)
  t.is(lock.recursionCount(), 1)
  take(lock)
  take(lock)
  t.is(lock.recursionCount(), 3)
  lock.release()
  t.is(lock.recursionCount(), 2)
  lock.release()
  lock.release()
  t.is(lock.recursionCount(), 0)

  const phase = sharedInts(3) // [phase, go, worker's count]
  const w = spawn(
    (lock: RLock, phase: Int32Array) => {
      lock.acquire()
      phase[2] = lock.recursionCount()
      Atomics.store(phase, 0, 1)
      for (let k = 0; k < 120 && Atomics.load(phase, 1) === 0; k++) Atomics.wait(phase, 1, 0, 500)
      lock.release()
      Atomics.store(phase, 0, 2)
    },
    lock,
    phase,
  )
  await reached(phase, 0, 1)
  t.is(phase[2], 1)
  t.is(lock.recursionCount(), 0, "the worker's levels are not ours")
  t.true(lock.locked())
  go(phase, 1)
  await reached(phase, 0, 2)
  t.is(lock.recursionCount(), 0)
  await joinAll([w], JOIN)
  t.false(lock.locked())
})

test('RLock.release() by the main thread while a worker owns it throws LockNotOwnedError and changes nothing', async (t) => {
  t.timeout(90_000)
  const lock = new RLock()
  const f = sharedInts(4) // [held, go, worker's count after, released ok]
  const w = spawn(
    (lock: RLock, f: Int32Array) => {
      lock.acquire()
      lock.acquire()
      Atomics.store(f, 0, 1)
      for (let k = 0; k < 120 && Atomics.load(f, 1) === 0; k++) Atomics.wait(f, 1, 0, 500)
      f[2] = lock.recursionCount()
      lock.release()
      lock.release()
      f[3] = lock.locked() ? 2 : 1
    },
    lock,
    f,
  )
  await reached(f, 0, 1, 'worker owns the lock')
  t.throws(() => lock.release(), { instanceOf: LockNotOwnedError, code: 'ERR_LOCK_NOT_OWNED' })
  t.true(lock.locked())
  go(f, 1)
  await joinAll([w], JOIN)
  t.is(f[2], 2, "the owner's recursion count is untouched")
  t.is(f[3], 1)
  t.false(lock.locked())
})

test('RLock.release() from a worker that does not own it throws LockNotOwnedError', async (t) => {
  t.timeout(90_000)
  const lock = new RLock()
  take(lock)
  take(lock)
  const out = sharedInts(2)
  await joinAll(
    [
      spawn(
        async (lock: RLock, out: Int32Array, errorsUrl: string) => {
          const { LockNotOwnedError } = (await import(errorsUrl)) as typeof import('../src/errors.ts')
          for (let i = 0; i < 2; i++) {
            try {
              lock.release()
              out[i] = 1
            } catch (e) {
              out[i] = e instanceof LockNotOwnedError && (e as { code?: string }).code === 'ERR_LOCK_NOT_OWNED' ? 2 : 3
            }
          }
        },
        lock,
        out,
        ERRORS,
      ),
    ],
    JOIN,
  )
  t.deepEqual(Array.from(out), [2, 2])
  t.is(lock.recursionCount(), 2)
  t.true(lock.isOwned())
  lock.release()
  lock.release()
  t.false(lock.locked())
})

test('RLock.isOwned() is true only in the owning thread', async (t) => {
  t.timeout(90_000)
  const lock = new RLock()
  t.false(lock.isOwned())
  take(lock)
  t.true(lock.isOwned())
  take(lock)
  t.true(lock.isOwned())
  const out = sharedInts(1)
  await joinAll(
    [
      spawn(
        (lock: RLock, out: Int32Array) => {
          out[0] = lock.isOwned() ? 1 : 2
        },
        lock,
        out,
      ),
    ],
    JOIN,
  )
  t.is(out[0], 2)
  lock.release()
  t.true(lock.isOwned())
  lock.release()
  t.false(lock.isOwned())
})

test('RLock: 4 workers x 100k nested increments give an exact total', async (t) => {
  t.timeout(120_000)
  const lock = new RLock()
  const counter = sharedInts(1)
  const threads = spawnMany(
    4,
    (i: number, lock: RLock, counter: Int32Array) => {
      for (let k = 0; k < 100_000; k++) {
        if (i % 2 === 0) {
          lock.acquire()
        } else if (!lock.acquire({ timeout: 60_000 })) {
          throw new Error('acquire timed out')
        }
        lock.acquire() // re-entry while others contend
        counter[0] = counter[0]! + 1
        lock.release()
        lock.release()
      }
    },
    lock,
    counter,
  )
  await joinAll(threads, 100_000)
  t.is(counter[0], 400_000)
  t.false(lock.locked())
})

test('RLock.acquire() and acquireAsync() waiters from workers and the main thread each get the lock exactly as often as they ask', async (t) => {
  t.timeout(120_000)
  const WORKERS = 3
  const ASYNC = 3
  const ROUNDS = 200
  const lock = new RLock()
  const s = sharedInts(2 + WORKERS + ASYNC)
  const STARTED = 1 + WORKERS + ASYNC
  take(lock)
  const threads = spawnMany(
    WORKERS,
    (i: number, lock: RLock, s: Int32Array, rounds: number, started: number) => {
      Atomics.add(s, started, 1)
      for (let k = 0; k < rounds; k++) {
        lock.acquire()
        s[0] = s[0]! + 1
        s[1 + i] = s[1 + i]! + 1
        lock.release()
      }
    },
    lock,
    s,
    ROUNDS,
    STARTED,
  )
  // The async waiters all run on the main thread, which is one RLock owner (an acquireAsync while
  // the main thread owns the lock re-enters at once): they take turns through a main-thread
  // queue so each one holds the lock alone, and start only once the main thread let go.
  let open!: () => void
  let turn = new Promise<void>((r) => (open = r))
  const asyncWaiters = Array.from({ length: ASYNC }, async (_, j) => {
    for (let k = 0; k < ROUNDS; k++) {
      const mine = turn.then(async () => {
        t.true(await lock.acquireAsync())
        s[0] = s[0]! + 1
        s[1 + WORKERS + j] = s[1 + WORKERS + j]! + 1
        if (k % 16 === 0) await sleep(0)
        lock.release()
      })
      turn = mine
      await mine
    }
  })
  await reached(s, STARTED, WORKERS, 'workers started')
  await sleep(50)
  t.is(s[0], 0)
  lock.release()
  open()
  await Promise.all(asyncWaiters)
  await joinAll(threads, JOIN)
  t.is(s[0], (WORKERS + ASYNC) * ROUNDS)
  t.deepEqual(Array.from(s.subarray(1, 1 + WORKERS + ASYNC)), Array(WORKERS + ASYNC).fill(ROUNDS))
  t.false(lock.locked())
})

test('RLock.acquireAsync({ signal }) aborted rejects with the reason and leaves the lock to the next waiter', async (t) => {
  t.timeout(90_000)
  const lock = new RLock()
  const f = sharedInts(4) // [held, go, other got it, result]
  const holder = spawn(
    (lock: RLock, f: Int32Array) => {
      lock.acquire()
      Atomics.store(f, 0, 1)
      for (let k = 0; k < 120 && Atomics.load(f, 1) === 0; k++) Atomics.wait(f, 1, 0, 500)
      lock.release()
    },
    lock,
    f,
  )
  await reached(f, 0, 1, 'worker holds the lock')
  const ac = new AbortController()
  const aborted = lock.acquireAsync({ signal: ac.signal })
  const later = lock.acquireAsync({ timeout: 45_000 })
  await sleep(20)
  const reason = new Error('stop waiting')
  ac.abort(reason)
  t.is(await t.throwsAsync(aborted), reason)
  t.false(lock.isOwned())
  t.is(lock.recursionCount(), 0)
  go(f, 1)
  t.true(await later)
  t.is(lock.recursionCount(), 1, "only the surviving waiter's level is counted")
  lock.release()
  t.false(lock.locked())
  t.is(await t.throwsAsync(lock.acquireAsync({ signal: AbortSignal.abort(reason) })), reason)
  t.false(lock.locked(), 'an already-aborted signal must not take a free lock')
  await joinAll([holder], JOIN)
})
