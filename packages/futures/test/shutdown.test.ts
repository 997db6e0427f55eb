/**
 * ThreadPoolExecutor shutdown: CPython's `Lib/test/test_concurrent_futures/test_shutdown.py`
 * (ExecutorShutdownTest + ThreadPoolShutdownTest) ported to real worker threads, plus
 * shutdownAsync, `using` / `await using`, and shutdown from a done callback.
 *
 * The `assert_python_ok('-c', ...)` cases run as child processes (test/fixtures/futures-exit.ts),
 * as do the blocking `shutdown({ wait: true })` and sync `using` cases, so the test process never
 * blocks its main thread without a bound.
 *
 * What happens at process exit in Node: pool workers are daemon threads, but a pool with work
 * queued or running keeps the process alive until that work is done, and an idle pool does not
 * (CPython gets the same outcome from its atexit hook that joins the workers). So a script that
 * submits work and never shuts the pool down still runs it and then exits.
 *
 * Skipped:
 * - ProcessPoolShutdownTest and the fork/forkserver/spawn variants: no process pool here yet,
 *   and start methods have no Node equivalent.
 * - test_del_shutdown: JavaScript has no deterministic destructor, so dropping the last
 *   reference cannot shut a pool down; the Node-side equivalent (an idle pool does not keep the
 *   process alive) is the 'idle-pool' child test.
 * - test_hang_gh94440's SIGALRM: replaced by ava's t.timeout and the child's kill timeout.
 * - test_submit_after_interpreter_shutdown's atexit hook: Node has no hook that shuts pools down
 *   at exit; the child shuts down itself and submits from an 'exit' handler.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { Future } from '../src/future.ts'
import { ThreadPoolExecutor } from '../src/thread-pool-executor.ts'
import { CancelledError } from '../src/errors.ts'
import { wait } from '../src/wait.ts'
import { Event } from '../../sync/src/event.ts'
import { Semaphore } from '../../sync/src/semaphore.ts'
import { activeCount } from '../../sync/src/thread.ts'
import { Queue } from '../../queue/src/queue.ts'
import { sleep } from '../../sync/test/_helpers.ts'
import { type ChildResult, LONG, runChild, until } from './_helpers.ts'

const THREAD_URL = new URL('../../sync/src/thread.ts', import.meta.url).href

/** A pool shut down (queued work cancelled, gates opened) when the test ends. */
function newPool(t: ExecutionContext, maxWorkers: number, ...gates: Event[]): ThreadPoolExecutor {
  const pool = new ThreadPoolExecutor({ maxWorkers })
  t.teardown(() => {
    for (const g of gates) g.set()
    pool.shutdown({ wait: false, cancelFutures: true })
  })
  return pool
}

/** The child exited by itself, with code 0 and nothing on stderr. */
function exitedCleanly(t: ExecutionContext, r: ChildResult): void {
  t.is(r.signal, null, `killed after the timeout (it did not exit); stdout: ${r.stdout}`)
  t.is(r.code, 0, r.stderr)
  t.is(r.stderr, '')
}

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '')
}

/** The `code` of the error `what` throws (undefined if it does not throw). */
function codeOf(what: () => unknown): string | undefined {
  try {
    what()
    return undefined
  } catch (err) {
    return (err as { code?: string }).code
  }
}

// ---- submit after shutdown ----------------------------------------------------------------------

// CPython test_run_after_shutdown. Also guards the pool's workers leaving through the shutdown
// sentinel: their exit must not mark the pool broken (BrokenThreadPool instead of the shutdown error).
test.serial('ThreadPoolExecutor.submit() and map() after shutdown throw ERR_EXECUTOR_SHUT_DOWN, also once the workers have exited', async (t) => {
  t.timeout(LONG + 10_000)
  const fresh = new ThreadPoolExecutor({ maxWorkers: 5 })
  fresh.shutdown({ wait: false })
  t.is(
    codeOf(() => fresh.submit((a: number, b: number) => a ** b, 2, 5)),
    'ERR_EXECUTOR_SHUT_DOWN',
    'a pool that never started a worker',
  )

  for (const maxWorkers of [1, 5]) {
    const pool = new ThreadPoolExecutor({ maxWorkers })
    t.is(await pool.submit((a: number, b: number) => a ** b, 2, 5).resultAsync(LONG), 32)
    await pool.shutdownAsync()
    t.is(
      codeOf(() => pool.submit(() => 0)),
      'ERR_EXECUTOR_SHUT_DOWN',
      `maxWorkers ${maxWorkers}, right after shutdownAsync()`,
    )
    // The worker threads tear down after shutdownAsync() has seen their loops end: keep asking
    // for a while (2 s), until they are surely gone.
    const codes = new Set<string | undefined>()
    for (let i = 0; i < 40; i++) {
      await sleep(50)
      codes.add(codeOf(() => pool.submit(() => 0)))
      codes.add(codeOf(() => pool.map((x: number) => x, [1])))
    }
    t.deepEqual([...codes], ['ERR_EXECUTOR_SHUT_DOWN'], `maxWorkers ${maxWorkers}, later`)
  }
})

