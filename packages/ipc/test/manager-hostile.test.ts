/**
 * A live SyncManager server (src/internal/manager-server.ts, its objects in
 * src/internal/manager-objects.ts) under attack, then proof that it still serves a correct client:
 *
 * - 10,000+ hostile frames at a manager on TCP with an authkey: random bytes, truncated frames and
 *   huge length prefixes before the handshake; after the handshake (raw sockets through
 *   `clientHandshake`), raw link frames with random tags, mutated encodings, truncated bodies, huge
 *   lengths and wrong frame types; and, over authenticated `Connection`s, well-formed messages with
 *   wrong types (random requests: unknown ops, objects and methods, `__proto__`/`constructor`/...,
 *   arguments that are not arrays or of the wrong types), hostile hellos and malformed requests.
 * - Each request that cannot be served gets its error back (class and `code`) through a raw
 *   connection and through proxies; malformed messages (not this protocol) close the connection.
 * - Clients killed with SIGKILL in the middle of a blocking `q.get()` / `lock.acquire()` leave the
 *   queue and the lock to the live clients.
 * - A wrong authkey is AuthenticationError, and the server keeps serving.
 *
 * The cases at the end pin down bugs found while writing these: the fixed ones check the fix;
 * the two still marked `test.failing` are open (each says what goes wrong and where; drop
 * `.failing` once it is fixed). The fuzz still keeps out two inputs that used to hang the server
 * (large integers for Semaphore.release(n), a header AUX word larger than the payload); both are
 * fixed and have their own cases below.
 *
 * `FUZZ_SEED=n` repeats a fuzz run (its seed is logged).
 */
import test, { type ExecutionContext } from 'ava'
import { existsSync, mkdtempSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { serialize, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { type Address, ClientAsync } from '@tandem/ipc/connection'
import { AuthenticationError, EOFError, IndexError, KeyError, ManagerProtocolError } from '@tandem/ipc/errors'
import { SyncManager } from '@tandem/ipc/manager'
import { type Connection, Pipe } from '@tandem/ipc/pipe'
import { Process } from '@tandem/ipc/process'
import { decodeItem, encodeItem } from '@tandem/queue/kit'
import { LockNotOwnedError } from '@tandem/sync/errors'
import { deserializeError, moduleRef, type SerializedError } from '@tandem/sync/task'
import { clientHandshake, toAuthkey } from '../src/internal/auth.ts'
import { closeLane, makeLane, send as laneSend, unframe } from '../src/internal/manager-lane.ts'

const CHILDREN = new URL('./fixtures/manager-hostile-children.ts', import.meta.url)
const KEY = 'manager-hostile-key'
const KEY_BYTES = toAuthkey(KEY)!
const LOCAL = { host: '127.0.0.1', port: 0 }
/** Bound for a child to start, report or end: generous, the machine is shared and loaded. */
const JOIN = 60_000

test.beforeEach((t) => {
  t.timeout(180_000)
})

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

// ---- managers, children, raw clients ----------------------------------------------------------

interface TcpAddress {
  host: string
  port: number
}

/**
 * A manager on TCP with {@link KEY}. Teardown shuts it down; a server that does not answer the
 * shutdown within 20 s (a hung one) is killed; its process is joined either way.
 */
function startManager(t: ExecutionContext): SyncManager & { readonly address: TcpAddress } {
  const m = new SyncManager({ address: LOCAL, authkey: KEY }).start()
  const p = m.process!
  t.teardown(async () => {
    const done = m.shutdownAsync()
    if (!(await Promise.race([done.then(() => true), sleep(20_000).then(() => false)]))) p.kill()
    await done
    if (p.isAlive()) p.kill()
    await p.joinAsync(10_000)
  })
  return m as SyncManager & { readonly address: TcpAddress }
}

/** Starts a daemon child running `fixtures/manager-hostile-children.ts#name`; teardown kills and joins it. */
function child(t: ExecutionContext, name: string, args: unknown[]): Process {
  const p = new Process({ target: moduleRef(CHILDREN, name), args, daemon: true })
  t.teardown(async () => {
    if (p.isAlive()) p.kill()
    await p.joinAsync(10_000)
  })
  p.start()
  return p
}

/** A pipe whose two ends are closed in teardown. */
function pipe(t: ExecutionContext): [Connection, Connection] {
  const ends = Pipe()
  t.teardown(() => {
    for (const e of ends) e.close()
  })
  return ends
}

/** The resident memory of a process (`VmRSS`), or its peak (`VmHWM`), in MiB (Linux); undefined where /proc is missing. */
function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number | undefined {
  const file = `/proc/${pid}/status`
  if (!existsSync(file)) return undefined
  const kb = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(file, 'utf8'))?.[1]
  return kb === undefined ? undefined : Number(kb) / 1024
}

const GOOD_HELLO = { hello: 1, session: 'hostile-test', owner: 'hostile-test:1' }

/** An authenticated connection that speaks the manager protocol by hand; closed in teardown. */
async function raw(t: ExecutionContext, address: Address, hello: unknown): Promise<Connection> {
  const conn = await ClientAsync(address, { authkey: KEY })
  t.teardown(() => conn.close())
  conn.send(hello)
  return conn
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: Error & { code?: string } }

let nextId = 1

/** Sends one request and waits for its reply (replies to other ids are skipped). */
async function request(conn: Connection, op: unknown, target: unknown, method?: unknown, args?: unknown): Promise<Outcome> {
  const id = nextId++
  conn.send([id, op, target, method, args])
  for (;;) {
    const r = await conn.recvAsync({ timeout: JOIN })
    if (!Array.isArray(r) || r[0] !== id) continue
    return r[1] === 0 ? { ok: true, value: r[2] } : { ok: false, error: deserializeError(r[2] as SerializedError) as Error & { code?: string } }
  }
}

/** Polls `check` (every 50 ms) until it holds; fails after `JOIN` ms. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let waited = 0; !(await check()); waited += 50) {
    if (waited > JOIN) throw new Error(`Still not true after ${JOIN} ms: ${what}`)
    await sleep(50)
  }
}

/**
 * Waits until the server has freed object `id` (a call on it is `ERR_MANAGER_PROTOCOL`). For a
 * sentinel that only a dead child referred to, that means the server has ended the child's
 * session, which it does only once every connection of that child has ended (and each ending
 * connection aborts its waiting calls first).
 */
async function freed(t: ExecutionContext, address: Address, id: number): Promise<void> {
  const conn = await raw(t, address, GOOD_HELLO)
  await until(`object ${id} freed`, async () => {
    const r = await request(conn, 'call', id, 'size', [])
    return !r.ok && r.error instanceof ManagerProtocolError
  })
  conn.close()
}

/** Resolves once `socket` has closed (it is destroyed after `ms` at the latest). */
function closed(socket: Socket, ms = 20_000): Promise<void> {
  return new Promise((resolve) => {
    const guard = setTimeout(() => socket.destroy(), ms)
    socket.on('close', () => {
      clearTimeout(guard)
      resolve()
    })
  })
}

/** A raw TCP socket to `port` that passed the HMAC handshake with {@link KEY}; null if it did not. */
async function authedSocket(port: number): Promise<Socket | null> {
  const s = connect({ host: '127.0.0.1', port })
  s.on('error', () => {})
  try {
    await clientHandshake(s, KEY_BYTES)
  } catch {
    s.destroy()
    return null
  }
  return s
}

/** A link frame (src/internal/link.ts): 24-byte header, then the payload. `len` may lie. */
function linkFrame(payload: Uint8Array, o: { tag: number; aux: number; type?: number; len?: number }): Buffer {
  const h = Buffer.alloc(24)
  h.writeUInt32BE(o.len ?? payload.length, 0)
  h[4] = o.type ?? 12
  h[5] = o.tag
  h.writeInt32BE(o.aux | 0, 20)
  return Buffer.concat([h, payload])
}

/** A well-formed frame carrying `value`, encoded as a Connection encodes it. */
function messageFrame(value: unknown): Buffer {
  const enc = encodeItem(value, { tag: 0, value: 0, bytes: undefined }, 0, 'process')
  return linkFrame(enc.bytes ?? new Uint8Array(0), { tag: enc.tag, aux: enc.value })
}

// ---- a seeded generator of hostile values -----------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

class Gen {
  readonly #next: () => number
  constructor(seed: number) {
    this.#next = mulberry32(seed)
  }
  int(n: number): number {
    return Math.floor(this.#next() * n)
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = this.int(256)
    return b
  }
}

/**
 * Values of every shape, none a large integer: `Semaphore.release(n)` loops n times (see the
 * failing test on it), so the fuzz keeps counts small to stay clear of that known hang.
 */
function weirdValues(): unknown[] {
  let deep: unknown = 'bottom'
  for (let i = 0; i < 60; i++) deep = [deep]
  return [
    undefined,
    null,
    true,
    false,
    0,
    -0,
    1,
    -1,
    2,
    3,
    100,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    '',
    'x',
    'd',
    'i',
    'q',
    'c',
    '0',
    '__proto__',
    'constructor',
    'toString',
    'é\u0000\uffff',
    'x'.repeat(1000),
    [],
    [1],
    [[1, 2]],
    [[1, 2, 3]],
    [1, 'a', null],
    {},
    { a: 1 },
    JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 1}}}'),
    new Map<unknown, unknown>([
      [1, 2],
      ['k', 'v'],
    ]),
    new Set([1, 'a']),
    new Uint8Array([1, 2, 3]),
    10n,
    -(2n ** 70n),
    new Date(0),
    /re+/g,
    new Error('an error as a value'),
    deep,
  ]
}

