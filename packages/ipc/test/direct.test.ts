/**
 * The direct paths between neighbouring processes (`internal/channel.ts`, `internal/direct.ts`):
 * a thread writes its messages to the channel itself, and the main thread, while it waits in
 * `recv()`/`recvAsync()`, reads the channel itself instead of the I/O thread. These tests make the
 * channel change hands at awkward moments and check that every message arrives once, in order:
 * other connections' messages and many-packet messages in between (handed back to the I/O
 * thread), a timeout or an abort while the main thread reads, a worker thread waiting for a message
 * while the main thread holds the channel, and the packet reader fed hostile and split input.
 */
import test from 'ava'
import { closeSync, readSync } from 'node:fs'
import { Queue } from '@tandem/ipc/queue'
import { moduleRef } from '@tandem/sync/task'
import { Channel, makeChannel, PACKET, PacketReader, packets } from '../src/internal/channel.ts'
import { hasChannel, slotsMade } from '../src/internal/direct.ts'
import type { Frame } from '../src/internal/link.ts'
import { isPayload } from './fixtures/direct-children.ts'
import { JOIN, joinThread, pipe, rejectionOf, startThread, watchdog } from './fixtures/pq-helpers.ts'
import { joinChild } from './fixtures/pq-process-helpers.ts'
import { Process } from '@tandem/ipc/process'
import type { ExecutionContext } from 'ava'

const CHILDREN = new URL('./fixtures/direct-children.ts', import.meta.url)

function child(t: ExecutionContext, name: string, args: unknown[]): Process {
  const p = new Process({ target: moduleRef(CHILDREN, name), args, daemon: true })
  t.teardown(async () => {
    try {
      if (p.isAlive()) p.kill()
      await p.joinAsync(10_000)
    } catch {}
  })
  p.start()
  return p
}

test.beforeEach((t) => {
  t.timeout(180_000)
})

test.serial('blocking recv() on the main thread: messages of another connection and 100 KB messages in between all arrive once, in order', async (t) => {
  const n = 700
  const [a, aChild] = pipe(t)
  const [b, bChild] = pipe(t)
  const p = child(t, 'interleave', [aChild, bChild, n])
  const disarm = watchdog(150_000, 'recv() in the interleave test')
  try {
    for (let i = 0; i < n; i++) {
      const m = a.recv() as ['a', number] | { i: number; big: Uint8Array }
      if (i % 7 === 3) {
        const big = m as { i: number; big: Uint8Array }
        t.is(big.i, i)
        t.is(big.big.length, 100_000)
        t.true(isPayload(big.big, i), `payload ${i} intact`)
      } else if (!Array.isArray(m) || m[0] !== 'a' || m[1] !== i) {
        t.fail(`message ${i} on a: ${JSON.stringify(m)}`)
        return
      }
    }
    t.is(a.recv(), null)
    for (let i = 0; i < n; i++) {
      const m = b.recv() as ['b', number]
      if (m[0] !== 'b' || m[1] !== i) {
        t.fail(`message ${i} on b: ${JSON.stringify(m)}`)
        return
      }
    }
    t.is(b.recv(), null)
  } finally {
    disarm()
  }
  t.is(await joinChild(p), 0)
})

test.serial('blocking recv() of a burst, then of sparse messages, then in round trips (the paced reads of a one-way stream): every message once, in order', async (t) => {
  const n = 30_000
  const [conn, childConn] = pipe(t)
  const p = child(t, 'burstSparseEcho', [childConn, n])
  const disarm = watchdog(150_000, 'recv() in the burst test')
  try {
    let bad = -1
    for (let i = 0; i < n && bad < 0; i++) if (conn.recv() !== i) bad = i
    t.is(bad, -1, 'the burst arrives in order')
    const sparse: unknown[] = []
    for (let i = 0; i < 40; i++) sparse.push(conn.recv())
    t.deepEqual(
      sparse,
      Array.from({ length: 40 }, (_, i) => -i),
    )
    for (let i = 0; i < 200; i++) {
      conn.send(`r${i}`)
      if (conn.recv() !== `r${i}`) {
        t.fail(`round trip ${i}`)
        return
      }
    }
    conn.send(null)
    t.throws(() => conn.recv(), { code: 'ERR_PIPE_EOF' })
  } finally {
    disarm()
  }
  t.is(await joinChild(p), 0)
})