test('ThreadPoolExecutor.submit() after shutdown({ wait: false }) throws at once, while calls still run', async (t) => {
  t.timeout(LONG + 10_000)
  const gate = new Event()
  const pool = newPool(t, 2, gate)
  const running = pool.submit((g: Event) => (g.wait(60_000), 'ran'), gate)
  pool.shutdown({ wait: false })
  t.is(
    codeOf(() => pool.submit(() => 0)),
    'ERR_EXECUTOR_SHUT_DOWN',
  )
  gate.set()
  t.is(await running.resultAsync(LONG), 'ran')
})

// ---- shutdown twice, shutdownAsync -----------------------------------------------------------------

test('ThreadPoolExecutor.shutdown() twice, then shutdownAsync() twice: harmless, and the queued calls all run', async (t) => {
  t.timeout(LONG + 10_000)
  const pool = newPool(t, 2)
  const fs = Array.from({ length: 10 }, (_, i) =>
    pool.submit((i: number) => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5)
      return i
    }, i),
  )
  t.notThrows(() => pool.shutdown({ wait: false }))
  t.notThrows(() => pool.shutdown({ wait: false }))
  await pool.shutdownAsync()
  await pool.shutdownAsync({ wait: true, cancelFutures: true })
  t.true(
    fs.every((f) => f.done()),
    'shutdownAsync() waited for the queued calls',
  )
  t.deepEqual(
    fs.map((f) => f.result(0)),
    Array.from({ length: 10 }, (_, i) => i),
  )
})

// CPython's shutdown() drains and cancels the queue whenever cancel_futures is true, even when
// the executor is already shut down.
test('ThreadPoolExecutor.shutdown(): a second call with cancelFutures cancels the calls still queued', async (t) => {
  t.timeout(LONG + 10_000)
  const started = new Event()
  const gate = new Event()
  const pool = newPool(t, 1, gate)
  const first = pool.submit((s: Event, g: Event) => (s.set(), g.wait(60_000), 'first'), started, gate)
  t.true(await started.waitAsync(LONG))
  const queued = Array.from({ length: 3 }, (_, i) => pool.submit((x: number) => x, i))
  pool.shutdown({ wait: false })
  pool.shutdown({ wait: false, cancelFutures: true })
  t.deepEqual(
    queued.map((f) => f.cancelled()),
    [true, true, true],
  )
  gate.set()
  await pool.shutdownAsync()
  t.is(first.result(0), 'first')
})

test('ThreadPoolExecutor.shutdownAsync({ wait: false }) resolves at once while a call runs; the call still completes', async (t) => {
  t.timeout(LONG + 10_000)
  const started = new Event()
  const gate = new Event()
  const pool = newPool(t, 1, gate)
  const f = pool.submit((s: Event, g: Event) => (s.set(), g.wait(60_000), 'late'), started, gate)
  t.true(await started.waitAsync(LONG))
  await pool.shutdownAsync({ wait: false })
  t.false(f.done(), 'shutdownAsync({ wait: false }) did not wait for the running call')
  gate.set()
  t.is(await f.resultAsync(LONG), 'late')
})

test('ThreadPoolExecutor.shutdownAsync() waits for the running and queued calls, without blocking the event loop', async (t) => {
  t.timeout(LONG + 10_000)
  const gate = new Event()
  const pool = newPool(t, 2, gate)
  const fs = Array.from({ length: 6 }, (_, i) => pool.submit((g: Event, i: number) => (g.wait(60_000), i), gate, i))
  let finished = false
  const p = pool.shutdownAsync().then(() => (finished = true))
  let ticks = 0
  const timer = setInterval(() => ticks++, 5)
  await until(() => ticks >= 5, 'timers to run while shutdownAsync() waits')
  clearInterval(timer)
  t.false(finished)
  gate.set()
  await p
  t.deepEqual(
    fs.map((f) => f.result(0)),
    [0, 1, 2, 3, 4, 5],
  )
})

