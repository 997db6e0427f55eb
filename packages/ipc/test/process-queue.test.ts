/**
 * Process queues (`@tandem/ipc/queue`): put/get/qsize/empty/full, the nowait forms, timeouts and
 * maxsize with a child on the other side, JoinableQueue `taskDone`/`join` across processes,
 * `close()`, two producer and two consumer processes with 50 000 items each delivered exactly
 * once, a consumer killed while it waits in `get()` (it takes no item with it), a queue whose
 * putter dies (the queue lives on in its creator: `get` times out) and a queue whose creator dies
 * (the parent's blocked `get` throws ProcessLostError).
 *
 * Ports of CPython's `_TestQueue` (test_put, test_get, test_fork, test_qsize, test_task_done,
 * test_timeout, test_closed_queue_put_get_exceptions) from `Lib/test/_test_multiprocessing.py`;
 * events are replaced by messages on a Pipe (a `@tandem/sync` Event cannot reach a process).
 *
 * Children are daemons running targets of fixtures/pq-children.ts, SIGKILLed in teardown; each
 * test checks their exit codes (a child that finds something wrong throws).
 */
import test from 'ava'
import { ProcessLostError } from '@tandem/ipc/errors'
import { JoinableQueue, Queue, SimpleQueue } from '@tandem/ipc/queue'
import { QueueEmpty, QueueFull } from '@tandem/queue'
import { errorOf, JOIN, pipe, recvWithin, rejectionOf, sleep, until, watchdog } from './fixtures/pq-helpers.ts'
import { joinChild, startChild } from './fixtures/pq-process-helpers.ts'

const SIGKILL = -9

test.beforeEach((t) => {
  t.timeout(120_000)
})

// ---- _TestQueue -----------------------------------------------------------------------------

test('Queue(6): full and empty, the blocking, non-blocking and timed puts, with a child taking the items (_TestQueue.test_put)', async (t) => {
  const MAXSIZE = 6
  const queue = new Queue<number>(MAXSIZE)
  const [conn, childConn] = pipe(t)
  const p = startChild(t, 'qGetSix', [queue, childConn])

  t.true(queue.empty())
  t.false(queue.full())

  queue.put(1)
  queue.put(2, { block: true })
  queue.put(3, { block: true, timeout: undefined })
  queue.put(4, { block: false })
  queue.put(5, { block: false, timeout: undefined })
  queue.putNowait(6)

  t.false(queue.empty())
  t.true(queue.full())
  t.is(queue.qsize(), 6)

  const full = (fn: () => unknown, what: string) => {
    const err = errorOf(fn)
    t.true(err instanceof QueueFull, `${what}: ${err.name}`)
    t.is(err.code, 'ERR_QUEUE_FULL', what)
  }
  full(() => queue.put(7, { block: false }), 'put block false')
  full(() => queue.put(7, { block: false, timeout: undefined }), 'put block false timeout undefined')
  full(() => queue.putNowait(7), 'putNowait')
  full(() => queue.put(7, { block: true, timeout: 100 }), 'put timeout 100')
  full(() => queue.put(7, { block: false, timeout: 200 }), 'put block false timeout 200')
  full(() => queue.put(7, { timeout: 300 }), 'put timeout 300')
  t.is((await rejectionOf(queue.putAsync(7, { timeout: 100 }))).code, 'ERR_QUEUE_FULL', 'putAsync timeout')

  conn.send('go')
  t.deepEqual(await recvWithin(conn), [1, 2, 3, 4, 5, 6], 'the child got them in order')
  t.true(queue.empty())
  t.false(queue.full())
  t.is(await joinChild(p), 0)
  queue.close()
})

