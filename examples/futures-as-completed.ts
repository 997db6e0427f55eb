/**
 * Seed 000, as_completed: three requests submitted to a ThreadPoolExecutor(max_workers=3);
 * `as_completed(tasks)` yields each future as soon as its call is done, so the results print in
 * the order the requests finish, not the order of URLS ("先完成的任务会先通知主线程").
 *
 * Python:                                               Tandem:
 *   def load_url(url):                                    async function loadUrl(url: string) {
 *       return url, requests.get(url).status_code             const r = await fetch(...url on the local server...)
 *                                                             return [url, r.status]
 *   with ThreadPoolExecutor(max_workers=3) as executor:   {
 *                                                             await using executor = new ThreadPoolExecutor({ maxWorkers: 3 })
 *       tasks = [executor.submit(load_url, url)               const tasks = URLS.map((url) => executor.submit(loadUrl, url))
 *                for url in URLS]
 *       for future in as_completed(tasks):                    for await (const future of asCompleted(tasks)) {
 *           print future.result()                                 console.log(future.result())
 *
 * Differences:
 * - No public site is contacted: the demo starts a local HTTP server on 127.0.0.1 that answers
 *   `/httpbin.org/` after 0.3 s, `/example.com/` after 0.1 s and `/api.github.com/` after
 *   0.2 s. `loadUrl` gets the seed's URL and sends the request to that server, whose address
 *   it reads from `process.env.LOCAL_WEB` (a worker thread starts with a copy of the process
 *   environment); it is shipped to the workers by source text, so it cannot read a variable of
 *   this file. https becomes http on the local server.
 * - The seed is Python 2 (`print future.result()`); the tuple `(url, status_code)` is an array
 *   `[url, status]` and prints as one.
 * - `with ... as executor` is `await using executor` in a block (shut down and waited for on
 *   leaving it, without blocking the event loop).
 * - The main thread runs the local server, so it iterates with `for await`; the blocking
 *   `for (const future of asCompleted(tasks))` would stall the server the calls are fetching
 *   from. Once a future has been yielded it is done, so `future.result()` returns at once.
 * - Not in the seed: the demo checks that each future came exactly once with status 200 and
 *   prints the order; it exits with code 1 otherwise (the order is not checked: it follows the
 *   server's delays as a rule, example.com, api.github.com, httpbin.org).
 */
import { asCompleted } from '@tandem/futures/as-completed'
import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'
import { startLocalWeb, stopLocalWeb } from './_local-web.ts'

// ---- the local httpbin.org, example.com and api.github.com ---------------------------------------

const DELAY_MS: Record<string, number> = { 'httpbin.org': 300, 'example.com': 100, 'api.github.com': 200 }
const server = await startLocalWeb(DELAY_MS)
console.log(`(local server for ${Object.keys(DELAY_MS).join(', ')} on ${process.env.LOCAL_WEB}, answering after ${Object.values(DELAY_MS).join(', ')} ms)`)

// ---- the seed ----------------------------------------------------------------------------------

const URLS = ['http://httpbin.org', 'http://example.com/', 'https://api.github.com/']

async function loadUrl(url: string): Promise<[string, number]> {
  // url, requests.get(url).status_code, answered by the demo's local server
  const u = new URL(url)
  const r = await fetch(`${process.env.LOCAL_WEB}/${u.host}${u.pathname}`)
  await r.text()
  return [url, r.status]
}

const order: [string, number][] = []
{
  await using executor = new ThreadPoolExecutor({ maxWorkers: 3 })
  const tasks = URLS.map((url) => executor.submit(loadUrl, url))
  for await (const future of asCompleted(tasks)) {
    console.log(future.result())
    order.push(future.result())
  }
}
stopLocalWeb(server)

console.log(`Node: the requests ran at once on three worker threads; as_completed yielded them as they finished: ${order.map(([u]) => new URL(u).host).join(', ')}.`)
if (
  order
    .map(([u]) => u)
    .sort()
    .join() !== [...URLS].sort().join() ||
  order.some(([, s]) => s !== 200)
) {
  console.error(`FAIL: expected each URL once with status 200; got ${JSON.stringify(order)}`)
  process.exitCode = 1
}