// ---- hangs -------------------------------------------------------------------------------------

// CPython test_hang_issue12364: shutdown with many short calls queued, then every result.
test('ThreadPoolExecutor.shutdownAsync() with 50 queued short calls: every result is there afterwards', async (t) => {
  t.timeout(LONG + 10_000)
  const pool = newPool(t, 5)
  const fs = Array.from({ length: 50 }, (_, i) =>
    pool.submit((i: number) => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
      return i
    }, i),
  )
  await pool.shutdownAsync()
  t.deepEqual(
    fs.map((f) => f.result(0)),
    Array.from({ length: 50 }, (_, i) => i),
  )
})

test('ThreadPoolExecutor.shutdown() blocking with 50 queued short calls returns with all done (child process)', async (t) => {
  t.timeout(LONG + 10_000)
  const r = await runChild('shutdown-wait-blocking')
  exitedCleanly(t, r)
  t.deepEqual(lines(r.stdout), ['done 50', 'sum 1225'])
})

// CPython test_hang_gh94440: a future submitted and cancelled right before shutdown(wait=True).
test('ThreadPoolExecutor.shutdownAsync() does not hang when a call was cancelled right before it', async (t) => {
  t.timeout(LONG)
  const pool = newPool(t, 1)
  t.is(await pool.submit(() => 0).resultAsync(LONG), 0)
  const f = pool.submit(() => 1)
  t.true(f.cancel())
  await pool.shutdownAsync({ wait: true })
  t.true(f.cancelled())
})

test('ThreadPoolExecutor.shutdown({ wait: true }) blocking does not hang when a call was cancelled right before it (child process)', async (t) => {
  t.timeout(LONG + 10_000)
  const r = await runChild('cancel-then-shutdown-blocking')
  exitedCleanly(t, r)
  t.deepEqual(lines(r.stdout), ['first 1', 'cancelled true', 'shut down'])
})

// ---- cancelFutures -----------------------------------------------------------------------------

// CPython test_cancel_futures. Calls are held at a gate so the split is certain: at most 5 run
// (one per worker), the rest are queued when shutdown cancels them.
test('ThreadPoolExecutor.shutdownAsync({ cancelFutures: true }) cancels the queued calls and lets the running ones finish', async (t) => {
  t.timeout(LONG + 10_000)
  const gate = new Event()
  const started = new Queue<number>()
  const pool = newPool(t, 5, gate)
  const fs = Array.from({ length: 50 }, (_, i) => pool.submit((g: Event, s: Queue<number>, i: number) => (s.put(i), g.wait(60_000), i), gate, started, i))
  t.is(typeof (await started.getAsync(LONG)), 'number', 'a call started')
  const p = pool.shutdownAsync({ cancelFutures: true })
  const cancelled = fs.filter((f) => f.cancelled())
  t.true(cancelled.length >= 45, `${cancelled.length} cancelled`)
  gate.set()
  await p
  const others = fs.filter((f) => !f.cancelled())
  t.true(others.length > 0)
  for (const f of others) {
    t.true(f.done())
    t.is(f.exception(0), undefined)
  }
  for (const f of cancelled) {
    const err = t.throws(() => f.result(0))
    t.true(err instanceof CancelledError)
  }
  // Tandem acknowledges these cancellations at once (no worker will take them), so wait() counts
  // them as done; CPython leaves them CANCELLED, which wait() never counts.
  t.is(wait(cancelled, { timeout: 0 }).notDone.size, 0)
})

// CPython test_cancel_futures_wait_false.
test('ThreadPoolExecutor.shutdown({ wait: false, cancelFutures: true }) at the end of a script: it exits, the call ran or was cancelled (child process)', async (t) => {
  t.timeout(LONG + 10_000)
  const r = await runChild('shutdown-no-wait-cancel')
  exitedCleanly(t, r)
  t.true(['apple', ''].includes(r.stdout.trim()), JSON.stringify(r.stdout))
})

// ---- threads ---------------------------------------------------------------------------------------