test('Queue: items a child puts are got with the blocking, timed and nowait gets; then QueueEmpty every way (_TestQueue.test_get)', async (t) => {
  const queue = new Queue<number>()
  const [conn, childConn] = pipe(t)
  const p = startChild(t, 'qPutAfterGo', [queue, childConn, [2, 3, 4, 5]])
  t.true(queue.empty())
  conn.send('go')
  t.is(await recvWithin(conn), 'done')
  await until(() => queue.qsize() === 4, JOIN, 'the four items') // puts may still be in flight, as in CPython
  t.false(queue.empty())

  t.is(queue.get({ block: true, timeout: undefined }), 2)
  t.is(queue.get({ block: true, timeout: JOIN }), 3)
  t.is(queue.get({ timeout: 1000 }), 4)
  t.is(queue.getNowait(), 5)
  t.true(queue.empty())

  const empty = (fn: () => unknown, what: string) => {
    const err = errorOf(fn)
    t.true(err instanceof QueueEmpty, `${what}: ${err.name}`)
    t.is(err.code, 'ERR_QUEUE_EMPTY', what)
  }
  empty(() => queue.get({ block: false }), 'get block false')
  empty(() => queue.get({ block: false, timeout: undefined }), 'get block false timeout undefined')
  empty(() => queue.getNowait(), 'getNowait')
  empty(() => queue.get({ block: true, timeout: 100 }), 'get timeout 100')
  empty(() => queue.get({ block: false, timeout: 200 }), 'get block false timeout 200')
  empty(() => queue.get({ timeout: 300 }), 'get timeout 300')
  t.is((await rejectionOf(queue.getAsync({ timeout: 100 }))).code, 'ERR_QUEUE_EMPTY', 'getAsync timeout')
  t.is(await joinChild(p), 0)
  queue.close()
})

test('Queue: items put before a child starts come first, then the child’s, in order (_TestQueue.test_fork)', async (t) => {
  const queue = new Queue<number>()
  for (let i = 0; i < 10; i++) queue.put(i)
  const p = startChild(t, 'qPutRange', [queue, 10, 20])
  for (let i = 0; i < 20; i++) t.is(await queue.getAsync({ timeout: JOIN }), i)
  t.is(await joinChild(p), 0)
  t.is(errorOf(() => queue.get({ block: false })).code, 'ERR_QUEUE_EMPTY')
  queue.close()
})

test('Queue.qsize counts puts and gets (_TestQueue.test_qsize)', (t) => {
  const q = new Queue<number>()
  t.is(q.qsize(), 0)
  q.put(1)
  t.is(q.qsize(), 1)
  q.put(5)
  t.is(q.qsize(), 2)
  t.is(q.get({ timeout: JOIN }), 1)
  t.is(q.qsize(), 1)
  t.is(q.get({ timeout: JOIN }), 5)
  t.is(q.qsize(), 0)
  q.close()
})

test('Queue.get with a timeout and nothing put throws QueueEmpty (_TestQueue.test_timeout)', async (t) => {
  const q = new Queue()
  const err = errorOf(() => q.get({ block: true, timeout: 200 }))
  t.true(err instanceof QueueEmpty)
  t.is(err.code, 'ERR_QUEUE_EMPTY')
  const aerr = await rejectionOf(q.getAsync({ timeout: 200 }))
  t.true(aerr instanceof QueueEmpty)
  q.close()
})

test('Queue: a negative timeout is a RangeError (convention 2)', async (t) => {
  const q = new Queue(1)
  t.is(errorOf(() => q.get({ timeout: -1 })).code, 'ERR_OUT_OF_RANGE')
  t.is((await rejectionOf(q.getAsync({ timeout: -1 }))).code, 'ERR_OUT_OF_RANGE')
  q.put(1)
  t.is(errorOf(() => q.put(2, { timeout: -1 })).code, 'ERR_OUT_OF_RANGE')
  q.close()
})

test('Queue.maxsize: a blocked putAsync goes through once a child takes an item', async (t) => {
  const queue = new Queue<string>(1)
  t.is(queue.maxsize, 1)
  queue.put('first')
  const [conn, childConn] = pipe(t)
  const p = startChild(t, 'qGetSix', [queue, childConn])
  const blocked = queue.putAsync('second', { timeout: JOIN })
  conn.send('go')
  await blocked
  for (let i = 0; i < 4; i++) await queue.putAsync(`more ${i}`, { timeout: JOIN })
  t.deepEqual(await recvWithin(conn), ['first', 'second', 'more 0', 'more 1', 'more 2', 'more 3'])
  t.is(await joinChild(p), 0)
  queue.close()
})

test('Queue.getAsync: an aborted get takes no item; the next get receives it', async (t) => {
  const queue = new Queue<string>()
  const ac = new AbortController()
  const pending = queue.getAsync({ signal: ac.signal })
  const reason = new Error('never mind')
  ac.abort(reason)
  t.is(await rejectionOf(pending), reason)
  const p = startChild(t, 'qPutRange', [queue, 0, 3])
  for (let i = 0; i < 3; i++) t.is(await queue.getAsync({ timeout: JOIN }), i as unknown as string)
  t.is(await joinChild(p), 0)
  t.true(queue.empty())
  queue.close()
})

