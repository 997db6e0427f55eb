/**
 * The process arena's lock when its holder dies (issue 9): a thread terminated while it holds
 * the lock (in the middle of an allocation) may leave a free list half linked. Every thread that
 * then needs the lock, on the main thread (blocking) and in workers, must get OwnerDiedError
 * (ERR_OWNER_DIED) instead of hanging. This poisons the arena of the test process for good, so
 * this file holds only this test.
 */
import test from 'ava'
import { Worker } from 'node:worker_threads'
import { OwnerDiedError } from '../src/errors.ts'
import { alloc, arenaBuffer } from '../src/kit.ts'
import { Thread } from '../src/thread.ts'

const LOCK = 1 // arena header word (internal/arena.ts)

test.serial('arena: a thread terminated while holding the arena lock makes every later allocation that needs the lock throw OwnerDiedError, never hang', async (t) => {
  t.timeout(120_000)
  // Catch the Worker of a daemon Thread when start() unrefs it, to terminate it from outside.
  const workers: Worker[] = []
  const unref = Worker.prototype.unref
  Worker.prototype.unref = function (this: Worker) {
    workers.push(this)
    return unref.call(this)
  }
  t.teardown(() => {
    Worker.prototype.unref = unref
    for (const w of workers) void w.terminate()
  })
  const flag = new Int32Array(new SharedArrayBuffer(4))
  const holder = new Thread({
    target: async (flag: Int32Array) => {
      const { arenaBuffer, THREAD_TOKEN } = await import('@tandem/sync/kit')
      // Take the arena lock as alloc() does, and never give it back.
      const words = new Int32Array(arenaBuffer())
      while (Atomics.compareExchange(words, 1, 0, THREAD_TOKEN) !== 0) Atomics.wait(words, 1, Atomics.load(words, 1), 10)
      Atomics.store(flag, 0, 1)
      Atomics.wait(flag, 0, 1, 120_000) // terminated here
    },
    args: [flag],
    daemon: true,
  })
  holder.start()
  while (Atomics.load(flag, 0) === 0) await new Promise((r) => setTimeout(r, 10))
  const words = new Int32Array(arenaBuffer())
  t.not(Atomics.load(words, LOCK), 0, 'the holder has the arena lock')
  // A worker blocked on the lock before the holder dies.
  const blocked = new Thread({
    target: async (out: Int32Array) => {
      const { alloc } = await import('@tandem/sync/kit')
      try {
        alloc(1 << 20)
        Atomics.store(out, 0, 1)
      } catch (err) {
        Atomics.store(out, 0, (err as { code?: string }).code === 'ERR_OWNER_DIED' ? 2 : 3)
      }
    },
    args: [flag],
    daemon: true,
  })
  Atomics.store(flag, 0, 0)
  blocked.start()
  await new Promise((r) => setTimeout(r, 300))
  await workers[0]!.terminate()
  // The main thread now blocks in an allocation that needs the lock: it must learn of the death.
  const err = t.throws(() => alloc(1 << 20))
  t.true(err instanceof OwnerDiedError, `main thread got ${String(err)}`)
  t.is((err as OwnerDiedError).code, 'ERR_OWNER_DIED')
  t.true(await blocked.joinAsync(60_000), 'the blocked worker finished')
  t.is(Atomics.load(flag, 0), 2, 'the blocked worker got OwnerDiedError (1: allocated, 3: another error)')
})
