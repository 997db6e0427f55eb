/**
 * Seed 003 (解决方案): a TCP echo server that answers its clients through a
 * ThreadPoolExecutor(128), so that the number of threads serving clients has a ceiling.
 *
 * Python:                                              Tandem:
 *   def echo_client(sock, client_addr):                  function echoClient(sock: Socket, clientAddr) {
 *       print('Got connection from', client_addr)            console.log('Got connection from', clientAddr)
 *       while True:                                          sock.on('data', (msg) => ... each msg, in order:
 *           msg = sock.recv(65536)
 *           if not msg:                                          const back = await pool.submit(echo, msg)
 *               break                                            sock.write(back))
 *           sock.sendall(msg)                                sock.on('end', () => ... after the last echo:
 *       print('Client closed connection')                        console.log('Client closed connection')
 *       sock.close()                                             sock.end())
 *   def echo_server(addr):
 *       pool = ThreadPoolExecutor(128)                       const pool = new ThreadPoolExecutor({ maxWorkers: 4 })
 *       sock = socket(AF_INET, SOCK_STREAM)                  const server = createServer((sock) =>
 *       sock.bind(addr)                                          echoClient(sock, [sock.remoteAddress, sock.remotePort]))
 *       sock.listen(5)                                       server.listen(0, '127.0.0.1', 5)
 *       while True:                                          (each accepted connection calls echoClient)
 *           client_sock, client_addr = sock.accept()
 *           pool.submit(echo_client, client_sock, client_addr)
 *   echo_server(('',15000))
 *
 * Differences (an adaptation, not a literal twin):
 * - A socket cannot move into a Node worker thread, so the seed's `pool.submit(echo_client,
 *   client_sock, client_addr)` cannot be written: the connections stay on the main thread's event
 *   loop (`net.createServer`), which accepts them and reads and writes every socket. What the
 *   pool bounds is the per-connection work: each message received (`msg`, a chunk of at most
 *   64 KiB, like `recv(65536)`) is handed to a pool task, `echo(msg)`, and what the task returns
 *   is written back (`sendall`). A connection's messages are handled one after another, in
 *   order, as the seed's `while True` loop does; different connections run on the pool at once.
 *   The demo says so in its output.
 * - 4 workers instead of 128: each Tandem thread is a worker with its own V8 isolate (CPython's
 *   threads are cheap, and its GIL lets only one run Python at a time anyway). The pool starts
 *   them on demand and never more than 4, however many clients connect; the demo counts the
 *   workers that served.
 * - The seed listens on port 15000 on every interface and serves forever; the demo listens on a
 *   free port of 127.0.0.1, connects 6 clients itself (one sends a 200 KB message, which
 *   arrives as several chunks), checks that each gets back exactly the bytes it sent, then
 *   closes the server and shuts the pool down. It exits with code 1 if an echo is wrong.
 * - `echo` is shipped to the workers by source text; it imports `currentThread` itself to
 *   report which worker echoed (the demo counts them). The message arrives in the worker as a
 *   copy (a Buffer), and the copy it returns is what goes back to the client.
 */
import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { ThreadPoolExecutor } from '@tandem/futures/thread-pool-executor'

const NWORKERS = 4 // the seed: 128
const NCLIENTS = 6

/** The per-message work, on a pool thread: the echo (and which thread did it). */
async function echo(msg: Uint8Array) {
  const { currentThread } = await import('@tandem/sync/thread')
  return { msg, by: currentThread().name }
}

// ---- the server --------------------------------------------------------------------------------

const pool = new ThreadPoolExecutor({ maxWorkers: NWORKERS })
const workersSeen = new Set<string>()
let tasks = 0

function echoClient(sock: Socket, clientAddr: [string | undefined, number | undefined]) {
  // Handle a client connection
  console.log('Got connection from', clientAddr)
  let previous = Promise.resolve()
  sock.on('data', (msg) => {
    // Messages of one connection are echoed in order; each one is a pool task.
    previous = previous.then(async () => {
      tasks++
      const { msg: back, by } = await pool.submit(echo, msg)
      workersSeen.add(by)
      sock.write(back) // sock.sendall(msg)
    })
  })
  sock.on('end', () => {
    // recv() returned b'': the client is done sending.
    void previous.then(
      () => {
        console.log('Client closed connection')
        sock.end()
      },
      (err) => {
        console.log(`echo failed: ${err}`)
        sock.destroy()
      },
    )
  })
}

const server = createServer((sock) => echoClient(sock, [sock.remoteAddress, sock.remotePort]))
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', 5, resolve))
const { port } = server.address() as AddressInfo
console.log(`(echo server on 127.0.0.1:${port}; the seed: ('', 15000))`)

// ---- the clients (not in the seed) -------------------------------------------------------------

/** Connects, sends each message and waits for its echo, closes; true if every byte came back. */
async function client(id: number, messages: Buffer[]): Promise<boolean> {
  const sock = connect(port, '127.0.0.1')
  await once(sock, 'connect')
  const received: Buffer[] = []
  let receivedBytes = 0
  sock.on('data', (chunk: Buffer) => {
    received.push(chunk)
    receivedBytes += chunk.length
  })
  let sentBytes = 0
  for (const m of messages) {
    sock.write(m)
    sentBytes += m.length
    while (receivedBytes < sentBytes) await once(sock, 'data')
  }
  sock.end()
  await once(sock, 'close')
  const ok = Buffer.concat(received).equals(Buffer.concat(messages))
  console.log(`client ${id}: sent ${messages.length} messages (${sentBytes} bytes), echo ${ok ? 'intact' : 'WRONG'}`)
  return ok
}

const runs: Promise<boolean>[] = []
for (let id = 0; id < NCLIENTS; id++) {
  const messages = [1, 2, 3].map((k) => Buffer.from(`hello from client ${id}, message ${k}\n`))
  if (id === 0) messages.push(Buffer.alloc(200_000, 'x')) // arrives as several recv() chunks
  runs.push(client(id, messages))
}
const results = await Promise.all(runs)

server.close()
await pool.shutdownAsync()

console.log(
  `${results.filter(Boolean).length} of ${NCLIENTS} clients got their bytes back; ${tasks} received messages echoed by pool tasks ` +
    `on ${workersSeen.size} worker thread${workersSeen.size === 1 ? '' : 's'} (ThreadPoolExecutor(${NWORKERS}): never more than ${NWORKERS})`,
)
console.log(
  'Node: sockets cannot move into worker threads, so the connections stay on the main event loop (net.createServer) ' +
    'and the pool bounds the per-connection work: every received message is echoed by a task on a pool thread.',
)
if (!results.every(Boolean) || workersSeen.size > NWORKERS) {
  console.error(`FAIL: expected every echo intact and at most ${NWORKERS} workers; ${results.filter((r) => !r).length} wrong, ${workersSeen.size} workers`)
  process.exitCode = 1
}