test('JoinableQueue: four worker processes mark every item done; join returns (_TestQueue.test_task_done)', async (t) => {
  const queue = new JoinableQueue<number | null>()
  const workers = Array.from({ length: 4 }, () => startChild(t, 'qTaskDoneWorker', [queue]))
  for (let i = 0; i < 10; i++) queue.put(i)
  t.true(await queue.joinAsync({ timeout: JOIN }), 'every item is done')
  t.true(queue.join(JOIN), 'and the blocking join agrees')
  for (let i = 0; i < workers.length; i++) queue.put(null)
  for (const p of workers) t.is(await joinChild(p), 0)
  queue.close()
})

test('JoinableQueue: join waits for the items got but not yet done; taskDone once too often is a RangeError', async (t) => {
  const queue = new JoinableQueue<string>()
  t.true(queue.join(0), 'nothing unfinished')
  queue.put('a')
  t.false(queue.join(50))
  t.false(await queue.joinAsync({ timeout: 50 }))
  t.is(queue.get({ timeout: JOIN }), 'a')
  t.false(queue.join(50), 'got, not done')
  queue.taskDone()
  t.true(queue.join(0))
  const err = errorOf(() => queue.taskDone())
  t.true(err instanceof RangeError, `got ${err.name}`)
  t.is(err.code, 'ERR_TASK_DONE_TOO_MANY')
  queue.close()
})

test('Queue.close / JoinableQueue.close: put and get on a closed queue throw (_TestQueue.test_closed_queue_put_get_exceptions)', (t) => {
  for (const q of [new Queue<string>(), new JoinableQueue<string>()]) {
    q.close()
    const put = errorOf(() => q.put('foo'))
    const get = errorOf(() => q.get({ timeout: 1000 }))
    t.is(put.code, 'ERR_QUEUE_CLOSED', `put on a closed ${q.constructor.name}: ${put.name} ${put.message}`)
    t.is(get.code, 'ERR_QUEUE_CLOSED', `get on a closed ${q.constructor.name} throws too, as CPython's ValueError (not a timeout as empty): ${get.name} ${get.message}`)
  }
})

test('SimpleQueue across processes: items from a child arrive in order; empty()', async (t) => {
  const q = new SimpleQueue<number>()
  t.true(q.empty())
  const p = startChild(t, 'qPutRange', [q, 0, 50])
  for (let i = 0; i < 50; i++) t.is(await q.getAsync({ timeout: JOIN }), i)
  t.true(q.empty())
  t.is(await joinChild(p), 0)
})

test('Queue: a Connection in a queue item reaches the child that gets it, and works there', async (t) => {
  const queue = new Queue<unknown>()
  const [work, workPeer] = pipe(t)
  const p = startChild(t, 'qGetEndAndGreet', [queue])
  queue.put(workPeer)
  t.deepEqual(await recvWithin(work), ['hello', p.pid])
  work.send('reply')
  t.is(await joinChild(p), 0)
  t.is((await rejectionOf(work.recvAsync({ timeout: JOIN }))).code, 'ERR_PIPE_EOF', 'the child closed the end it got')
  queue.close()
})

// ---- many producers and consumers ------------------------------------------------------------

test('Queue: 2 producer and 2 consumer processes, 50 000 items per producer, each delivered exactly once', async (t) => {
  t.timeout(480_000)
  const N = 50_000
  const queue = new Queue<number | null>(1000)
  const ends = [pipe(t), pipe(t)]
  const consumers = ends.map(([, childEnd]) => startChild(t, 'qConsumer', [queue, childEnd]))
  for (const [mine] of ends) t.is(((await recvWithin(mine)) as [string])[0], 'ready')
  const producers = [0, 1].map((id) => startChild(t, 'qProducer', [queue, id, N]))
  for (const p of producers) t.is(await joinChild(p, 420_000), 0)
  for (let i = 0; i < consumers.length; i++) await queue.putAsync(null, { timeout: JOIN })
  const counts = new Uint8Array(2 * N)
  let total = 0
  let bad = 0
  for (const [mine] of ends) {
    const got = (await mine.recvAsync({ timeout: 420_000 })) as Float64Array
    t.true(got instanceof Float64Array)
    total += got.length
    for (const x of got) {
      if (Number.isInteger(x) && x >= 0 && x < 2 * N) counts[x]!++
      else bad++
    }
  }
  for (const p of consumers) t.is(await joinChild(p), 0)
  t.is(bad, 0, 'no foreign items')
  t.is(total, 2 * N, 'as many items out as in')
  const missing = counts.reduce((n, c) => n + (c === 0 ? 1 : 0), 0)
  const duplicated = counts.reduce((n, c) => n + (c > 1 ? 1 : 0), 0)
  t.is(missing, 0, 'no item lost')
  t.is(duplicated, 0, 'no item got twice')
  t.true(queue.empty())
  queue.close()
})

