/**
 * The wait contract, attacked at every step (issue 9): an abort or a timeout at any op of any
 * wait leaves the object as if the wait never happened (lock state, permits, wake-ups), or as if
 * it completed if it resolved; a Barrier wait that gives up breaks the barrier only if its party
 * was counted in the cycle. The step driver (test/fixtures/wait-steps-helpers.ts) runs each wait
 * round after round, acting at op 0, 1, 2, ... of it, in four modes (abort, timeout, and both
 * again after the peer's hand-off completed); peers are worker threads driven by shared flags.
 *
 * Regressions guarded here:
 * - Condition.waitAsync aborted while re-taking its lock rejected without holding the lock (the
 *   Condition rounds check the lock is held, with an RLock's recursion count, whatever the outcome);
 * - Condition waiter slots of timed-out waiters leaked (the Conditions here have maxWaiters 2 and
 *   live through every round; and the tests at the end).
 */
import test from 'ava'
import { Barrier } from '../src/barrier.ts'
import { BoundedSemaphore } from '../src/bounded-semaphore.ts'
import { Condition } from '../src/condition.ts'
import { BrokenBarrierError, LockNotOwnedError, TooManyWaitersError } from '../src/errors.ts'
import { Event } from '../src/event.ts'
import { Lock } from '../src/lock.ts'
import { RLock } from '../src/rlock.ts'
import { Semaphore } from '../src/semaphore.ts'
import { moduleRef } from '../src/task.ts'
import { Thread } from '../src/thread.ts'
import {
  ASYNC_MODES,
  asyncOpts,
  BLOCKING_MODES,
  driveSteps,
  logTally,
  FORMS,
  FLAGS,
  LONG,
  Peers,
  PEER_LONG,
  Round,
  show,
  values,
  type Mode,
  type Outcome,
} from '../../../test/fixtures/wait-steps-helpers.ts'
import { joinAll, spawn } from './_helpers.ts'

/** True if the calling thread holds `cond`'s lock (notify(0) wakes nobody but checks ownership). */
function heldHere(cond: Condition): boolean {
  try {
    cond.notify(0)
    return true
  } catch (err) {
    if (err instanceof LockNotOwnedError) return false
    throw err
  }
}

// ---- Lock, RLock, Semaphore, BoundedSemaphore: acquire ---------------------------------------

test.serial('acquireAsync/acquire of Lock, RLock, Semaphore, BoundedSemaphore given up at each op: nothing taken, nothing lost', async (t) => {
  t.timeout(240_000)
  const lock = new Lock()
  const rlock = new RLock()
  const sem = new Semaphore(0)
  const bsem = new BoundedSemaphore(1)
  t.true(bsem.acquire({ blocking: false }))
  const objs = [lock, rlock, sem, bsem]
  const peers = new Peers(1, objs)
  t.teardown(() => peers.stop())
  const names = ['Lock', 'RLock', 'Semaphore', 'BoundedSemaphore']

  for (let o = 0; o < objs.length; o++) {
    const x = objs[o]!
    const isLock = o < 2
    for (const [form, modes] of FORMS) {
      for (const mode of modes) {
        const what = `${names[o]}.${form === 'async' ? 'acquireAsync' : 'acquire'}`
        const tally = await driveSteps(peers, mode, async (r) => {
          const at = `${what} [${mode}] k=${r.k}`
          // Set up: the lock is held by the peer / no permit is left.
          if (isLock) values(await peers.run(0, [['hold', o]]), `${at}: peer hold`)
          const seq = peers.post(0, [
            ['waitGo', r.round],
            ['sleep', 2],
            ['call', o, 'release'],
          ])
          r.late = () => peers.blockUntilDone(0, seq)
          const out = form === 'async' ? await r.runAsync((signal) => x.acquireAsync({ ...asyncOpts(r), signal })) : r.runBlocking(() => x.acquire({ timeout: LONG }))
          values(await peers.done(0, seq), `${at}: peer release`)
          const completed = out.ok && out.value === true
          if (!completed) {
            const gaveUp = mode.endsWith('abort') ? Round.aborted(out) : out.ok && out.value === false
            t.true(gaveUp, `${at}: unexpected outcome ${show(out)}`)
          }
          if (isLock) {
            // The peer released; the lock is ours exactly if the wait completed.
            t.is((x as Lock).locked(), completed, `${at}: locked() after ${show(out)}`)
            if (x instanceof RLock) {
              t.is(x.isOwned(), completed, `${at}: isOwned()`)
              t.is(x.recursionCount(), completed ? 1 : 0, `${at}: recursionCount()`)
            }
            if (completed) x.release()
            t.false((x as Lock).locked(), `${at}: free at the end of the round`)
          } else {
            const s = x as Semaphore
            t.is(s.value, completed ? 0 : 1, `${at}: value after ${show(out)}`)
            // Back to no permit for the next round.
            if (!completed) t.true(s.acquire({ blocking: false }), `${at}: the permit left is there`)
          }
          return completed
        })
        logTally(t, what, mode, tally)
      }
    }
  }
  t.is(sem.value, 0)
  bsem.release()
  t.is(bsem.value, 1)
  t.throws(() => bsem.release(), { code: 'ERR_SEMAPHORE_OVERFLOW' }, 'BoundedSemaphore: a permit too many (one leaked?)')
})

