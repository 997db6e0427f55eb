/**
 * Seed 003 (如果你想手动创建你自己的线程池, 通常可以使用一个Queue来轻松实现): a hand-made pool, a
 * fixed number of daemon threads started on one `Queue` and fed through it. The seed's workers
 * each take one `(client_sock, client_addr)` off the queue and serve that connection; its next
 * paragraph notes what ThreadPoolExecutor adds: getting the functions' return values back
 * (`a.result()`). This demo is the general form of the same pool: work items describe calls
 * (`fetchUrl(url)`, `fib(n)`, ...), each worker loops on `q.get()` and runs them, and the
 * results come back on a second Queue, which is the hand-made counterpart of `a.result()`.
 *
 * Python (seed 003):                               Tandem:
 *   def echo_client(q):                              export async function worker(q, results) {
 *       sock, client_addr = q.get()                    for (;;) {
 *       ... (serve the client)                             const item = q.get()
 *                                                          if (item === null) break
 *                                                          const [id, fn, args] = item
 *                                                          results.put([id, name, 'ok', await TASKS[fn](...args)])
 *   def echo_server(addr, nworkers):                 if (isMainThread) {
 *       q = Queue()                                    const q = new Queue<WorkItem | null>()
 *       for n in range(nworkers):                      for (let n = 0; n < NWORKERS; n++) {
 *           t = Thread(target=echo_client, args=(q,))      const t = new Thread({ target: moduleRef(import.meta.url, 'worker'), args: [q, results] })
 *           t.daemon = True                                t.daemon = true
 *           t.start()                                      t.start()
 *       ... q.put((client_sock, client_addr))          q.put([1, 'fetchUrl', [url]])
 * and, from the seed's ThreadPoolExecutor comparison:
 *   a = pool.submit(fetch_url, 'http://www.python.org')  q.put([1, 'fetchUrl', [`${base}/www.python.org`]])
 *   x = a.result()                                       const [id, by, status, x] = await results.getAsync()
 *
 * Differences:
 * - What goes on the queue. A socket cannot move into a Node worker thread, so the seed's
 *   `(client_sock, client_addr)` items cannot be twinned literally; and a function cannot be put
 *   on a Tandem queue either, because items are copied (structured clone), not referenced as in
 *   Python. The demo shows that `q.put([fetchUrl, ...])` throws TypeError `ERR_NOT_SHAREABLE`,
 *   then puts data naming the function instead: a task name that the worker maps to a function
 *   through the table `TASKS` in this module, or a module reference `moduleRef('node:zlib',
 *   'crc32')` that the worker resolves with `import()` (only its `module` and `name` survive the
 *   copy, which is all the worker needs).
 * - The worker loops on `q.get()` (the seed's `echo_client` serves one item and returns, so
 *   each of its threads is used once) and ends on a `null` sentinel, one per worker, as
 *   ThreadPoolExecutor does with `work_queue.put(None)` (seed 001, section 5.4); the main thread
 *   then joins the workers with a timeout. The seed's server runs forever.
 * - Results, and errors, travel back on a second Queue as `[id, worker name, 'ok' | 'error',
 *   value]`: an exception inside a task is caught by the worker and sent back, as a Future
 *   would carry it (`fetchUrl` of a missing page raises, like urllib's HTTPError; an unknown task
 *   name comes back as an error too).
 * - The worker is exported from this module and started as `moduleRef(import.meta.url,
 *   'worker')`, so that it can use `TASKS` and the task functions: the worker thread imports this
 *   module, and the process-level code runs only `if (isMainThread)`.
 * - 4 workers instead of 128: each Tandem thread is a worker with its own V8 isolate.
 * - `fetch_url` is spelled `fetchUrl`, as the demos spell Python names in TypeScript; it
 *   fetches from a local HTTP server on 127.0.0.1 started by the demo
 *   (www.python.org and www.pypy.org are never contacted). The main thread runs that server, so
 *   it waits with `getAsync`/`joinAsync`, which keep its event loop serving.
 * - The demo checks that every task's result came back exactly once and is right, and that
 *   every worker ended; it exits with code 1 otherwise.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { isMainThread } from 'node:worker_threads'
import { crc32 } from 'node:zlib'
import { Queue } from '@tandem/queue/queue'
import { moduleRef } from '@tandem/sync/task'
import { Thread, currentThread } from '@tandem/sync/thread'

// ---- the work: functions the pool can run ---------------------------------------------------

/** The seed's `fetch_url`: `urllib.request.urlopen(url).read()`; a 404 raises, like HTTPError. */
export async function fetchUrl(url: string): Promise<string> {
  const u = await fetch(url)
  const data = await u.text()
  if (!u.ok) throw new Error(`HTTP Error ${u.status}: ${u.statusText}`)
  return data
}

/** CPU-bound work (runs truly in parallel on the workers). */
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2)
}

/** What a task name on the queue stands for. */
export const TASKS: Record<string, (...args: any[]) => unknown> = { fetchUrl, fib }

/** A call described as data: a task name or a module reference, and the arguments. */
type WorkItem = [id: number, fn: string | { module: string; name: string }, args: unknown[]]
type Result = [id: number, by: string, status: 'ok' | 'error', value: unknown]

