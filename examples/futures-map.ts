/**
 * Seed 000, map: `executor.map(load_url, URLS)` inside `with ThreadPoolExecutor(max_workers=3)`,
 * zipped with URLS to print each page's status code. The results come in the order of URLS
 * ("返回结果与序列结果的顺序是一致的"), whichever request finishes first.
 *
 * Python:                                               Tandem:
 *   URLS = ['http://httpbin.org', 'http://example.com/',  const URLS = ['http://httpbin.org', 'http://example.com/',
 *           'https://api.github.com/']                                'https://api.github.com/']
 *   def load_url(url):                                    async function loadUrl(url: string) {
 *       return requests.get(url)                              const r = await fetch(...url on the local server...)
 *                                                             return { url, status_code: r.status }
 *   with ThreadPoolExecutor(max_workers=3) as executor:   {
 *                                                             await using executor = new ThreadPoolExecutor({ maxWorkers: 3 })
 *       for url, data in zip(URLS,                            let i = 0
 *                            executor.map(load_url, URLS)):   for await (const data of executor.map(loadUrl, URLS)) {
 *                                                                 const url = URLS[i++]
 *           print('%r page status_code %s'                        console.log(`'${url}' page status_code ${data.status_code}`)
 *                 % (url, data.status_code))
 *
 * Differences:
 * - No public site is contacted: the demo starts a local HTTP server on 127.0.0.1 that answers
 *   `/httpbin.org/` after 0.3 s, `/example.com/` after 0.1 s and `/api.github.com/` after
 *   0.2 s (so the calls finish in another order than URLS), and prints a line for each answer.
 *   `loadUrl` gets the seed's URL and sends the request to that server, whose address it reads
 *   from `process.env.LOCAL_WEB` (a worker thread starts with a copy of the process
 *   environment); it is shipped to the workers by source text, so it cannot read a variable of
 *   this file. https becomes http on the local server.
 * - `requests.get` returns a Response, which cannot cross to another thread; `loadUrl` returns
 *   the part the demo prints (`status_code`) and the URL.
 * - `with ... as executor` is `await using executor` in a block: leaving the block shuts the
 *   executor down and waits for it, as `__exit__` does, without blocking the event loop.
 * - The main thread runs the local server, so it iterates the results with `for await`; the
 *   blocking `for...of` would stall the server the calls are fetching from. Python's `zip`
 *   becomes an index into URLS.
 * - Not in the seed: the demo checks that the results came in the order of URLS although the
 *   server answered in another order, all with status 200, and exits with code 1 otherwise.
 */
import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'
import { startLocalWeb, stopLocalWeb } from './_local-web.ts'

// ---- the local httpbin.org, example.com and api.github.com ---------------------------------------

const DELAY_MS: Record<string, number> = { 'httpbin.org': 300, 'example.com': 100, 'api.github.com': 200 }
const answered: string[] = []
const server = await startLocalWeb(DELAY_MS, (host) => {
  answered.push(host)
  console.log(`  (local server: answered ${host} after ${DELAY_MS[host] ?? 0} ms)`)
})
console.log(`(local server for ${Object.keys(DELAY_MS).join(', ')} on ${process.env.LOCAL_WEB})`)

// ---- the seed ----------------------------------------------------------------------------------

const URLS = ['http://httpbin.org', 'http://example.com/', 'https://api.github.com/']

async function loadUrl(url: string) {
  // requests.get(url), answered by the demo's local server
  const u = new URL(url)
  const r = await fetch(`${process.env.LOCAL_WEB}/${u.host}${u.pathname}`)
  await r.text()
  return { url, status_code: r.status }
}

const got: { url: string; status_code: number }[] = []
{
  await using executor = new ThreadPoolExecutor({ maxWorkers: 3 })
  let i = 0
  for await (const data of executor.map(loadUrl, URLS)) {
    const url = URLS[i++]
    console.log(`'${url}' page status_code ${data.status_code}`)
    got.push(data)
  }
}
stopLocalWeb(server)

console.log(
  `Node: the three requests ran at once on three worker threads and were answered in the order ${answered.join(', ')}; ` +
    'map still yields the results in the order of URLS. The main thread serves HTTP, so it iterates with for await.',
)
if (got.map((d) => d.url).join() !== URLS.join() || got.some((d) => d.status_code !== 200)) {
  console.error(`FAIL: expected the results in the order of URLS, each 200; got ${got.map((d) => `${d.url} ${d.status_code}`).join(', ')}`)
  process.exitCode = 1
}
