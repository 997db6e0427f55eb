/**
 * Shareables and queues (API.md convention 6): Tandem primitives inside items arrive as live
 * handles on the same state, a queue inside another queue's item (or in Thread args) is the
 * same queue, in both directions between the main thread and workers.
 */
import test from 'ava'
import { Condition } from '@tandem/sync/condition'
import { Event } from '@tandem/sync/event'
import { Lock } from '@tandem/sync/lock'
import { Semaphore } from '@tandem/sync/semaphore'
import { LifoQueue } from '../src/lifo-queue.ts'
import { PriorityQueue } from '../src/priority-queue.ts'
import { Queue } from '../src/queue.ts'
import { SimpleQueue } from '../src/simple-queue.ts'
import { KINDS, LONG, joinAll, slotted, until } from '../../../test/fixtures/qtests-helpers.ts'
import { sharedInts, spawn } from '../../sync/test/_helpers.ts'
import { Thread } from '@tandem/sync/thread'

test(
  'A Lock put on a Queue arrives as the same Lock: the consumer worker acquires it and the main thread sees locked()',
  slotted(async (t) => {
    t.timeout(LONG)
    const q = new Queue<{ lock: Lock; note: string }>()
    const lock = new Lock()
    const release = new Event()
    const th = spawn(
      (q: Queue<{ lock: Lock; note: string }>, release: Event) => {
        const { lock, note } = q.get()
        if (note !== 'take it') throw new Error(`bad note ${note}`)
        if (!lock.acquire({ blocking: false })) throw new Error('the lock that arrived is already held')
        release.wait()
        lock.release()
      },
      q,
      release,
    )
    t.false(lock.locked())
    q.put({ lock, note: 'take it' })
    await until(() => lock.locked(), 'the worker to acquire the lock it got from the queue')
    t.false(await lock.acquireAsync(50), 'the main thread must not get a lock the worker holds')
    release.set()
    await joinAll([th])
    t.false(lock.locked())
    t.true(lock.acquire({ blocking: false }))
    lock.release()
  }),
)

test(
  'A Lock created in a worker and put on a Queue is the same Lock on the main thread',
  slotted(async (t) => {
    t.timeout(LONG)
    const q = new Queue<Lock>()
    const back = new Queue<string>()
    const th = spawn(
      async (q: Queue<Lock>, back: Queue<string>) => {
        const { Lock } = await import('@tandem/sync/lock')
        const lock = new Lock()
        lock.acquire()
        q.put(lock)
        back.get() // main saw it locked
        lock.release()
        q.put(lock)
        back.get()
      },
      q,
      back,
    )
    const lock = await q.getAsync(LONG)
    t.true(lock instanceof Lock)
    t.true(lock.locked())
    back.put('seen')
    const again = await q.getAsync(LONG)
    t.false(again.locked())
    t.false(lock.locked(), 'both handles see the release')
    t.true(again.acquire({ blocking: false }))
    t.true(lock.locked())
    again.release()
    back.put('done')
    await joinAll([th])
  }),
)

test(
  'Event, Semaphore and Condition nested in arrays, Maps and objects inside an item arrive live',
  slotted(async (t) => {
    t.timeout(LONG)
    const q = new LifoQueue<{ list: [Event, number]; map: Map<string, Semaphore>; deep: { cond: Condition } }>()
    const evt = new Event()
    const sem = new Semaphore(0)
    const cond = new Condition()
    const flag = sharedInts(1)
    const th = spawn(
      (q: LifoQueue<{ list: [Event, number]; map: Map<string, Semaphore>; deep: { cond: Condition } }>, flag: Int32Array) => {
        const item = q.get()
        const [evt, n] = item.list
        item.map.get('sem')!.release(n)
        const cond = item.deep.cond
        cond.acquire()
        Atomics.store(flag, 0, 1)
        cond.notifyAll()
        cond.release()
        evt.set()
      },
      q,
      flag,
    )
    q.put({ list: [evt, 3], map: new Map([['sem', sem]]), deep: { cond } })
    t.true(await evt.waitAsync(LONG))
    t.is(sem.value, 3)
    await cond.acquireAsync(LONG)
    try {
      t.true(await cond.waitForAsync(() => Atomics.load(flag, 0) === 1, LONG))
    } finally {
      cond.release()
    }
    await joinAll([th])
  }),
)

for (const { name, Q } of KINDS) {
  test(
    `${name} passed in Thread args is the same queue: items flow both ways and qsize agrees`,
    slotted(async (t) => {
      t.timeout(LONG)
      const q = new Q<number>()
      const out = sharedInts(2)
      const th = new Thread({
        daemon: true,
        args: [q, out],
        target: (q: Queue<number>, out: Int32Array) => {
          Atomics.store(out, 0, q.qsize()) // main put 3 items before start()
          let sum = 0
          for (let i = 0; i < 3; i++) sum += q.get()
          Atomics.store(out, 1, sum)
          q.put(100)
          q.put(200)
        },
      })
      q.put(1)
      q.put(2)
      q.put(3)
      th.start()
      await joinAll([th])
      t.is(Atomics.load(out, 0), 3)
      t.is(Atomics.load(out, 1), 6)
      t.is(q.qsize(), 2)
      t.deepEqual(
        [await q.getAsync(LONG), await q.getAsync(LONG)].sort((a, b) => a - b),
        [100, 200],
      )
      t.true(q.empty())
    }),
  )

  test(
    `${name} inside another queue's item is the same queue: a worker answers each request on the reply queue it carries`,
    slotted(async (t) => {
      t.timeout(LONG)
      const requests = new Queue<{ n: number; reply: Queue<number> } | null>()
      const server = spawn((requests: Queue<{ n: number; reply: Queue<number> } | null>) => {
        for (;;) {
          const req = requests.get()
          if (req === null) return
          req.reply.put(req.n * 2)
          req.reply.put(-req.reply.qsize()) // at least the answer it just put
        }
      }, requests)
      const replies = [new Q<number>(), new Q<number>()]
      for (let n = 1; n <= 10; n++) {
        const reply = replies[n % 2]!
        requests.put({ n, reply: reply as Queue<number> })
        const answers = [await reply.getAsync(LONG), await reply.getAsync(LONG)]
        t.true(answers.includes(n * 2), `request ${n}: ${JSON.stringify(answers)}`)
        t.true(answers.includes(-1) || answers.includes(0), `request ${n}: the worker's qsize() of the reply queue ${JSON.stringify(answers)}`)
        t.true(reply.empty())
      }
      requests.put(null)
      await joinAll([server])
    }),
  )
}

