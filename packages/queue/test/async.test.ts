/**
 * The async forms (`getAsync`, `putAsync`, `joinAsync`) on the main thread against blocking
 * callers in worker threads: exactly-once delivery, backpressure without blocking the event
 * loop, timeouts, and aborts that leave the queue as if the wait never happened (API.md
 * convention 2: no lost item, no lost wakeup).
 */
import test from 'ava'
import { QueueEmpty, QueueFull } from '../src/errors.ts'
import { Queue } from '../src/queue.ts'
import { KINDS, LONG, joinAll, range, slotted, sorted, until } from '../../../test/fixtures/qtests-helpers.ts'
import { sharedInts, sleep, spawn, spawnMany } from '../../sync/test/_helpers.ts'

test(
  "Queue.getAsync on the main thread, fed by 2 worker producers through a bounded queue, gets every item exactly once and in each producer's order",
  slotted(async (t) => {
    t.timeout(2 * LONG)
    const q = new Queue<[number, number]>(16)
    const N = 5000
    const producers = spawnMany(
      2,
      (id: number, q: Queue<[number, number]>, n: number) => {
        for (let i = 0; i < n; i++) q.put([id, i])
      },
      q,
      N,
    )
    const last = [-1, -1]
    let inOrder = true
    let ticks = 0
    const ticker = setInterval(() => ticks++, 1)
    for (let k = 0; k < 2 * N; k++) {
      const [id, i] = await q.getAsync(LONG)
      if (i !== last[id]! + 1) inOrder = false
      last[id] = i
    }
    clearInterval(ticker)
    await joinAll(producers)
    t.true(inOrder, 'items of one producer arrived out of order, twice or not at all')
    t.deepEqual(last, [N - 1, N - 1])
    t.true(q.empty())
    t.true(ticks > 0, 'the event loop kept running while the consumer waited')
  }),
)

test(
  'Three concurrent getAsync loops on the main thread share 3000 items from a worker without duplicates',
  slotted(async (t) => {
    t.timeout(2 * LONG)
    const q = new Queue<number>(8)
    const producer = spawn((q: Queue<number>) => {
      for (let i = 0; i < 3000; i++) q.put(i)
      for (let k = 0; k < 3; k++) q.put(-1)
    }, q)
    const got: number[][] = [[], [], []]
    await Promise.all(
      got.map(async (mine) => {
        for (;;) {
          const v = await q.getAsync(LONG)
          if (v < 0) return
          mine.push(v)
        }
      }),
    )
    await joinAll([producer])
    t.deepEqual(sorted(got.flat()), range(3000))
    for (const mine of got) t.deepEqual(mine, sorted(mine), 'each loop sees increasing items (FIFO)')
  }),
)

