/**
 * The local stand-in for the public sites the seeds fetch (httpbin.org, example.com,
 * api.github.com, ...): an HTTP server on 127.0.0.1 that answers `GET /<host>/<path>` with a small
 * HTML page titled `<host>`, after that host's delay. No public site is ever contacted.
 *
 * Not a demo (the runner skips files starting with `_`). Functions shipped to worker threads by
 * source cannot import it; they read the server's address from `process.env.LOCAL_WEB`, which
 * {@link startLocalWeb} sets (a worker thread starts with a copy of the process environment).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * Starts the server and sets `process.env.LOCAL_WEB` to its base URL.
 * @param delays ms before answering, per host (0 for a host not listed)
 * @param onAnswer called after each answer, with the host
 */
export async function startLocalWeb(delays: Record<string, number>, onAnswer?: (host: string) => void): Promise<Server> {
  const server = createServer((req, res) => {
    const host = (req.url ?? '/').split('/')[1] ?? ''
    setTimeout(() => {
      res.setHeader('content-type', 'text/html')
      res.end(`<html><head><title>${host}</title></head><body>${req.url}</body></html>`)
      onAnswer?.(host)
    }, delays[host] ?? 0)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  process.env.LOCAL_WEB = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return server
}

/** Stops the server, closing kept-alive connections too. */
export function stopLocalWeb(server: Server): void {
  server.closeAllConnections()
  server.close()
}