test.serial('the main thread keeps its mark on the channel it used last, yet the channels of children that ended are retired and their slots reused', async (t) => {
  const before = slotsMade()
  for (let k = 0; k < 6; k++) {
    const [conn, childConn] = pipe(t)
    const p = child(t, 'echoOrLater', [childConn])
    // Blocking round trips: the main thread writes and reads this child's channel itself.
    for (let i = 0; i < 50; i++) {
      conn.send(i)
      t.is(conn.recv(), i)
    }
    conn.send(null)
    t.throws(() => conn.recv(), { code: 'ERR_PIPE_EOF' }, 'the child closed its end and exited')
    t.is(await joinChild(p), 0)
    // Looking for the channel finds it closing (the child is gone) and drops the mark.
    const deadline = Date.now() + 10_000
    while (hasChannel(p.pid!) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    t.false(hasChannel(p.pid!), `no channel to child ${k} after it ended`)
  }
  // Six children one after the other: a slot held by a mark that was never dropped would make
  // one new slot per child.
  t.true(slotsMade() <= Math.max(before, 1) + 2, `directory slots ${before} -> ${slotsMade()}`)
})

test.serial('recvAsync() with a timeout while the main thread reads the channel: TimeoutError, and the message that comes later is not lost', async (t) => {
  const [conn, childConn] = pipe(t)
  const p = child(t, 'echoOrLater', [childConn])
  // Round trips give the channel to the main thread (the second receive reads it directly).
  for (let i = 0; i < 20; i++) {
    conn.send(i)
    t.is(await conn.recvAsync({ timeout: JOIN }), i)
  }
  conn.send(['wait', 400, 'late'])
  const err = await rejectionOf(conn.recvAsync({ timeout: 50 }))
  t.is(err.code, 'ERR_TIMEOUT')
  t.is(await conn.recvAsync({ timeout: JOIN }), 'late')
  for (let i = 0; i < 5; i++) {
    conn.send(`x${i}`)
    t.is(conn.recv(), `x${i}`, 'blocking receives still work after the timeout')
  }
  conn.send(null)
  t.is(await joinChild(p), 0)
})

test.serial('recvAsync() aborted while the main thread reads the channel: AbortError, and the next message still arrives', async (t) => {
  const [conn, childConn] = pipe(t)
  const p = child(t, 'echoOrLater', [childConn])
  for (let i = 0; i < 20; i++) {
    conn.send(i)
    t.is(await conn.recvAsync({ timeout: JOIN }), i)
  }
  conn.send(['wait', 300, 'after abort'])
  const ctl = new AbortController()
  const pending = conn.recvAsync({ signal: ctl.signal })
  setTimeout(() => ctl.abort(new Error('stop')), 30)
  const err = await rejectionOf(pending)
  t.is(err.message, 'stop')
  t.is(await conn.recvAsync({ timeout: JOIN }), 'after abort')
  conn.send(null)
  t.is(await joinChild(p), 0)
})

test.serial('a worker thread waiting on another connection to the same child gets its message while the main thread holds the channel', async (t) => {
  const [a, aChild] = pipe(t)
  const [b, bChild] = pipe(t)
  const [report, reportChild] = pipe(t)
  const p = child(t, 'oneThenOther', [aChild, bChild])
  // The main thread takes the channel (a blocking round trip), then stops receiving.
  a.send('first')
  t.is(a.recv(), 'first')
  const th = startThread('recvAndReport', [b, reportChild])
  a.send('for b')
  t.deepEqual(await report.recvAsync({ timeout: JOIN }), ['msg', 'for b'])
  await joinThread(th)
  a.send('done')
  t.is(await joinChild(p), 0)
})

test.serial('byte messages received directly on the main thread stay intact after later receives (each is its own copy)', async (t) => {
  const n = 500
  const [conn, childConn] = pipe(t)
  const p = child(t, 'sendSmallBytes', [childConn, n])
  const disarm = watchdog(150_000, 'recvBytes() in the small-bytes test')
  const got: Uint8Array[] = []
  try {
    for (let i = 0; i < n; i++) got.push(conn.recvBytes())
    t.is(conn.recvBytes().length, 0)
  } finally {
    disarm()
  }
  t.true(
    got.every((b, i) => b.length === 1 + (i % 50) && isPayload(b, i)),
    'every message as sent, after all were received',
  )
  t.is(await joinChild(p), 0)
})

test('concurrent recvAsync() round trips with three children on the main thread: every answer reaches its own connection', async (t) => {
  const run = async (k: number): Promise<void> => {
    const [conn, childConn] = pipe(t)
    const p = child(t, 'echoOrLater', [childConn])
    for (let i = 0; i < 300; i++) {
      conn.send([k, i])
      const back = (await conn.recvAsync({ timeout: JOIN })) as [number, number]
      if (back[0] !== k || back[1] !== i) throw new Error(`connection ${k} got ${JSON.stringify(back)} for ${i}`)
    }
    conn.send(null)
    t.is(await joinChild(p), 0)
  }
  await Promise.all([run(1), run(2), run(3)])
  t.pass()
})

test.serial('an end closed here right after start() (as Python programs do) is written to directly, as a dormant one is', async (t) => {
  // pipe.ts _route() made the path direct only for a DORMANT local copy: closing it (CLOSED)
  // before the child had imported it left every message to it on the I/O thread's queue (a round
  // trip 17x slower).
  const [conn, childConn] = pipe(t)
  const p = child(t, 'echoOrLater', [childConn])
  childConn.close()
  for (let i = 0; i < 200; i++) {
    conn.send(i)
    t.is(conn.recv(), i)
  }
  // Routed once the child has imported its end (within a few round trips).
  let direct = false
  for (let i = 0; i < 100 && !direct; i++) {
    conn.send(i)
    conn.recv()
    direct = childConn._direct()
    if (!direct) await new Promise((r) => setTimeout(r, 50))
  }
  t.true(direct, 'messages to the child end go to its channel directly')
  conn.send(null)
  t.is(await joinChild(p), 0)
})

test.serial('process Queue: 3000 items of 0 to 8 KB put by a child arrive intact and in order (packed frames)', async (t) => {
  const n = 3000
  const q = new Queue<unknown>()
  const p = child(t, 'putSizes', [q, n])
  for (let i = 0; i < n; i++) {
    const m = (await q.getAsync({ timeout: JOIN })) as [number, Uint8Array]
    if (m[0] !== i || m[1].length !== (i * 997) % 8193 || !isPayload(m[1], i)) {
      t.fail(`item ${i}: ${m[0]}, ${m[1].length} bytes`)
      return
    }
  }
  t.is(await q.getAsync({ timeout: JOIN }), null)
  t.is(await joinChild(p), 0)
})

// ---- the packet reader ------------------------------------------------------------------------

function frameStream(count: number, seed: number): { bytes: Uint8Array; frames: { id: number; len: number }[] } {
  const parts: Buffer[] = []
  const frames: { id: number; len: number }[] = []
  let x = seed
  const rnd = (): number => (x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32
  for (let i = 0; i < count; i++) {
    const len = rnd() < 0.2 ? Math.floor(rnd() * 3 * PACKET) : Math.floor(rnd() * 200)
    const payload = new Uint8Array(len).map((_, k) => (i + k) & 255)
    // Two writers interleave their packets, as threads do.
    packets(3, 1, 2, i % 2, i, payload, 7, len, (p) => parts.push(p))
    frames.push({ id: i, len })
  }
  return { bytes: Buffer.concat(parts), frames }
}

test.serial(
  'messages of one to many packets (read directly up to 48 KiB) from two writer threads of a child, packets interleaved: every message once, intact, in order',
  async (t) => {
    const body = PACKET - 32
    // v8 adds a few bytes to a Uint8Array in an object: sizes on both sides of each boundary.
    const sizes = [10, body - 40, body - 20, body, 2 * body - 30, 2 * body + 30, 30_000, 48 * 1024 - 40, 48 * 1024 + 40, 100_000]
    const rounds = 30
    const [a, aChild] = pipe(t)
    const [b, bChild] = pipe(t)
    const p = child(t, 'sizesFromTwoThreads', [aChild, bChild, sizes, rounds])
    const disarm = watchdog(150_000, 'recv() in the many-packet test')
    try {
      for (const [conn, name] of [
        [a, 'a'],
        [b, 'b'],
      ] as const) {
        for (let i = 0; i < rounds * sizes.length; i++) {
          const m = (i % 2 === 0 ? conn.recv() : await conn.recvAsync({ timeout: 60_000 })) as { i: number; b: Uint8Array }
          if (m?.i !== i || m.b.length !== sizes[i % sizes.length] || !isPayload(m.b, i)) {
            t.fail(`message ${i} on ${name}: i ${m?.i}, ${m?.b?.length} bytes, intact ${m?.b !== undefined && isPayload(m.b, m.i)}`)
            return
          }
        }
        t.is(conn.recv(), null)
      }
      await joinChild(p, JOIN)
      t.is(p.exitCode, 0)
    } finally {
      disarm()
    }
  },
)

test('Channel.drained() resolves once a few KB left over by a full pipe are written (below the socket high-water mark there is no drain event)', async (t) => {
  const { parent, child } = makeChannel()
  const ch = new Channel(parent, { onFrame() {}, onClose() {} }, { validType: () => true })
  t.teardown(() => {
    ch.close()
    for (const fd of [child.read, child.readBlocking, child.write, parent.directRead!, parent.directWrite!]) closeSync(fd)
  })
  // 18 packets of 4 KB: the pipe (64 KB) takes 16, the socket keeps 8 KB (under its 16 KB mark).
  const body = new Uint8Array(PACKET - 32)
  for (let i = 0; i < 18; i++) ch.write(2, 1, 1, 1, body)
  let done = false
  const drained = ch.drained().then(() => {
    done = true
  })
  await new Promise((r) => setTimeout(r, 50))
  t.false(done, 'bytes still wait (the reader has not read)')
  // The reader takes everything: the last packets go out, and drained() must resolve.
  const buf = Buffer.alloc(64 * 1024)
  let got = 0
  const deadline = Date.now() + 10_000
  while (got < 18 * PACKET && Date.now() < deadline) {
    try {
      got += readSync(child.read, buf, 0, buf.length, null)
    } catch {
      await new Promise((r) => setTimeout(r, 5))
    }
  }
  t.is(got, 18 * PACKET)
  const outcome = await Promise.race([drained.then(() => 'drained'), new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000))])
  t.is(outcome, 'drained')
})

