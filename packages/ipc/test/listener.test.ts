/**
 * Listener/Client (src/connection.ts, src/internal/sockets.ts) end to end, after the handshake
 * (which auth.test.ts attacks on its own): right and wrong key, messages both ways, EOF when the
 * peer closes, a Listener closed under a waiting accept, and hostile input: 10,000 random frames
 * and blobs thrown at a live Listener (with and without a key), after which it still serves a
 * correct client and memory has not grown without bound. Ports the spirit of CPython's
 * `_TestListener`, `_TestListenerClient` and `_TestAuthentication`.
 */
import test from 'ava'
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { Client, ClientAsync, Listener } from '../src/connection.ts'
import { AuthenticationError, ConnectionClosedError, EOFError } from '../src/errors.ts'
import { Thread } from '@tandem/sync/thread'

const LOCAL = { host: '127.0.0.1', port: 0 }

test('a client and the listener exchange messages both ways; closing one end gives the other EOF', async (t) => {
  t.timeout(60_000)
  using listener = new Listener({ address: LOCAL, authkey: 'k' })
  const client = Client(listener.address, { authkey: 'k' })
  const server = listener.accept()
  client.send({ n: 1, s: 'x'.repeat(10_000) })
  t.deepEqual(server.recv(), { n: 1, s: 'x'.repeat(10_000) })
  server.sendBytes(new Uint8Array([1, 2, 3]))
  t.deepEqual([...(await client.recvBytesAsync())], [1, 2, 3])
  server.close()
  t.throws(() => client.recv(), { instanceOf: EOFError })
  client.close()
})

test('a wrong key is refused with AuthenticationError; the listener goes on serving', async (t) => {
  t.timeout(60_000)
  using listener = new Listener({ authkey: new TextEncoder().encode('secret') })
  const err = t.throws(() => Client(listener.address, { authkey: 'not the secret' }))
  t.true(err instanceof AuthenticationError)
  t.is((err as AuthenticationError).code, 'ERR_AUTHENTICATION')
  // A client without the key is not answered: its connection breaks before any message.
  const keyless = await ClientAsync(listener.address)
  await t.throwsAsync(keyless.recvAsync({ timeout: 30_000 }))
  const good = Client(listener.address, { authkey: 'secret' })
  const accepted = listener.accept()
  good.send('ok')
  t.is(accepted.recv(), 'ok')
})

