/**
 * The authkey handshake of Listener/Client (src/internal/auth.ts), over real TCP (127.0.0.1) and
 * Unix sockets: both handshakes against each other (right and wrong key, bytes sent right after
 * the handshake), each against a hand-written hostile peer (garbage, a 0xFFFFFFFF length, a
 * truncated frame, an early close, silence, an impostor server, a legacy MD5 challenge), and
 * 10,000 random blobs thrown at serverHandshake (no crash, every one refused, bounded memory).
 * Also `toAuthkey`'s validation. Ported from the behaviour of CPython's
 * `multiprocessing.connection.deliver_challenge`/`answer_challenge`.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava'
import { createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { type AddressInfo, createServer, type Server, type Socket, connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AuthenticationError } from '../src/errors.ts'
import { clientHandshake, MAX_FRAME, serverHandshake, toAuthkey } from '../src/internal/auth.ts'

interface Ctx {
  servers: Server[]
  sockets: Socket[]
}
const test = anyTest as TestFn<Ctx>
type T = ExecutionContext<Ctx>
type Kind = 'tcp' | 'unix'
const KINDS: Kind[] = ['tcp', 'unix']

const KEY = toAuthkey('the right key')!
const OTHER_KEY = toAuthkey('another key')!

const tmp = mkdtempSync(join(tmpdir(), 'tandem-auth-'))
let sockNo = 0

test.beforeEach((t) => {
  t.context = { servers: [], sockets: [] }
})
test.afterEach.always(async (t) => {
  for (const s of t.context.sockets) s.destroy()
  await Promise.all(t.context.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
})
test.after.always(() => {
  rmSync(tmp, { recursive: true, force: true })
})

// ---- helpers ---------------------------------------------------------------------------------

interface Served {
  /** A new client socket to the server (tracked for teardown). */
  connect(): Socket
  /** The next accepted socket, in accept order. */
  accepted(): Promise<Socket>
}

/**
 * A listening server on `kind`; every socket is destroyed and the server closed in teardown.
 * `onSocket` runs synchronously on each accepted socket (to start a handshake at once). With
 * `track` false, sockets are not kept for teardown (the fuzz test opens 10,000: each closes itself).
 */
async function serve(t: T, kind: Kind, onSocket?: (s: Socket) => void, track = true): Promise<Served> {
  const ready: Socket[] = []
  const waiters: ((s: Socket) => void)[] = []
  const server = createServer((s) => {
    if (track) t.context.sockets.push(s)
    onSocket?.(s)
    const w = waiters.shift()
    if (w) w(s)
    else ready.push(s)
  })
  t.context.servers.push(server)
  const path = join(tmp, `s${++sockNo}.sock`)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    if (kind === 'tcp') server.listen({ host: '127.0.0.1', port: 0 }, resolve)
    else server.listen(path, resolve)
  })
  return {
    connect() {
      const s = kind === 'tcp' ? netConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port }) : netConnect(path)
      if (track) t.context.sockets.push(s)
      return s
    },
    accepted() {
      const s = ready.shift()
      return s ? Promise.resolve(s) : new Promise((resolve) => waiters.push(resolve))
    },
  }
}

function frame(payload: Uint8Array | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : Buffer.from(payload)
  const out = Buffer.alloc(4 + body.length)
  out.writeUInt32BE(body.length, 0)
  body.copy(out, 4)
  return out
}

/** Reads length-prefixed frames from a raw (test-side) socket; `end` resolves pending reads with null. */
function frameReader(s: Socket): () => Promise<Buffer | null> {
  let buf = Buffer.alloc(0)
  let ended = false
  let wake: (() => void) | undefined
  s.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c])
    wake?.()
  })
  s.on('close', () => {
    ended = true
    wake?.()
  })
  s.on('error', () => {})
  return async () => {
    for (;;) {
      if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const n = buf.readUInt32BE(0)
        const body = buf.subarray(4, 4 + n)
        buf = buf.subarray(4 + n)
        return body
      }
      if (ended) return null
      await new Promise<void>((r) => (wake = r))
      wake = undefined
    }
  }
}

/** Resolves once `s` is connected. */
function connected(s: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!s.connecting) resolve()
    s.once('connect', resolve)
    s.once('error', reject)
  })
}

/** Resolves once `s` has closed. */
function closed(s: Socket): Promise<void> {
  return new Promise((resolve) => (s.closed ? resolve() : s.once('close', () => resolve())))
}