// ---- Condition: wait, waitAsync, waitFor, waitForAsync, with Lock and RLock -----------------

type CondForm = 'waitAsync' | 'wait' | 'waitForAsync' | 'waitFor'
const COND_FORMS: [CondForm, Mode[]][] = [
  ['waitAsync', ASYNC_MODES],
  ['wait', BLOCKING_MODES],
  ['waitForAsync', ASYNC_MODES],
  ['waitFor', BLOCKING_MODES],
]
const W2_IN = FLAGS

for (const kind of ['Lock', 'RLock'] as const) {
  test.serial(
    `Condition(${kind}) wait forms given up at each op: the lock is held again${kind === 'RLock' ? ' at its recursion depth' : ''}, a notification given up reaches the next waiter, no slot leaks (maxWaiters 2)`,
    async (t) => {
      t.timeout(300_000)
      // One Condition through every round: a leaked waiter slot makes a later round throw.
      const cond = new Condition(kind === 'RLock' ? new RLock() : new Lock(), { maxWaiters: 2 })
      const tokens = new Int32Array(new SharedArrayBuffer(4))
      const peers = new Peers(2, [cond, tokens]) // 0 notifies, 1 is the second waiter
      t.teardown(() => peers.stop())
      const depth = kind === 'RLock' ? 2 : 1

      for (const [form, modes] of COND_FORMS) {
        for (const mode of modes) {
          const what = `Condition(${kind}).${form}`
          const tally = await driveSteps(peers, mode, async (r) => {
            const at = `${what} [${mode}] k=${r.k}`
            for (let i = 0; i < depth; i++) t.true(await cond.acquireAsync(LONG), `${at}: lock`)
            // The second waiter queues once we wait (behind us); the notifier gives one token and
            // notify(1) once the second waiter is queued, and keeps the lock 15 ms so that our
            // re-acquisition has to wait too.
            const w2 = peers.post(1, [
              ['waitGo', r.round],
              [form.startsWith('waitFor') ? 'condTakeFor' : 'condTake', 0, 1, W2_IN],
            ])
            const give = peers.post(0, [
              ['waitFlag', W2_IN, r.round],
              ['sleep', 2],
              ['condGive', 0, 1, 15],
            ])
            r.late = () => peers.blockUntilDone(0, give)
            const pred = (): boolean => tokens[0]! > 0
            let out: Outcome
            if (form === 'waitAsync') out = await r.runAsync((signal) => cond.waitAsync({ ...asyncOpts(r), signal }))
            else if (form === 'waitForAsync') out = await r.runAsync((signal) => cond.waitForAsync(pred, { ...asyncOpts(r), signal }))
            else if (form === 'wait') out = r.runBlocking(() => cond.wait(LONG))
            else out = r.runBlocking(() => cond.waitFor(pred, LONG))

            // Whatever the outcome, the wait returns holding the lock as it was held before.
            const held = heldHere(cond)
            t.true(held, `${at}: lock not held after ${show(out)}`)
            if (cond.lock instanceof RLock) t.is(cond.lock.recursionCount(), depth, `${at}: recursion count after ${show(out)}`)
            const completed = out.ok && out.value === true
            if (!completed) {
              const gaveUp = mode.endsWith('abort') ? Round.aborted(out) : out.ok && out.value === false
              t.true(gaveUp, `${at}: unexpected outcome ${show(out)}`)
            }
            if (held) {
              if (completed) {
                // Notified: the token is there. We take it and give the second waiter a new one,
                // with the notification we consumed.
                t.true(tokens[0]! > 0, `${at}: ${form} returned true without a notification`)
                cond.notify(1)
              }
              for (let i = 0; i < depth; i++) cond.release()
            }
            // The second waiter must get a token: the one we gave up (its notification passed on to
            // it) or the one we gave back. A lost wake-up leaves it asleep until PEER_LONG.
            values(await peers.done(1, w2, PEER_LONG + LONG), `${at}: second waiter (lost wake-up?)`)
            values(await peers.done(0, give), `${at}: notifier`)
            t.is(tokens[0], 0, `${at}: tokens left`)
            return completed
          })
          logTally(t, what, mode, tally)
        }
      }
      // Two waiters at once still fit: no slot leaked over all the rounds.
      const mark = Atomics.load(peers.ctl, 0) + 1
      Atomics.store(peers.ctl, 0, mark)
      t.true(await cond.acquireAsync(LONG))
      const p = cond.waitAsync(LONG)
      const w2 = peers.post(1, [['condTake', 0, 1, W2_IN]])
      const give = peers.post(0, [
        ['waitFlag', W2_IN, mark],
        ['condGive', 0, 1, 0],
        ['condGive', 0, 1, 0],
      ])
      t.true(await p, 'final: the first waiter was notified')
      tokens[0]!--
      cond.release()
      values(await peers.done(1, w2), 'final second waiter')
      values(await peers.done(0, give), 'final notifier')
      t.is(tokens[0], 0)
    },
  )
}