test('a listener nobody accepts from keeps at most `backlog` connections; the clients beyond it are disconnected', async (t) => {
  t.timeout(60_000)
  using listener = new Listener({ address: LOCAL, backlog: 2 })
  const clients = []
  for (let i = 0; i < 5; i++) {
    clients.push(await ClientAsync(listener.address))
    // Let the I/O thread queue (or refuse) this one before the next comes.
    await new Promise((r) => setTimeout(r, 100))
  }
  const first = await listener.acceptAsync({ timeout: 30_000 })
  const second = await listener.acceptAsync({ timeout: 30_000 })
  const third = await t.throwsAsync(listener.acceptAsync({ timeout: 300 }))
  t.is((third as { code?: string }).code, 'ERR_TIMEOUT', 'only two connections waited')
  for (const c of clients.slice(2)) await t.throwsAsync(c.recvAsync({ timeout: 30_000 }), { instanceOf: EOFError }, 'refused clients see EOF')
  // The two that waited work, in the order they came.
  clients[0]!.send('one')
  clients[1]!.send('two')
  t.is(await first.recvAsync({ timeout: 30_000 }), 'one')
  t.is(await second.recvAsync({ timeout: 30_000 }), 'two')
  t.throws(() => new Listener({ backlog: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  for (const c of [...clients, first, second]) c.close()
})

test('worker threads that use the I/O thread (Client) and end, one after another, leave it working (each thread adopts its own reference to its command queue)', async (t) => {
  t.timeout(120_000)
  using listener = new Listener({ address: LOCAL })
  const errors: string[] = []
  const hook = Thread.excepthook
  Thread.excepthook = (args) => void errors.push(`${args.thread.name}: ${(args.excValue as Error)?.message}`)
  t.teardown(() => {
    Thread.excepthook = hook
  })
  for (let i = 0; i < 4; i++) {
    const th = new Thread({
      target: async (address: unknown, i: number) => {
        const { Client } = await import('@tandem/ipc/connection')
        const c = Client(address as { host: string; port: number })
        c.send(`thread ${i}`)
        c.close()
      },
      args: [listener.address, i],
    })
    th.start()
    const server = await listener.acceptAsync({ timeout: 30_000 })
    t.is(await server.recvAsync({ timeout: 30_000 }), `thread ${i}`)
    t.true(await th.joinAsync(30_000))
    server.close()
  }
  t.deepEqual(errors, [], 'every thread ended cleanly (no double release at its exit)')
  const client = await ClientAsync(listener.address)
  const server = await listener.acceptAsync({ timeout: 30_000 })
  client.send('main still served')
  t.is(await server.recvAsync({ timeout: 30_000 }), 'main still served')
  client.close()
  server.close()
})

test('closing a listener fails a waiting acceptAsync; acceptAsync times out', async (t) => {
  t.timeout(60_000)
  const listener = new Listener({ address: LOCAL })
  const timed = await t.throwsAsync(listener.acceptAsync({ timeout: 50 }))
  t.is((timed as { code?: string }).code, 'ERR_TIMEOUT')
  const waiting = listener.acceptAsync()
  listener.close()
  await t.throwsAsync(waiting, { instanceOf: ConnectionClosedError })
  t.throws(() => listener.accept(), { instanceOf: ConnectionClosedError })
})

function throwBytes(port: number, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect({ host: '127.0.0.1', port })
    s.on('error', () => resolve())
    s.on('close', () => resolve())
    s.on('connect', () => {
      s.end(bytes)
      setTimeout(() => s.destroy(), 200)
    })
  })
}

/** A random frame: a plausible header (sometimes a huge length) and random bytes. */
function randomFrame(i: number): Uint8Array {
  const body = randomBytes(i % 7 === 0 ? 0 : (i * 37) % 300)
  if (i % 3 === 0) return body // pure garbage
  const h = Buffer.alloc(24)
  h.writeUInt32BE(i % 5 === 0 ? 0xffffffff - i : i % 11 === 0 ? 2 ** 28 : body.length, 0)
  h[4] = i % 4 === 0 ? 12 : i % 256
  h[5] = i % 16
  h.writeInt32BE(i % 2 === 0 ? -i : body.length, 20)
  return Buffer.concat([h, body])
}

for (const authkey of [undefined, 'fuzz-key']) {
  test(`10,000 random frames at a listener ${authkey ? 'with' : 'without'} a key: no crash, bounded memory, still serving`, async (t) => {
    t.timeout(240_000)
    using listener = new Listener({ address: LOCAL, authkey })
    const port = (listener.address as { port: number }).port
    const before = process.memoryUsage().rss
    for (let i = 0; i < 10_000; i += 50) {
      const batch: Promise<void>[] = []
      for (let j = i; j < i + 50; j++) batch.push(throwBytes(port, randomFrame(j)))
      await Promise.all(batch)
    }
    // Without a key, some random connections were accepted (and then broke): drain them.
    if (authkey === undefined) {
      for (;;) {
        let conn
        try {
          conn = await listener.acceptAsync({ timeout: 200 })
        } catch {
          break
        }
        try {
          conn.recv()
        } catch {}
        conn.close()
      }
    }
    const grown = (process.memoryUsage().rss - before) / 2 ** 20
    t.true(grown < 300, `rss grew by ${grown.toFixed(0)} MiB`)
    const client = await ClientAsync(listener.address, { authkey })
    const server = await listener.acceptAsync({ timeout: 30_000 })
    client.send('still here')
    t.is(await server.recvAsync({ timeout: 30_000 }), 'still here')
    client.close()
    server.close()
  })
}