// CPython test_threads_terminate. Serial: activeCount() counts every Tandem thread of the process.
test.serial('ThreadPoolExecutor: three blocked calls run on three workers, and shutdown ends those threads', async (t) => {
  t.timeout(LONG + 10_000)
  const base = activeCount()
  const sem = new Semaphore(0)
  const started = new Queue<number>()
  const pool = newPool(t, 5)
  const fs = Array.from({ length: 3 }, () =>
    pool.submit(
      async (sem: Semaphore, started: Queue<number>) => {
        const id = (await import('node:worker_threads')).threadId
        started.put(id)
        sem.acquire({ timeout: 60_000 })
        return id
      },
      sem,
      started,
    ),
  )
  for (let i = 0; i < 3; i++) await started.getAsync(LONG)
  t.is(activeCount() - base, 3, 'one worker per blocked call')
  for (let i = 0; i < 3; i++) sem.release()
  const ids = await Promise.all(fs.map((f) => f.resultAsync(LONG)))
  t.is(new Set(ids).size, 3)
  await pool.shutdownAsync()
  t.is(activeCount(), base, 'the workers have ended')
})

// CPython test_shutdown_no_wait.
test.serial('ThreadPoolExecutor.shutdown({ wait: false }): map results are all computed, and the workers end', async (t) => {
  t.timeout(LONG + 10_000)
  const base = activeCount()
  const executor = new ThreadPoolExecutor({ maxWorkers: 5 })
  const xs = [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4]
  const res = executor.map((x: number) => Math.abs(x), xs)
  executor.shutdown({ wait: false })
  const got: number[] = []
  for await (const r of res) got.push(r)
  t.deepEqual(
    got,
    xs.map((x) => Math.abs(x)),
  )
  await until(() => activeCount() === base, 'the workers to end')
  t.pass()
})

// CPython test_thread_names_assigned / test_thread_names_default.
test('ThreadPoolExecutor worker threads are named <prefix>_<index>, by default ThreadPoolExecutor-<n>_<index>', async (t) => {
  t.timeout(LONG + 10_000)
  const name = async (url: string): Promise<string> => (await import(url)).currentThread().name
  const special = new ThreadPoolExecutor({ maxWorkers: 5, threadNamePrefix: 'SpecialPool' })
  const dflt = new ThreadPoolExecutor({ maxWorkers: 5 })
  t.teardown(() => {
    special.shutdown({ wait: false })
    dflt.shutdown({ wait: false })
  })
  const urls = Array.from({ length: 10 }, () => THREAD_URL)
  const a: string[] = []
  for await (const n of special.map(name, urls)) a.push(n)
  const b: string[] = []
  for await (const n of dflt.map(name, urls)) b.push(n)
  special.shutdown({ wait: false })
  dflt.shutdown({ wait: false })
  for (const n of a) t.regex(n, /^SpecialPool_[0-4]$/)
  for (const n of b) t.regex(n, /^ThreadPoolExecutor-\d+_[0-4]$/)
})

// ---- using / await using -----------------------------------------------------------------------

// CPython test_context_manager_shutdown.
test.serial('ThreadPoolExecutor: await using shuts the pool down at the end of the block; its workers end', async (t) => {
  t.timeout(LONG + 10_000)
  const base = activeCount()
  let executor: ThreadPoolExecutor | undefined
  {
    await using e = new ThreadPoolExecutor({ maxWorkers: 5 })
    executor = e
    const got: number[] = []
    for await (const r of e.map((x: number) => Math.abs(x), [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4])) got.push(r)
    t.deepEqual(got, [5, 4, 3, 2, 1, 0, 1, 2, 3, 4])
  }
  t.is(activeCount(), base, 'the workers have ended')
  t.throws(() => executor!.submit(() => 0))
})

test('ThreadPoolExecutor: await using waits for the calls submitted in the block, also when the block throws', async (t) => {
  t.timeout(LONG + 10_000)
  let fs: Future<number>[] = []
  let escaped: ThreadPoolExecutor | undefined
  const err = await t.throwsAsync(async () => {
    await using pool = new ThreadPoolExecutor({ maxWorkers: 2 })
    escaped = pool
    fs = Array.from({ length: 4 }, (_, i) =>
      pool.submit((i: number) => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
        return i * 10
      }, i),
    )
    throw new Error('block failed')
  })
  t.is(err!.message, 'block failed')
  t.true(
    fs.every((f) => f.done()),
    'disposal waited for the calls',
  )
  t.deepEqual(
    fs.map((f) => f.result(0)),
    [0, 10, 20, 30],
  )
  t.throws(() => escaped!.submit(() => 0))
})

