/**
 * Seed 000, Executor与Future: `executor.submit(load_url, url)` on a ThreadPoolExecutor(max_workers=1)
 * returns a Future at once; `done()` tells without blocking whether the call has finished,
 * `result()` waits for its return value, and a callback added with `add_done_callback` runs
 * once the future is done, with the future as its argument ("Future类似于js中的Promise").
 *
 * Python:                                           Tandem:
 *   def load_url(url):                                async function loadUrl(url: string) {
 *       return requests.get(url)                          const r = await fetch(...url on the local server...)
 *                                                         return { url, status_code: r.status, text: await r.text() }
 *   url = 'http://httpbin.org'                        const url = 'http://httpbin.org'
 *   executor = ThreadPoolExecutor(max_workers=1)      const executor = new ThreadPoolExecutor({ maxWorkers: 1 })
 *   future = executor.submit(load_url, url)           const future = executor.submit(loadUrl, url)
 *   future.done()                                     future.done()
 *   future.add_done_callback(fn)                      future.addDoneCallback(fn)
 *   future.result()                                   await future   (or future.resultAsync())
 *
 * Differences:
 * - The seed shows only the submit line and describes `done()`, `result()` and
 *   `add_done_callback(fn)` in prose; the demo calls each of them and prints what it returns.
 * - httpbin.org is never contacted: the demo starts a local HTTP server on 127.0.0.1 that answers
 *   `/httpbin.org/` after 0.3 s. `loadUrl` gets the seed's URL and sends the request to that
 *   server, whose address it reads from `process.env.LOCAL_WEB` (a worker thread starts with a
 *   copy of the process environment); it is shipped to the worker by source text, so it cannot
 *   read a variable of this file.
 * - `requests.get` returns a Response object, which cannot cross to another thread; `loadUrl`
 *   returns the parts the demo prints (`url`, `status_code`, `text`), and the demo prints
 *   `<Response [200]>` as Python's repr would.
 * - The main thread runs the local server, so it waits with `await future` (the Future is a
 *   PromiseLike, so the seed's Promise comparison is literal here) instead of the blocking
 *   `result()`: blocking the main thread would stall the server the call is fetching from.
 *   Once the future is done, the blocking `result()` returns at once and the demo shows that.
 * - Python runs the callback in the pool thread that finished the call; Tandem runs it in the
 *   thread that added it (here the main thread) as soon as that thread sees the future done.
 * - Not in the seed: the demo checks that `done()` was false right after `submit` and true at
 *   the end, that the callback ran once, and that the status is 200; it exits with code 1
 *   otherwise. The executor and the server are shut down at the end.
 */
import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'
import { startLocalWeb, stopLocalWeb } from './_local-web.ts'

// ---- the local httpbin.org ---------------------------------------------------------------------

const server = await startLocalWeb({ 'httpbin.org': 300 })
console.log(`(local server for http://httpbin.org on ${process.env.LOCAL_WEB})`)

// ---- the seed ----------------------------------------------------------------------------------

async function loadUrl(url: string) {
  // requests.get(url), answered by the demo's local server
  const u = new URL(url)
  const r = await fetch(`${process.env.LOCAL_WEB}/${u.host}${u.pathname}`)
  return { url, status_code: r.status, text: await r.text() }
}

const url = 'http://httpbin.org'
const executor = new ThreadPoolExecutor({ maxWorkers: 1 })
const future = executor.submit(loadUrl, url)
const doneAtFirst = future.done()
console.log(`future.done(): ${doneAtFirst}`) // done()方法是不阻塞的

// 回调函数fn在future取消或者完成后运行,参数是future本身
let callbacks = 0
future.addDoneCallback((f) => {
  callbacks++
  console.log(`callback: ${f} status_code ${f.result().status_code}`)
})

// 使用result()方法可以获取任务的返回值,这个方法是阻塞的 (here: await, see the header)
const response = await future
console.log(`await future: <Response [${response.status_code}]> (${response.text.length} bytes from ${response.url})`)
console.log(`future.done(): ${future.done()}; future.result() now returns at once: <Response [${future.result().status_code}]>`)

await executor.shutdownAsync()
stopLocalWeb(server)

console.log('Node: the main thread serves the local httpbin.org, so it awaits the future; a blocking result() there would stall the very server the worker is fetching from.')
if (doneAtFirst || !future.done() || callbacks !== 1 || response.status_code !== 200) {
  console.error(`FAIL: expected done() false then true, one callback, status 200; got ${doneAtFirst}, ${future.done()}, ${callbacks}, ${response.status_code}`)
  process.exitCode = 1
}
