/**
 * Semaphore and BoundedSemaphore: the behaviours of CPython's Lib/test/lock_tests.py
 * (BaseSemaphoreTests, SemaphoreTests, BoundedSemaphoreTests), with "the other threads" real
 * workers, plus Tandem's async waiters, AbortSignal and hold/holdAsync.
 *
 * The BaseSemaphoreTests part runs once per class. Shared Int32Arrays carry phases and results
 * between the main thread and the workers; worker targets are shipped by source, so they only
 * use their parameters and what they import.
 */
import test from 'ava'
import { Semaphore } from '../src/semaphore.ts'
import { BoundedSemaphore } from '../src/bounded-semaphore.ts'
import { TimeoutError } from '../src/errors.ts'
import { go, JOIN, joinAll, reached, SETTLE, sharedInts, sleep, spawn, spawnMany, take, until, WAIT } from './_helpers.ts'

const range = { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' }

for (const Sem of [Semaphore, BoundedSemaphore]) {
  const name = Sem.name

  test(`${name} constructor rejects a negative value with RangeError`, (t) => {
    t.throws(() => new Sem(-1), range)
    t.throws(() => new Sem(-Number.MAX_SAFE_INTEGER), range)
    t.throws(() => new Sem(1.5), range)
    t.throws(() => new Sem(Number.NaN), range)
    t.is(new Sem(0).value, 0)
    t.is(new Sem(7).value, 7)
  })

  test(`${name} defaults to value 1`, (t) => {
    const sem = new Sem()
    t.is(sem.value, 1)
    t.true(sem.acquire({ blocking: false }))
    t.false(sem.acquire({ blocking: false }))
    sem.release()
    t.is(sem.value, 1)
  })

  test(`${name}.acquire() and release() take and return one permit`, (t) => {
    let sem = new Sem(1)
    t.true(sem.acquire({ timeout: 5000 }))
    t.is(sem.value, 0)
    sem.release()
    t.is(sem.value, 1)
    sem = new Sem(2)
    t.true(sem.acquire({ timeout: 5000 }))
    t.true(sem.acquire({ timeout: 5000 }))
    t.is(sem.value, 0)
    sem.release()
    sem.release()
    t.is(sem.value, 2)
  })

  test(`${name}.acquire() admits exactly as many workers as permits are released, one release() at a time`, async (t) => {
    t.timeout(90_000)
    await checkPhases(t, Sem, (sem, n) => {
      for (let i = 0; i < n; i++) sem.release()
    })
  })

  test(`${name}.release(n) admits exactly n more workers`, async (t) => {
    t.timeout(90_000)
    await checkPhases(t, Sem, (sem, n) => sem.release(n))
  })

  test(`${name}.acquire({ blocking: false }) takes permits while there are any`, (t) => {
    const sem = new Sem(2)
    t.true(sem.acquire({ blocking: false }))
    t.true(sem.acquire({ blocking: false }))
    t.false(sem.acquire({ blocking: false }))
    t.is(sem.value, 0)
    sem.release()
    t.true(sem.acquire({ blocking: false }))
    t.is(sem.value, 0)
  })

  test(`${name}.acquire({ blocking: false }) from 5 workers takes exactly the permits left`, async (t) => {
    t.timeout(90_000)
    const sem = new Sem(4)
    take(sem)
    const results = sharedInts(2) // [true count, false count]
    await joinAll(
      spawnMany(
        5,
        (_i: number, sem: Semaphore, r: Int32Array) => {
          for (let k = 0; k < 2; k++) Atomics.add(r, sem.acquire({ blocking: false }) ? 0 : 1, 1)
        },
        sem,
        results,
      ),
      JOIN,
    )
    t.deepEqual(Array.from(results), [3, 7])
    t.is(sem.value, 0)
  })

  test(`${name}.acquire() rejects a timeout with blocking: false, and negative or NaN timeouts, with RangeError`, async (t) => {
    const sem = new Sem(2)
    t.throws(() => sem.acquire({ blocking: false, timeout: 1000 }), range)
    t.throws(() => sem.acquire({ timeout: -1 }), range)
    t.throws(() => sem.acquire({ timeout: Number.NaN }), range)
    t.throws(() => sem.hold({ timeout: -1 }), range)
    await t.throwsAsync(sem.acquireAsync({ timeout: -1 }), range)
    await t.throwsAsync(sem.acquireAsync(Number.NaN), range)
    t.is(sem.value, 2, 'a rejected call must not take a permit')
  })

  test(`${name}.acquire({ timeout }) returns false once the permits are gone, true after a release`, (t) => {
    const sem = new Sem(2)
    t.true(sem.acquire({ timeout: 5 }))
    t.true(sem.acquire({ timeout: 5 }))
    t.false(sem.acquire({ timeout: 5 }))
    sem.release()
    t.true(sem.acquire({ timeout: 5 }))
    t.false(sem.acquire({ timeout: 50 }))
    t.is(sem.value, 0)
  })

  test(`${name}.acquire({ timeout }) in a worker returns false after the timeout and takes nothing`, async (t) => {
    t.timeout(90_000)
    const sem = new Sem(1)
    take(sem)
    const out = new Float64Array(new SharedArrayBuffer(16)) // [result, elapsed ms]
    await joinAll(
      [
        spawn(
          (sem: Semaphore, out: Float64Array) => {
            const t0 = performance.now()
            out[0] = sem.acquire({ timeout: 300 }) ? 1 : 2
            out[1] = performance.now() - t0
          },
          sem,
          out,
        ),
      ],
      JOIN,
    )
    t.is(out[0], 2)
    // A lower bound only (noise can only make it longer): the worker did wait, it did not poll.
    t.true(out[1]! >= 150, `waited ${out[1]} ms`)
    t.is(sem.value, 0)
    sem.release()
    t.is(sem.value, 1)
  })

  test(`${name}.acquire({ timeout }) in a worker returns true when a permit is released in time`, async (t) => {
    t.timeout(90_000)
    const sem = new Sem(1)
    take(sem)
    const s = sharedInts(2) // [started, result]
    const w = spawn(
      (sem: Semaphore, s: Int32Array) => {
        Atomics.store(s, 0, 1)
        s[1] = sem.acquire({ timeout: 45_000 }) ? 1 : 2
      },
      sem,
      s,
    )
    await reached(s, 0, 1, 'worker started')
    await sleep(SETTLE)
    t.is(s[1], 0, 'the worker must wait for a permit')
    sem.release()
    await joinAll([w], JOIN)
    t.is(s[1], 1)
    t.is(sem.value, 0)
  })

  test(`${name}.acquireAsync() resolves false on timeout and true when a worker releases in time`, async (t) => {
    t.timeout(90_000)
    const sem = new Sem(1)
    const f = sharedInts(2) // [held, go]
    const holder = spawn(
      (sem: Semaphore, f: Int32Array) => {
        sem.acquire()
        Atomics.store(f, 0, 1)
        for (let k = 0; k < 120 && Atomics.load(f, 1) === 0; k++) Atomics.wait(f, 1, 0, 500)
        sem.release()
      },
      sem,
      f,
    )
    await reached(f, 0, 1, 'worker holds the permit')
    t.false(await sem.acquireAsync({ timeout: 50 }))
    t.false(await sem.acquireAsync(0))
    const p = sem.acquireAsync(45_000)
    await sleep(20)
    go(f, 1)
    t.true(await p)
    t.is(sem.value, 0)
    sem.release()
    await joinAll([holder], JOIN)
    t.is(sem.value, 1)
  })

  test(`${name}() default permit blocks a second acquirer until released`, async (t) => {
    t.timeout(90_000)
    const sem = new Sem()
    take(sem)
    const s = sharedInts(2) // [started, finished]
    const w = spawn(
      (sem: Semaphore, s: Int32Array) => {
        Atomics.store(s, 0, 1)
        sem.acquire()
        sem.release()
        Atomics.store(s, 1, 1)
      },
      sem,
      s,
    )
    await reached(s, 0, 1, 'worker started')
    await sleep(SETTLE)
    t.is(Atomics.load(s, 1), 0)
    sem.release()
    await joinAll([w], JOIN)
    t.is(Atomics.load(s, 1), 1)
    t.is(sem.value, 1)
  })

  test(`${name}.hold() with using returns the permit at scope exit, also when the scope throws`, async (t) => {
    const sem = new Sem(2)
    const withSem = (err?: Error): void => {
      using _a = sem.hold({ timeout: 5000 })
      t.true(sem.acquire({ blocking: false }))
      sem.release()
      {
        using _b = sem.hold({ timeout: 5000 })
        t.false(sem.acquire({ blocking: false }))
        if (err) throw err
      }
    }
    withSem()
    t.is(sem.value, 2)
    t.throws(() => withSem(new TypeError('boom')), { instanceOf: TypeError, message: 'boom' })
    t.is(sem.value, 2)
    {
      using _a = await sem.holdAsync()
      using _b = await sem.holdAsync({ timeout: 1000 })
      t.is(sem.value, 0)
    }
    t.is(sem.value, 2)
  })

  test(`${name}.hold() and holdAsync() throw TimeoutError when no permit is free, taking none`, async (t) => {
    const sem = new Sem(1)
    take(sem)
    t.throws(() => sem.hold({ blocking: false }), { instanceOf: TimeoutError, code: 'ERR_TIMEOUT' })
    t.throws(() => sem.hold({ timeout: 20 }), { instanceOf: TimeoutError, code: 'ERR_TIMEOUT' })
    await t.throwsAsync(sem.holdAsync({ timeout: 20 }), { instanceOf: TimeoutError, code: 'ERR_TIMEOUT' })
    await t.throwsAsync(sem.holdAsync(20), { instanceOf: TimeoutError, code: 'ERR_TIMEOUT' })
    t.is(sem.value, 0)
    sem.release()
    t.is(sem.value, 1)
  })

  test(`${name}.release(n) rejects n < 1 and non-integers with RangeError`, (t) => {
    const sem = new Sem(3)
    take(sem)
    t.throws(() => sem.release(0), range)
    t.throws(() => sem.release(-1), range)
    t.throws(() => sem.release(1.5), range)
    t.is(sem.value, 2)
  })

  test(`${name}.value is a snapshot shared by every thread`, async (t) => {
    t.timeout(90_000)
    const sem = new Sem(5)
    take(sem)
    take(sem)
    t.is(sem.value, 3)
    const out = sharedInts(2)
    await joinAll(
      [
        spawn(
          (sem: Semaphore, out: Int32Array) => {
            out[0] = sem.value
            sem.acquire()
            out[1] = sem.value
          },
          sem,
          out,
        ),
      ],
      JOIN,
    )
    t.deepEqual(Array.from(out), [3, 2])
    t.is(sem.value, 2)
  })

  test(`${name}: blocking waiters in workers and acquireAsync waiters on the main thread each pass exactly as often as they ask`, async (t) => {
    t.timeout(120_000)
    const PERMITS = 2
    const WORKERS = 3
    const ASYNC = 3
    const ROUNDS = 150
    const sem = new Sem(PERMITS)
    // [0] total passes, [1] inside now, [2] most inside at once, [3] started workers,
    // [4..] passes per waiter (workers first, then async waiters)
    const s = sharedInts(4 + WORKERS + ASYNC)
    const enter = (s: Int32Array, slot: number): void => {
      const inside = Atomics.add(s, 1, 1) + 1
      for (let m = Atomics.load(s, 2); inside > m; m = Atomics.load(s, 2)) Atomics.compareExchange(s, 2, m, inside)
      Atomics.add(s, 0, 1)
      Atomics.add(s, slot, 1)
    }
    take(sem)
    take(sem) // everyone queues up behind the main thread first
    const threads = spawnMany(
      WORKERS,
      (i: number, sem: Semaphore, s: Int32Array, rounds: number) => {
        Atomics.add(s, 3, 1)
        for (let k = 0; k < rounds; k++) {
          sem.acquire()
          const inside = Atomics.add(s, 1, 1) + 1
          for (let m = Atomics.load(s, 2); inside > m; m = Atomics.load(s, 2)) Atomics.compareExchange(s, 2, m, inside)
          Atomics.add(s, 0, 1)
          Atomics.add(s, 4 + i, 1)
          for (let spin = 0; spin < 200; spin++) Atomics.load(s, 1) // stay inside a little
          Atomics.sub(s, 1, 1)
          sem.release()
        }
      },
      sem,
      s,
      ROUNDS,
    )
    const asyncWaiters = Array.from({ length: ASYNC }, async (_, j) => {
      for (let k = 0; k < ROUNDS; k++) {
        t.true(await sem.acquireAsync())
        enter(s, 4 + WORKERS + j)
        if (k % 8 === 0) await sleep(0)
        Atomics.sub(s, 1, 1)
        sem.release()
      }
    })
    await reached(s, 3, WORKERS, 'workers started')
    await sleep(50)
    t.is(Atomics.load(s, 0), 0)
    sem.release(2)
    await Promise.all(asyncWaiters)
    await joinAll(threads, JOIN)
    t.is(s[0], (WORKERS + ASYNC) * ROUNDS)
    t.deepEqual(Array.from(s.subarray(4)), Array(WORKERS + ASYNC).fill(ROUNDS))
    t.true(s[2]! <= PERMITS, `at most ${PERMITS} inside at once, saw ${s[2]}`)
    t.is(sem.value, PERMITS)
  })

  test(`${name}.acquireAsync({ signal }) aborted rejects with the reason and loses no permit`, async (t) => {
    t.timeout(90_000)
    const sem = new Sem(1)
    take(sem)
    const ac = new AbortController()
    const aborted = sem.acquireAsync({ signal: ac.signal }) // first in line
    const s = sharedInts(2) // [started, passed]
    const w = spawn(
      (sem: Semaphore, s: Int32Array) => {
        Atomics.store(s, 0, 1)
        if (sem.acquire({ timeout: 45_000 })) Atomics.store(s, 1, 1)
      },
      sem,
      s,
    )
    await reached(s, 0, 1, 'worker started')
    await sleep(SETTLE)
    const reason = new Error('stop waiting')
    ac.abort(reason)
    t.is(await t.throwsAsync(aborted), reason)
    t.is(sem.value, 0, 'the abort must not create or take a permit')
    await sleep(SETTLE)
    t.is(Atomics.load(s, 1), 0, 'the abort must not let the worker through')
    sem.release() // one permit: the worker (behind the aborted waiter) must get it
    await joinAll([w], JOIN)
    t.is(Atomics.load(s, 1), 1)
    t.is(sem.value, 0)
    sem.release()
    t.is(sem.value, 1)
  })

  test(`${name}.acquireAsync({ signal }) aborted behind other waiters rejects promptly and they still pass`, async (t) => {
    t.timeout(90_000)
    // The aborted waiter is not first in line: waking only the first waiter would leave it asleep.
    const sem = new Sem(3)
    take(sem)
    take(sem)
    take(sem)
    const s = sharedInts(2) // [started, passed]
    const w = spawn(
      (sem: Semaphore, s: Int32Array) => {
        Atomics.store(s, 0, 1)
        if (sem.acquire({ timeout: 45_000 })) Atomics.store(s, 1, 1)
      },
      sem,
      s,
    )
    await reached(s, 0, 1, 'worker started')
    const first = sem.acquireAsync(45_000)
    await sleep(SETTLE)
    const ac = new AbortController()
    const aborted = sem.acquireAsync({ signal: ac.signal })
    const last = sem.acquireAsync(45_000)
    await sleep(20)
    const reason = new Error('stop waiting')
    ac.abort(reason)
    t.is(await t.throwsAsync(aborted), reason)
    t.is(sem.value, 0)
    sem.release(3) // exactly one permit for each surviving waiter
    t.true(await first)
    t.true(await last)
    await joinAll([w], JOIN)
    t.is(Atomics.load(s, 1), 1)
    t.is(sem.value, 0, 'the aborted waiter took none of the permits')
  })

  test(`${name}.acquireAsync({ signal }) aborted in the same tick as a release keeps the permit`, async (t) => {
    t.timeout(90_000)
    const sem = new Sem(1)
    take(sem)
    const ac = new AbortController()
    const p = sem.acquireAsync({ signal: ac.signal })
    await sleep(20)
    sem.release()
    ac.abort()
    const [r] = await Promise.allSettled([p])
    if (r.status === 'rejected') {
      t.is(r.reason, ac.signal.reason)
      t.is(sem.value, 1, 'an aborted waiter must leave the released permit')
    } else {
      t.true(r.value) // the acquire won the race and holds the permit
      t.is(sem.value, 0)
      sem.release()
    }
    t.true(await sem.acquireAsync(5000))
    sem.release()
    t.is(sem.value, 1)
  })

  test(`${name}.acquireAsync() with an already-aborted signal rejects at once without taking a permit`, async (t) => {
    const sem = new Sem(2)
    const reason = new Error('already')
    t.is(await t.throwsAsync(sem.acquireAsync({ signal: AbortSignal.abort(reason) })), reason)
    t.is(await t.throwsAsync(sem.holdAsync({ signal: AbortSignal.abort(reason), timeout: 100 })), reason)
    t.is(sem.value, 2)
  })

  test(`${name}.acquireAsync() waiters are admitted by release(n), n at a time`, async (t) => {
    t.timeout(90_000)
    const sem = new Sem(3)
    take(sem)
    take(sem)
    take(sem)
    let passed = 0
    const waiters = Array.from({ length: 5 }, async () => {
      if (await sem.acquireAsync(45_000)) passed++
    })
    await sleep(50)
    t.is(passed, 0)
    sem.release(2)
    await until(() => passed >= 2, WAIT)
    await sleep(50)
    t.is(passed, 2)
    sem.release(3)
    await Promise.all(waiters)
    t.is(passed, 5)
    t.is(sem.value, 0)
  })
}

/**
 * CPython's test_acquire_contended / test_multirelease, scaled down from value 7 and 10 threads
 * to keep the worker count low: value 3, the main thread takes one, 4 workers each acquire twice
 * (phases admit 2, then 3, then 2, then 1: 8 acquisitions). Each phase admits exactly the permits
 * released (checked again after a pause, so extra admissions would show), and every acquisition
 * records the phase it saw.
 */
async function checkPhases(t: import('ava').ExecutionContext, Sem: typeof Semaphore, releaseN: (sem: Semaphore, n: number) => void): Promise<void> {
  const VALUE = 3
  const N = 4 // 2 * N === (VALUE - 1) + VALUE + (VALUE - 1) + 1
  const sem = new Sem(VALUE)
  take(sem)
  // [0] phase, [1] acquisitions so far, [2..] the phase each acquisition saw
  const s = sharedInts(2 + 2 * N)
  const threads = spawnMany(
    N,
    (_i: number, sem: Semaphore, s: Int32Array) => {
      for (let k = 0; k < 2; k++) {
        if (!sem.acquire()) throw new Error('acquire() returned false')
        const phase = Atomics.load(s, 0)
        // Phases are stored +1 so that 0 means "not recorded yet"; the main thread only counts
        // recorded slots.
        const slot = Atomics.add(s, 1, 1)
        Atomics.store(s, 2 + slot, phase + 1)
      }
    },
    sem,
    s,
  )
  const seen = (): number[] =>
    Array.from(s.subarray(2))
      .filter((p) => p !== 0)
      .map((p) => p - 1)
      .sort()
  const settle = async (count: number): Promise<void> => {
    await until(() => seen().length >= count, WAIT, `${count} acquisitions`)
    await sleep(SETTLE)
  }
  const count1 = VALUE - 1
  await settle(count1)
  t.deepEqual(seen(), Array(count1).fill(0))

  Atomics.store(s, 0, 1)
  const count2 = VALUE
  releaseN(sem, count2)
  await settle(count1 + count2)
  t.deepEqual(seen(), [...Array(count1).fill(0), ...Array(count2).fill(1)])

  Atomics.store(s, 0, 2)
  const count3 = VALUE - 1
  releaseN(sem, count3)
  await settle(count1 + count2 + count3)
  t.deepEqual(seen(), [...Array(count1).fill(0), ...Array(count2).fill(1), ...Array(count3).fill(2)])
  t.false(sem.acquire({ blocking: false }), 'the semaphore is still exhausted')

  Atomics.store(s, 0, 3)
  releaseN(sem, 1)
  await joinAll(threads, JOIN)
  t.is(Atomics.load(s, 1), 2 * N)
  t.is(sem.value, 0)
}

test('Semaphore.release() beyond the initial value is allowed and raises the value', (t) => {
  const sem = new Semaphore(1)
  sem.release()
  t.is(sem.value, 2)
  t.true(sem.acquire({ blocking: false }))
  t.true(sem.acquire({ blocking: false }))
  t.false(sem.acquire({ blocking: false }))
  sem.release(5)
  t.is(sem.value, 5)
})

test('BoundedSemaphore.release() beyond the initial value throws ERR_SEMAPHORE_OVERFLOW and keeps the value', (t) => {
  const overflow = { instanceOf: RangeError, code: 'ERR_SEMAPHORE_OVERFLOW' }
  const sem = new BoundedSemaphore()
  t.throws(() => sem.release(), overflow)
  t.is(sem.value, 1)
  take(sem)
  sem.release()
  t.throws(() => sem.release(), overflow)
  t.is(sem.value, 1)

  const sem3 = new BoundedSemaphore(3)
  take(sem3)
  take(sem3)
  t.throws(() => sem3.release(3), overflow)
  t.is(sem3.value, 1, 'a rejected release(n) adds none of the n')
  sem3.release(2)
  t.is(sem3.value, 3)
  t.throws(() => sem3.release(1), overflow)
  t.is(sem3.value, 3)
})

test('BoundedSemaphore over-release from a worker throws ERR_SEMAPHORE_OVERFLOW there (the bound crosses with the handle)', async (t) => {
  t.timeout(90_000)
  const sem = new BoundedSemaphore(2)
  take(sem)
  const out = sharedInts(3)
  const url = new URL('../src/bounded-semaphore.ts', import.meta.url).href
  await joinAll(
    [
      spawn(
        async (sem: BoundedSemaphore, out: Int32Array, url: string) => {
          const { BoundedSemaphore } = (await import(url)) as typeof import('../src/bounded-semaphore.ts')
          out[0] = sem instanceof BoundedSemaphore ? 1 : 2
          sem.release() // back to the bound: fine
          try {
            sem.release()
            out[1] = 1
          } catch (e) {
            out[1] = e instanceof RangeError && (e as RangeError & { code?: string }).code === 'ERR_SEMAPHORE_OVERFLOW' ? 2 : 3
          }
          out[2] = sem.value
        },
        sem,
        out,
        url,
      ),
    ],
    JOIN,
  )
  t.deepEqual(Array.from(out), [1, 2, 2])
  t.is(sem.value, 2)
})

test('BoundedSemaphore concurrent over-releases from workers: exactly the room left is accepted', async (t) => {
  t.timeout(90_000)
  const sem = new BoundedSemaphore(4)
  for (let i = 0; i < 4; i++) take(sem)
  const out = sharedInts(3) // [ok, overflow, other]
  const s = sharedInts(1) // start gate, so the releases overlap
  const threads = spawnMany(
    4,
    (_i: number, sem: BoundedSemaphore, out: Int32Array, s: Int32Array) => {
      for (let k = 0; k < 120 && Atomics.load(s, 0) === 0; k++) Atomics.wait(s, 0, 0, 500)
      try {
        sem.release(2)
        Atomics.add(out, 0, 1)
      } catch (e) {
        Atomics.add(out, (e as { code?: string }).code === 'ERR_SEMAPHORE_OVERFLOW' ? 1 : 2, 1)
      }
    },
    sem,
    out,
    s,
  )
  await sleep(SETTLE)
  go(s, 0)
  await joinAll(threads, JOIN)
  t.deepEqual(Array.from(out), [2, 2, 0])
  t.is(sem.value, 4)
})

test('Semaphore.release(n) from a worker wakes exactly n blocked workers', async (t) => {
  t.timeout(90_000)
  const N = 6
  const sem = new Semaphore(0)
  const s = sharedInts(2) // [started, passed]
  const threads = spawnMany(
    N,
    (_i: number, sem: Semaphore, s: Int32Array) => {
      Atomics.add(s, 0, 1)
      if (sem.acquire({ timeout: 45_000 })) Atomics.add(s, 1, 1)
    },
    sem,
    s,
  )
  await reached(s, 0, N, 'workers started')
  await sleep(SETTLE)
  t.is(Atomics.load(s, 1), 0)
  await joinAll([spawn((sem: Semaphore) => sem.release(4), sem)], JOIN)
  await reached(s, 1, 4, '4 workers through')
  await sleep(SETTLE)
  t.is(Atomics.load(s, 1), 4, 'release(4) admits exactly 4')
  t.is(sem.value, 0)
  sem.release(2)
  await joinAll(threads, JOIN)
  t.is(Atomics.load(s, 1), N)
  t.is(sem.value, 0)
})