/** The rejection of `p`, which must be an AuthenticationError with code ERR_AUTHENTICATION. */
async function authFailure(t: T, p: Promise<unknown>, what: string): Promise<AuthenticationError> {
  const err = await t.throwsAsync(p, { instanceOf: AuthenticationError }, what)
  t.is((err as AuthenticationError | undefined)?.code, 'ERR_AUTHENTICATION', what)
  return err as AuthenticationError
}

/** The response a correct peer sends to `challengeFrame` (a `#CHALLENGE#{sha256}...` body). */
function respond(key: Uint8Array, challengeFrame: Buffer): Buffer {
  const message = challengeFrame.subarray('#CHALLENGE#'.length)
  return Buffer.concat([Buffer.from('{sha256}'), createHmac('sha256', key).update(message).digest()])
}

/** Collects the bytes `s` delivers after being resumed, until `n` bytes have arrived. */
function readBytes(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c])
      if (buf.length >= n) {
        s.off('data', onData)
        resolve(buf)
      }
    }
    s.on('data', onData)
    s.once('error', reject)
    s.once('close', () => reject(new Error(`closed after ${buf.length} of ${n} bytes`)))
    s.resume()
  })
}

// ---- toAuthkey -------------------------------------------------------------------------------

test('toAuthkey: undefined/null mean no authentication; a string gives its UTF-8 bytes; a Uint8Array is copied', (t) => {
  t.is(toAuthkey(undefined), undefined)
  t.is(toAuthkey(null), undefined)
  t.deepEqual(toAuthkey('clé'), new Uint8Array([0x63, 0x6c, 0xc3, 0xa9]))
  const mine = new Uint8Array([1, 2, 3])
  const key = toAuthkey(mine)!
  t.deepEqual(key, new Uint8Array([1, 2, 3]))
  mine[0] = 9
  t.is(key[0], 1, 'the key is a private copy')
  t.deepEqual(toAuthkey(Buffer.from('abc')), new Uint8Array([0x61, 0x62, 0x63]))
})

test('toAuthkey: other types throw TypeError ERR_INVALID_ARG_TYPE; an empty key throws RangeError ERR_OUT_OF_RANGE', (t) => {
  for (const bad of [42, true, {}, [1, 2], new ArrayBuffer(4), new Uint16Array(2), Symbol('k'), () => 0]) {
    const err = t.throws(() => toAuthkey(bad), { instanceOf: TypeError })
    t.is((err as { code?: string } | undefined)?.code, 'ERR_INVALID_ARG_TYPE')
  }
  for (const empty of ['', new Uint8Array(0), Buffer.alloc(0)]) {
    const err = t.throws(() => toAuthkey(empty), { instanceOf: RangeError })
    t.is((err as { code?: string } | undefined)?.code, 'ERR_OUT_OF_RANGE')
  }
})

