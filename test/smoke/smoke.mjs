// Smoke test of the compiled packages (dist/), as users consume them: plain node, no tsx, no
// @tandem/source condition, package names only. Run by test/smoke/run.mjs after `pnpm build`.
// Exits with code 1 (and says why) if anything is off.
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { Lock } from '@tandem/sync/lock'
import { Thread, getIdent } from '@tandem/sync/thread'
import { moduleRef } from '@tandem/sync/task'
import { Queue } from '@tandem/queue'
import { QueueEmpty } from '@tandem/queue/errors'
import { ThreadPoolExecutor } from '@tandem/futures'

// Resolved through "exports" with the default condition: dist/, never src/.
for (const name of ['@tandem/sync/thread', '@tandem/queue', '@tandem/futures']) {
  const file = fileURLToPath(import.meta.resolve(name))
  assert.match(file, /[\\/]dist[\\/][^\\/]+\.js$/, `${name} resolves to ${file}, not to dist/`)
}

// A thread: two workers add under one lock.
const lock = new Lock()
const total = new Int32Array(new SharedArrayBuffer(4))
const add = (lock, total, n) => {
  for (let i = 0; i < n; i++) {
    lock.acquire()
    total[0]++
    lock.release()
  }
}
const threads = [1, 2].map(() => new Thread({ target: add, args: [lock, total, 10_000] }))
for (const t of threads) t.start()
for (const t of threads) assert.equal(await t.joinAsync(30_000), true, 'thread finished')
assert.equal(total[0], 20_000)

// A queue: a worker consumer, items put on the main thread, join() for task_done.
const q = new Queue(4)
const seen = new Int32Array(new SharedArrayBuffer(4))
const consumer = new Thread({
  target: (q, seen) => {
    for (;;) {
      const item = q.get()
      if (item === null) break
      Atomics.add(seen, 0, item.n)
      q.taskDone()
    }
    q.taskDone()
  },
  args: [q, seen],
  daemon: true,
})
consumer.start()
for (let i = 1; i <= 10; i++) await q.putAsync({ n: i })
await q.putAsync(null)
await q.joinAsync()
assert.equal(seen[0], 55)
assert.throws(
  () => q.getNowait(),
  (err) => err instanceof QueueEmpty && err.code === 'ERR_QUEUE_EMPTY',
)
assert.equal(await consumer.joinAsync(30_000), true)

// An executor: a source-shipped task, a module-reference task, and an error crossing threads.
// (Plain JavaScript on Node 20 has no `using`: shut down in finally.)
const pool = new ThreadPoolExecutor({ maxWorkers: 2 })
try {
  assert.equal(await pool.submit((a, b) => a + b, 20, 22), 42)
  const crunch = moduleRef(new URL('./jobs.mjs', import.meta.url), 'crunch')
  const out = await pool.submit(crunch, 100)
  assert.equal(out.sum, 5050)
  assert.notEqual(out.ident, getIdent(), 'the module task ran on a worker')
  const results = []
  for await (const sq of pool.map((x) => x * x, [1, 2, 3])) results.push(sq)
  assert.deepEqual(results, [1, 4, 9])
  const failing = pool.submit(() => {
    throw new RangeError('boom')
  })
  await assert.rejects(
    async () => await failing,
    (err) => err instanceof RangeError && err.message === 'boom',
  )
} finally {
  await pool.shutdownAsync()
}

console.log('smoke: dist/ works with plain node (thread, queue, executor, module-reference task)')
