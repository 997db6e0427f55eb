/**
 * A thread blocked without a timeout on a future learns of the death of the pool worker it
 * depends on (terminated from outside, out of memory under `resourceLimits`), although the
 * Worker `exit` event that reports such a death needs that very thread's event loop:
 * - ThreadPoolExecutor: the main thread blocked in `future.result()`, `wait([f])` or
 *   `for (const f of asCompleted([f]))`;
 * - ThreadPool: the main thread blocked in `imap` (a `result()` per chunk), `apply`'s
 *   `AsyncResult.get()` (a `wait()`) or `imapUnordered` (an `asCompleted()`);
 * - a pool worker blocked in `result()` of a future of a pool it created (nested);
 * - another thread blocked in `result()` of a future of the main thread's pool while the main
 *   thread is blocked in something else (a Thread's `join()`);
 * - an initializer that runs out of memory, with `result()` blocked on the main thread.
 * Each gets BrokenThreadPool (class and code, naming the worker and the cause) instead of
 * hanging; queued futures fail too; later submits throw.
 *
 * Each scenario runs in a child process (fixtures/worker-death.ts) killed after a bound, so a
 * wait that hangs fails its test instead of stalling the suite. No timing is asserted.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { LONG } from './_helpers.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const CHILD = fileURLToPath(new URL('./fixtures/worker-death.ts', import.meta.url))

/** At most this many children at once (each starts workers that fill a 32 MB heap). */
const CHILDREN = 3
let running = 0
const queue: (() => void)[] = []

async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= CHILDREN) await new Promise<void>((resolve) => queue.push(resolve))
  running++
  try {
    return await fn()
  } finally {
    running--
    queue.shift()?.()
  }
}

interface Outcome {
  name?: string
  code?: string
  message?: string
  isBroken?: boolean
  returned?: unknown
}

interface Report {
  blocked: Outcome
  queued?: Outcome[]
  submit?: Outcome
  joined?: boolean
}

/** Runs a scenario in a child process bounded by LONG: its report (fails the test if there is none). */
async function scenario(t: ExecutionContext, name: string): Promise<Report> {
  const got = await slot(
    () =>
      new Promise<Report | string>((resolve) => {
        execFile(process.execPath, ['--import=tsx', '--conditions=@tandem/source', CHILD, name], { cwd: ROOT, timeout: LONG, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
          const line = stdout.trim().split('\n').pop() ?? ''
          if (err === null && line.startsWith('{')) return resolve(JSON.parse(line) as Report)
          const how = (err as { signal?: string } | null)?.signal === 'SIGKILL' ? `still blocked after ${LONG} ms (killed)` : `ended with ${err?.message ?? 'no report'}`
          resolve(`${name}: ${how}\nstdout: ${stdout}\nstderr: ${stderr}`)
        })
      }),
  )
  if (typeof got === 'string') t.fail(got) // throws
  return got as Report
}

function isBroken(t: ExecutionContext, o: Outcome | undefined, what: string, worker?: RegExp): void {
  t.is(o?.name, 'BrokenThreadPool', `${what}: ${JSON.stringify(o)}`)
  t.is(o?.code, 'ERR_BROKEN_THREAD_POOL', what)
  t.true(o?.isBroken, `${what} is an instance of BrokenThreadPool`)
  t.regex(o?.message ?? '', /terminated or ran out of memory/, `${what} gives the cause`)
  if (worker !== undefined) t.regex(o?.message ?? '', worker, `${what} names the worker`)
}

function checkReport(t: ExecutionContext, r: Report, worker: RegExp): void {
  isBroken(t, r.blocked, 'the blocked wait', worker)
  t.true((r.queued?.length ?? 0) > 0)
  for (const [i, q] of (r.queued ?? []).entries()) isBroken(t, q, `queued call ${i}`, worker)
  isBroken(t, r.submit, 'a later submit', worker)
}

const HOW = { kill: 'is terminated from outside', oom: 'runs out of memory' }

for (const [how, what] of Object.entries(HOW)) {
  for (const [waitWith, blocked] of [
    ['result', 'future.result()'],
    ['wait', 'wait([f])'],
    ['as-completed', 'for...of asCompleted([f])'],
  ]) {
    test(`ThreadPoolExecutor: the main thread blocked in ${blocked} gets BrokenThreadPool when the worker ${what}`, async (t) => {
      t.timeout(LONG * 4)
      checkReport(t, await scenario(t, `executor-${how}-${waitWith}`), /Doomed_0/)
    })
  }
  for (const [waitWith, blocked] of [
    ['result', 'imap (Future.result())'],
    ['wait', 'apply (AsyncResult.get(): wait())'],
    ['as-completed', 'imapUnordered (asCompleted())'],
  ]) {
    test(`ThreadPool: the main thread blocked in ${blocked} gets BrokenThreadPool when the worker ${what}`, async (t) => {
      t.timeout(LONG * 4)
      checkReport(t, await scenario(t, `pool-${how}-${waitWith}`), /ThreadPool-\d+_0/)
    })
  }
  test(`ThreadPoolExecutor: a pool worker blocked in result() of its own nested pool gets BrokenThreadPool when the nested worker ${what}`, async (t) => {
    t.timeout(LONG * 4)
    checkReport(t, await scenario(t, `nested-${how}`), /Inner_0/)
  })
  test(`ThreadPoolExecutor: another thread blocked in result() gets BrokenThreadPool when the worker ${what} while the pool's thread is blocked in a join`, async (t) => {
    t.timeout(LONG * 4)
    const r = await scenario(t, `foreign-${how}`)
    isBroken(t, r.blocked, 'the blocked result()')
    t.true(r.joined, 'the waiting thread ended')
  })
}

test('ThreadPoolExecutor: result() blocked on the main thread fails with BrokenThreadPool when the initializer runs out of memory', async (t) => {
  t.timeout(LONG * 4)
  checkReport(t, await scenario(t, 'initializer-oom'), /BadInit_0/)
})
