/**
 * The wait contract for the queues, attacked at every step (issue 9): a `get`/`put`/`join` that
 * is aborted or times out at any op takes nothing, enqueues nothing and loses no wake-up; one
 * that completes did exactly its work. The step driver (test/fixtures/wait-steps-helpers.ts)
 * acts at op 0, 1, 2, ... of each wait, in four modes (abort, timeout, and both again after the
 * peer's hand-off completed); peers are worker threads driven by shared flags.
 *
 * Regressions guarded here: getAsync/putAsync aborted while waiting for the queue's mutex ran
 * the critical section without it (an item removed that nobody received; an item enqueued by a
 * put that rejected): the "waits for the mutex" rounds hold the mutex in a peer and check the
 * contents exactly.
 */
import test from 'ava'
import { QueueEmpty, QueueFull } from '../src/errors.ts'
import { SimpleQueue } from '../src/simple-queue.ts'
import { KINDS, type QueueClass } from '../../../test/fixtures/qtests-helpers.ts'
import {
  ASYNC_MODES,
  asyncOpts,
  driveSteps,
  logTally,
  FORMS,
  LONG,
  Peers,
  PEER_LONG,
  Round,
  show,
  values,
  type Form,
  type Outcome,
  type Result,
} from '../../../test/fixtures/wait-steps-helpers.ts'

/** A give-up outcome of the mode: the abort reason, or the timeout error/value. */
function gaveUpAs(r: Round, out: Outcome, timeoutError: unknown): boolean {
  if (r.mode.endsWith('abort')) return Round.aborted(out)
  return !out.ok && out.error instanceof (timeoutError as typeof Error)
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

interface AnyQueue {
  put(x: number, o?: { timeout?: number }): void
  get(o?: { timeout?: number; block?: boolean }): number
  getAsync(o?: { timeout?: number; signal?: AbortSignal }): Promise<number>
  qsize(): number
}

/** Empties a queue without waiting; returns what it held, in get order. */
function drain(q: AnyQueue): number[] {
  const out: number[] = []
  while (q.qsize() > 0) out.push(q.get({ block: false }))
  return out
}

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b)

// Object indices in the peers' objs.
const Q = 0
const QM = 1 // q.mutex
const QB = 2 // bounded(1) queue
const QBM = 3 // its mutex