const OPS = [
  'call',
  'call',
  'call',
  'call',
  'create',
  'create',
  'incref',
  'decref',
  'adopt',
  'cancel',
  'lane',
  'ping',
  'frobnicate',
  'CALL',
  '',
  'constructor',
  '__proto__',
  7,
  null,
]
const TYPEIDS = ['dict', 'list', 'Namespace', 'Queue', 'JoinableQueue', 'Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Event', 'Barrier', 'Value', 'Array']
const BOGUS_TYPEIDS = ['nosuch', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'dict ', 5, null, undefined]
const METHODS = [
  'get',
  'set',
  'has',
  'delete',
  'size',
  'keys',
  'values',
  'entries',
  'pop',
  'popitem',
  'setdefault',
  'update',
  'clear',
  'copy',
  'append',
  'extend',
  'insert',
  'remove',
  'index',
  'count',
  'len',
  'slice',
  'sort',
  'reverse',
  'put',
  'putNowait',
  'getNowait',
  'qsize',
  'empty',
  'full',
  'taskDone',
  'join',
  'acquire',
  'release',
  'locked',
  'isOwned',
  'getValue',
  'wait',
  'notify',
  'notifyAll',
  'isSet',
  'parties',
  'nWaiting',
  'broken',
  'reset',
  'abort',
  'toArray',
]
const BOGUS_METHODS = [
  '__proto__',
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '_private',
  '_secret',
  'exposed',
  'owns',
  'releaseAll',
  'restore',
  'then',
  '',
  'GET',
  7,
  null,
]

/** A well-formed request (an array with a safe-integer id) with random, mostly wrong, parts. */
function hostileRequest(g: Gen, id: number, ids: readonly number[], weird: readonly unknown[]): unknown[] {
  const op = g.pick(OPS)
  let target: unknown
  let method: unknown
  if (op === 'create') {
    target = g.int(4) === 0 ? g.pick(BOGUS_TYPEIDS) : g.pick(TYPEIDS)
  } else {
    target = g.int(5) === 0 ? g.pick([999_999, -1, 0, 1.5, '1', null, {}, [1]]) : g.pick(ids)
    method = g.int(4) === 0 ? g.pick(BOGUS_METHODS) : g.pick(METHODS)
  }
  if (op === 'adopt') method = g.pick(['x', 'constructor', '__proto__', 'hostile-test', 5])
  let args: unknown
  if (g.int(6) === 0) args = g.pick(weird)
  else {
    const a: unknown[] = []
    for (let n = g.int(4); n > 0; n--) a.push(g.pick(weird))
    args = a
  }
  return [id, op, target, method, args]
}

// ---- 1. the fuzz ------------------------------------------------------------------------------

/** Bytes for a connection that has not authenticated (the server's handshake gets them). */
function preAuthBlob(g: Gen, i: number): Buffer[] {
  const prefix = (n: number): Buffer => {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(n >>> 0, 0)
    return b
  }
  switch (i % 6) {
    case 0: // random bytes
      return [g.bytes(g.int(600))]
    case 1: {
      // a truncated handshake frame: announces up to 256 bytes, sends fewer
      const n = 2 + g.int(255)
      return [prefix(n), g.bytes(g.int(n - 1))]
    }
    case 2: // a huge length prefix
      return [prefix(g.pick([0xffffffff, 0x80000000, 2 ** 28, 65_536, 257])), g.bytes(g.int(64))]
    case 3: {
      // a response of the right shape with a wrong digest
      const body = Buffer.concat([Buffer.from('{sha256}'), g.bytes(32)])
      return [prefix(body.length), body]
    }
    case 4: // what a client without the key sends: a link frame
      return [linkFrame(g.bytes(g.int(200)), { tag: g.int(16), aux: g.int(300) })]
    default: {
      // the server's own words sent back at it
      const body = g.pick([Buffer.concat([Buffer.from('#CHALLENGE#{sha256}'), g.bytes(40)]), Buffer.from('#WELCOME#'), Buffer.from('#FAILURE#')])
      return [prefix(body.length), body]
    }
  }
}

function throwPreAuth(port: number, chunks: Buffer[]): Promise<void> {
  const s = connect({ host: '127.0.0.1', port })
  s.on('error', () => {})
  s.on('connect', () => {
    for (const c of chunks) s.write(c)
    s.end()
  })
  s.resume()
  return closed(s)
}

/** Frames for a connection that passed the handshake. */
function postAuthFrames(g: Gen, i: number, ids: readonly number[]): Buffer[] {
  const hello = messageFrame({ hello: 1, session: `raw-${i}`, owner: `raw-${i}:1` })
  const mutate = (f: Buffer): Buffer => {
    const out = Buffer.from(f)
    for (let n = 1 + g.int(3); n > 0; n--) {
      // Mostly the payload, sometimes the tag. Not the AUX word: an AUX above the payload's length
      // is a known hang (see the failing test 'BUG: a frame whose header announces ...').
      const at = out.length > 24 && g.int(4) > 0 ? 24 + g.int(out.length - 24) : 5
      out[at] = g.int(256)
    }
    return out
  }
  const template = (): unknown[] =>
    g.pick([
      [7, 'call', g.pick(ids), 'get', ['key', { a: [1, 2] }]],
      [8, 'call', g.pick(ids), 'set', ['key', 'value']],
      [9, 'create', 'dict', undefined, [{ a: 1, b: [true, null] }]],
      [10, 'ping', 0, undefined, []],
    ])
  switch (i % 8) {
    case 0: {
      // a frame with a random tag and payload (and an AUX no larger than the payload: see above)
      const body = g.bytes(g.int(300))
      return [hello, linkFrame(body, { tag: g.int(16), aux: g.pick([0, Math.min(8, body.length), g.int(body.length + 1), body.length, -1, -0x80000000]) })]
    }
    case 1: // a well-formed request with a few bytes changed
      return [hello, mutate(messageFrame(template()))]
    case 2: {
      // a truncated frame: announces more than it sends
      const body = g.bytes(10 + g.int(100))
      return [hello, linkFrame(body, { tag: 10, aux: body.length + 500, len: body.length + 500 }).subarray(0, 24 + body.length)]
    }
    case 3: // a huge length prefix: over the limit (refused at once) or under it (never sent)
      return [hello, linkFrame(Buffer.alloc(0), { tag: 8, aux: 0, len: g.pick([0xffffffff, 2 ** 29 + 4097, 2 ** 29, 2 ** 24]) })]
    case 4: // another frame type
      return [linkFrame(g.bytes(g.int(64)), { tag: g.int(16), aux: 0, type: g.pick([0, 1, 2, 9, 11, 13, 255]) })]
    case 5: // no hello: garbage first
      return [mutate(messageFrame(template()))]
    case 6: // a mutated hello, then a request
      return [mutate(hello), messageFrame([11, 'ping', 0, undefined, []])]
    default: // a request, then bytes that are no frame at all
      return [hello, messageFrame(template()), g.bytes(1 + g.int(100))]
  }
}