for (const { name, Q } of KINDS) {
  test(
    `${name}.putAsync on a full queue stays pending until a worker gets, then enqueues its item`,
    slotted(async (t) => {
      t.timeout(LONG)
      const q = new Q<string>(1)
      q.put('a')
      let settled = false
      const p = q.putAsync('b', LONG).then(() => {
        settled = true
      })
      await sleep(150)
      t.false(settled, 'putAsync resolved on a full queue')
      t.is(q.qsize(), 1)
      const out = sharedInts(1)
      const th = spawn(
        (q: Queue<string>, out: Int32Array) => {
          Atomics.store(out, 0, q.get() === 'a' ? 1 : -1)
        },
        q as Queue<string>,
        out,
      )
      await p
      await joinAll([th])
      t.is(Atomics.load(out, 0), 1)
      t.is(q.qsize(), 1)
      t.is(q.getNowait(), 'b')
    }),
  )

  test(`${name}.getAsync with a timeout rejects with QueueEmpty; putAsync with a timeout rejects with QueueFull carrying the item`, async (t) => {
    const q = new Q<string>(1)
    await t.throwsAsync(() => q.getAsync(20), { instanceOf: QueueEmpty, code: 'ERR_QUEUE_EMPTY' })
    await t.throwsAsync(() => q.getAsync({ timeout: 0 }), { instanceOf: QueueEmpty })
    q.put('a')
    const err = await t.throwsAsync(() => q.putAsync('b', { timeout: 20 }), { instanceOf: QueueFull, code: 'ERR_QUEUE_FULL' })
    t.is((err as QueueFull<string> | undefined)?.item, 'b')
    await t.throwsAsync(() => q.putAsync('c', 0), { instanceOf: QueueFull })
    t.is(q.qsize(), 1)
    t.is(await q.getAsync(0), 'a')
  })

  test(`${name}: an already-aborted signal rejects getAsync/putAsync/joinAsync with its reason and changes nothing`, async (t) => {
    const q = new Q<string>(1)
    const reason = new Error('stop')
    const ac = new AbortController()
    ac.abort(reason)
    q.put('a')
    t.is(await t.throwsAsync(() => q.getAsync({ signal: ac.signal })), reason)
    t.is(q.qsize(), 1, 'an aborted getAsync took the item')
    q.getNowait()
    t.is(await t.throwsAsync(() => q.putAsync('b', { signal: ac.signal })), reason)
    t.is(q.qsize(), 0, 'an aborted putAsync enqueued its item')
    t.false(q.join(0), 'one unfinished task from the first put')
    q.taskDone()
    t.true(q.join(0), 'the aborted putAsync did not count a task')
    q.put('c')
    t.is(await t.throwsAsync(() => q.joinAsync({ signal: ac.signal })), reason)
  })

  test(`${name}.getAsync aborted after an item arrived leaves the item: getNowait still returns it`, async (t) => {
    for (let round = 0; round < 20; round++) {
      const q = new Q<number>()
      const ac = new AbortController()
      const reason = new Error(`abort ${round}`)
      const pending = q.getAsync({ signal: ac.signal, timeout: LONG })
      if (round % 2 === 1) await sleep(1)
      q.put(round) // wakes the pending getter...
      ac.abort(reason) // ...which is aborted before it could take the item
      const outcome = await pending.then(
        (v) => ({ v }),
        (e: unknown) => ({ e }),
      )
      if ('v' in outcome) {
        // Only acceptable if the get completed before the abort; then the item is gone.
        t.is(outcome.v, round)
        t.true(q.empty())
      } else {
        t.is(outcome.e, reason)
        t.is(q.getNowait(), round, 'the aborted getAsync lost the item')
      }
      t.true(q.empty())
    }
  })

  test(`${name}.putAsync aborted while waiting for room enqueues nothing; later gets see only the other items`, async (t) => {
    const q = new Q<string>(2)
    q.put('a')
    q.put('b')
    const ac = new AbortController()
    const reason = new Error('no room')
    const pending = q.putAsync('aborted', { signal: ac.signal, timeout: LONG })
    await sleep(20)
    ac.abort(reason)
    t.is(await t.throwsAsync(pending), reason)
    t.is(q.qsize(), 2)
    // Room now appears, and the aborted put must not take it.
    const got = [q.getNowait(), q.getNowait()]
    t.deepEqual(got.sort(), ['a', 'b'])
    await sleep(20)
    t.is(q.qsize(), 0, 'the aborted putAsync enqueued its item later')
    t.throws(() => q.getNowait(), { instanceOf: QueueEmpty })
    q.taskDone()
    q.taskDone()
    t.true(q.join(0), 'the aborted putAsync counted an unfinished task')
  })

  test(
    `${name}.putAsync aborted right after room appeared enqueues nothing and passes the room to a worker putter`,
    slotted(async (t) => {
      t.timeout(2 * LONG)
      const q = new Q<string>(1)
      q.put('first')
      const ac = new AbortController()
      const reason = new Error('changed my mind')
      // The main thread's putAsync waits first, then a worker's blocking put queues behind it.
      const pending = q.putAsync('aborted', { signal: ac.signal, timeout: LONG })
      const ready = sharedInts(2)
      const th = spawn(
        (q: Queue<string>, ready: Int32Array) => {
          Atomics.store(ready, 0, 1)
          q.put('worker')
          Atomics.store(ready, 1, 1)
        },
        q as Queue<string>,
        ready,
      )
      await until(() => Atomics.load(ready, 0) === 1, 'worker to start')
      await sleep(200)
      t.is(q.getNowait(), 'first') // room for one: notifies the oldest putter (the main thread's)
      ac.abort(reason) // which gives up before using it
      const outcome = await pending.then(
        () => 'put',
        (e: unknown) => (e === reason ? 'aborted' : e),
      )
      await joinAll([th]) // the worker's put must still get the room (no lost wakeup)
      const rest: string[] = []
      while (!q.empty()) rest.push(q.getNowait())
      if (outcome === 'aborted') t.deepEqual(rest, ['worker'])
      else {
        // The put completed before the abort could take effect: both items are there.
        t.is(outcome, 'put')
        t.deepEqual(rest.sort(), ['aborted', 'worker'])
      }
    }),
  )

  test(
    `${name}.getAsync aborted right after an item arrived passes the item to a worker getter waiting behind it`,
    slotted(async (t) => {
      t.timeout(2 * LONG)
      const q = new Q<string>()
      const ac = new AbortController()
      const reason = new Error('gone')
      const pending = q.getAsync({ signal: ac.signal, timeout: LONG })
      const out = sharedInts(2)
      const th = spawn(
        (q: Queue<string>, out: Int32Array) => {
          Atomics.store(out, 0, 1)
          Atomics.store(out, 1, q.get() === 'item' ? 1 : -1)
        },
        q as Queue<string>,
        out,
      )
      await until(() => Atomics.load(out, 0) === 1, 'worker to start')
      await sleep(200)
      q.put('item') // notifies the oldest getter (the main thread's)
      ac.abort(reason) // which gives up before taking it
      const outcome = await pending.then(
        (v) => v,
        (e: unknown) => (e === reason ? 'aborted' : e),
      )
      if (outcome === 'aborted') {
        await joinAll([th]) // the worker must be woken for the item (no lost wakeup)
        t.is(Atomics.load(out, 1), 1)
      } else {
        t.is(outcome, 'item')
        q.put('item')
        await joinAll([th])
      }
      t.true(q.empty())
    }),
  )
}

test(
  'Queue.joinAsync on the main thread resolves when worker consumers have marked every item done',
  slotted(async (t) => {
    t.timeout(LONG)
    const q = new Queue<number>()
    const sum = sharedInts(1)
    const workers = spawnMany(
      2,
      (_i: number, q: Queue<number>, sum: Int32Array) => {
        for (;;) {
          const v = q.get()
          if (v < 0) return
          Atomics.wait(sum, 0, -12345, 1) // a little work
          Atomics.add(sum, 0, v)
          q.taskDone()
        }
      },
      q,
      sum,
    )
    for (let i = 1; i <= 200; i++) await q.putAsync(i)
    t.true(await q.joinAsync(LONG))
    t.is(Atomics.load(sum, 0), (200 * 201) / 2)
    q.put(-1)
    q.put(-1)
    await joinAll(workers)
  }),
)