test('serverHandshake/clientHandshake: a bad authkey or timeoutMs rejects with TypeError/RangeError', async (t) => {
  const { connect } = await serve(t, 'tcp')
  const s = connect()
  s.on('error', () => {})
  for (const [key, opts, cls, code] of [
    [new Uint8Array(0), undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['text' as unknown as Uint8Array, undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [KEY, { timeoutMs: '5' as unknown as number }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [KEY, { timeoutMs: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [KEY, { timeoutMs: Number.NaN }, RangeError, 'ERR_OUT_OF_RANGE'],
  ] as const) {
    for (const hs of [serverHandshake, clientHandshake]) {
      const err = await t.throwsAsync(hs(s, key, opts), { instanceOf: cls })
      t.is((err as { code?: string } | undefined)?.code, code)
    }
  }
})

// ---- both sides ------------------------------------------------------------------------------

for (const kind of KINDS) {
  test(`serverHandshake + clientHandshake (${kind}): the right key authenticates both ways, and messages sent right after are not lost`, async (t) => {
    t.timeout(30_000)
    const { connect, accepted } = await serve(t, kind)
    const client = connect()
    const server = await accepted()
    const EVENTS = ['data', 'end', 'close', 'error', 'readable'] as const
    const counts = (s: Socket): number[] => EVENTS.map((e) => s.listenerCount(e))
    const baseline = [counts(server), counts(client)]
    await Promise.all([serverHandshake(server, KEY), clientHandshake(client, KEY)])
    // Left paused, with every listener the handshake added removed (net.Socket keeps its own 'end' one).
    t.true(server.isPaused())
    t.true(client.isPaused())
    t.deepEqual([counts(server), counts(client)], baseline)
    t.false(server.destroyed)
    t.false(client.destroyed)
    server.on('error', () => {})
    client.on('error', () => {})
    client.write(frame('hello from the client'))
    server.write(frame('hello from the server'))
    t.deepEqual(await readBytes(server, 4 + 21), frame('hello from the client'))
    t.deepEqual(await readBytes(client, 4 + 21), frame('hello from the server'))
  })

  test(`serverHandshake (${kind}): bytes that arrive in the same chunk as the final #WELCOME# stay readable (unshift)`, async (t) => {
    t.timeout(30_000)
    const { connect, accepted } = await serve(t, kind)
    const raw = connect()
    const read = frameReader(raw)
    const server = await accepted()
    const done = serverHandshake(server, KEY)
    raw.write(frame(respond(KEY, (await read())!)))
    t.deepEqual(await read(), Buffer.from('#WELCOME#'))
    const nonce = Buffer.concat([Buffer.from('{sha256}'), randomBytes(40)])
    raw.write(frame(Buffer.concat([Buffer.from('#CHALLENGE#'), nonce])))
    const answer = (await read())!
    t.deepEqual(answer, Buffer.concat([Buffer.from('{sha256}'), createHmac('sha256', KEY).update(nonce).digest()]))
    // One write: #WELCOME# and the first two application messages, so the handshake's read takes them all.
    const after = Buffer.concat([frame('first message'), frame('second message')])
    raw.write(Buffer.concat([frame('#WELCOME#'), after]))
    await done
    t.true(server.isPaused())
    server.on('error', () => {})
    t.deepEqual(await readBytes(server, after.length), after)
  })

  test(`serverHandshake + clientHandshake (${kind}): a wrong key fails on both sides with ERR_AUTHENTICATION`, async (t) => {
    t.timeout(30_000)
    const { connect, accepted } = await serve(t, kind)
    const client = connect()
    const server = await accepted()
    const [s, c] = await Promise.allSettled([serverHandshake(server, KEY), clientHandshake(client, OTHER_KEY)])
    await authFailure(t, s.status === 'rejected' ? Promise.reject(s.reason) : Promise.resolve(), 'server side')
    const clientErr = await authFailure(t, c.status === 'rejected' ? Promise.reject(c.reason) : Promise.resolve(), 'client side')
    t.regex(clientErr.message, /rejected/, 'the client read the #FAILURE# reply')
    t.true(server.destroyed)
    t.true(client.destroyed)
  })
}

// ---- hostile peers ---------------------------------------------------------------------------

test('clientHandshake: a server that accepts any digest but cannot answer the client challenge is refused (mutual authentication)', async (t) => {
  t.timeout(30_000)
  const { connect, accepted } = await serve(t, 'tcp')
  const client = connect()
  const raw = await accepted()
  const read = frameReader(raw)
  const done = clientHandshake(client, KEY)
  raw.write(frame(Buffer.concat([Buffer.from('#CHALLENGE#{sha256}'), randomBytes(40)])))
  t.true((await read())!.subarray(0, 8).equals(Buffer.from('{sha256}')))
  raw.write(frame('#WELCOME#')) // without checking: an impostor
  const challenge = (await read())!
  t.true(challenge.subarray(0, 19).equals(Buffer.from('#CHALLENGE#{sha256}')))
  t.true(challenge.length >= 19 + 32, 'a nonce of at least 32 bytes')
  raw.write(frame(Buffer.concat([Buffer.from('{sha256}'), randomBytes(32)])))
  await authFailure(t, done, 'client')
  t.deepEqual(await read(), Buffer.from('#FAILURE#'), 'the client tells the impostor')
  t.true(client.destroyed)
})

test('clientHandshake: a legacy 20-byte (HMAC-MD5) challenge or an unknown digest is refused', async (t) => {
  t.timeout(30_000)
  for (const body of [
    Buffer.concat([Buffer.from('#CHALLENGE#'), randomBytes(20)]),
    Buffer.concat([Buffer.from('#CHALLENGE#{md5}'), randomBytes(40)]),
    Buffer.concat([Buffer.from('#CHALLENGE#{sha256}'), randomBytes(8)]),
    Buffer.from('#CHALLENGE#'),
  ]) {
    const { connect, accepted } = await serve(t, 'tcp')
    const client = connect()
    const raw = await accepted()
    raw.on('error', () => {})
    const done = clientHandshake(client, KEY)
    raw.write(frame(body))
    await authFailure(t, done, body.toString('latin1', 0, 16))
    t.true(client.destroyed)
  }
})

for (const kind of KINDS) {
  test(`serverHandshake (${kind}): garbage before the handshake (an HTTP request, a short junk frame) is refused`, async (t) => {
    t.timeout(30_000)
    for (const garbage of [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), frame('not a response'), frame(''), frame('#WELCOME#')]) {
      const { connect, accepted } = await serve(t, kind)
      const raw = connect()
      raw.on('error', () => {})
      raw.on('data', () => {})
      const server = await accepted()
      const done = serverHandshake(server, KEY, { timeoutMs: 120_000 })
      raw.write(garbage) // and keep the connection open: the refusal must not wait for more
      await authFailure(t, done, JSON.stringify(garbage.toString('latin1')))
      t.true(server.destroyed)
    }
  })
}

test('serverHandshake/clientHandshake: a 0xFFFFFFFF length prefix is refused at once, before any body arrives', async (t) => {
  t.timeout(30_000)
  // Server side: the peer sends only the 4-byte prefix and keeps the connection open.
  {
    const { connect, accepted } = await serve(t, 'tcp')
    const raw = connect()
    raw.on('error', () => {})
    raw.on('data', () => {})
    const server = await accepted()
    const done = serverHandshake(server, KEY, { timeoutMs: 120_000 })
    raw.write(Buffer.from([0xff, 0xff, 0xff, 0xff]))
    const err = await authFailure(t, done, 'server')
    t.regex(err.message, /4294967295 bytes/)
    t.true(server.destroyed)
  }
  // Client side, from a hostile server; and the first length over the limit.
  for (const length of [0xffffffff, MAX_FRAME + 1]) {
    const { connect, accepted } = await serve(t, 'unix')
    const client = connect()
    const raw = await accepted()
    raw.on('error', () => {})
    const done = clientHandshake(client, KEY, { timeoutMs: 120_000 })
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32BE(length, 0)
    raw.write(prefix)
    const err = await authFailure(t, done, `client, ${length}`)
    t.regex(err.message, new RegExp(`${length} bytes`))
    t.true(client.destroyed)
  }
})

test('serverHandshake: a peer that closes mid-handshake (after the challenge, or mid-frame) is refused', async (t) => {
  t.timeout(30_000)
  for (const how of ['end after the challenge', 'destroy after the challenge', 'end mid-frame'] as const) {
    const { connect, accepted } = await serve(t, 'tcp')
    const raw = connect()
    const read = frameReader(raw)
    const server = await accepted()
    const done = serverHandshake(server, KEY, { timeoutMs: 120_000 })
    await read()
    if (how === 'end after the challenge') raw.end()
    else if (how === 'destroy after the challenge') raw.destroy()
    else raw.end(frame(respond(KEY, Buffer.from('#CHALLENGE#x'))).subarray(0, 20)) // a truncated frame
    await authFailure(t, done, how)
    t.true(server.destroyed)
  }
})

test('clientHandshake: a server that sends a truncated challenge and closes is refused', async (t) => {
  t.timeout(30_000)
  const { connect, accepted } = await serve(t, 'unix')
  const client = connect()
  const raw = await accepted()
  raw.on('error', () => {})
  const done = clientHandshake(client, KEY, { timeoutMs: 120_000 })
  raw.end(frame(Buffer.concat([Buffer.from('#CHALLENGE#{sha256}'), randomBytes(40)])).subarray(0, 30))
  await authFailure(t, done, 'client')
  t.true(client.destroyed)
})

test('clientHandshake: a connection that fails (nothing listening) rejects with AuthenticationError and the socket error as cause', async (t) => {
  t.timeout(30_000)
  const s = netConnect(join(tmp, 'nobody-listens.sock'))
  t.context.sockets.push(s)
  const err = await authFailure(t, clientHandshake(s, KEY), 'client')
  t.is((err.cause as { code?: string } | undefined)?.code, 'ENOENT')
})

for (const kind of KINDS) {
  test(`serverHandshake/clientHandshake (${kind}): a silent peer is refused after timeoutMs and the socket destroyed`, async (t) => {
    t.timeout(30_000)
    const { connect, accepted } = await serve(t, kind)
    // A silent client.
    const raw = connect()
    raw.on('error', () => {})
    raw.on('data', () => {})
    const server = await accepted()
    const err = await authFailure(t, serverHandshake(server, KEY, { timeoutMs: 200 }), 'server')
    t.regex(err.message, /200 ms/)
    t.true(server.destroyed)
    await closed(raw) // the peer sees the close
    // A silent server.
    const client = connect()
    const quiet = await accepted()
    quiet.on('error', () => {})
    await connected(client)
    const err2 = await authFailure(t, clientHandshake(client, KEY, { timeoutMs: 200 }), 'client')
    t.regex(err2.message, /200 ms/)
    t.true(client.destroyed)
  })
}

// ---- fuzz ------------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a failing blob can be reproduced. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** One hostile byte blob: random bytes, random frames, near-miss protocol frames, oversized or truncated ones. */
function blob(rand: () => number): Buffer {
  const int = (n: number): number => Math.floor(rand() * n)
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)))
  const parts: Buffer[] = []
  for (let i = 0, n = 1 + int(3); i < n; i++) {
    switch (int(7)) {
      case 0:
        parts.push(bytes(int(600)))
        break
      case 1:
        parts.push(frame(bytes(int(MAX_FRAME + 1))))
        break
      case 2:
        parts.push(frame(Buffer.concat([Buffer.from('{sha256}'), bytes(32)]))) // well-formed, wrong digest
        break
      case 3: {
        const head = Buffer.alloc(4)
        head.writeUInt32BE(MAX_FRAME + 1 + int(0xffffffff - MAX_FRAME), 0)
        parts.push(head, bytes(int(2000)))
        break
      }
      case 4:
        parts.push(frame(bytes(1 + int(MAX_FRAME))).subarray(0, int(MAX_FRAME)))
        break
      case 5:
        parts.push(frame(['#WELCOME#', '#FAILURE#', '#CHALLENGE#', '#CHALLENGE#{sha256}', '{', '{sha256', '{}'][int(7)]!))
        break
      default:
        parts.push(frame(Buffer.concat([Buffer.from('#CHALLENGE#{sha256}'), bytes(int(80))])))
    }
  }
  return Buffer.concat(parts)
}

test('serverHandshake: 10,000 random blobs over fresh Unix connections are all refused, without a crash or unbounded memory', async (t) => {
  t.timeout(300_000)
  const TOTAL = 10_000
  /** Connections in flight at once. */
  const WINDOW = 100
  const rand = prng(0x7a3d)
  const outcomes: Promise<void>[] = []
  let refused = 0
  let otherErrors = 0
  const { connect } = await serve(
    t,
    'unix',
    (s) => {
      // No listener of the test on `s`: a stray 'error' after the handshake would crash the run.
      outcomes.push(
        serverHandshake(s, KEY, { timeoutMs: 2_000 }).then(
          () => {},
          (err: unknown) => {
            if (err instanceof AuthenticationError && err.code === 'ERR_AUTHENTICATION') refused++
            else otherErrors++
          },
        ),
      )
    },
    false,
  )

  /** One hostile peer: sends a blob, then ends, resets, or (1 in 10) stays until the server gives up. */
  const peer = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const data = blob(rand)
      const r = rand()
      const s = connect()
      s.on('error', () => {})
      s.on('data', () => {})
      s.on('close', () => resolve())
      s.once('connect', () => {
        if (r < 0.45) s.end(data)
        else if (r < 0.9) s.write(data, () => s.destroy())
        else s.write(data) // the server refuses, or times out after 2 s, and closes
      })
    })
  /** Runs `n` peers, at most WINDOW at once. */
  const run = async (n: number): Promise<void> => {
    let started = 0
    const lane = async (): Promise<void> => {
      while (started < n) {
        started++
        await peer()
      }
    }
    await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, lane))
    await Promise.all(outcomes)
  }

  const WARMUP = 500
  await run(WARMUP)
  const before = process.memoryUsage().rss
  await run(TOTAL - WARMUP)
  const growth = process.memoryUsage().rss - before
  t.log(`rss growth over ${TOTAL - WARMUP} connections: ${(growth / 2 ** 20).toFixed(1)} MiB`)
  t.is(outcomes.length, TOTAL)
  t.is(otherErrors, 0)
  t.is(refused, TOTAL)
  t.true(growth < 200 * 2 ** 20, `rss grew by ${growth} bytes`)
})