async function throwPostAuth(port: number, frames: Buffer[]): Promise<boolean> {
  const s = await authedSocket(port)
  if (s === null) return false
  const done = closed(s)
  s.resume() // whatever the server answers is read and dropped
  for (const f of frames) s.write(f)
  s.end()
  await done
  return true
}

test.serial('10,000 hostile frames at a live manager (TCP, authkey): no crash, bounded memory, and a correct client is still served', async (t) => {
  const m = startManager(t)
  const address = m.address
  const { port } = address
  const serverPid = m.process!.pid!
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)
  t.log(`seed ${seed} (FUZZ_SEED=${seed} repeats this run)`)
  const g = new Gen(seed)
  const weird = weirdValues()

  // Objects of every type for the hostile requests to aim at.
  const dict = m.dict<string, number>({ kept: 1 })
  const targets = [
    dict,
    m.list([1, 2]),
    m.Namespace({ a: 1 }),
    m.Queue(2),
    m.JoinableQueue(),
    m.Lock(),
    m.RLock(),
    m.Semaphore(2),
    m.BoundedSemaphore(2),
    m.Condition(),
    m.Event(),
    m.Barrier(2),
    m.Value('i', 1),
    m.Array('d', 4),
  ]
  const ids = targets.map((p) => p.objectId)
  const rssBefore = rssMiB(serverPid)
  let frames = 0

  // (a) Before the handshake: 3,000 connections, one blob each.
  for (let i = 0; i < 3000; i += 50) {
    const batch: Promise<void>[] = []
    for (let j = i; j < i + 50; j++) batch.push(throwPreAuth(port, preAuthBlob(g, j)))
    await Promise.all(batch)
    frames += 50
  }
  t.true(m.process!.isAlive(), 'alive after the unauthenticated garbage')

  // (b) After the handshake, raw link frames: 1,000 connections.
  let authed = 0
  for (let i = 0; i < 1000; i += 25) {
    const batch: Promise<boolean>[] = []
    for (let j = i; j < i + 25; j++) {
      const fs = postAuthFrames(g, j, ids)
      frames += fs.length
      batch.push(throwPostAuth(port, fs))
    }
    authed += (await Promise.all(batch)).filter(Boolean).length
  }
  t.is(authed, 1000, 'every raw connection passed the handshake (the frames reached the decoder)')
  t.true(m.process!.isAlive(), 'alive after the raw frames')

  // (c) Well-formed messages with wrong types, over authenticated connections.
  // Hellos that are not a hello: the server hangs up (the ping after it gets no answer).
  const serverSession = `${hostname()}:${serverPid}:server`
  const badHellos: unknown[] = [
    5,
    'hello',
    null,
    undefined,
    true,
    [],
    [1, 'ping', 0, undefined, []],
    { hello: 1 },
    { session: 's' },
    { hello: 1, session: 5, owner: 'o' },
    { hello: 1, session: 's', owner: 5 },
    new Map([
      ['session', 's'],
      ['owner', 'o'],
    ]),
    { hello: 1, session: serverSession, owner: 'o' },
    JSON.parse('{"__proto__": {"session": "s", "owner": "o"}}'),
  ]
  for (const hello of badHellos) {
    const conn = await raw(t, address, hello)
    conn.send([1, 'ping', 0, undefined, []])
    frames += 2
    await t.throwsAsync(conn.recvAsync({ timeout: JOIN }), { instanceOf: EOFError }, `the server hung up after the hello ${String(hello)}`)
    conn.close()
  }
  // Messages that are not requests (not an array, or an id that is not a safe integer): hang up.
  const notRequests: unknown[] = ['ping', 5, null, {}, { 0: 1, 1: 'ping' }, [], [1.5, 'ping'], ['1', 'ping'], [Number.NaN, 'ping'], [2 ** 53, 'ping'], [null, 'ping'], [1n, 'ping']]
  for (const msg of notRequests) {
    const conn = await raw(t, address, GOOD_HELLO)
    conn.send(msg)
    frames += 2
    await t.throwsAsync(conn.recvAsync({ timeout: JOIN }), { instanceOf: EOFError }, `the server hung up after ${String(msg)}`)
    conn.close()
  }
  // Streams of random well-formed requests; each stream ends with a ping that must be answered.
  let replies = 0
  let errors = 0
  for (let c = 0; c < 10; c++) {
    const conn = await raw(t, address, { hello: 1, session: `stream-${c}`, owner: `stream-${c}:1` })
    frames++
    const sent = new Set<number>()
    for (let i = 0; i < 550; i++) {
      const id = g.pick([i + 1, i + 1, i + 1, 0, -1 - i, 1])
      sent.add(id)
      conn.send(hostileRequest(g, id, ids, weird))
      frames++
    }
    const last = 1_000_000 + c
    conn.send([last, 'ping', 0, undefined, []])
    frames++
    for (;;) {
      const r = await conn.recvAsync({ timeout: JOIN })
      if (!Array.isArray(r) || r.length !== 3 || (r[1] !== 0 && r[1] !== 1)) {
        t.fail(`a malformed reply: ${String(r)}`)
        break
      }
      if (r[0] === last) {
        t.deepEqual(r, [last, 0, true], 'the closing ping is answered')
        break
      }
      t.true(sent.has(r[0]), `a reply to an id that was sent (${r[0]})`)
      replies++
      if (r[1] === 1) {
        errors++
        const err = deserializeError(r[2] as SerializedError)
        if (!(err instanceof Error)) t.fail(`an error reply that is no Error: ${String(err)}`)
      }
    }
    conn.close()
  }
  t.log(`${frames} frames; the random requests got ${replies} replies (${errors} errors)`)
  t.true(frames >= 10_000, `${frames} frames were thrown`)
  t.true(replies > 1000 && errors > 500, 'the requests were read and answered, most with an error')

  // Still alive, still serving: a correct client, and the objects made before the attack.
  t.true(m.process!.isAlive())
  const client = new SyncManager({ address, authkey: KEY }).connect()
  const d = client.dict<string, string>()
  d.set('after', 'the attack')
  t.is(d.get('after'), 'the attack')
  t.is(await d.getAsync('after'), 'the attack')
  t.is(typeof dict.size(), 'number')
  const rssAfter = rssMiB(serverPid)
  if (rssBefore !== undefined && rssAfter !== undefined) {
    t.log(`server rss ${rssBefore.toFixed(0)} -> ${rssAfter.toFixed(0)} MiB`)
    t.true(rssAfter - rssBefore < 300, `the server's rss grew by ${(rssAfter - rssBefore).toFixed(0)} MiB`)
  }
})

// ---- 2. requests that get an error, and messages that close the connection ---------------------

interface Expected {
  readonly cls: new (...args: any[]) => Error
  readonly code: string | undefined
}
const PROTOCOL: Expected = { cls: ManagerProtocolError, code: 'ERR_MANAGER_PROTOCOL' }
const TYPE: Expected = { cls: TypeError, code: 'ERR_INVALID_ARG_TYPE' }
const RANGE: Expected = { cls: RangeError, code: 'ERR_OUT_OF_RANGE' }