for (const { name, Q: Cls } of KINDS) {
  test.serial(`${name}: get/getAsync, put/putAsync, join/joinAsync given up at each op take nothing, put nothing, lose no wake-up`, async (t) => {
    t.timeout(300_000)
    const C = Cls as QueueClass
    const q = new C<number>()
    const qb = new C<number>(1)
    const peers = new Peers(2, [q, q.mutex, qb, qb.mutex])
    t.teardown(() => peers.stop())
    let item = 0

    const runGet = (r: Round, form: Form, x: AnyQueue): Promise<Outcome> | Outcome =>
      form === 'async' ? r.runAsync((signal) => x.getAsync({ ...asyncOpts(r), signal })) : r.runBlocking(() => x.get({ timeout: LONG }))
    const runPut = (r: Round, form: Form, x: AnyQueue & { putAsync(v: number, o: unknown): Promise<void> }, v: number): Promise<Outcome> | Outcome =>
      form === 'async' ? r.runAsync((signal) => x.putAsync(v, { ...asyncOpts(r), signal })) : r.runBlocking(() => x.put(v, { timeout: LONG }))

    for (const [form, modes] of FORMS) {
      for (const mode of modes) {
        // (a) get, waiting for the mutex (an item is there; a peer holds the mutex).
        let what = `${name}.${form === 'async' ? 'getAsync' : 'get'} (waits for the mutex)`
        logTally(
          t,
          what,
          mode,
          await driveSteps(peers, mode, async (r) => {
            const at = `${what} [${mode}] k=${r.k}`
            const x = ++item
            q.put(x)
            values(await peers.run(0, [['hold', QM]]), `${at}: peer hold`)
            const rel = peers.post(0, [
              ['waitGo', r.round],
              ['sleep', 2],
              ['call', QM, 'release'],
            ])
            r.late = () => peers.blockUntilDone(0, rel)
            const out = await runGet(r, form, q)
            values(await peers.done(0, rel), `${at}: peer release`)
            if (out.ok) t.is(out.value, x, `${at}: got`)
            else t.true(gaveUpAs(r, out, QueueEmpty), `${at}: unexpected ${show(out)}`)
            // Exactly once: the item is either got or still there.
            t.deepEqual(drain(q), out.ok ? [] : [x], `${at}: contents after ${show(out)}`)
            t.false(q.mutex.locked(), `${at}: mutex left locked`)
            return out.ok
          }),
        )

        // (b) put, waiting for the mutex (room is there; a peer holds the mutex).
        what = `${name}.${form === 'async' ? 'putAsync' : 'put'} (waits for the mutex)`
        logTally(
          t,
          what,
          mode,
          await driveSteps(peers, mode, async (r) => {
            const at = `${what} [${mode}] k=${r.k}`
            const x = ++item
            values(await peers.run(0, [['hold', QBM]]), `${at}: peer hold`)
            const rel = peers.post(0, [
              ['waitGo', r.round],
              ['sleep', 2],
              ['call', QBM, 'release'],
            ])
            r.late = () => peers.blockUntilDone(0, rel)
            const out = await runPut(r, form, qb as never, x)
            values(await peers.done(0, rel), `${at}: peer release`)
            if (!out.ok) t.true(gaveUpAs(r, out, QueueFull), `${at}: unexpected ${show(out)}`)
            // An aborted or timed-out put enqueues nothing.
            t.deepEqual(drain(qb), out.ok ? [x] : [], `${at}: contents after ${show(out)}`)
            t.false(qb.mutex.locked(), `${at}: mutex left locked`)
            return out.ok
          }),
        )

        // (c) get, waiting for an item; a second getter queues behind us, then a peer puts one.
        what = `${name}.${form === 'async' ? 'getAsync' : 'get'} (waits for an item)`
        logTally(
          t,
          what,
          mode,
          await driveSteps(peers, mode, async (r) => {
            const at = `${what} [${mode}] k=${r.k}`
            const x = ++item
            const second = peers.post(1, [
              ['waitGo', r.round],
              ['call', Q, 'get', { timeout: PEER_LONG }],
            ])
            const put = peers.post(0, [
              ['waitGo', r.round],
              ['sleep', 20],
              ['call', Q, 'put', x],
            ])
            r.late = () => peers.blockUntilDone(0, put)
            const out = await runGet(r, form, q)
            values(await peers.done(0, put), `${at}: peer put`)
            let y: number | undefined
            if (out.ok) {
              t.is(out.value, x, `${at}: got`)
              // We took the item: give the second getter another one.
              y = ++item
              q.put(y)
            } else {
              t.true(gaveUpAs(r, out, QueueEmpty), `${at}: unexpected ${show(out)}`)
            }
            // The item we gave up reaches the second getter (a lost wake-up leaves it asleep).
            const got = values(await peers.done(1, second, PEER_LONG + LONG), `${at}: second getter (lost wake-up?)`)
            t.deepEqual(got, [null, out.ok ? y : x], `${at}: second getter after ${show(out)}`)
            t.is(q.qsize(), 0, `${at}: qsize`)
            return out.ok
          }),
        )

        // (d) put, waiting for room; a second putter queues behind us, then a peer gets one.
        what = `${name}.${form === 'async' ? 'putAsync' : 'put'} (waits for room)`
        logTally(
          t,
          what,
          mode,
          await driveSteps(peers, mode, async (r) => {
            const at = `${what} [${mode}] k=${r.k}`
            const a = ++item
            const x = ++item
            const z = ++item
            qb.put(a)
            const second = peers.post(1, [
              ['waitGo', r.round],
              ['call', QB, 'put', z, { timeout: PEER_LONG }],
            ])
            const get = peers.post(0, [
              ['waitGo', r.round],
              ['sleep', 20],
              ['call', QB, 'get'],
            ])
            r.late = () => peers.blockUntilDone(0, get)
            const out = await runPut(r, form, qb as never, x)
            t.deepEqual(values(await peers.done(0, get), `${at}: peer get`), [null, null, a], `${at}: peer got the first item`)
            if (!out.ok) t.true(gaveUpAs(r, out, QueueFull), `${at}: unexpected ${show(out)}`)
            // Make room for the second putter as needed, then account for every item.
            const got: number[] = []
            while (!peers.isDone(1, second)) {
              if (qb.qsize() > 0) got.push(qb.get({ block: false }))
              await sleep(1)
            }
            values(await peers.done(1, second), `${at}: second putter (lost wake-up?)`)
            got.push(...drain(qb))
            t.deepEqual(sorted(got), out.ok ? [x, z] : [z], `${at}: items after ${show(out)}`)
            return out.ok
          }),
        )

        // (e) join, waiting for taskDone; a second joiner waits too.
        what = `${name}.${form === 'async' ? 'joinAsync' : 'join'}`
        logTally(
          t,
          what,
          mode,
          await driveSteps(peers, mode, async (r) => {
            const at = `${what} [${mode}] k=${r.k}`
            // Rounds before counted their puts as unfinished: mark them done, then leave one.
            for (;;) {
              try {
                q.taskDone()
              } catch {
                break
              }
            }
            q.put(++item)
            q.get({ block: false })
            const second = peers.post(1, [
              ['waitGo', r.round],
              ['call', Q, 'join', PEER_LONG],
            ])
            const done = peers.post(0, [
              ['waitGo', r.round],
              ['sleep', 5],
              ['call', Q, 'taskDone'],
            ])
            r.late = () => peers.blockUntilDone(0, done)
            const out = form === 'async' ? await r.runAsync((signal) => q.joinAsync({ ...asyncOpts(r), signal })) : r.runBlocking(() => q.join(LONG))
            values(await peers.done(0, done), `${at}: peer taskDone`)
            t.deepEqual(values(await peers.done(1, second), `${at}: second joiner`), [null, true], `${at}: second joiner`)
            const completed = out.ok && out.value === true
            if (!completed) t.true(r.mode.endsWith('abort') ? Round.aborted(out) : out.ok && out.value === false, `${at}: unexpected ${show(out)}`)
            t.throws(() => q.taskDone(), { code: 'ERR_TASK_DONE_TOO_MANY' }, `${at}: unfinished count`)
            t.false(q.mutex.locked(), `${at}: mutex left locked`)
            return completed
          }),
        )
      }
    }
  })
}