// ---- Event ---------------------------------------------------------------------------------

test.serial('Event.waitAsync/wait given up at each op: the set still wakes every other waiter', async (t) => {
  t.timeout(120_000)
  const ev = new Event()
  const peers = new Peers(2, [ev]) // 0 sets, 1 waits too
  t.teardown(() => peers.stop())
  for (const [form, modes] of FORMS) {
    for (const mode of modes) {
      const what = `Event.${form === 'async' ? 'waitAsync' : 'wait'}`
      const tally = await driveSteps(peers, mode, async (r) => {
        const at = `${what} [${mode}] k=${r.k}`
        ev.clear()
        const other = peers.post(1, [['call', 0, 'wait', PEER_LONG]])
        const set = peers.post(0, [
          ['waitGo', r.round],
          ['sleep', 5],
          ['call', 0, 'set'],
        ])
        r.late = () => peers.blockUntilDone(0, set)
        const out = form === 'async' ? await r.runAsync((signal) => ev.waitAsync({ ...asyncOpts(r), signal })) : r.runBlocking(() => ev.wait(LONG))
        values(await peers.done(0, set), `${at}: setter`)
        t.deepEqual(values(await peers.done(1, other), `${at}: other waiter`), [true], `${at}: other waiter`)
        const completed = out.ok && out.value === true
        if (!completed) {
          const gaveUp = mode.endsWith('abort') ? Round.aborted(out) : out.ok && out.value === false
          t.true(gaveUp, `${at}: unexpected outcome ${show(out)}`)
        }
        t.true(ev.isSet())
        return completed
      })
      logTally(t, what, mode, tally)
    }
  }
})

