/**
 * Seed 003 (使用 ThreadPoolExecutor 相对于手动实现的一个好处): what a ThreadPoolExecutor adds to a
 * hand-made pool is getting the functions' return values back. Two pages are fetched through a
 * ThreadPoolExecutor(10), and `a.result()` blocks until its call has returned the page
 * ("a.result() 操作会阻塞进程直到对应的函数执行完成并返回一个结果").
 *
 * Python:                                           Tandem:
 *   def fetch_url(url):                               async function fetchUrl(url: string) {
 *       u = urllib.request.urlopen(url)                   const u = await fetch(...url on the local server...)
 *       data = u.read()                                   const data = new Uint8Array(await u.arrayBuffer())
 *       return data                                       return data
 *   pool = ThreadPoolExecutor(10)                     const pool = new ThreadPoolExecutor({ maxWorkers: 10 })
 *   # Submit work to the pool
 *   a = pool.submit(fetch_url, 'http://www.python.org')  const a = pool.submit(fetchUrl, 'http://www.python.org')
 *   b = pool.submit(fetch_url, 'http://www.pypy.org')    const b = pool.submit(fetchUrl, 'http://www.pypy.org')
 *   # Get the results back
 *   x = a.result()                                    const x = a.result()
 *   y = b.result()                                    const y = b.result()
 *
 * Differences:
 * - www.python.org and www.pypy.org are never contacted: the demo runs a local HTTP server on
 *   127.0.0.1 (answering after 0.3 s) in a Tandem Thread of its own, `serveWeb`. Because the
 *   server has its own thread and event loop, the main thread may block in `a.result()` exactly
 *   as the seed does; a server on the main thread would stall while the main thread blocks.
 *   The server thread tells its port through a shared Int32Array and stops when the main
 *   thread sets an Event.
 * - `fetchUrl` gets the seed's URL and sends the request to that server, whose address it reads
 *   from `process.env.LOCAL_WEB` (a worker thread starts with a copy of the process
 *   environment); it is shipped to the workers by source text, so it cannot read a variable of
 *   this file. Python's `bytes` is a Uint8Array.
 * - `fetch` is async, so `fetchUrl` is an async function; the pool awaits it in the worker, and
 *   the future holds the bytes it returns.
 * - The pool starts its workers on demand: ThreadPoolExecutor(10) starts two here, one per call.
 * - Not in the seed: the demo prints the size and title of x and y, checks that each is the page
 *   the server sent for its URL (by its title and size), and exits with code 1 otherwise; it
 *   shuts the pool and the server thread down at the end (the seed's script just ends).
 */
import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'
import { Event } from '@tandem/sync/event'
import { Thread } from '@tandem/sync/thread'

/** The local www.python.org and www.pypy.org, in a thread of its own (shipped by source). */
async function serveWeb(port: Int32Array, stop: Event) {
  const { createServer } = await import('node:http')
  const page = (host: string) => `<!doctype html><html><head><title>Welcome to ${host}</title></head><body>${'<p>local copy</p>'.repeat(50)}</body></html>`
  const server = createServer((req, res) => {
    const host = (req.url ?? '/').split('/')[1] ?? ''
    setTimeout(() => {
      res.setHeader('content-type', 'text/html')
      res.end(page(host))
    }, 300)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  Atomics.store(port, 0, (server.address() as { port: number }).port) // publish the port, then wake the main thread
  Atomics.notify(port, 0)
  await stop.waitAsync()
  server.closeAllConnections()
  server.close()
}

const port = new Int32Array(new SharedArrayBuffer(4))
const stop = new Event()
const web = new Thread({ target: serveWeb, args: [port, stop], name: 'local-web' })
web.start()
Atomics.wait(port, 0, 0, 30_000) // until serveWeb has stored its port
process.env.LOCAL_WEB = `http://127.0.0.1:${Atomics.load(port, 0)}`
console.log(`(local server for www.python.org and www.pypy.org on ${process.env.LOCAL_WEB}, in thread ${web.name})`)

// ---- the seed ----------------------------------------------------------------------------------

async function fetchUrl(url: string) {
  // urllib.request.urlopen(url).read(), answered by the demo's local server
  const u = await fetch(`${process.env.LOCAL_WEB}/${new URL(url).host}`)
  const data = new Uint8Array(await u.arrayBuffer())
  return data
}

const pool = new ThreadPoolExecutor({ maxWorkers: 10 })
// Submit work to the pool
const a = pool.submit(fetchUrl, 'http://www.python.org')
const b = pool.submit(fetchUrl, 'http://www.pypy.org')

// Get the results back
const x = a.result()
const y = b.result()

const decoder = new TextDecoder()
const title = (data: Uint8Array) => /<title>(.*?)<\/title>/.exec(decoder.decode(data))?.[1]
console.log(`x = a.result(): ${x.length} bytes, <title>${title(x)}</title>`)
console.log(`y = b.result(): ${y.length} bytes, <title>${title(y)}</title>`)

pool.shutdown() // the seed leaves this to the end of the script
stop.set()
const stopped = web.join(30_000)

console.log(
  'Node: a.result() blocked the main thread as in the seed; that is possible because the local server runs in a Tandem thread of its own, ' +
    "while the two fetches ran on the pool's workers.",
)
const ok = title(x) === 'Welcome to www.python.org' && title(y) === 'Welcome to www.pypy.org' && x.length === y.length - 'pypy'.length + 'python'.length
if (!ok || !stopped) {
  console.error(`FAIL: expected the two pages back and the server thread stopped; pages ${ok ? 'right' : 'wrong'}, server ${stopped ? 'stopped' : 'still running'}`)
  process.exitCode = 1
}
