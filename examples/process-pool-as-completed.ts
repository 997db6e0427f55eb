/**
 * Seed 000, ProcessPoolExecutor: the as_completed example on a process pool, in a `main()` run
 * under `if __name__ == '__main__'` ("The __main__ module must be importable by worker
 * subprocesses ... 需要__main__模块"). Each future is yielded as its request finishes; the main
 * process checks `f.done()` and prints the status code.
 *
 * Python:                                                Tandem:
 *   def load_url(url):                                     export async function loadUrl(url: string) {
 *       return requests.get(url)                               const r = await fetch(...url on the local server...)
 *                                                              return { url, status: r.status, pid: process.pid }
 *   def main():                                            async function main() {
 *       with ProcessPoolExecutor() as executor:                await using executor = new ProcessPoolExecutor({ initializer, initargs })
 *           tasks = [executor.submit(load_url, url)            const tasks = URLS.map((url) => executor.submit(LOAD_URL, url))
 *                    for url in URLS]
 *           for f in as_completed(tasks):                      for await (const f of asCompleted(tasks)) {
 *               ret = f.done()                                     const ret = f.done()
 *               if ret:                                            if (ret) {
 *                   print f.result().status_code                       console.log(f.result().status)
 *   if __name__ == '__main__':                             if (isMainProcess) {
 *       main()                                                 await main()
 *
 * Differences:
 * - The main guard matters here as it does in CPython under spawn: a worker process is a fresh
 *   `node` (no fork) that finds `load_url` by importing this module (`LOAD_URL` is
 *   `moduleRef(import.meta.url, 'loadUrl')`), so the server and the pool run only in the main
 *   process, under `isMainProcess`.
 * - No public site is contacted: the main process serves `/httpbin.org/` after 0.3 s,
 *   `/example.com/` after 0.1 s and `/api.github.com/` after 0.2 s on 127.0.0.1; `loadUrl` sends
 *   the seed's URL to that server (https becomes http). The workers learn its address from the
 *   pool's `initializer`, which sets `process.env.LOCAL_WEB` in each worker process.
 * - A `requests` Response is pickled back to the parent in CPython; a fetch `Response` cannot
 *   cross processes, so `loadUrl` returns the parts used, `{ url, status, pid }`, and the demo
 *   prints `status` (the seed's `status_code`). The seed is Python 2 (`print f.result()...`).
 * - `ProcessPoolExecutor()` defaults to the CPU count of the machine, as in CPython (2 here, so
 *   one worker process runs two of the three requests one after the other).
 * - `with` is `await using` (shut down and waited for on leaving the block, without blocking the
 *   event loop), and the loop is `for await`: the main thread serves the requests, so it must not
 *   block in the synchronous `asCompleted`.
 * - Not in the seed: each line also names the URL and the worker's pid; the demo checks that each
 *   URL came back once, with status 200, from a worker process (not the main one), and that
 *   `f.done()` was true for each; it exits with code 1 otherwise (the order is printed, not
 *   checked).
 */
import { isMainThread } from 'node:worker_threads'
import { asCompleted } from '@tandem/futures/as-completed'
import { ProcessPoolExecutor } from '@tandem/futures/process-pool-executor'
import { currentProcess } from '@tandem/ipc/process'
import { moduleRef } from '@tandem/sync/task'
import { startLocalWeb, stopLocalWeb } from './_local-web.ts'

/** True in the process the demo was started as (a worker process imports this module). */
const isMainProcess = isMainThread && currentProcess().name === 'MainProcess'

const URLS = ['http://httpbin.org', 'http://example.com/', 'https://api.github.com/']

/** `load_url`, run in a worker process: requests.get(url), answered by the local server. */
export async function loadUrl(url: string): Promise<{ url: string; status: number; pid: number }> {
  const u = new URL(url)
  const r = await fetch(`${process.env.LOCAL_WEB}/${u.host}${u.pathname}`)
  await r.text()
  return { url, status: r.status, pid: process.pid }
}

/** `load_url` as the worker processes find it: an export of this module. */
const LOAD_URL = moduleRef<typeof loadUrl>(import.meta.url, 'loadUrl')

const seen: { url: string; status: number; pid: number; done: boolean }[] = []

async function main() {
  await using executor = new ProcessPoolExecutor({
    initializer: (base: string) => {
      process.env.LOCAL_WEB = base // the local server's address, in each worker process
    },
    initargs: [process.env.LOCAL_WEB],
  })
  console.log(`(ProcessPoolExecutor() with maxWorkers ${executor.maxWorkers}, the CPU count)`)
  const tasks = URLS.map((url) => executor.submit(LOAD_URL, url))
  for await (const f of asCompleted(tasks)) {
    const ret = f.done()
    if (ret) {
      console.log(f.result().status, `  (${f.result().url}, worker pid ${f.result().pid})`)
    }
    seen.push({ ...f.result(), done: ret })
  }
}

if (isMainProcess) {
  const DELAY_MS: Record<string, number> = { 'httpbin.org': 300, 'example.com': 100, 'api.github.com': 200 }
  const server = await startLocalWeb(DELAY_MS)
  console.log(`(local server for ${Object.keys(DELAY_MS).join(', ')} on ${process.env.LOCAL_WEB}, answering after ${Object.values(DELAY_MS).join(', ')} ms)`)
  await main()
  stopLocalWeb(server)

  const pids = new Set(seen.map((s) => s.pid))
  console.log(
    `Node: no fork: each worker process is a fresh node (main pid ${process.pid}; workers ${[...pids].join(', ')}) that imports this module to find loadUrl, ` +
      `as CPython's spawn imports __main__, hence the main-process guard; as_completed yielded ${seen.map((s) => new URL(s.url).host).join(', ')}.`,
  )
  const failures: string[] = []
  if (
    seen
      .map((s) => s.url)
      .sort()
      .join() !== [...URLS].sort().join()
  )
    failures.push(`expected each URL once; got ${seen.map((s) => s.url).join(', ')}`)
  for (const s of seen) {
    if (s.status !== 200) failures.push(`${s.url}: status ${s.status}`)
    if (!s.done) failures.push(`${s.url}: f.done() was false`)
    if (s.pid === process.pid) failures.push(`${s.url}: ran in the main process`)
  }
  if (failures.length > 0) {
    console.error(`FAIL: ${failures.join('; ')}`)
    process.exitCode = 1
  }
}