test.serial('SimpleQueue.getAsync given up at each op: takes nothing, the item reaches the next getter', async (t) => {
  t.timeout(120_000)
  const q = new SimpleQueue<number>()
  const peers = new Peers(2, [q])
  t.teardown(() => peers.stop())
  let item = 0
  for (const mode of ASYNC_MODES) {
    const what = 'SimpleQueue.getAsync'
    logTally(
      t,
      what,
      mode,
      await driveSteps(peers, mode, async (r) => {
        const at = `${what} [${mode}] k=${r.k}`
        const x = ++item
        const second = peers.post(1, [
          ['waitGo', r.round],
          ['call', 0, 'get', { timeout: PEER_LONG }],
        ])
        const put = peers.post(0, [
          ['waitGo', r.round],
          ['sleep', 20],
          ['call', 0, 'put', x],
        ])
        r.late = () => peers.blockUntilDone(0, put)
        const out = await r.runAsync((signal) => q.getAsync({ ...asyncOpts(r), signal }))
        values(await peers.done(0, put), `${at}: peer put`)
        let y: number | undefined
        if (out.ok) {
          t.is(out.value, x)
          y = ++item
          q.put(y)
        } else {
          t.true(gaveUpAs(r, out, QueueEmpty), `${at}: unexpected ${show(out)}`)
        }
        const got: Result[] = await peers.done(1, second, PEER_LONG + LONG)
        t.deepEqual(values(got, `${at}: second getter (lost wake-up?)`), [null, out.ok ? y : x], `${at}: second getter after ${show(out)}`)
        t.is(q.qsize(), 0)
        return out.ok
      }),
    )
  }
})

// Regression (issue 9): the waiter slots of timed-out Condition waits leaked, so a Queue with
// one blocked consumer and one consumer polling get({ timeout: 1 }) threw TooManyWaitersError
// after about 1,025 polls.
test.serial('Queue: one blocked consumer and one consumer polling get({ timeout: 1 }) 5,000 times never throw TooManyWaitersError', async (t) => {
  t.timeout(180_000)
  const q = new SimpleQueue<number>()
  const peers = new Peers(2, [q])
  t.teardown(() => peers.stop())
  const blocked = peers.post(0, [['call', 0, 'get', { timeout: 120_000 }]])
  const polls: ['call', number, string, { timeout: number }][] = Array.from({ length: 5000 }, () => ['call', 0, 'get', { timeout: 1 }])
  const polled = await peers.done(1, peers.post(1, polls), 150_000)
  const errors = polled.filter((r) => 'e' in r).map((r) => (r as { e: string }).e)
  t.deepEqual([...new Set(errors)], ['ERR_QUEUE_EMPTY'], 'every poll ends in QueueEmpty (ERR_QUEUE_EMPTY), none in ERR_TOO_MANY_WAITERS')
  t.is(errors.length, 5000)
  q.put(7)
  t.deepEqual(await peers.done(0, blocked), [{ v: 7 }], 'the blocked consumer still gets the item')
})
