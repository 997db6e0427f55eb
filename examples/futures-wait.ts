/**
 * Seed 000, wait: three requests submitted to a ThreadPoolExecutor(max_workers=3); each call
 * prints its URL when done, and `wait(tasks, return_when=ALL_COMPLETED)` holds the main thread
 * until all three are, so 'all_cone' (sic) prints last.
 *
 * Python:                                               Tandem:
 *   def load_url(url):                                    async function loadUrl(url: string) {
 *       requests.get(url)                                     await fetch(...url on the local server...)
 *       print url                                             console.log(url)
 *   with ThreadPoolExecutor(max_workers=3) as executor:   {
 *                                                             await using executor = new ThreadPoolExecutor({ maxWorkers: 3 })
 *       tasks = [executor.submit(load_url, url)               const tasks = URLS.map((url) => executor.submit(loadUrl, url))
 *                for url in URLS]
 *       wait(tasks, return_when=ALL_COMPLETED)                await waitAsync(tasks, { returnWhen: ALL_COMPLETED })
 *       print 'all_cone'                                      console.log('all_cone')
 *
 * Differences:
 * - No public site is contacted: the demo starts a local HTTP server on 127.0.0.1 that answers
 *   `/httpbin.org/` after 0.3 s, `/example.com/` after 0.1 s and `/api.github.com/` after
 *   0.2 s. `loadUrl` gets the seed's URL and sends the request to that server, whose address
 *   it reads from `process.env.LOCAL_WEB` (a worker thread starts with a copy of the process
 *   environment); it is shipped to the workers by source text, so it cannot read a variable of
 *   this file. https becomes http on the local server. Its `console.log(url)` runs in the
 *   worker thread, as Python's `print url` runs in the pool thread.
 * - The seed is Python 2 (`print url`), and prints 'all_cone' (for "all done"); kept as is.
 * - Keyword arguments become an options object: `return_when=ALL_COMPLETED` is
 *   `{ returnWhen: ALL_COMPLETED }`. The main thread runs the local server, so it waits with
 *   `waitAsync` (a blocking `wait` there would stall the server the calls are fetching from).
 * - `with ... as executor` is `await using executor` in a block (shut down and waited for on
 *   leaving it, without blocking the event loop).
 * - Not in the seed: the demo prints the sizes of the `done` and `not_done` sets that wait
 *   returns, checks that all three futures were done when 'all_cone' printed, and exits with
 *   code 1 otherwise.
 */
import { ALL_COMPLETED, waitAsync } from '@tandem/futures/wait'
import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'
import { startLocalWeb, stopLocalWeb } from './_local-web.ts'

// ---- the local httpbin.org, example.com and api.github.com ---------------------------------------

const DELAY_MS: Record<string, number> = { 'httpbin.org': 300, 'example.com': 100, 'api.github.com': 200 }
const server = await startLocalWeb(DELAY_MS)
console.log(`(local server for ${Object.keys(DELAY_MS).join(', ')} on ${process.env.LOCAL_WEB}, answering after ${Object.values(DELAY_MS).join(', ')} ms)`)

// ---- the seed ----------------------------------------------------------------------------------

const URLS = ['http://httpbin.org', 'http://example.com/', 'https://api.github.com/']

async function loadUrl(url: string) {
  // requests.get(url), answered by the demo's local server
  const u = new URL(url)
  const r = await fetch(`${process.env.LOCAL_WEB}/${u.host}${u.pathname}`)
  await r.text()
  console.log(url)
}

let result: { done: number; notDone: number; allDone: boolean } | undefined
{
  await using executor = new ThreadPoolExecutor({ maxWorkers: 3 })
  const tasks = URLS.map((url) => executor.submit(loadUrl, url))
  const { done, notDone } = await waitAsync(tasks, { returnWhen: ALL_COMPLETED })
  console.log('all_cone')
  result = { done: done.size, notDone: notDone.size, allDone: tasks.every((f) => f.done() && f.exception() === undefined) }
  console.log(`(done: ${done.size} futures, not_done: ${notDone.size})`)
}
stopLocalWeb(server)

console.log('Node: the URLs are printed by the worker threads as their requests finish; the main thread serves HTTP and awaits waitAsync, then prints all_cone.')
if (result === undefined || result.done !== URLS.length || result.notDone !== 0 || !result.allDone) {
  console.error(`FAIL: expected all ${URLS.length} futures done (without error) at all_cone; got ${JSON.stringify(result)}`)
  process.exitCode = 1
}