test('PacketReader: a stream cut at every kind of boundary gives back every frame intact', (t) => {
  const { bytes, frames } = frameStream(300, 7)
  for (const cut of [1, 2, 3, 31, 32, 33, 4095, 4096, 4097, 16384]) {
    const got: Frame[] = []
    const reader = new PacketReader((f) => got.push({ ...f, payload: Uint8Array.from(f.payload) }), { validType: (ty) => ty === 3 })
    for (let at = 0; at < bytes.length; at += cut) {
      const piece = bytes.subarray(at, Math.min(bytes.length, at + cut))
      reader.feed(Buffer.from(piece), piece.length)
    }
    t.is(got.length, frames.length, `cut ${cut}`)
    t.true(
      got.every((f, i) => f.id === frames[i]!.id && f.payload.length === frames[i]!.len && f.payload.every((v, k) => v === ((i + k) & 255))),
      `cut ${cut}: frames intact and in order`,
    )
  }
})

test('PacketReader: a partial packet handed to another reader (leftover/prepend) continues there', (t) => {
  const { bytes, frames } = frameStream(50, 3)
  const got: number[] = []
  let reader = new PacketReader((f) => got.push(f.id), { validType: () => true })
  let at = 0
  let turn = 0
  while (at < bytes.length) {
    const n = Math.min(bytes.length - at, 777 + turn * 13)
    reader.feed(Buffer.from(bytes.subarray(at, at + n)), n)
    at += n
    // Hand over between every read (only whole one-packet frames are independent of the reader).
    const left = reader.leftover()
    t.true(left.length < PACKET)
    const next = new PacketReader((f) => got.push(f.id), { validType: () => true })
    next.prepend(left)
    if (turn % 5 !== 4) reader = next
    else reader.prepend(left)
    turn++
  }
  const oneFrame = frames.filter((f) => f.len <= PACKET - 32).map((f) => f.id)
  t.deepEqual(
    got.filter((id) => oneFrame.includes(id)),
    oneFrame,
    'every one-packet frame arrives once, in order',
  )
})

test('PacketReader: 20,000 random inputs either parse or throw ERR_IPC_PROTOCOL; nothing else', (t) => {
  let x = 12345
  const rnd = (): number => (x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32
  let protocolErrors = 0
  for (let i = 0; i < 20_000; i++) {
    const n = Math.floor(rnd() * 200)
    const b = Buffer.alloc(n)
    for (let k = 0; k < n; k++) b[k] = Math.floor(rnd() * 256)
    if (n >= 2 && rnd() < 0.5) b.writeUInt16LE(32 + Math.floor(rnd() * 100), 0) // a plausible length
    const reader = new PacketReader(() => {}, { validType: (ty) => ty >= 1 && ty <= 12, maxFrame: 1 << 20 })
    try {
      reader.feed(b, n)
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_IPC_PROTOCOL') throw err
      protocolErrors++
    }
  }
  t.true(protocolErrors > 1000, `${protocolErrors} inputs refused`)
})