test('Queue: a consumer killed while it waits in get() takes no item with it; the other consumer gets them all', async (t) => {
  const queue = new Queue<number | null>()
  const [aEnd, aChild] = pipe(t)
  const [bEnd, bChild] = pipe(t)
  const a = startChild(t, 'qConsumer', [queue, aChild])
  const b = startChild(t, 'qConsumer', [queue, bChild])
  t.deepEqual(await recvWithin(aEnd), ['ready', a.pid])
  t.deepEqual(await recvWithin(bEnd), ['ready', b.pid])
  await sleep(300) // let both reach get() (if one has not, the test is merely weaker)
  a.kill()
  t.is(await joinChild(a), SIGKILL)
  const M = 200
  for (let i = 0; i < M; i++) queue.put(i)
  queue.put(null)
  const got = (await bEnd.recvAsync({ timeout: JOIN })) as Float64Array
  t.deepEqual(
    [...got],
    Array.from({ length: M }, (_, i) => i),
    'every item, in order, at the live consumer',
  )
  t.is(await joinChild(b), 0)
  t.true(queue.empty())
  queue.close()
})

// ---- dead processes -------------------------------------------------------------------------

test('Queue.get: the child that was to put is killed while the parent blocks in get(timeout): QueueEmpty at the timeout; the queue still works', async (t) => {
  const queue = new Queue<string>()
  const [conn, childConn] = pipe(t)
  const p = startChild(t, 'readyThenSelfKill', [childConn, 200])
  t.deepEqual(await recvWithin(conn), ['ready', p.pid])
  const err = errorOf(() => queue.get({ timeout: 3000 })) // the child dies during this wait
  t.true(err instanceof QueueEmpty, `got ${err.name}: ${err.message}`)
  t.is(err.code, 'ERR_QUEUE_EMPTY', 'the queue lives in this process: a dead child does not break it')
  t.is(await joinChild(p), SIGKILL)
  queue.put('still works')
  t.is(queue.get({ timeout: JOIN }), 'still works')
  queue.close()
})

test('Queue created in a child: usable from the parent; the child killed while the parent blocks in get() gives ProcessLostError', async (t) => {
  const [conn, childConn] = pipe(t)
  const p = startChild(t, 'qOwnerThenDie', [childConn, 300])
  const queue = (await recvWithin(conn)) as Queue<string>
  t.is(queue.get({ timeout: JOIN }), 'a')
  t.is(queue.get({ timeout: JOIN }), 'b')
  queue.put('c')
  t.is(queue.qsize(), 1)
  t.is(queue.get({ timeout: JOIN }), 'c')
  conn.send('die')
  const disarm = watchdog(90_000, 'get() on a queue whose owner was killed')
  let err: Error & { code?: string }
  try {
    err = errorOf(() => queue.get({ timeout: 45_000 })) // the owner dies during this wait
  } finally {
    disarm()
  }
  t.true(err instanceof ProcessLostError, `got ${err.name}: ${err.message}`)
  t.is(err.code, 'ERR_PROCESS_LOST')
  t.is(await joinChild(p), SIGKILL)
  t.is(errorOf(() => queue.put('x')).code, 'ERR_PROCESS_LOST', 'later operations fail the same way')
  t.is((await rejectionOf(queue.getAsync({ timeout: JOIN }))).code, 'ERR_PROCESS_LOST')
})

test('Queue created in a child: a pending getAsync in the parent rejects with ProcessLostError when the child is killed', async (t) => {
  const [conn, childConn] = pipe(t)
  const p = startChild(t, 'qOwnerThenDie', [childConn, 60_000])
  const queue = (await recvWithin(conn)) as Queue<string>
  t.is(await queue.getAsync({ timeout: JOIN }), 'a')
  t.is(await queue.getAsync({ timeout: JOIN }), 'b')
  const pending = rejectionOf(queue.getAsync({ timeout: 45_000 }))
  await sleep(100)
  p.kill()
  const err = await pending
  t.true(err instanceof ProcessLostError, `got ${err.name}: ${err.message}`)
  t.is(err.code, 'ERR_PROCESS_LOST')
  t.is(await joinChild(p), SIGKILL)
})