test(
  'A queue created in a worker and sent inside an item is the same queue on the main thread and in a second worker',
  slotted(async (t) => {
    t.timeout(LONG)
    const mailbox = new Queue<Queue<string>>()
    const a = spawn(async (mailbox: Queue<Queue<string>>) => {
      const { Queue } = await import('@tandem/queue/queue')
      const inner = new Queue<string>(4)
      inner.put('from A')
      mailbox.put(inner) // to main
      mailbox.put(inner) // to B, relayed by main
      inner.join() // until main has taken and marked both items
    }, mailbox)
    const inner = await mailbox.getAsync(LONG)
    t.true(inner instanceof Queue)
    t.is(inner.maxsize, 4)
    t.is(await inner.getAsync(LONG), 'from A')
    inner.taskDone()
    const relay = await mailbox.getAsync(LONG)
    const b = spawn((carrier: Queue<Queue<string>>) => {
      const inner = carrier.get()
      inner.put('from B')
    }, mailbox)
    mailbox.put(relay)
    t.is(await inner.getAsync(LONG), 'from B')
    inner.taskDone()
    await joinAll([a, b])
    t.true(inner.empty())
    t.true(inner.join(0))
  }),
)

test('A queue put on itself comes back as a handle on the same queue', (t) => {
  const q = new Queue<unknown>()
  q.put(q)
  q.put('next')
  const self = q.getNowait() as Queue<unknown>
  t.true(self instanceof Queue)
  t.is(self.qsize(), 1)
  t.is(self.getNowait(), 'next')
  t.true(q.empty())
  self.put('via the copy')
  t.is(q.getNowait(), 'via the copy')
})

type Bundle = { fifo: Queue<number>; lifo: LifoQueue<number>; prio: PriorityQueue<number>; simple: SimpleQueue<number> }

test(
  'Every queue class keeps its class and its order when it travels inside an item',
  slotted(async (t) => {
    t.timeout(LONG)
    const carrier = new Queue<Bundle>()
    const fifo = new Queue<number>()
    const lifo = new LifoQueue<number>()
    const prio = new PriorityQueue<number>()
    const simple = new SimpleQueue<number>()
    const out = sharedInts(8)
    const th = spawn(
      async (carrier: Queue<Bundle>, out: Int32Array) => {
        const { Queue } = await import('@tandem/queue/queue')
        const { LifoQueue } = await import('@tandem/queue/lifo-queue')
        const { PriorityQueue } = await import('@tandem/queue/priority-queue')
        const { SimpleQueue } = await import('@tandem/queue/simple-queue')
        const { fifo, lifo, prio, simple } = carrier.get()
        out[0] = fifo instanceof Queue && lifo instanceof LifoQueue && prio instanceof PriorityQueue && simple instanceof SimpleQueue ? 1 : -1
        out[1] = fifo.get()
        out[2] = lifo.get()
        out[3] = prio.get()
        out[4] = simple.get()
      },
      carrier,
      out,
    )
    for (const x of [2, 3, 1]) {
      fifo.put(x)
      lifo.put(x)
      prio.put(x)
      simple.put(x)
    }
    carrier.put({ fifo, lifo, prio, simple })
    await joinAll([th])
    t.deepEqual(Array.from(out.subarray(0, 5)), [1, 2, 1, 1, 2])
    t.is(fifo.qsize() + lifo.qsize() + prio.qsize() + simple.qsize(), 8)
  }),
)

test(
  'A Lock got from a queue by three workers is one Lock: their unguarded read-modify-writes stay exact',
  slotted(async (t) => {
    t.timeout(2 * LONG)
    const q = new Queue<Lock>()
    const counter = sharedInts(1)
    const N = 20_000
    const workers = [0, 1, 2].map(() =>
      spawn(
        (q: Queue<Lock>, counter: Int32Array, n: number) => {
          const lock = q.get()
          for (let i = 0; i < n; i++) {
            lock.acquire()
            // Not atomic: only mutual exclusion keeps the total exact.
            const v = Atomics.load(counter, 0)
            Atomics.store(counter, 0, v + 1)
            lock.release()
          }
        },
        q,
        counter,
        N,
      ),
    )
    const lock = new Lock()
    for (let i = 0; i < 3; i++) q.put(lock)
    await joinAll(workers, 2 * LONG)
    t.is(Atomics.load(counter, 0), 3 * N)
    t.false(lock.locked())
  }),
)
