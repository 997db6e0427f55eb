/**
 * Barrier: CPython's `Lib/test/lock_tests.py` BarrierTests, ported, with the parties in real
 * worker threads (and, where noted, an async party on the main thread).
 *
 * Barrier actions run on whichever thread arrives last, so they cannot record into a variable
 * of this file. Two honest ways are used: a source-shipped action that touches only a global
 * (each party first stores a shared counter on its own `globalThis` under a key unique to the
 * test), and a `moduleRef` action from test/fixtures/conds-barrier.ts doing the same.
 *
 * Outcome codes recorded by workers: 1 returned normally, 2 BrokenBarrierError
 * (ERR_BROKEN_BARRIER), 3 anything else.
 */
import test from 'ava'
import { Barrier } from '../src/barrier.ts'
import { BrokenBarrierError } from '../src/errors.ts'
import { moduleRef } from '../src/task.ts'
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

const FIXTURE = new URL('../../../test/fixtures/conds-barrier.ts', import.meta.url).href
const broken = { instanceOf: BrokenBarrierError, code: 'ERR_BROKEN_BARRIER' }

function count(arr: Int32Array, v: number): number {
  return Array.from(arr).filter((x) => x === v).length
}

test('new Barrier() rejects parties < 1 and a negative timeout with RangeError, a non-function action with TypeError (lock_tests test_constructor)', (t) => {
  const range = { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' }
  t.throws(() => new Barrier(0), range)
  t.throws(() => new Barrier(-1), range)
  t.throws(() => new Barrier(1.5), range)
  t.throws(() => new Barrier(2, { timeout: -1 }), range)
  t.throws(() => new Barrier(2, { timeout: Number.NaN }), range)
  t.throws(() => new Barrier(2, { action: 42 as never }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  const b = new Barrier(2)
  t.throws(() => b.wait(-1), range)
})

test('Barrier with one party never blocks and runs its action every time (lock_tests test_single_thread)', async (t) => {
  let runs = 0
  // The default timeout bounds these main-thread waits should the barrier ever block.
  const b = new Barrier(1, { action: () => runs++, timeout: LONG })
  t.is(b.wait(), 0)
  t.is(b.wait(), 0)
  t.is(await b.waitAsync(), 0)
  t.is(runs, 3)
  t.is(b.nWaiting, 0)
  t.false(b.broken)
})

test('Barrier.parties/nWaiting/broken report the state from any thread; the last to arrive gets parties - 1', async (t) => {
  t.timeout(120_000)
  const b = new Barrier(3)
  t.is(b.parties, 3)
  t.is(b.nWaiting, 0)
  t.false(b.broken)
  const out = sharedInts(2 * 2) // per worker: [index, parties seen]
  const threads = spawnMany(
    2,
    (i: number, b: Barrier, out: Int32Array) => {
      out[2 * i + 1] = b.parties
      out[2 * i] = b.wait(60_000)
    },
    b,
    out,
  )
  await until(() => b.nWaiting === 2, LONG, 'two parties waiting')
  t.false(b.broken)
  t.is(await b.waitAsync(LONG), 2)
  await joinAll(threads)
  t.deepEqual([out[0], out[2]].sort(), [0, 1])
  t.deepEqual([out[1], out[3]], [3, 3])
  t.is(b.nWaiting, 0)
  t.false(b.broken)
})

test('Barrier.wait returns distinct indices 0..n-1 in every cycle (lock_tests test_wait_return)', async (t) => {
  t.timeout(120_000)
  const N = 5
  const CYCLES = 5
  const b = new Barrier(N)
  const idx = sharedInts(N * CYCLES) // idx[c * N + index] = worker + 1
  const threads = spawnMany(
    N,
    (i: number, b: Barrier, idx: Int32Array, n: number, cycles: number) => {
      for (let c = 0; c < cycles; c++) {
        const k = b.wait(60_000)
        if (k < 0 || k >= n || Atomics.compareExchange(idx, c * n + k, 0, i + 1) !== 0) {
          throw new Error(`cycle ${c}: index ${k} out of range or returned twice`)
        }
      }
    },
    b,
    idx,
    N,
    CYCLES,
  )
  await joinAll(threads)
  for (let c = 0; c < CYCLES; c++) {
    const row = Array.from(idx.subarray(c * N, (c + 1) * N))
    t.deepEqual([...row].sort(), [1, 2, 3, 4, 5], `cycle ${c}: every index handed out once, one per worker`)
  }
})

/** Port of lock_tests `multipass`: no party may run ahead of the others by a whole phase. */
test('Barrier.wait passes parties in lockstep over 10 passes (lock_tests test_barrier_10)', async (t) => {
  t.timeout(120_000)
  const N = 5
  const PASSES = 10
  const b = new Barrier(N, { timeout: LONG })
  const st = sharedInts(3) // [RESULTS0, RESULTS1, VIOLATIONS]
  const threads = spawnMany(
    N,
    (_i: number, b: Barrier, st: Int32Array, passes: number) => {
      const m = b.parties
      for (let i = 0; i < passes; i++) {
        Atomics.add(st, 0, 1)
        if (Atomics.load(st, 1) !== i * m) Atomics.add(st, 2, 1)
        b.wait()
        Atomics.add(st, 1, 1)
        if (Atomics.load(st, 0) !== (i + 1) * m) Atomics.add(st, 2, 1)
        b.wait()
      }
      if (b.nWaiting !== 0) Atomics.add(st, 2, 1)
      if (b.broken) Atomics.add(st, 2, 1)
    },
    b,
    st,
    PASSES,
  )
  await joinAll(threads)
  t.is(st[2], 0, 'a party ran ahead of the others')
  t.is(st[0], N * PASSES)
  t.is(st[1], N * PASSES)
  t.is(b.nWaiting, 0)
  t.false(b.broken)
})

test('Barrier action (shipped by source, touching only globals) runs exactly once per cycle, before any party is released (lock_tests test_action)', async (t) => {
  t.timeout(120_000)
  const N = 4
  const CYCLES = 6
  const KEY = '__condsBarrierSourceAction'
  const action = () => {
    Atomics.add((globalThis as unknown as Record<string, Int32Array>)['__condsBarrierSourceAction']!, 0, 1)
  }
  const b = new Barrier(N + 1, { action })
  const counter = sharedInts(2) // [CYCLES RUN, VIOLATIONS]
  ;(globalThis as Record<string, unknown>)[KEY] = counter
  const threads = spawnMany(
    N,
    (_i: number, b: Barrier, counter: Int32Array, key: string, cycles: number) => {
      ;(globalThis as Record<string, unknown>)[key] = counter
      for (let c = 0; c < cycles; c++) {
        b.wait(60_000)
        if (Atomics.load(counter, 0) !== c + 1) Atomics.add(counter, 1, 1)
      }
    },
    b,
    counter,
    KEY,
    CYCLES,
  )
  for (let c = 0; c < CYCLES; c++) {
    await b.waitAsync(LONG)
    t.is(Atomics.load(counter, 0), c + 1, `cycle ${c}: action ran once before the main party was released`)
  }
  await joinAll(threads)
  t.is(counter[0], CYCLES)
  t.is(counter[1], 0, 'a worker party was released before the action of its cycle ran, or it ran twice')
})

test('Barrier action given by moduleRef runs exactly once per cycle, on the last party to arrive', async (t) => {
  t.timeout(120_000)
  const N = 3
  const CYCLES = 8
  const counter = sharedInts(1 + CYCLES)
  const b = new Barrier(N, { action: moduleRef(FIXTURE, 'countCycle') })
  const threads = spawnMany(
    N,
    async (_i: number, b: Barrier, counter: Int32Array, fixture: string, cycles: number) => {
      const { registerCounter } = await import(fixture)
      registerCounter(counter)
      const { threadId } = await import('node:worker_threads')
      for (let c = 0; c < cycles; c++) {
        const k = b.wait(60_000)
        // The party that arrived last (index parties - 1) ran the action of this cycle.
        if (k === b.parties - 1 && Atomics.load(counter, 1 + c) !== threadId + 1) throw new Error(`cycle ${c}: action ran elsewhere`)
      }
    },
    b,
    counter,
    FIXTURE,
    CYCLES,
  )
  await joinAll(threads)
  t.is(counter[0], CYCLES)
  t.true(
    Array.from(counter.subarray(1)).every((v) => v > 1),
    'each cycle ran its action on a worker',
  )
})

test('Barrier action that throws breaks the barrier: that party gets the error, every other party BrokenBarrierError', async (t) => {
  t.timeout(120_000)
  const N = 4
  const b = new Barrier(N + 1, {
    action: () => {
      throw Object.assign(new Error('action failed'), { code: 'ERR_CONDS_BOOM' })
    },
  })
  const out = sharedInts(N) // 1 returned, 2 BrokenBarrierError, 4 the action's error, 3 other
  const threads = spawnMany(
    N,
    (i: number, b: Barrier, out: Int32Array) => {
      try {
        b.wait(60_000)
        out[i] = 1
      } catch (e) {
        const err = e as { code?: string; constructor: { name: string } }
        out[i] = err.code === 'ERR_BROKEN_BARRIER' && err.constructor.name === 'BrokenBarrierError' ? 2 : err.code === 'ERR_CONDS_BOOM' ? 4 : 3
      }
    },
    b,
    out,
  )
  const mainErr = await b.waitAsync(LONG).then(
    () => undefined,
    (e: unknown) => e as { code?: string },
  )
  await joinAll(threads)
  const codes = [...Array.from(out), mainErr instanceof BrokenBarrierError ? 2 : mainErr?.code === 'ERR_CONDS_BOOM' ? 4 : 3]
  t.is(count(Int32Array.from(codes), 4), 1, `exactly one party gets the action's error: ${codes}`)
  t.is(count(Int32Array.from(codes), 2), N, `the others get BrokenBarrierError: ${codes}`)
  t.true(b.broken)
  t.is(b.nWaiting, 0)
  t.throws(() => b.wait(1000), broken, 'later parties get BrokenBarrierError at once')
  await t.throwsAsync(b.waitAsync(1000), broken)
})

test('Barrier.abort from a party breaks the barrier for every party of the next wait (lock_tests test_abort)', async (t) => {
  t.timeout(120_000)
  const N = 5
  const b = new Barrier(N, { timeout: LONG })
  const st = sharedInts(3) // [RESULTS1, RESULTS2, OTHER]
  const threads = spawnMany(
    N,
    (_i: number, b: Barrier, st: Int32Array, n: number) => {
      try {
        const i = b.wait()
        if (i === Math.floor(n / 2)) {
          b.abort()
          return
        }
        b.wait()
        Atomics.add(st, 0, 1)
      } catch (e) {
        const err = e as { code?: string; constructor: { name: string } }
        Atomics.add(st, err.code === 'ERR_BROKEN_BARRIER' && err.constructor.name === 'BrokenBarrierError' ? 1 : 2, 1)
      }
    },
    b,
    st,
    N,
  )
  await joinAll(threads)
  t.is(st[0], 0)
  t.is(st[1], N - 1)
  t.is(st[2], 0)
  t.true(b.broken)
})

test('Barrier.abort from the main thread releases blocking and async waiters with BrokenBarrierError until reset()', async (t) => {
  t.timeout(120_000)
  const N = 3
  const b = new Barrier(N + 2)
  const out = sharedInts(N)
  const threads = spawnMany(
    N,
    (i: number, b: Barrier, out: Int32Array) => {
      try {
        b.wait(60_000)
        out[i] = 1
      } catch (e) {
        const err = e as { code?: string; constructor: { name: string } }
        out[i] = err.code === 'ERR_BROKEN_BARRIER' && err.constructor.name === 'BrokenBarrierError' ? 2 : 3
      }
    },
    b,
    out,
  )
  const mainWait = b.waitAsync(LONG)
  mainWait.catch(() => {}) // observed below; avoids an unhandled rejection if until() fails first
  await until(() => b.nWaiting === N + 1, LONG, 'all parties but one waiting')
  b.abort()
  await t.throwsAsync(mainWait, broken)
  await joinAll(threads)
  t.deepEqual(Array.from(out), Array(N).fill(2))
  t.true(b.broken)
  t.is(b.nWaiting, 0)
  t.throws(() => b.wait(1000), broken)
  b.reset()
  t.false(b.broken)
  // Usable again with every party.
  const again = spawnMany(N + 1, (_i: number, b: Barrier) => void b.wait(60_000), b)
  t.true((await b.waitAsync(LONG)) >= 0)
  await joinAll(again)
})

test('Barrier.reset frees the waiting parties with BrokenBarrierError and leaves the barrier usable (lock_tests test_reset)', async (t) => {
  t.timeout(120_000)
  const N = 5
  const b = new Barrier(N, { timeout: LONG })
  const st = sharedInts(4) // [RESULTS1, RESULTS2, RESULTS3, OTHER]
  const threads = spawnMany(
    N,
    (_i: number, b: Barrier, st: Int32Array, n: number) => {
      const nap = new Int32Array(new SharedArrayBuffer(4))
      const i = b.wait()
      if (i === Math.floor(n / 2)) {
        // Wait until the other threads are all in the barrier.
        while (b.nWaiting < n - 1) Atomics.wait(nap, 0, 0, 2)
        b.reset()
      } else {
        try {
          b.wait()
          Atomics.add(st, 0, 1)
        } catch (e) {
          const err = e as { code?: string; constructor: { name: string } }
          Atomics.add(st, err.code === 'ERR_BROKEN_BARRIER' && err.constructor.name === 'BrokenBarrierError' ? 1 : 3, 1)
        }
      }
      // Now, pass the barrier again.
      b.wait()
      Atomics.add(st, 2, 1)
    },
    b,
    st,
    N,
  )
  await joinAll(threads)
  t.deepEqual(Array.from(st), [0, N - 1, N, 0])
  t.false(b.broken)
})

test('Barrier.reset after abort makes a broken barrier usable again (lock_tests test_abort_and_reset)', async (t) => {
  t.timeout(120_000)
  const N = 5
  const b = new Barrier(N, { timeout: LONG })
  const b2 = new Barrier(N, { timeout: LONG })
  const st = sharedInts(4) // [RESULTS1, RESULTS2, RESULTS3, OTHER]
  const threads = spawnMany(
    N,
    (_i: number, b: Barrier, b2: Barrier, st: Int32Array, n: number) => {
      try {
        const i = b.wait()
        if (i === Math.floor(n / 2)) throw new RangeError('planned')
        b.wait()
        Atomics.add(st, 0, 1)
      } catch (e) {
        const err = e as { code?: string; constructor: { name: string } }
        if (err.code === 'ERR_BROKEN_BARRIER' && err.constructor.name === 'BrokenBarrierError') Atomics.add(st, 1, 1)
        else if (e instanceof RangeError) b.abort()
        else Atomics.add(st, 3, 1)
      }
      // Synchronize and reset the barrier. Must synchronize first so that everyone has left it
      // when we reset, and after so that no one enters it before the reset.
      if (b2.wait() === Math.floor(n / 2)) b.reset()
      b2.wait()
      b.wait()
      Atomics.add(st, 2, 1)
    },
    b,
    b2,
    st,
    N,
  )
  await joinAll(threads)
  t.deepEqual(Array.from(st), [0, N - 1, N, 0])
  t.false(b.broken)
})

test('Barrier.wait(timeout) that expires breaks the barrier for every party (lock_tests test_timeout)', async (t) => {
  t.timeout(120_000)
  const N = 5
  const b = new Barrier(N, { timeout: LONG })
  const out = sharedInts(N)
  const threads = spawnMany(
    N,
    (k: number, b: Barrier, out: Int32Array, n: number) => {
      const i = b.wait()
      if (i === Math.floor(n / 2)) {
        // One thread is late!
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 800)
      }
      try {
        b.wait(50)
        out[k] = 1
      } catch (e) {
        const err = e as { code?: string; constructor: { name: string } }
        out[k] = err.code === 'ERR_BROKEN_BARRIER' && err.constructor.name === 'BrokenBarrierError' ? 2 : 3
      }
    },
    b,
    out,
    N,
  )
  await joinAll(threads)
  t.deepEqual(Array.from(out), Array(N).fill(2))
  t.true(b.broken)
})

test('Barrier({ timeout }) is the default timeout of wait() and waitAsync(); an explicit timeout overrides it (lock_tests test_default_timeout)', async (t) => {
  t.timeout(120_000)
  const b = new Barrier(2, { timeout: 100 })
  const out = sharedInts(2)
  await joinAll([
    spawn(
      (b: Barrier, out: Int32Array) => {
        try {
          b.wait()
          out[0] = 1
        } catch (e) {
          out[0] = (e as { code?: string }).code === 'ERR_BROKEN_BARRIER' ? 2 : 3
        }
      },
      b,
      out,
    ),
  ])
  t.is(out[0], 2, 'the default timeout broke the barrier')
  t.true(b.broken)
  b.reset()
  await t.throwsAsync(b.waitAsync(), broken)
  b.reset()
  await t.throwsAsync(b.waitAsync({ signal: new AbortController().signal }), broken, 'options without timeout keep the default')
  b.reset()

  // An explicit, longer timeout wins over the default: the worker outlives the 100 ms default.
  const worker = spawn(
    (b: Barrier, out: Int32Array) => {
      out[1] = b.wait(60_000) >= 0 ? 1 : 3
    },
    b,
    out,
  )
  await until(() => b.nWaiting === 1, LONG, 'worker waiting')
  await sleep(400)
  t.false(b.broken)
  t.true((await b.waitAsync()) >= 0)
  await joinAll([worker])
  t.is(out[1], 1)
})

test('Barrier.waitAsync aborted: rejects with the reason and breaks the barrier for the other parties', async (t) => {
  t.timeout(120_000)
  const b = new Barrier(3)
  const out = sharedInts(1)
  const worker = spawn(
    (b: Barrier, out: Int32Array) => {
      try {
        b.wait(60_000)
        out[0] = 1
      } catch (e) {
        const err = e as { code?: string; constructor: { name: string } }
        out[0] = err.code === 'ERR_BROKEN_BARRIER' && err.constructor.name === 'BrokenBarrierError' ? 2 : 3
      }
    },
    b,
    out,
  )
  await until(() => b.nWaiting === 1, LONG, 'worker waiting')
  const ac = new AbortController()
  const reason = new Error('leaving')
  const p = b.waitAsync({ signal: ac.signal, timeout: LONG })
  await until(() => b.nWaiting === 2, LONG, 'main waiting')
  ac.abort(reason)
  await t.throwsAsync(p, { is: reason })
  await joinAll([worker])
  t.is(out[0], 2)
  t.true(b.broken)
  await t.throwsAsync(b.waitAsync({ signal: AbortSignal.abort(reason) }), { is: reason })
})

test('Barrier cyclic reuse: 4 workers and an async main-thread party over 150 cycles, exact totals', async (t) => {
  t.timeout(120_000)
  const W = 4
  const P = W + 1
  const CYCLES = 150
  const KEY = '__condsBarrierCyclic'
  const b = new Barrier(P, {
    action: () => {
      Atomics.add((globalThis as unknown as Record<string, Int32Array>)['__condsBarrierCyclic']!, 0, 1)
    },
  })
  const counter = sharedInts(2) // [ACTIONS, VIOLATIONS]
  ;(globalThis as Record<string, unknown>)[KEY] = counter
  const idx = sharedInts(P * CYCLES) // idx[c * P + index] = party + 1
  const data = sharedInts(P * CYCLES) // each party writes its slot before the wait of cycle c
  const threads = spawnMany(
    W,
    (w: number, b: Barrier, counter: Int32Array, key: string, idx: Int32Array, data: Int32Array, parties: number, cycles: number) => {
      ;(globalThis as Record<string, unknown>)[key] = counter
      for (let c = 0; c < cycles; c++) {
        data[c * parties + w] = c + 1 // plain write; the barrier must publish it
        const k = b.wait(60_000)
        if (Atomics.compareExchange(idx, c * parties + k, 0, w + 1) !== 0) Atomics.add(counter, 1, 1)
        if (Atomics.load(counter, 0) !== c + 1) Atomics.add(counter, 1, 1)
        for (let p = 0; p < parties; p++) if (data[c * parties + p] !== c + 1) Atomics.add(counter, 1, 1)
      }
    },
    b,
    counter,
    KEY,
    idx,
    data,
    P,
    CYCLES,
  )
  for (let c = 0; c < CYCLES; c++) {
    data[c * P + W] = c + 1
    const k = await b.waitAsync(LONG)
    if (Atomics.compareExchange(idx, c * P + k, 0, W + 1) !== 0) t.fail(`cycle ${c}: index ${k} handed out twice`)
    t.is(Atomics.load(counter, 0), c + 1)
    if (c % 25 === 0) await sleep(1) // vary who arrives last
  }
  await joinAll(threads)
  t.is(counter[0], CYCLES, 'one action per cycle')
  t.is(counter[1], 0, 'a party saw a duplicate index, a missing action or unpublished data')
  for (let c = 0; c < CYCLES; c++) {
    const row = Array.from(idx.subarray(c * P, (c + 1) * P)).sort()
    if (row.join() !== '1,2,3,4,5') t.fail(`cycle ${c}: indices ${row}`)
  }
  t.is(b.nWaiting, 0)
  t.false(b.broken)
})