/** One pool thread: runs work items until it gets the `null` sentinel. */
export async function worker(q: Queue<WorkItem | null>, results: Queue<Result>): Promise<void> {
  const name = currentThread().name
  for (;;) {
    const item = q.get()
    if (item === null) break // the sentinel: no more work for this thread
    const [id, fn, args] = item
    try {
      const f = typeof fn === 'string' ? TASKS[fn] : ((await import(fn.module)) as Record<string, (typeof TASKS)[string]>)[fn.name]
      if (f === undefined) throw new Error(`unknown task ${JSON.stringify(fn)}`)
      results.put([id, name, 'ok', await f(...args)])
    } catch (e) {
      results.put([id, name, 'error', `${(e as Error).name}: ${(e as Error).message}`])
    }
  }
}

if (isMainThread) {
  const NWORKERS = 4 // the seed: 128

  // The local www.python.org / www.pypy.org.
  const server = createServer((req, res) => {
    if (req.url === '/missing') {
      res.statusCode = 404
      res.end('not here')
      return
    }
    setTimeout(() => res.end(`<html>${req.url}</html>`), 100)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  // Launch the pool workers
  const q = new Queue<WorkItem | null>()
  const results = new Queue<Result>()
  const threads: Thread[] = []
  for (let n = 0; n < NWORKERS; n++) {
    const t = new Thread({ target: moduleRef(import.meta.url, 'worker'), args: [q, results] })
    t.daemon = true
    t.start()
    threads.push(t)
  }

  // Python would put the function itself; a Tandem queue copies its items, and functions cannot be copied.
  try {
    q.put([0, fetchUrl, [`${base}/www.python.org`]] as never)
    console.log('q.put([fetchUrl, ...]): accepted (unexpected)')
  } catch (e) {
    const err = e as Error & { code?: string }
    console.log(`q.put([fetchUrl, ...]): ${err.name} ${err.code}; so the items name their function instead`)
  }

  // Submit work to the pool: [id, function name or module reference, args], and what each must return.
  const work: { item: WorkItem; call: string; expect: { status: 'ok' | 'error'; value: unknown } }[] = []
  const submit = (fn: WorkItem[1], args: unknown[], status: 'ok' | 'error', value: unknown) => {
    const id = work.length + 1
    const label = typeof fn === 'string' ? fn : `${fn.module}#${fn.name}`
    work.push({ item: [id, fn, args], call: `${label}(${args.map((a) => JSON.stringify(a)).join(', ')})`, expect: { status, value } })
  }
  submit('fetchUrl', [`${base}/www.python.org`], 'ok', '<html>/www.python.org</html>')
  submit('fetchUrl', [`${base}/www.pypy.org`], 'ok', '<html>/www.pypy.org</html>')
  for (const n of [30, 25, 31, 20, 28]) submit('fib', [n], 'ok', fib(n))
  submit('fetchUrl', [`${base}/missing`], 'error', 'Error: HTTP Error 404: Not Found')
  submit(moduleRef('node:zlib', 'crc32'), ['hello world'], 'ok', crc32('hello world'))
  submit('sleep', [1], 'error', 'Error: unknown task "sleep"')

  const startTime = performance.now()
  for (const w of work) {
    console.log(`put ${w.item[0]}: ${w.call.replace(base, '')}`)
    q.put(w.item)
  }

  // Get the results back (the hand-made a.result()).
  const got = new Map<number, Result>()
  let timedOut = false
  for (let i = 0; i < work.length; i++) {
    let r: Result
    try {
      r = await results.getAsync(30_000)
    } catch {
      timedOut = true
      break
    }
    const [id, by, status, value] = r
    console.log(`result ${id} from ${by}: ${status} ${JSON.stringify(value)}`)
    if (got.has(id)) console.log(`  (result ${id} came twice)`)
    got.set(id, r)
  }
  const elapsed = ((performance.now() - startTime) / 1000).toFixed(2)

  // Shut the pool down: one sentinel per worker, then join them.
  for (let n = 0; n < NWORKERS; n++) q.put(null)
  const ended = await Promise.all(threads.map((t) => t.joinAsync(30_000)))
  server.closeAllConnections()
  server.close()

  const wrong = work.filter((w) => {
    const r = got.get(w.item[0])
    return r === undefined || r[2] !== w.expect.status || JSON.stringify(r[3]) !== JSON.stringify(w.expect.value)
  })
  const workersUsed = new Set([...got.values()].map((r) => r[1])).size
  console.log(
    `${got.size} of ${work.length} results back in ${elapsed} s, ${work.length - wrong.length} as expected, from ${workersUsed} workers; ` +
      `${ended.filter(Boolean).length} of ${NWORKERS} workers ended on their sentinel; q.qsize() = ${q.qsize()}`,
  )
  console.log(
    'Node: the pool threads are workers that run the tasks in parallel (fib too, which the GIL would serialize in CPython); ' +
      'only data crosses the queue, so a task travels as a name or module reference, never as a function.',
  )
  if (timedOut || wrong.length > 0 || got.size !== work.length || !ended.every(Boolean) || q.qsize() !== 0) {
    console.error(
      `FAIL: expected ${work.length} right results and ${NWORKERS} ended workers; ` +
        `wrong or missing ids [${wrong.map((w) => w.item[0]).join(', ')}]${timedOut ? ', timed out waiting for results' : ''}, ` +
        `${ended.filter(Boolean).length} workers ended`,
    )
    process.exitCode = 1
  }
}