test.serial('requests that cannot be served get their error back (class and code), and the connection goes on; malformed messages close it', async (t) => {
  const m = startManager(t)
  const address = m.address
  const conn = await raw(t, address, GOOD_HELLO)

  const create = async (typeid: string, args: unknown[]): Promise<number> => {
    const r = await request(conn, 'create', typeid, undefined, args)
    if (!r.ok) throw r.error
    return r.value as number
  }
  const dict = await create('dict', [{ a: 1 }])
  const list = await create('list', [[1, 2, 3]])
  const emptyList = await create('list', [])
  const ns = await create('Namespace', [{ a: 1 }])
  const queue = await create('Queue', [0])
  const joinable = await create('JoinableQueue', [0])
  const lock = await create('Lock', [])
  const rlock = await create('RLock', [])
  const sem = await create('Semaphore', [1])
  const bounded = await create('BoundedSemaphore', [1])
  const cond = await create('Condition', [])
  const event = await create('Event', [])
  const barrier = await create('Barrier', [2])
  const value = await create('Value', ['d', 1.5])
  const array = await create('Array', ['d', 3])

  const cases: [string, unknown, unknown, unknown, unknown, Expected][] = [
    // unknown ops
    ['op frobnicate', 'frobnicate', 0, undefined, [], PROTOCOL],
    ['op ""', '', 0, undefined, [], PROTOCOL],
    ['op CALL', 'CALL', dict, 'get', ['a'], PROTOCOL],
    ['op constructor', 'constructor', 0, undefined, [], PROTOCOL],
    ['op __proto__', '__proto__', 0, undefined, [], PROTOCOL],
    ['op 42', 42, 0, undefined, [], PROTOCOL],
    ['op null', null, 0, undefined, [], PROTOCOL],
    // unknown objects
    ...([999_999, -1, 0, 1.5, '1', null, {}, [dict]] as unknown[]).map((id): [string, unknown, unknown, unknown, unknown, Expected] => [
      `object ${String(id)}`,
      'call',
      id,
      'get',
      ['a'],
      PROTOCOL,
    ]),
    // unknown methods (the servers' own helpers and Object.prototype's included)
    ...(['push', '__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', '_private', 'exposed', '', 7, null] as unknown[]).map(
      (name): [string, unknown, unknown, unknown, unknown, Expected] => [`dict method ${String(name)}`, 'call', dict, name, [], PROTOCOL],
    ),
    ...(['__proto__', 'constructor', 'toString', '_private', 'owns', 'releaseAll', 'restore'] as unknown[]).map((name): [string, unknown, unknown, unknown, unknown, Expected] => [
      `Lock method ${String(name)}`,
      'call',
      lock,
      name,
      [],
      PROTOCOL,
    ]),
    ['Queue method #add', 'call', queue, '#add', [1], PROTOCOL],
    // unknown types
    ...(['nosuch', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'dict ', 5, null] as unknown[]).map(
      (typeid): [string, unknown, unknown, unknown, unknown, Expected] => [`create ${String(typeid)}`, 'create', typeid, undefined, [], PROTOCOL],
    ),
    // arguments that are not an array
    ...(['not an array', {}, null, 5, true] as unknown[]).map((args): [string, unknown, unknown, unknown, unknown, Expected] => [
      `call args ${String(args)}`,
      'call',
      dict,
      'get',
      args,
      PROTOCOL,
    ]),
    ['create args "x"', 'create', 'dict', undefined, 'x', PROTOCOL],
    // a lane without two paths
    ['lane()', 'lane', 0, undefined, [], PROTOCOL],
    ['lane(5, 6)', 'lane', 0, undefined, [5, 6], PROTOCOL],
    // bad arguments to the constructors
    ['Queue("x")', 'create', 'Queue', undefined, ['x'], TYPE],
    ['Queue(1.5)', 'create', 'Queue', undefined, [1.5], TYPE],
    ['JoinableQueue({})', 'create', 'JoinableQueue', undefined, [{}], TYPE],
    ['Barrier(0)', 'create', 'Barrier', undefined, [0], RANGE],
    ['Barrier(-3)', 'create', 'Barrier', undefined, [-3], RANGE],
    ['Barrier(1.5)', 'create', 'Barrier', undefined, [1.5], RANGE],
    ['Barrier(2, "x")', 'create', 'Barrier', undefined, [2, 'x'], TYPE],
    ['Semaphore(-1)', 'create', 'Semaphore', undefined, [-1], RANGE],
    ['BoundedSemaphore(1.5)', 'create', 'BoundedSemaphore', undefined, [1.5], RANGE],
    ['Condition(a dict)', 'create', 'Condition', undefined, [dict], TYPE],
    ['Condition(no object)', 'create', 'Condition', undefined, [999_999], TYPE],
    ['Condition("x")', 'create', 'Condition', undefined, ['x'], TYPE],
    ['list("x")', 'create', 'list', undefined, ['x'], TYPE],
    ['dict(5)', 'create', 'dict', undefined, [5], TYPE],
    ['Value("zz", 1)', 'create', 'Value', undefined, ['zz', 1], TYPE],
    ['Value("d", "x")', 'create', 'Value', undefined, ['d', 'x'], TYPE],
    ['Array("d", -1)', 'create', 'Array', undefined, ['d', -1], RANGE],
    ['Array("d", 1.5)', 'create', 'Array', undefined, ['d', 1.5], TYPE],
    ['Array("d", 1e15)', 'create', 'Array', undefined, ['d', 1e15], RANGE],
    ['Array("zz", 3)', 'create', 'Array', undefined, ['zz', 3], TYPE],
    // bad arguments to the methods
    ['Lock.acquire(true, "soon")', 'call', lock, 'acquire', [true, 'soon'], TYPE],
    ['Lock.acquire(true, NaN)', 'call', lock, 'acquire', [true, Number.NaN], TYPE],
    ['Lock.acquire(true, {})', 'call', lock, 'acquire', [true, {}], TYPE],
    ['RLock.acquire(true, "x")', 'call', rlock, 'acquire', [true, 'x'], TYPE],
    ['Lock.release() unlocked', 'call', lock, 'release', [], { cls: LockNotOwnedError, code: 'ERR_LOCK_NOT_OWNED' }],
    ['dict.update(5)', 'call', dict, 'update', [5], TYPE],
    ['dict.update("str")', 'call', dict, 'update', ['str'], TYPE],
    ['dict.update([[1, 2, 3]])', 'call', dict, 'update', [[[1, 2, 3]]], TYPE],
    ['dict.update([5])', 'call', dict, 'update', [[5]], TYPE],
    ['dict.pop(missing)', 'call', dict, 'pop', ['missing'], { cls: KeyError, code: 'ERR_KEY_NOT_FOUND' }],
    ['list.get("0")', 'call', list, 'get', ['0'], TYPE],
    ['list.get(1.5)', 'call', list, 'get', [1.5], TYPE],
    ['list.get(99)', 'call', list, 'get', [99], { cls: IndexError, code: 'ERR_INDEX_OUT_OF_RANGE' }],
    ['list.extend("abc")', 'call', list, 'extend', ['abc'], TYPE],
    ['list.insert("x", 1)', 'call', list, 'insert', ['x', 1], TYPE],
    ['list.slice("a")', 'call', list, 'slice', ['a'], TYPE],
    ['list.index(1, "x")', 'call', list, 'index', [1, 'x'], TYPE],
    ['list.pop() empty', 'call', emptyList, 'pop', [], { cls: IndexError, code: 'ERR_INDEX_OUT_OF_RANGE' }],
    ['Namespace.get(5)', 'call', ns, 'get', [5], TYPE],
    ['Namespace.set(5, 1)', 'call', ns, 'set', [5, 1], TYPE],
    ['Namespace.get(missing)', 'call', ns, 'get', ['missing'], { cls: KeyError, code: 'ERR_KEY_NOT_FOUND' }],
    ['Queue.get(true, "x")', 'call', queue, 'get', [true, 'x'], TYPE],
    ['Queue.put(1, true, "x")', 'call', queue, 'put', [1, true, 'x'], TYPE],
    ['Queue.getNowait() empty', 'call', queue, 'getNowait', [], { cls: Error, code: 'ERR_QUEUE_EMPTY' }],
    ['Queue.taskDone() not joinable', 'call', queue, 'taskDone', [], TYPE],
    ['JoinableQueue.taskDone() too many', 'call', joinable, 'taskDone', [], { cls: RangeError, code: 'ERR_TASK_DONE_TOO_MANY' }],
    ['JoinableQueue.join("x")', 'call', joinable, 'join', ['x'], TYPE],
    ['Semaphore.release("x")', 'call', sem, 'release', ['x'], TYPE],
    ['Semaphore.release(0)', 'call', sem, 'release', [0], RANGE],
    ['Semaphore.release(-1)', 'call', sem, 'release', [-1], RANGE],
    ['Semaphore.release(1.5)', 'call', sem, 'release', [1.5], TYPE],
    ['Semaphore.acquire(true, "x")', 'call', sem, 'acquire', [true, 'x'], TYPE],
    ['BoundedSemaphore.release() over the bound', 'call', bounded, 'release', [], { cls: RangeError, code: 'ERR_SEMAPHORE_OVERFLOW' }],
    ['Condition.wait() without the lock', 'call', cond, 'wait', [], { cls: LockNotOwnedError, code: 'ERR_LOCK_NOT_OWNED' }],
    ['Condition.wait("x")', 'call', cond, 'wait', ['x'], TYPE],
    ['Condition.notify("x")', 'call', cond, 'notify', ['x'], TYPE],
    ['Condition.notifyAll() without the lock', 'call', cond, 'notifyAll', [], { cls: LockNotOwnedError, code: 'ERR_LOCK_NOT_OWNED' }],
    ['Event.wait("x")', 'call', event, 'wait', ['x'], TYPE],
    ['Barrier.wait("x")', 'call', barrier, 'wait', ['x'], TYPE],
    ['Value.set("x")', 'call', value, 'set', ['x'], TYPE],
    ['Array.get("x")', 'call', array, 'get', ['x'], TYPE],
    ['Array.get(99)', 'call', array, 'get', [99], { cls: IndexError, code: 'ERR_INDEX_OUT_OF_RANGE' }],
    ['Array.set(0, "x")', 'call', array, 'set', [0, 'x'], TYPE],
  ]
  for (const [label, op, target, method, args, expected] of cases) {
    const r = await request(conn, op, target, method, args)
    if (r.ok) {
      t.fail(`${label}: answered ${String(r.value)} instead of an error`)
      continue
    }
    t.true(r.error instanceof expected.cls, `${label}: ${r.error.name}: ${r.error.message}`)
    t.is(r.error.code, expected.code, `${label}: ${r.error.message}`)
  }

  // Nothing above harmed the objects or the connection.
  t.deepEqual(await request(conn, 'call', dict, 'get', ['a']), { ok: true, value: 1 })
  t.deepEqual(await request(conn, 'call', list, 'copy', []), { ok: true, value: [1, 2, 3] })
  t.deepEqual(await request(conn, 'call', lock, 'acquire', [false]), { ok: true, value: true })
  t.deepEqual(await request(conn, 'call', lock, 'release', []), { ok: true, value: undefined })
  t.deepEqual(await request(conn, 'call', value, 'get', []), { ok: true, value: 1.5 })

  // Requests that get no answer (id 0, reference counting, cancel) leave the stream in order:
  // the next answer is the next ping's.
  conn.send([0, 'frobnicate', 0, undefined, []])
  conn.send([0, 'call', 999_999, 'get', []])
  conn.send([5, 'incref', 999_999, undefined, []])
  conn.send([6, 'decref', 999_999, undefined, []])
  conn.send([7, 'decref', dict, undefined, []])
  conn.send([8, 'incref', dict, undefined, []])
  conn.send([9, 'adopt', 999_999, 'nobody', []])
  conn.send([10, 'cancel', 123_456, undefined, []])
  conn.send([11, 'cancel', 'x', undefined, []])
  conn.send([-5, 'ping', 0, undefined, []])
  t.deepEqual(await conn.recvAsync({ timeout: JOIN }), [-5, 0, true], 'a negative id is an id; nothing was answered before it')
  t.deepEqual(await request(conn, 'call', dict, 'get', ['a']), { ok: true, value: 1 })

  // Through proxies: what the client does not check, the server refuses with the same errors.
  const d = m.dict<string, number>({ a: 1 })
  for (const name of ['__proto__', 'constructor', 'toString', '_private', 'hasOwnProperty']) {
    t.throws(() => d._call(name), { instanceOf: ManagerProtocolError, code: 'ERR_MANAGER_PROTOCOL' }, name)
    await t.throwsAsync(d._callAsync(name, []), { instanceOf: ManagerProtocolError, code: 'ERR_MANAGER_PROTOCOL' }, name)
  }
  t.throws(() => d.update(5 as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => m.Queue('x' as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => m.Barrier(0), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  await t.throwsAsync(m.BarrierAsync(0), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  const plock = m.Lock()
  t.throws(() => plock._call('acquire', true, 'soon'), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  const psem = m.Semaphore(1)
  t.throws(() => psem.release(1.5), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => psem.release(0), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.is(d.get('a'), 1)
  t.true(plock.acquire({ blocking: false }))
  plock.release()

  // Malformed messages (not this protocol): the server closes the connection, answering nothing.
  for (const msg of ['ping', 5, null, {}, [], [1.5, 'ping'], ['1', 'ping'], [Number.NaN, 'ping'], [2 ** 53, 'ping'], [Number.POSITIVE_INFINITY, 'ping']] as unknown[]) {
    const c = await raw(t, address, GOOD_HELLO)
    c.send(msg)
    c.send([1, 'ping', 0, undefined, []])
    await t.throwsAsync(c.recvAsync({ timeout: JOIN }), { instanceOf: EOFError }, `closed after ${String(msg)}`)
  }
  const bytes = await raw(t, address, GOOD_HELLO)
  bytes.sendBytes(new Uint8Array([1, 2, 3]))
  await t.throwsAsync(bytes.recvAsync({ timeout: JOIN }), { instanceOf: EOFError }, 'closed after a bytes message')
  // So does a hello that is not one.
  for (const hello of [5, 'hello', null, [], { hello: 1 }, { hello: 1, session: 5, owner: 'o' }] as unknown[]) {
    const c = await raw(t, address, hello)
    c.send([1, 'ping', 0, undefined, []])
    await t.throwsAsync(c.recvAsync({ timeout: JOIN }), { instanceOf: EOFError }, `closed after the hello ${String(hello)}`)
  }
  t.deepEqual(await request(conn, 'ping', 0), { ok: true, value: true }, 'the first connection still works')
  t.true(m.process!.isAlive())
})

// ---- 3. clients killed in the middle of a blocking call -----------------------------------------

test.serial('clients SIGKILLed while blocked in q.get() and lock.acquire(): the item goes to a live consumer, the lock back to the test', async (t) => {
  const m = startManager(t)
  const address = m.address
  const q = m.Queue<string>()
  const lock = m.Lock()
  t.true(lock.acquire(), 'the test holds the lock')
  const [getReport, getReportChild] = pipe(t)
  const [acqReport, acqReportChild] = pipe(t)
  const getter = child(t, 'blockedGet', [q, getReportChild, address, KEY])
  const acquirer = child(t, 'blockedAcquire', [lock, acqReportChild, address, KEY])
  const [w1, getSentinel] = (await getReport.recvAsync({ timeout: JOIN })) as [string, number]
  const [w2, acqSentinel] = (await acqReport.recvAsync({ timeout: JOIN })) as [string, number]
  t.is(w1, 'waiting')
  t.is(w2, 'waiting')
  // The children send their blocking request right after reporting; give it time to arrive (the
  // test below that kills after the server has confirmed the waits does not depend on this).
  await sleep(500)
  // A live consumer, in line behind the one that is about to die.
  const [liveReport, liveReportChild] = pipe(t)
  const live = child(t, 'liveGet', [q, liveReportChild])
  t.is(await liveReport.recvAsync({ timeout: JOIN }), 'waiting')
  await sleep(500)

  getter.kill()
  acquirer.kill()
  t.true(await getter.joinAsync(JOIN))
  t.true(await acquirer.joinAsync(JOIN))
  t.is(getter.exitCode, -9)
  t.is(acquirer.exitCode, -9)
  // Once each dead child's sentinel is freed, the server has ended its session and aborted its waits.
  await freed(t, address, getSentinel)
  await freed(t, address, acqSentinel)

  q.put('item-1')
  t.deepEqual(await liveReport.recvAsync({ timeout: JOIN }), ['got', 'item-1'], 'the live consumer got the item')
  t.true(await live.joinAsync(JOIN))
  t.is(live.exitCode, 0)
  t.is(q.qsize(), 0)
  q.put('item-2')
  t.is(q.get({ timeout: JOIN }), 'item-2')
  // The dead ones reported nothing after 'waiting': the getter took no item, the acquirer no lock.
  await t.throwsAsync(getReport.recvAsync({ timeout: JOIN }), { instanceOf: EOFError })
  await t.throwsAsync(acqReport.recvAsync({ timeout: JOIN }), { instanceOf: EOFError })

  lock.release()
  t.false(lock.locked(), 'the release did not hand the lock to the dead waiter')
  t.true(lock.acquire({ blocking: false }), 'the test takes the lock again')
  lock.release()
  t.true(m.process!.isAlive())
})

test.serial('a client SIGKILLed while its get and acquire wait on the server (confirmed before the kill): both waits are dropped', async (t) => {
  const m = startManager(t)
  const q = m.Queue<string>()
  const lock = m.Lock()
  const probe = m.Barrier(2)
  t.true(lock.acquire(), 'the test holds the lock')
  const [report, reportChild] = pipe(t)
  const p = child(t, 'blockedAsync', [q, lock, probe, reportChild])
  t.is(await report.recvAsync({ timeout: JOIN }), 'waiting')
  // The child's probe wait went out after its get and acquire, on the same connection: once the
  // server counts it, the get and the acquire wait on the server too.
  await until('the child waits at the probe barrier', () => probe.nWaiting === 1)
  // The test's own get, in line behind the child's (qsize answers once the get was read: same connection).
  const mine = q.getAsync()
  mine.catch(() => {})
  t.is(await q.qsizeAsync(), 0)

  p.kill()
  t.true(await p.joinAsync(JOIN))
  t.is(p.exitCode, -9)
  // The server aborts a dead connection's waits in one loop (get, acquire, then the probe's wait,
  // which breaks the barrier): once the barrier is broken, the get and the acquire are gone.
  await until('the probe barrier breaks', () => probe.broken)

  q.put('item')
  t.is(await Promise.race([mine, sleep(30_000).then(() => 'no item within 30 s')]), 'item', 'the live get, behind the dead one, got the item')
  t.is(q.qsize(), 0)
  lock.release()
  t.false(lock.locked(), 'the release did not hand the lock to the dead waiter')
  t.true(lock.acquire({ blocking: false }))
  lock.release()
  await t.throwsAsync(report.recvAsync({ timeout: JOIN }), { instanceOf: EOFError }, 'the dead child got nothing')
  probe.reset()
  t.false(probe.broken)
})

// ---- 4. a wrong authkey ----------------------------------------------------------------------

test.serial('a wrong authkey is AuthenticationError (ERR_AUTHENTICATION); the server keeps serving', async (t) => {
  const m = startManager(t)
  const address = m.address
  const d = m.dict<string, number>({ n: 1 })
  for (let i = 0; i < 10; i++) {
    const err = t.throws(() => new SyncManager({ address, authkey: 'wrong' }).connect())
    t.true(err instanceof AuthenticationError)
    t.is((err as AuthenticationError).code, 'ERR_AUTHENTICATION')
  }
  await t.throwsAsync(new SyncManager({ address, authkey: 'wrong' }).connectAsync(), { instanceOf: AuthenticationError, code: 'ERR_AUTHENTICATION' })
  await t.throwsAsync(new SyncManager({ address, authkey: new Uint8Array([1, 2, 3]) }).connectAsync(), { instanceOf: AuthenticationError, code: 'ERR_AUTHENTICATION' })
  await t.throwsAsync(ClientAsync(address, { authkey: 'wrong' }), { instanceOf: AuthenticationError, code: 'ERR_AUTHENTICATION' })
  // A client without a key gets no message: its connection breaks at the server's challenge.
  const keyless = await ClientAsync(address)
  t.teardown(() => keyless.close())
  await t.throwsAsync(keyless.recvAsync({ timeout: JOIN }), { instanceOf: EOFError })

  t.true(m.process!.isAlive())
  const right = new SyncManager({ address, authkey: KEY }).connect()
  const d2 = right.dict<string, string>()
  d2.set('k', 'v')
  t.is(d2.get('k'), 'v')
  t.is(d.get('n'), 1)
})

// ---- bugs found: each test fails until its bug is fixed -------------------------------------

test.serial('Semaphore.release(n) with a huge n does not freeze the server (it used to loop n times)', async (t) => {
  // manager-objects.ts ServerSemaphore.release: `for (let i = 0; i < k; i++) if (!wakeOne()) value++`
  // runs n iterations on the server's event loop; the proxy sends n unchecked.
  const m = startManager(t)
  const s = m.Semaphore(0)
  const d = m.dict()
  const releasing = s.releaseAsync(Number.MAX_SAFE_INTEGER)
  releasing.catch(() => {})
  // Whether the release is done or refused, the server must then answer another call.
  const answered = await Promise.race([
    d.sizeAsync().then(
      () => 'answered',
      () => 'failed',
    ),
    sleep(20_000).then(() => 'no answer within 20 s'),
  ])
  if (answered !== 'answered') m.process!.kill() // the teardown's shutdown would wait for it
  t.is(answered, 'answered')
})

test.serial('a wait with a timeout over 2**31-1 ms waits (it used to end at once: Node fires such a timer after 1 ms)', async (t) => {
  // manager-objects.ts Waiters.wait / Event.wait / Queue.join / Barrier: `setTimeout(..., ms)` with
  // ms > 2**31-1 fires after 1 ms (TimeoutOverflowWarning). The client accepts any finite timeout.
  const m = startManager(t)
  const lock = m.Lock()
  t.true(lock.acquire())
  const ev = m.Event()
  let settled: unknown = 'pending'
  const acquiring = lock.acquireAsync(3e9).then((v) => (settled = v)) // about 35 days
  acquiring.catch(() => {})
  // Sent after the acquire on the same connection: a wait that times out after 500 ms. The
  // server's timers fire in order, so a 1 ms timer set for the acquire has fired by then.
  t.false(await ev.waitAsync(500))
  t.is(settled, 'pending', 'the acquire with a 35-day timeout is still waiting')
  lock.release()
  t.true(await acquiring)
})

test.serial('list.extend() of 200,000 items works (it used to exceed the call stack)', (t) => {
  // manager-objects.ts ServerList extend: `this.#list.push(...vs)` spreads the whole array as call arguments.
  const m = startManager(t)
  const l = m.list<number>()
  const many = Array.from({ length: 200_000 }, (_, i) => i)
  t.notThrows(() => l.extend(many))
  t.is(l.len(), 200_000)
})

test.serial('Semaphore("x") and Barrier("x") are TypeError ERR_INVALID_ARG_TYPE, as @tandem/sync\'s', (t) => {
  // manager-objects.ts ServerSemaphore/ServerBarrier constructors throw rangeError for a non-number;
  // the thread-side Semaphore and Barrier of @tandem/sync throw TypeError ERR_INVALID_ARG_TYPE.
  const m = startManager(t)
  t.throws(() => m.Semaphore('x' as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => m.Barrier('x' as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
})

test.serial('a proxy of another, unresponsive manager stored in this one does not freeze this server', async (t) => {
  // The proxy reviver (manager.ts registerShareable -> notify('adopt') -> syncLane -> Client())
  // connects and authenticates synchronously on the server's main thread while it decodes the
  // message: a stopped (or unreachable, or hostile) second manager stalls every client of this one
  // for the handshake timeout (10 s), or the TCP connect timeout for an unreachable host.
  const a = startManager(t)
  const b = startManager(t)
  const bPid = b.process!.pid!
  const da = a.dict()
  const probe = a.dict()
  const db = b.dict()
  process.kill(bPid, 'SIGSTOP')
  t.teardown(() => {
    process.kill(bPid, 'SIGCONT')
  })
  const storing = da.setAsync('b', db)
  storing.catch(() => {})
  const answered = await Promise.race([
    probe.sizeAsync().then(
      () => 'answered',
      () => 'failed',
    ),
    sleep(5_000).then(() => 'no answer while B is stopped'),
  ])
  process.kill(bPid, 'SIGCONT')
  await storing
  t.is(answered, 'answered')
})

test.serial(
  'a frame whose header announces a longer encoding than it carries (AUX 0x7fffffff on a 30-byte message) closes the connection (it used to make the server allocate 2 GiB)',
  async (t) => {
    // sockets.ts bridge() hands the peer's AUX word over as the encoding's value (`value: f.aux`)
    // without checking it against the payload; base-queue.ts _putRaw stores it as is (the payload
    // itself, <= 76 bytes, inline); then #remove, on the server's main thread (its recvAsync), sizes
    // the inline copy by payloadBytes(tag, value): `new Uint8Array(0x7fffffff)` filled by a loop of
    // 2**31 iterations, holding the queue's mutex. Each such frame costs 2 GiB and freezes the server
    // for seconds (about 7 s here); a few in a row freeze it for minutes. (A payload over 76 bytes is
    // out of line: #raw/#finish then view `value` bytes of the arena from its block, past its end.)
    const m = startManager(t)
    const pid = m.process!.pid!
    const d = m.dict()
    const peakBefore = rssMiB(pid, 'VmHWM')
    if (peakBefore === undefined) {
      t.pass('no /proc here')
      return
    }
    const s = await authedSocket(m.address.port)
    t.not(s, null)
    t.teardown(() => s!.destroy())
    const hello = messageFrame({ hello: 1, session: 's', owner: 'o' })
    t.true(hello.length - 24 <= 76, 'an inline payload')
    hello.writeInt32BE(0x7fffffff, 20)
    // The server hangs up once it has decoded (and refused) the hello, or answers the ping after it.
    const done = closed(s!, 120_000)
    const answered = new Promise<void>((resolve) => s!.once('data', () => resolve()))
    s!.resume()
    s!.write(hello)
    s!.write(messageFrame([1, 'ping', 0, undefined, []]))
    await Promise.race([done, answered])
    const grown = (rssMiB(pid, 'VmHWM') ?? peakBefore) - peakBefore
    t.is(await d.sizeAsync(), 0, 'the server still serves')
    t.true(grown < 256, `the server's peak rss grew by ${grown.toFixed(0)} MiB for one ${hello.length}-byte frame`)
  },
)

test.serial('a lane client that never reads its answers is no longer served: the server holds a bounded amount for it and loses none of its answers', async (t) => {
  // The lane twin of the test above: a Unix-socket manager, a lane opened by hand (manager-lane.ts),
  // 600 requests written (18 KB: the FIFO takes them all) and no answer read for 3 s.
  t.timeout(120_000)
  const m = new SyncManager({ authkey: KEY }).start()
  const p = m.process!
  t.teardown(async () => {
    await Promise.race([m.shutdownAsync(), sleep(20_000)])
    if (p.isAlive()) p.kill()
    await p.joinAsync(10_000)
  })
  const pid = p.pid!
  const l = m.list(['x'.repeat(1 << 20)])
  const before = rssMiB(pid)
  if (before === undefined) {
    t.pass('no /proc here')
    return
  }
  const conn = await raw(t, m.address!, GOOD_HELLO)
  const pending = makeLane()
  const opened = await request(conn, 'lane', 0, undefined, [pending.request, pending.reply])
  const lane = pending.finish(opened.ok)
  t.true(opened.ok)
  t.teardown(() => closeLane(lane!))
  const N = 600
  for (let i = 1; i <= N; i++) laneSend(lane!, [i, 'call', l.objectId, 'copy', []])
  let grown = 0
  for (let k = 0; k < 12; k++) {
    await sleep(250)
    grown = Math.max(grown, (rssMiB(pid) ?? before) - before)
  }
  t.true(grown < 300, `the server's rss grew by ${grown.toFixed(0)} MiB`)
  t.is(await l.lenAsync(), 1, 'others are served meanwhile')
  // Read without blocking this thread (a bug must fail the test, not hang it).
  const ids = new Set<number>()
  const chunk = Buffer.allocUnsafe(1 << 20)
  let buf: Buffer = Buffer.alloc(0)
  const deadline = Date.now() + 90_000
  while (ids.size < N && Date.now() < deadline) {
    let n = 0
    try {
      n = readSync(lane!.readNow, chunk, 0, chunk.length, null)
    } catch (err) {
      if ((err as { code?: string }).code !== 'EAGAIN') throw err
      await sleep(1)
      continue
    }
    if (n === 0) break
    buf = Buffer.concat([buf, chunk.subarray(0, n)])
    const used = unframe(buf, buf.length, (a) => {
      const [id, failed, value] = a as [number, number, string[]]
      if (failed === 0 && value[0]!.length === 1 << 20 && !ids.has(id)) ids.add(id)
      else t.fail(`answer ${id}: ${failed === 0 ? 'a wrong value or a second time' : 'an error'}`)
    })
    buf = buf.subarray(used)
  }
  t.is(ids.size, N)
})

test.serial('one connection has at most 65,536 calls waiting at once: the next fails with ManagerProtocolError, and the waiting ones are all answered', async (t) => {
  t.timeout(120_000)
  const m = startManager(t)
  const e = m.Event()
  const conn = await raw(t, m.address, GOOD_HELLO)
  const MAX = 65_536
  for (let i = 1; i <= MAX + 1; i++) conn.send([i, 'call', e.objectId, 'wait', []])
  const first = (await conn.recvAsync({ timeout: 60_000 })) as [number, number, SerializedError]
  t.is(first[0], MAX + 1, 'the call beyond the limit is answered first (the others wait)')
  t.is(first[1], 1)
  const err = deserializeError(first[2])
  t.true(err instanceof ManagerProtocolError, String(err))
  await e.setAsync()
  const ids = new Set<number>()
  while (ids.size < MAX) {
    const [id, failed, value] = (await conn.recvAsync({ timeout: 60_000 })) as [number, number, unknown]
    t.true(failed === 0 && value === true && !ids.has(id), `answer ${id}`)
    ids.add(id)
  }
  t.is(ids.size, MAX)
  t.true(await e.isSetAsync(), 'the server still serves')
})

test.serial('a proxy that is garbage-collected gives its reference back: the server frees its object, and not an object another proxy still holds', async (t) => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const m = startManager(t)
  const probe = await raw(t, m.address, GOOD_HELLO)
  const kept = m.dict({ a: 1 })
  const ids = (() => {
    // Proxies made in a scope of their own: nothing refers to them once it returns.
    const dropped = [m.dict({ b: 2 }), m.list([1, 2]), m.Lock()]
    return dropped.map((p) => p.objectId)
  })()
  const gone = async (id: number): Promise<boolean> => {
    const r = await request(probe, 'call', id, 'size', [])
    return !r.ok && r.error instanceof ManagerProtocolError && /No object/.test(r.error.message)
  }
  await until('the dropped proxies freed', async () => {
    gc()
    await sleep(100)
    for (const id of ids) if (!(await gone(id))) return false
    return true
  })
  t.false(await gone(kept.objectId))
  t.deepEqual(await kept.copyAsync(), new Map([['a', 1]]))
})

test.serial('a lane request that fails leaks no file descriptor in the server', async (t) => {
  // manager-lane.ts openServerLane opens both paths, then `new Socket({ fd: rfd })` throws for
  // anything but a FIFO/socket ('Unsupported fd type: FILE' for /dev/null) and neither fd is
  // closed. The paths come from the client, over TCP too: any authenticated peer can make the
  // server open any path it names, and exhaust its descriptors (then it accepts nobody).
  const m = startManager(t)
  const pid = m.process!.pid!
  if (!existsSync(`/proc/${pid}/fd`)) {
    t.pass('no /proc here')
    return
  }
  const fds = (): number => readdirSync(`/proc/${pid}/fd`).length
  const conn = await raw(t, m.address, GOOD_HELLO)
  t.true((await request(conn, 'ping', 0)).ok)
  const before = fds()
  for (let i = 0; i < 100; i++) {
    const r = await request(conn, 'lane', 0, undefined, ['/dev/null', '/dev/null'])
    t.false(r.ok, 'a lane on /dev/null is refused')
  }
  const grown = fds() - before
  t.true(grown < 20, `the server holds ${grown} more descriptors after 100 refused lanes`)
})

test.serial("a lane request that fails does not keep its session open: a gone client's objects are freed", async (t) => {
  // manager-server.ts #openLane calls #join (the session's connection count + 1) before
  // openServerLane, which throws for paths the server cannot open; nothing calls #leave then, so
  // the count never drops to 0 and endSession never runs. manager.ts laneFor makes exactly this
  // request for every client of a Unix-socket manager, and expects it to fail when the server
  // cannot open its FIFOs (another user): each such client's references leak for good.
  const m = startManager(t)
  const address = m.address
  const session = async (name: string, lane: boolean): Promise<number> => {
    const c = await raw(t, address, { hello: 1, session: name, owner: `${name}:1` })
    const r = await request(c, 'create', 'dict', undefined, [{ a: 1 }])
    if (!r.ok) throw r.error
    if (lane) t.false((await request(c, 'lane', 0, undefined, ['/nonexistent/q', '/nonexistent/r'])).ok)
    c.close()
    return r.value as number
  }
  const plain = await session('plain', false)
  const laned = await session('laned', true)
  // The plain session's dict is freed once its session ended (1 s) and the free grace passed (1 s).
  await freed(t, address, plain)
  const probe = await raw(t, address, GOOD_HELLO)
  let gone = false
  for (let k = 0; k < 50 && !gone; k++) {
    const r = await request(probe, 'call', laned, 'size', [])
    gone = !r.ok && r.error instanceof ManagerProtocolError
    if (!gone) await sleep(200)
  }
  t.true(gone, 'the dict of the session that asked for a lane was freed too (10 s after the other one)')
})

test.serial('an authenticated client cannot make the server load a module it names (a shareable marker of a kind the server has not registered is refused)', async (t) => {
  // @tandem/sync shareable.ts kindOf(): a marker whose kind is not registered is resolved by a
  // synchronous `require(marker.m)`, with `m` taken from the message. A TAG_V8_SHARED frame with
  // `{ '\0tandem': 'any.kind', m: '/path/to/file.js' }` runs that file in the manager's process.
  const m = startManager(t)
  const dir = mkdtempSync(join(tmpdir(), 'tandem-hostile-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ran = join(dir, 'ran')
  const module = join(dir, 'evil.cjs')
  writeFileSync(module, `require('node:fs').writeFileSync(${JSON.stringify(ran)}, String(process.pid))`)
  const s = await authedSocket(m.address.port)
  t.not(s, null)
  const payload = serialize({ hello: 1, session: 's', owner: 'o', x: { '\u0000tandem': 'hostile.kind', m: module, d: null } })
  // The server decodes the hello, then hangs up (or, if it took the hello, answers the ping).
  const done = closed(s!)
  const answered = new Promise<void>((resolve) => s!.once('data', () => resolve()))
  s!.resume()
  s!.write(linkFrame(payload, { tag: 9, aux: payload.length }))
  s!.write(messageFrame([1, 'ping', 0, undefined, []]))
  await Promise.race([done, answered])
  s!.destroy()
  t.true(m.process!.isAlive())
  t.false(existsSync(ran), `the server ran ${module} (pid ${existsSync(ran) ? readFileSync(ran, 'utf8') : '?'})`)
})

test.serial(
  'a client that never reads its answers is no longer served: the server holds a bounded amount for it, serves others meanwhile, and loses none of its answers',
  async (t) => {
    // 600 requests of ~50 bytes for a 1 MiB list's copy(): answered in full, 600 MiB. The server
    // stops taking this client's requests while its socket holds MAX_UNSENT_BYTES (manager-server.ts).
    t.timeout(120_000)
    const m = startManager(t)
    const pid = m.process!.pid!
    const l = m.list(['x'.repeat(1 << 20)])
    const before = rssMiB(pid)
    if (before === undefined) {
      t.pass('no /proc here')
      return
    }
    const s = await authedSocket(m.address.port)
    t.not(s, null)
    t.teardown(() => s!.destroy())
    // Not read until the end: no 'data' listener, the socket stays paused.
    s!.write(messageFrame({ hello: 1, session: 'greedy', owner: 'greedy:1' }))
    const N = 600
    for (let i = 1; i <= N; i++) s!.write(messageFrame([i, 'call', l.objectId, 'copy', []]))
    let grown = 0
    for (let k = 0; k < 12; k++) {
      await sleep(250)
      grown = Math.max(grown, (rssMiB(pid) ?? before) - before)
    }
    t.true(grown < 300, `the server's rss grew by ${grown.toFixed(0)} MiB`)
    // Other clients are served meanwhile.
    t.is(await l.lenAsync(), 1)
    // Once the client reads, every answer comes, each once.
    const ids = new Set<number>()
    let buf: Buffer = Buffer.alloc(0)
    await new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`${ids.size} of ${N} answers after 90 s`)), 90_000)
      s!.on('data', (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
        while (buf.length >= 24 && buf.length >= 24 + buf.readUInt32BE(0)) {
          const len = buf.readUInt32BE(0)
          const answer = decodeItem(buf[5]!, buf.readInt32BE(20), new Uint8Array(buf.subarray(24, 24 + len))) as [number, number, string[]]
          buf = buf.subarray(24 + len)
          if (answer[1] !== 0 || answer[2][0]!.length !== 1 << 20 || ids.has(answer[0])) {
            clearTimeout(guard)
            reject(new Error(`answer ${answer[0]}: ${answer[1] === 0 ? 'a wrong value or a second time' : 'an error'}`))
            return
          }
          ids.add(answer[0])
        }
        if (ids.size === N) {
          clearTimeout(guard)
          resolve()
        }
      })
      s!.resume()
    })
    t.is(ids.size, N)
  },
)
