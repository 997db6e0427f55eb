/**
 * Regression (issue 9): an abort that arrives while a woken getAsync/putAsync re-takes the queue
 * mutex (a step that cannot be given up) must not be lost. The driver keeps it for the
 * operation's next abortable step: if the wake-up was stolen (another consumer took the item,
 * or nothing was put), the operation must wait again and then reject with the abort, not wait
 * on without it. Before the fix the abort was answered to the re-take, which ignored it, and the
 * second wait was no longer abortable: the call hung until an item arrived.
 */
import test from 'ava'
import { _setStepHook } from '@tandem/sync/kit'
import { Thread } from '@tandem/sync/thread'
import type { Lock } from '@tandem/sync/lock'
import type { Condition } from '@tandem/sync/condition'
import { Queue } from '../src/queue.ts'

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

test.serial('Queue.getAsync aborted while re-taking the mutex after a wake-up that brought no item rejects at its next wait', async (t) => {
  t.timeout(60_000)
  const q = new Queue<number>()
  const flags = new Int32Array(new SharedArrayBuffer(8))
  const controller = new AbortController()
  // The first steps wait for an item (in liveness slices); after the peer's notify, the getter
  // re-takes the mutex, which the peer holds for a while: that step is not abortable, and the
  // abort lands there; the steps after it wait for an item again.
  const steps: number[] = []
  let abortedAt = -1
  _setStepHook((op, step) => {
    steps.push(step)
    if (step === 0) Atomics.store(flags, 0, 1) // let the peer go
    if (!op.abortable && abortedAt < 0) {
      abortedAt = step
      controller.abort(new Error('stop'))
    }
  })
  t.teardown(() => _setStepHook(undefined))
  const peer = new Thread({
    target: (mutex: Lock, notEmpty: Condition, flags: Int32Array) => {
      while (Atomics.load(flags, 0) === 0) Atomics.wait(flags, 0, 0, 10)
      mutex.acquire()
      notEmpty.notify() // a wake-up with no item behind it (as if another consumer took it)
      Atomics.wait(flags, 1, 0, 300) // hold the mutex: the woken getter must wait to re-take it
      mutex.release()
    },
    args: [q.mutex, q.notEmpty, flags],
    daemon: true,
  })
  peer.start()
  // If the abort is lost, unblock the getter after a while so the test ends with a failure.
  let rescued = false
  const rescue = setTimeout(() => {
    rescued = true
    q.put(99)
  }, 15_000)
  try {
    const err = await t.throwsAsync(q.getAsync({ signal: controller.signal }))
    t.is(err?.message, 'stop')
    t.false(rescued, 'the getter waited until an item arrived: the abort was lost')
    t.true(abortedAt > 0, `the abort landed on the re-take of the mutex (steps ${steps.join(',')})`)
    t.true(
      steps.some((s) => s > abortedAt),
      `the abort was delivered at a wait after the re-take (steps ${steps.join(',')}, aborted at ${abortedAt})`,
    )
  } finally {
    clearTimeout(rescue)
  }
  t.true(await peer.joinAsync(30_000))
  // Nothing was taken by the aborted call.
  await sleepMs(10)
  t.is(q.qsize(), rescued ? 1 : 0)
})