test('ThreadPoolExecutor: using (sync dispose) shuts the pool down with wait at the end of the block (child process)', async (t) => {
  t.timeout(LONG + 10_000)
  const r = await runChild('using-block')
  exitedCleanly(t, r)
  t.deepEqual(lines(r.stdout), ['[5,4,3,2,1,0,1,2,3,4]', 'submit after the block throws'])
})

// ---- shutdown from a done callback -------------------------------------------------------------

// A task cannot reach its pool (the pool is not shareable), so "shutdown from inside" is done from
// a done callback: it runs on the pool's thread, from the event loop, while other calls are in
// flight. With wait: false it must return at once, and the queued calls still run.
test('ThreadPoolExecutor.shutdown({ wait: false }) from a done callback does not deadlock; the queued calls still run', async (t) => {
  t.timeout(LONG + 10_000)
  const gate = new Event()
  const pool = newPool(t, 2, gate)
  const first = pool.submit(() => 'first')
  const rest = Array.from({ length: 4 }, (_, i) => pool.submit((g: Event, i: number) => (g.wait(60_000), i), gate, i))
  let inCallback: string | undefined
  first.addDoneCallback(() => {
    pool.shutdown({ wait: false })
    inCallback = codeOf(() => pool.submit(() => 0))
  })
  await first.resultAsync(LONG)
  await until(() => inCallback !== undefined, 'the callback to run')
  t.is(inCallback, 'ERR_EXECUTOR_SHUT_DOWN')
  gate.set()
  t.deepEqual(await Promise.all(rest.map((f) => f.resultAsync(LONG))), [0, 1, 2, 3])
  await pool.shutdownAsync()
})

test('ThreadPoolExecutor.shutdown({ wait: false, cancelFutures: true }) from a done callback cancels the queued calls only', async (t) => {
  t.timeout(LONG + 10_000)
  const started = new Event()
  const gate = new Event()
  const pool = newPool(t, 1, gate)
  const blocker = pool.submit((s: Event, g: Event) => (s.set(), g.wait(60_000), 'blocker'), started, gate)
  t.true(await started.waitAsync(LONG))
  const queued = Array.from({ length: 3 }, (_, i) => pool.submit((x: number) => x, i))
  const trigger = new Future<void>()
  trigger.addDoneCallback(() => pool.shutdown({ wait: false, cancelFutures: true }))
  trigger.setResult() // callbacks of a future completed on this thread run at once
  t.deepEqual(
    queued.map((f) => f.cancelled()),
    [true, true, true],
  )
  t.false(blocker.done())
  gate.set()
  t.is(await blocker.resultAsync(LONG), 'blocker')
})

// ---- at process exit (CPython's assert_python_ok cases) ----------------------------------------------

// CPython test_interpreter_shutdown.
test('ThreadPoolExecutor: a script that submits work and never shuts the pool down runs the work, then exits (child process)', async (t) => {
  t.timeout(LONG + 10_000)
  const r = await runChild('no-shutdown')
  exitedCleanly(t, r)
  t.is(r.stdout.trim(), 'apple')
})

// CPython test_hang_gh83386.
test('ThreadPoolExecutor.shutdown({ wait: false }) at the end of a script: the running call finishes, then the process exits (child process)', async (t) => {
  t.timeout(LONG + 10_000)
  const r = await runChild('shutdown-no-wait')
  exitedCleanly(t, r)
  t.is(r.stdout.trim(), 'apple')
})

test('ThreadPoolExecutor: an idle pool that was never shut down does not keep the process alive (child process)', async (t) => {
  t.timeout(LONG + 10_000)
  const r = await runChild('idle-pool')
  exitedCleanly(t, r)
  t.is(r.stdout.trim(), '10,20,30')
})

// CPython test_submit_after_interpreter_shutdown, adapted (see the header).
test('ThreadPoolExecutor.submit() from a process exit handler after shutdown throws ERR_EXECUTOR_SHUT_DOWN (child process)', async (t) => {
  t.timeout(LONG + 10_000)
  const r = await runChild('submit-in-exit-handler')
  exitedCleanly(t, r)
  t.deepEqual(lines(r.stdout), ['result 42', 'exit handler: ERR_EXECUTOR_SHUT_DOWN'])
})