// ---- Barrier -------------------------------------------------------------------------------

for (const [form, modes] of FORMS) {
  const what = `Barrier.${form === 'async' ? 'waitAsync' : 'wait'}`
  for (const mode of modes) {
    // `late-abort`: the other party arrived (and passed) before the abort was answered. The cycle
    // completed with this party counted, so by the contract ("if the operation then completes,
    // the abort came too late and its result stands") the wait must resolve with its index.
    // Regression (found by this test): Barrier rethrew the abort there although the cycle had
    // used this party's arrival.
    const register = test.serial
    register(`${what} [${mode}] given up at each op: broken exactly when the cycle did not complete, the other party sees the same outcome`, async (t) => {
      t.timeout(120_000)
      const barrier = new Barrier(2)
      const peers = new Peers(1, [barrier])
      t.teardown(() => peers.stop())
      const tally = await driveSteps(peers, mode, async (r) => {
        const at = `${what} [${mode}] k=${r.k}`
        const other = peers.post(0, [
          ['waitGo', r.round],
          ['sleep', 5],
          ['call', 0, 'wait', PEER_LONG],
        ])
        r.late = () => peers.blockUntilDone(0, other)
        const out = form === 'async' ? await r.runAsync((signal) => barrier.waitAsync({ ...asyncOpts(r), signal })) : r.runBlocking(() => barrier.wait(LONG))
        const peer = (await peers.done(0, other))[2]!
        const broken = barrier.broken
        if (out.ok) {
          // Passed: the other party passed too, with the other index.
          t.false(broken, `${at}: broken after a passed cycle`)
          t.deepEqual(peer, { v: 1 - (out.value as number) }, `${at}: other party after ${show(out)}`)
        } else {
          const gaveUp = mode.endsWith('abort') ? Round.aborted(out) : out.error instanceof BrokenBarrierError
          t.true(gaveUp, `${at}: unexpected outcome ${show(out)}`)
          // Counted in the cycle (it always is here): giving up broke it, and the other party
          // arrived at a broken barrier.
          t.true(broken, `${at}: not broken after ${show(out)}; other party: ${JSON.stringify(peer)}`)
          t.deepEqual(peer, { e: 'ERR_BROKEN_BARRIER' }, `${at}: other party`)
        }
        t.is(barrier.nWaiting, 0, `${at}: nWaiting`)
        barrier.reset()
        return out.ok
      })
      logTally(t, what, mode, tally)
    })
  }
}

// ---- Thread.join ---------------------------------------------------------------------------

const PEER_MODULE = new URL('../../../test/fixtures/wait-steps-peer.ts', import.meta.url)

for (const [form, modes] of FORMS) {
  const what = `Thread.${form === 'async' ? 'joinAsync' : 'join'}`
  test.serial(`${what} given up at each op: the thread still finishes and a later join sees it`, async (t) => {
    t.timeout(180_000)
    const peers = new Peers(0, [])
    for (const mode of modes.filter((m) => !m.startsWith('late'))) {
      const tally = await driveSteps(peers, mode, async (r) => {
        const at = `${what} [${mode}] k=${r.k}`
        const th = new Thread({ target: moduleRef(PEER_MODULE, 'exitOnGo'), args: [peers.ctl, r.round], daemon: true })
        th.start()
        const out = form === 'async' ? await r.runAsync((signal) => th.joinAsync({ ...asyncOpts(r), signal })) : r.runBlocking(() => th.join(LONG))
        const completed = out.ok && out.value === true
        if (completed) t.false(th.isAlive(), `${at}: alive after join returned true`)
        else t.true(mode === 'abort' ? Round.aborted(out) : out.ok && out.value === false, `${at}: unexpected outcome ${show(out)}`)
        t.true(await th.joinAsync(LONG), `${at}: the thread never finished`)
        return completed
      })
      logTally(t, what, mode, tally)
    }
  })
}

// ---- waiter slots: the capacity bounds simultaneous waiters only ---------------------------

test.serial('Condition: 5,000 timed waits beside one untimed waiter at the head never throw TooManyWaitersError (timed-out slots are given back)', async (t) => {
  t.timeout(180_000)
  for (const maxWaiters of [2, undefined]) {
    const cond = new Condition(new Lock(), maxWaiters === undefined ? {} : { maxWaiters })
    const tokens = new Int32Array(new SharedArrayBuffer(4))
    const flags = new Int32Array(new SharedArrayBuffer(4 * 4))
    // The untimed waiter, at the head of the FIFO for the whole run.
    const head = spawn(
      (cond: Condition, tokens: Int32Array, flags: Int32Array) => {
        cond.acquire()
        Atomics.store(flags, 0, 1)
        while (tokens[0] === 0) cond.wait()
        tokens[0]!--
        cond.release()
      },
      cond,
      tokens,
      flags,
    )
    // Another thread doing timed waits (0 and 1 ms), blocking and async.
    const timed = spawn(
      async (cond: Condition, flags: Int32Array, n: number) => {
        while (Atomics.load(flags, 0) === 0) Atomics.wait(flags, 0, 0, 10)
        let notified = 0
        for (let i = 0; i < n; i++) {
          cond.acquire()
          try {
            const r = i % 3 === 2 ? await cond.waitAsync(i % 2) : cond.wait(i % 2)
            if (r) notified++
          } finally {
            cond.release()
          }
        }
        Atomics.store(flags, 1, notified)
        Atomics.store(flags, 2, 1)
      },
      cond,
      flags,
      5000,
    )
    await joinAll([timed], 120_000)
    t.is(Atomics.load(flags, 2), 1, 'the timed waiter finished its 5,000 waits')
    t.is(Atomics.load(flags, 1), 0, 'no timed wait was notified (nobody notified)')
    // The head waiter is still there and still gets the one notification.
    t.true(await cond.acquireAsync(LONG))
    tokens[0] = 1
    cond.notify(1)
    cond.release()
    await joinAll([head], LONG)
    t.is(tokens[0], 0)
  }
})

test.serial('Condition(maxWaiters 4): 4 simultaneous waiters fit, a 5th throws ERR_TOO_MANY_WAITERS; after they leave, 4 new ones fit (100 times)', async (t) => {
  t.timeout(120_000)
  const cond = new Condition(new Lock(), { maxWaiters: 4 })
  for (let rep = 0; rep < 100; rep++) {
    t.true(await cond.acquireAsync(LONG))
    const waits: Promise<boolean>[] = []
    const controllers: AbortController[] = []
    for (let i = 0; i < 4; i++) {
      const c = new AbortController()
      controllers.push(c)
      // Each waitAsync releases the lock once it queued; take it again for the next one.
      // Each wait ends holding the lock (main thread's), and hands it on to the next one.
      waits.push(
        cond.waitAsync({ signal: c.signal, timeout: LONG }).then(
          (r) => {
            cond.release()
            return r
          },
          (err) => {
            cond.release()
            if (err === c.signal.reason) return false
            throw err
          },
        ),
      )
      t.true(await cond.acquireAsync(LONG), `rep ${rep}: lock for waiter ${i + 1}`)
    }
    const fifth = cond.waitAsync(LONG)
    const err = await fifth.then(
      () => undefined,
      (e: unknown) => e,
    )
    t.true(err instanceof TooManyWaitersError, `rep ${rep}: the 5th waiter got ${String(err)}`)
    t.is((err as TooManyWaitersError).code, 'ERR_TOO_MANY_WAITERS')
    t.true(heldHere(cond), `rep ${rep}: the 5th waitAsync rejected with the lock still held`)
    // The four leave: two notified, two aborted.
    cond.notify(2)
    cond.release()
    controllers[2]!.abort()
    controllers[3]!.abort()
    const results = await Promise.all(waits)
    t.deepEqual(results, [true, true, false, false], `rep ${rep}`)
    t.false(cond.lock.locked(), `rep ${rep}: lock free at the end`)
  }
})
