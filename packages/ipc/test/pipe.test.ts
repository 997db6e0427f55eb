/**
 * Pipe and Connection within one process (the main thread and worker threads): what `send`
 * carries, `sendBytes` offsets and sizes in bytes, `recvBytes(maxlength)`, `recvBytesInto`,
 * `poll`, EOF after the peer closes, simplex pipes used the wrong way, use after close,
 * `recvAsync`/`pollAsync` with timeouts and signals, message boundaries, a 64 MiB message, and
 * `wait()`/`waitAsync()` on ends fed by threads.
 *
 * Ports of CPython's `_TestConnection` (test_connection's object and poll parts, test_duplex_false,
 * test_sendbytes, test_context), `_TestPoll` (test_empty_string, test_dont_merge) and `TestWait`
 * (test_wait_timeout, test_neg_timeout) from `Lib/test/_test_multiprocessing.py`, with threads;
 * the process versions are in pipe-process.test.ts.
 *
 * A message sent in one thread and received in the same thread is small (a large one could fill
 * the pipe before anyone reads); large ones go through an echo thread.
 */
import test from 'ava'
import { wait, waitAsync } from '@tandem/ipc/connection'
import { BrokenPipeError, BufferTooShort, ConnectionClosedError, ConnectionModeError, EOFError, MessageTooLongError } from '@tandem/ipc/errors'
import type { Connection } from '@tandem/ipc/pipe'
import { pattern, patternMismatch } from './fixtures/pq-bytes.ts'
import { errorOf, joinThread, pipe, recvWithin, rejectionOf, sleep, startThread, watchdog } from './fixtures/pq-helpers.ts'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

// ---- send / recv ----------------------------------------------------------------------------

test('Connection.send/recv: primitives, arrays and nested objects arrive equal', (t) => {
  const [a, b] = pipe(t)
  const values: unknown[] = [
    1,
    2.25,
    -0,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    'hello world',
    '',
    'ünïcødé \u{1f600}',
    true,
    false,
    null,
    [1, 2.25, null],
    [],
    { a: 1, b: { c: [1, { d: 'e' }], f: null }, g: [[[]]] },
    { nested: { deeper: { deepest: Array.from({ length: 100 }, (_, i) => ({ i })) } } },
  ]
  for (const v of values) {
    t.is(a.send(v), undefined)
    t.deepEqual(b.recv(), v, `value ${JSON.stringify(v)}`)
  }
  t.true(Object.is(sendRecv(a, b, -0), -0), '-0 keeps its sign')
})

function sendRecv(a: Connection, b: Connection, v: unknown): unknown {
  a.send(v)
  return b.recv()
}

test('Connection.send/recv: Map, Set, Date, RegExp, bigint and typed arrays arrive as themselves', (t) => {
  const [a, b] = pipe(t)
  const map = new Map<unknown, unknown>([
    ['k', 1],
    [2, { v: [3] }],
    ['nested', new Map([['x', new Set([1, 2])]])],
  ])
  const got = sendRecv(a, b, map) as Map<unknown, unknown>
  t.true(got instanceof Map)
  t.deepEqual(got, map)
  t.true((got.get('nested') as Map<string, Set<number>>).get('x') instanceof Set)

  const big = 2n ** 100n + 7n
  t.is(sendRecv(a, b, big), big)
  t.is(sendRecv(a, b, -(2n ** 64n)), -(2n ** 64n))
  t.deepEqual(sendRecv(a, b, { n: 5n, list: [1n, 2n] }), { n: 5n, list: [1n, 2n] })

  const d = new Date(1_700_000_000_123)
  const gotDate = sendRecv(a, b, d) as Date
  t.true(gotDate instanceof Date)
  t.is(gotDate.getTime(), d.getTime())
  const re = sendRecv(a, b, /ab+c/gi) as RegExp
  t.true(re instanceof RegExp)
  t.is(re.source, 'ab+c')
  t.is(re.flags, 'gi')

  const u8 = Uint8Array.from([0, 1, 254, 255])
  const gotU8 = sendRecv(a, b, u8) as Uint8Array
  t.true(gotU8 instanceof Uint8Array)
  t.deepEqual([...gotU8], [0, 1, 254, 255])
  const f64 = Float64Array.from([0.1, -2.5, Number.NaN])
  const gotF64 = sendRecv(a, b, f64) as Float64Array
  t.true(gotF64 instanceof Float64Array)
  t.deepEqual([...gotF64], [0.1, -2.5, Number.NaN])
  const gotObj = sendRecv(a, b, { bytes: Uint8Array.from([9, 8]), when: d, tags: new Set(['x']) }) as { bytes: Uint8Array; when: Date; tags: Set<string> }
  t.true(gotObj.bytes instanceof Uint8Array)
  t.deepEqual([...gotObj.bytes], [9, 8])
  t.true(gotObj.tags instanceof Set)
  t.is(gotObj.when.getTime(), d.getTime())
})

test('Connection.send/recv: an Error arrives as an Error with its class and message', (t) => {
  const [a, b] = pipe(t)
  const e = sendRecv(a, b, new Error('boom')) as Error
  t.true(e instanceof Error)
  t.is(e.message, 'boom')
  const te = sendRecv(a, b, new TypeError('bad type')) as Error
  t.true(te instanceof TypeError)
  t.is(te.message, 'bad type')
  const inside = sendRecv(a, b, { err: new RangeError('out') }) as { err: Error }
  t.true(inside.err instanceof RangeError)
  t.is(inside.err.message, 'out')
})

test('Connection.send: a value that cannot cross throws a TypeError and sends nothing', (t) => {
  const [a, b] = pipe(t)
  const err = errorOf(() => a.send({ f: () => 1 }))
  t.true(err instanceof TypeError, `got ${err.name}: ${err.message}`)
  t.false(b.poll(), 'nothing half-sent')
  a.send('still works')
  t.is(b.recv(), 'still works')
})

test('Connection: messages keep their order and boundaries (objects and bytes mixed)', (t) => {
  const [a, b] = pipe(t)
  for (let i = 0; i < 50; i++) {
    a.send(i)
    a.sendBytes(bytes('x'.repeat(i)))
  }
  for (let i = 0; i < 50; i++) {
    t.is(b.recv(), i)
    t.is(text(b.recvBytes()), 'x'.repeat(i))
  }
  t.false(b.poll())
})

test('Connection: duplex ends talk both ways', (t) => {
  const [a, b] = pipe(t)
  a.send('to b')
  b.send('to a')
  t.is(b.recv(), 'to b')
  t.is(a.recv(), 'to a')
  t.true(a.readable && a.writable && b.readable && b.writable)
})

// ---- bytes ----------------------------------------------------------------------------------

test('Connection.sendBytes: offset and size, as _TestConnection.test_sendbytes', (t) => {
  const [a, b] = pipe(t)
  const msg = bytes('abcdefghijklmnopqrstuvwxyz')

  a.sendBytes(msg)
  t.is(text(b.recvBytes()), 'abcdefghijklmnopqrstuvwxyz')
  a.sendBytes(msg, 5)
  t.is(text(b.recvBytes()), 'fghijklmnopqrstuvwxyz')
  a.sendBytes(msg, 7, 8)
  t.is(text(b.recvBytes()), 'hijklmno')
  a.sendBytes(msg, 26)
  t.is(b.recvBytes().byteLength, 0)
  a.sendBytes(msg, 26, 0)
  t.is(b.recvBytes().byteLength, 0)

  for (const [offset, size] of [
    [27, undefined],
    [22, 5],
    [26, 1],
    [-1, undefined],
    [4, -1],
  ] as [number, number | undefined][]) {
    const err = errorOf(() => a.sendBytes(msg, offset, size))
    t.true(err instanceof RangeError, `offset ${offset} size ${size}: ${err.name}`)
    t.is(err.code, 'ERR_OUT_OF_RANGE', `offset ${offset} size ${size}`)
  }
  t.false(b.poll(), 'a refused sendBytes sends nothing')
})

test('Connection.sendBytes: offset and size count bytes of a Float64Array, and of a view into a larger buffer', (t) => {
  const [a, b] = pipe(t)
  const f = Float64Array.from([1.5, 2.5, 3.5, 4.5, 5.5])
  a.sendBytes(f)
  const all = b.recvBytes()
  t.is(all.byteLength, 40)
  t.deepEqual([...new Float64Array(all.slice().buffer)], [1.5, 2.5, 3.5, 4.5, 5.5])

  a.sendBytes(f, 8, 16) // bytes 8..24: elements 1 and 2
  const mid = b.recvBytes()
  t.is(mid.byteLength, 16)
  t.deepEqual([...new Float64Array(mid.slice().buffer)], [2.5, 3.5])

  a.sendBytes(f, 36) // the last 4 bytes: half an element, still bytes
  t.deepEqual([...b.recvBytes()], [...new Uint8Array(f.buffer, 36, 4)])

  const view = f.subarray(1, 4) // byteOffset 8 into f.buffer
  a.sendBytes(view, 8)
  t.deepEqual([...new Float64Array(b.recvBytes().slice().buffer)], [3.5, 4.5])

  const u8view = new Uint8Array(bytes('0123456789').buffer, 2, 6) // '234567'
  a.sendBytes(u8view, 1, 3)
  t.is(text(b.recvBytes()), '345')

  const err = errorOf(() => a.sendBytes(f, 0, 41))
  t.true(err instanceof RangeError)
  t.is(err.code, 'ERR_OUT_OF_RANGE')
})

test('Connection.recvBytes: an empty message is a message (poll sees it, as _TestPoll.test_empty_string)', (t) => {
  const [a, b] = pipe(t)
  t.false(a.poll())
  b.sendBytes(new Uint8Array(0))
  t.true(a.poll())
  t.true(a.poll(), 'poll does not consume')
  const m = a.recvBytes()
  t.true(m instanceof Uint8Array)
  t.is(m.byteLength, 0)
  t.false(a.poll())
})

test('Connection.recvBytes(maxlength): a longer message throws ERR_MESSAGE_TOO_LONG and closes the connection', (t) => {
  const [a, b] = pipe(t)
  a.sendBytes(bytes('12345'))
  t.is(text(b.recvBytes(5)), '12345', 'exactly maxlength is fine')
  a.sendBytes(bytes('123456'))
  const err = errorOf(() => b.recvBytes(5))
  t.true(err instanceof MessageTooLongError, `got ${err.name}`)
  t.is(err.code, 'ERR_MESSAGE_TOO_LONG')
  t.true(b.closed, 'the connection is closed afterwards (as CPython)')
  t.is(errorOf(() => b.recvBytes()).code, 'ERR_CONNECTION_CLOSED')
  t.is(errorOf(() => b.recv()).code, 'ERR_CONNECTION_CLOSED')
})

test('Connection.recvBytes(maxlength): a negative maxlength is a RangeError', (t) => {
  const [a, b] = pipe(t)
  a.sendBytes(bytes('x'))
  const err = errorOf(() => b.recvBytes(-1))
  t.true(err instanceof RangeError)
  t.is(err.code, 'ERR_OUT_OF_RANGE')
  t.is(text(b.recvBytes()), 'x', 'the message is still there')
})

test('Connection.recvBytesInto: fills a typed array (at a byte offset), returns the byte count', (t) => {
  const [a, b] = pipe(t)
  const arr = Int32Array.from([0, 1, 2, 3])

  let buffer = new Int32Array(10)
  a.sendBytes(arr)
  t.is(b.recvBytesInto(buffer), 16)
  t.deepEqual([...buffer], [0, 1, 2, 3, 0, 0, 0, 0, 0, 0])

  buffer = new Int32Array(10)
  a.sendBytes(arr)
  t.is(b.recvBytesInto(buffer, 3 * 4), 16)
  t.deepEqual([...buffer], [0, 0, 0, 0, 1, 2, 3, 0, 0, 0])

  const u8 = new Uint8Array(8).fill(0xee)
  a.sendBytes(bytes('ab'))
  t.is(b.recvBytesInto(u8, 6), 2, 'a message that fits exactly at the end')
  t.deepEqual([...u8], [0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 97, 98])

  const view = new Uint8Array(new ArrayBuffer(16), 4, 8) // writes go to the view, not the whole buffer
  a.sendBytes(bytes('xyz'))
  t.is(b.recvBytesInto(view, 1), 3)
  t.deepEqual([...new Uint8Array(view.buffer)], [0, 0, 0, 0, 0, 120, 121, 122, 0, 0, 0, 0, 0, 0, 0, 0])
})

test('Connection.recvBytesInto: a buffer too short throws BufferTooShort whose data is the whole message', (t) => {
  const [a, b] = pipe(t)
  const longmsg = bytes('hello world'.repeat(10))
  const buffer = new Uint8Array(40).fill(32)
  a.sendBytes(longmsg)
  const err = errorOf(() => b.recvBytesInto(buffer)) as BufferTooShort
  t.true(err instanceof BufferTooShort, `got ${err.name}`)
  t.is(err.code, 'ERR_BUFFER_TOO_SHORT')
  t.true(err.data instanceof Uint8Array)
  t.is(text(err.data as Uint8Array), 'hello world'.repeat(10))
  t.false(b.closed, 'the connection stays usable')
  a.sendBytes(bytes('next'))
  t.is(text(b.recvBytes()), 'next', 'the long message was consumed, the next one is intact')

  a.sendBytes(bytes('abcd'))
  const atEnd = errorOf(() => b.recvBytesInto(new Uint8Array(6), 3)) as BufferTooShort
  t.true(atEnd instanceof BufferTooShort, 'offset counts: 4 bytes do not fit in 3')
  t.is(text(atEnd.data as Uint8Array), 'abcd')
})

test('Connection.recvBytesInto: an offset past the end of the buffer is a RangeError', (t) => {
  const [a, b] = pipe(t)
  a.sendBytes(bytes('x'))
  const err = errorOf(() => b.recvBytesInto(new Uint8Array(4), 5))
  t.true(err instanceof RangeError)
  t.is(err.code, 'ERR_OUT_OF_RANGE')
})

// ---- poll -----------------------------------------------------------------------------------

test('Connection.poll: false when empty (0 and a timeout), true when a message waits, and never consumes', (t) => {
  const [a, b] = pipe(t)
  t.false(a.poll())
  t.false(a.poll(0))
  t.false(a.poll(50))
  b.send(null)
  t.true(a.poll(0))
  t.true(a.poll(50))
  t.true(a.poll())
  t.is(a.recv(), null)
  t.false(a.poll())
})

test('Connection.poll: a negative or NaN timeout is a RangeError (convention 2)', (t) => {
  const [a] = pipe(t)
  for (const bad of [-1, Number.NaN]) {
    const err = errorOf(() => a.poll(bad))
    t.true(err instanceof RangeError, `${bad}`)
    t.is(err.code, 'ERR_OUT_OF_RANGE', `${bad}`)
  }
})

test('Connection.poll: does not merge messages (_TestPoll.test_dont_merge, within one process)', (t) => {
  const [a, b] = pipe(t)
  t.false(a.poll(0))
  t.false(a.poll(100))
  b.sendBytes(bytes('a'))
  b.sendBytes(bytes('b'))
  b.sendBytes(bytes('cd'))
  t.is(text(a.recvBytes()), 'a')
  t.true(a.poll(1000))
  t.true(a.poll(1000))
  t.is(text(a.recvBytes()), 'b')
  t.true(a.poll(1000))
  t.true(a.poll(0))
  t.is(text(a.recvBytes()), 'cd')
  t.false(a.poll(0))
})

// ---- EOF, close, modes ----------------------------------------------------------------------

test('Connection: after the peer closes, the remaining messages are read, then EOFError (recv and recvBytes)', (t) => {
  const [a, b] = pipe(t)
  a.send(1)
  a.sendBytes(bytes('two'))
  a.send({ three: 3 })
  a.close()
  t.true(a.closed)
  t.false(b.closed)
  t.is(b.recv(), 1)
  t.is(text(b.recvBytes()), 'two')
  t.deepEqual(b.recv(), { three: 3 })
  const e1 = errorOf(() => b.recv())
  t.true(e1 instanceof EOFError, `got ${e1.name}`)
  t.is(e1.code, 'ERR_PIPE_EOF')
  t.is(errorOf(() => b.recvBytes()).code, 'ERR_PIPE_EOF')
  t.is(errorOf(() => b.recvBytesInto(new Uint8Array(4))).code, 'ERR_PIPE_EOF')
  t.true(b.readable, 'readable and writable do not change at EOF (as CPython)')
  t.true(b.writable)
  t.false(b.closed)
})

test('Connection.poll: true at EOF (recv would not block: it throws EOFError), as CPython', (t) => {
  const [a, b] = pipe(t)
  a.close()
  t.true(b.poll(0))
  t.true(b.poll(1000))
  t.is(errorOf(() => b.recv()).code, 'ERR_PIPE_EOF')
})

test('Connection.recvAsync: rejects with EOFError once the peer closes', async (t) => {
  const [a, b] = pipe(t)
  a.send('last')
  a.close()
  t.is(await b.recvAsync({ timeout: 30_000 }), 'last')
  const err = await rejectionOf(b.recvAsync({ timeout: 30_000 }))
  t.true(err instanceof EOFError)
  t.is(err.code, 'ERR_PIPE_EOF')
})

test('Connection.recvAsync: a pending receive rejects with EOFError when the peer closes later', async (t) => {
  const [a, b] = pipe(t)
  const pending = rejectionOf(b.recvAsync({ timeout: 30_000 }))
  await sleep(50)
  a.close()
  const err = await pending
  t.is(err.code, 'ERR_PIPE_EOF')
})

test('Connection.send: to a closed peer throws BrokenPipeError (ERR_BROKEN_PIPE), never a crash', async (t) => {
  const [a, b] = pipe(t)
  b.close()
  const err = errorOf(() => a.send('anyone?'))
  t.true(err instanceof BrokenPipeError, `got ${err.name}: ${err.message}`)
  t.is(err.code, 'ERR_BROKEN_PIPE')
  t.is(errorOf(() => a.sendBytes(new Uint8Array(1024))).code, 'ERR_BROKEN_PIPE')
  t.false(a.closed, 'the writer itself is not closed')
  await sleep(20)
})

test('Pipe(false): [reader, writer]; readable/writable; the wrong direction throws ConnectionModeError', (t) => {
  const [reader, writer] = pipe(t, false)
  t.is(writer.send(1), undefined)
  t.is(reader.recv(), 1)
  t.true(reader.readable)
  t.false(reader.writable)
  t.false(writer.readable)
  t.true(writer.writable)

  for (const [what, fn] of [
    ['reader.send', () => reader.send(2)],
    ['reader.sendBytes', () => reader.sendBytes(bytes('x'))],
  ] as const) {
    const err = errorOf(fn)
    t.true(err instanceof ConnectionModeError, `${what}: ${err.name}`)
    t.is(err.code, 'ERR_CONNECTION_NOT_WRITABLE', what)
  }
  for (const [what, fn] of [
    ['writer.recv', () => writer.recv()],
    ['writer.recvBytes', () => writer.recvBytes()],
    ['writer.recvBytesInto', () => writer.recvBytesInto(new Uint8Array(4))],
    ['writer.poll', () => writer.poll()],
  ] as const) {
    const err = errorOf(fn)
    t.true(err instanceof ConnectionModeError, `${what}: ${err.name}`)
    t.is(err.code, 'ERR_CONNECTION_NOT_READABLE', what)
  }
  writer.send('still fine')
  t.is(reader.recv(), 'still fine')
})

test('Pipe(false): the async reads of a write-only end reject with ERR_CONNECTION_NOT_READABLE', async (t) => {
  const [, writer] = pipe(t, false)
  t.is((await rejectionOf(writer.recvAsync({ timeout: 1000 }))).code, 'ERR_CONNECTION_NOT_READABLE')
  t.is((await rejectionOf(writer.pollAsync({ timeout: 1000 }))).code, 'ERR_CONNECTION_NOT_READABLE')
  t.is((await rejectionOf(writer.recvBytesAsync({ timeout: 1000 }))).code, 'ERR_CONNECTION_NOT_READABLE')
})

test('Connection: use after close throws ConnectionClosedError (ERR_CONNECTION_CLOSED); close() twice is fine', async (t) => {
  const [a, b] = pipe(t)
  a.close()
  t.true(a.closed)
  t.notThrows(() => a.close())
  for (const [what, fn] of [
    ['send', () => a.send(1)],
    ['sendBytes', () => a.sendBytes(bytes('x'))],
    ['recv', () => a.recv()],
    ['recvBytes', () => a.recvBytes()],
    ['recvBytesInto', () => a.recvBytesInto(new Uint8Array(4))],
    ['poll', () => a.poll()],
  ] as const) {
    const err = errorOf(fn)
    t.true(err instanceof ConnectionClosedError, `${what}: ${err.name}`)
    t.is(err.code, 'ERR_CONNECTION_CLOSED', what)
  }
  t.is((await rejectionOf(a.recvAsync({ timeout: 1000 }))).code, 'ERR_CONNECTION_CLOSED')
  t.is((await rejectionOf(a.pollAsync({ timeout: 1000 }))).code, 'ERR_CONNECTION_CLOSED')
  t.is((await rejectionOf(a.recvBytesAsync({ timeout: 1000 }))).code, 'ERR_CONNECTION_CLOSED')
  t.is((await rejectionOf(a.recvBytesIntoAsync(new Uint8Array(4), 0, { timeout: 1000 }))).code, 'ERR_CONNECTION_CLOSED')
  t.false(b.closed, 'closing one end does not close the other')
})

test('Connection[Symbol.dispose]: `using` closes both ends (_TestConnection.test_context)', (t) => {
  const [x, y] = pipe(t)
  {
    using a = x
    using b = y
    a.send(1729)
    t.is(b.recv(), 1729)
    t.false(a.closed)
    t.false(b.closed)
  }
  t.true(x.closed)
  t.true(y.closed)
  t.is(errorOf(() => x.recv()).code, 'ERR_CONNECTION_CLOSED')
  t.is(errorOf(() => y.recv()).code, 'ERR_CONNECTION_CLOSED')
})

// ---- async forms ----------------------------------------------------------------------------

test('Connection.recvAsync: resolves with a message that is already there and with one sent later', async (t) => {
  const [a, b] = pipe(t)
  a.send('now')
  t.is(await b.recvAsync(), 'now')
  const later = b.recvAsync({ timeout: 30_000 })
  await sleep(30)
  a.send({ later: true })
  t.deepEqual(await later, { later: true })
})

test('Connection.recvAsync: a timeout rejects with ERR_TIMEOUT and takes no message', async (t) => {
  const [a, b] = pipe(t)
  const err = await rejectionOf(b.recvAsync({ timeout: 50 }))
  t.is(err.code, 'ERR_TIMEOUT', `got ${err.name}: ${err.message}`)
  const zero = await rejectionOf(b.recvAsync({ timeout: 0 }))
  t.is(zero.code, 'ERR_TIMEOUT', 'timeout 0 polls')
  a.send('after')
  t.is(b.recv(), 'after')
  t.false(b.poll())
})

test('Connection.recvAsync: an aborted receive rejects with the reason and takes no message (the next recv gets it)', async (t) => {
  const [a, b] = pipe(t)
  const ac = new AbortController()
  const pending = b.recvAsync({ signal: ac.signal })
  const reason = new Error('changed my mind')
  ac.abort(reason)
  t.is(await rejectionOf(pending), reason)
  a.send('for the next one')
  a.sendBytes(bytes('and bytes'))
  t.is(b.recv(), 'for the next one')
  t.is(text(b.recvBytes()), 'and bytes')

  const pre = new AbortController()
  pre.abort(new Error('before'))
  a.send('kept')
  t.is((await rejectionOf(b.recvAsync({ signal: pre.signal }))).message, 'before', 'an aborted signal rejects at once')
  t.is(b.recv(), 'kept', 'even with a message waiting, the pre-aborted receive took nothing')
})

test('Connection.recvAsync: several aborted receives in a row lose nothing; a later receive still works', async (t) => {
  const [a, b] = pipe(t)
  for (let i = 0; i < 20; i++) {
    const ac = new AbortController()
    const p = b.recvAsync({ signal: ac.signal })
    ac.abort()
    const err = await rejectionOf(p)
    t.is(err.name, 'AbortError')
  }
  const p = b.recvAsync({ timeout: 30_000 })
  for (let i = 0; i < 5; i++) a.send(i)
  t.is(await p, 0)
  for (let i = 1; i < 5; i++) t.is(b.recv(), i)
})

test('Connection.recvBytesAsync / recvBytesIntoAsync: bytes, maxlength, a short buffer and a timeout', async (t) => {
  const [a, b] = pipe(t)
  a.sendBytes(bytes('async bytes'))
  t.is(text(await b.recvBytesAsync({ timeout: 30_000 })), 'async bytes')
  const into = new Uint8Array(10)
  a.sendBytes(bytes('into'))
  t.is(await b.recvBytesIntoAsync(into, 2, { timeout: 30_000 }), 4)
  t.is(text(into.subarray(2, 6)), 'into')
  a.sendBytes(bytes('too long for four'))
  const short = (await rejectionOf(b.recvBytesIntoAsync(new Uint8Array(4), 0, { timeout: 30_000 }))) as BufferTooShort
  t.is(short.code, 'ERR_BUFFER_TOO_SHORT')
  t.is(text(short.data as Uint8Array), 'too long for four')
  t.is((await rejectionOf(b.recvBytesAsync({ timeout: 50 }))).code, 'ERR_TIMEOUT')
  a.sendBytes(bytes('123456'))
  t.is((await rejectionOf(b.recvBytesAsync({ maxlength: 3, timeout: 30_000 }))).code, 'ERR_MESSAGE_TOO_LONG')
  t.true(b.closed)
})

test('Connection.pollAsync: false at the timeout, true when a message arrives (not consumed); an abort rejects', async (t) => {
  const [a, b] = pipe(t)
  t.false(await b.pollAsync({ timeout: 0 }))
  t.false(await b.pollAsync({ timeout: 50 }))
  const p = b.pollAsync({ timeout: 30_000 })
  await sleep(30)
  a.send('x')
  t.true(await p)
  t.true(await b.pollAsync())
  t.is(b.recv(), 'x')
  const ac = new AbortController()
  const aborted = b.pollAsync({ signal: ac.signal })
  ac.abort(new Error('stop'))
  t.is((await rejectionOf(aborted)).message, 'stop')
  a.send('y')
  t.is(b.recv(), 'y')
})

test('Connection: a negative timeout of an async form is a RangeError', async (t) => {
  const [, b] = pipe(t)
  t.is((await rejectionOf(b.recvAsync({ timeout: -1 }))).code, 'ERR_OUT_OF_RANGE')
  t.is((await rejectionOf(b.pollAsync({ timeout: -1 }))).code, 'ERR_OUT_OF_RANGE')
})

// ---- worker threads -------------------------------------------------------------------------

test('Connection: an end passed to a worker thread; echo of objects and bytes', async (t) => {
  const [a, b] = pipe(t)
  const [c, d] = pipe(t)
  const objEcho = startThread('echoObjects', [b])
  const byteEcho = startThread('echoBytes', [d])
  const values = [1, 'two', { three: [3n] }, new Map([[4, 'four']]), Uint8Array.from([5])]
  for (const v of values) {
    a.send(v)
    t.deepEqual(await recvWithin(a), v)
  }
  c.sendBytes(bytes('hello world'))
  t.is(text(c.recvBytes()), 'hello world')
  a.send(null)
  c.sendBytes(new Uint8Array(0))
  await joinThread(objEcho)
  await joinThread(byteEcho)
  t.is((await rejectionOf(a.recvAsync({ timeout: 30_000 }))).code, 'ERR_PIPE_EOF', 'the thread closed its end')
  t.is((await rejectionOf(c.recvBytesAsync({ timeout: 30_000 }))).code, 'ERR_PIPE_EOF')
})

test('Connection: a 64 MiB message through a worker thread and back, intact, with the boundaries around it', async (t) => {
  t.timeout(180_000)
  const [a, b] = pipe(t)
  const th = startThread('echoBytes', [b])
  const size = 64 * 1024 * 1024
  a.sendBytes(bytes('before'))
  t.is(text(await recvBytesWithin(a)), 'before')
  a.sendBytes(pattern(size, 3))
  const back = await recvBytesWithin(a, 150_000)
  t.is(back.byteLength, size)
  t.is(patternMismatch(back, 3), -1)
  a.sendBytes(bytes('after'))
  t.is(text(await recvBytesWithin(a)), 'after')
  a.sendBytes(new Uint8Array(0))
  await joinThread(th)
})

function recvBytesWithin(conn: Connection, timeout = 60_000): Promise<Uint8Array> {
  return conn.recvBytesAsync({ timeout })
}

test('Connection.recv: a worker thread blocked in recv() gets the message the main thread sends', async (t) => {
  const [a, b] = pipe(t)
  const [rep, repPeer] = pipe(t)
  const th = startThread('recvAndReport', [b, repPeer])
  await sleep(100)
  a.send({ hello: 'thread' })
  t.deepEqual(await recvWithin(rep), ['msg', { hello: 'thread' }])
  await joinThread(th)
})

test('Connection.recv: a worker thread blocked in recv() gets EOFError when the main thread closes the peer', async (t) => {
  const [a, b] = pipe(t)
  const out = new Int32Array(new SharedArrayBuffer(4))
  const th = startThread('recvOutcome', [b, out])
  await sleep(100)
  a.close()
  await joinThread(th)
  t.is(Atomics.load(out, 0), 2, '2 = EOFError with code ERR_PIPE_EOF')
})

test('Connection.recv: the main thread blocked in recv() gets EOFError when a worker thread closes the peer', async (t) => {
  const [a, b] = pipe(t)
  b.send('one')
  const th = startThread('sendAll', [b, ['two', 'three']])
  const disarm = watchdog(90_000, 'Connection.recv() in the main thread')
  try {
    t.is(a.recv(), 'one')
    t.is(a.recv(), 'two')
    t.is(a.recv(), 'three')
    t.is(errorOf(() => a.recv()).code, 'ERR_PIPE_EOF')
  } finally {
    disarm()
  }
  await joinThread(th)
})

test('Connection: an end sent through another connection to a worker thread works there', async (t) => {
  const [conn, childConn] = pipe(t)
  const th = startThread('childAccess', [childConn])
  const [r1, w1] = pipe(t, false)
  conn.send(w1)
  t.is(await recvWithin(r1), 'all is well')
  const [r2, w2] = pipe(t, false)
  conn.send(r2)
  w2.send('foobar')
  t.is(await recvWithin(conn), 'foobarfoobar')
  await joinThread(th)
})

// ---- wait() ---------------------------------------------------------------------------------

test('wait(): [] at the timeout, then the ready end (TestWait.test_wait_timeout)', (t) => {
  const [a, b] = pipe(t)
  t.deepEqual(wait([a, b], 200), [])
  t.deepEqual(wait([a, b], 0), [])
  b.send(null)
  const ready = wait([a, b], 20_000)
  t.is(ready.length, 1)
  t.is(ready[0], a, 'the very object passed in')
  a.send(null)
  t.deepEqual(new Set(wait([a, b], 20_000)), new Set([a, b]))
  t.is(a.recv(), null)
  t.is(b.recv(), null)
  t.deepEqual(wait([a, b], 0), [])
})

test('wait(): a negative timeout is a RangeError (TestWait.test_neg_timeout; Python treats it as 0, convention 2 refuses it)', (t) => {
  const [a] = pipe(t)
  const err = errorOf(() => wait([a], -1))
  t.true(err instanceof RangeError)
  t.is(err.code, 'ERR_OUT_OF_RANGE')
})

test('wait(): an end at EOF is ready; an empty list with a timeout returns []', (t) => {
  const [a, b] = pipe(t)
  const [c] = pipe(t)
  b.close()
  t.deepEqual(wait([a, c], 20_000), [a])
  t.is(errorOf(() => a.recv()).code, 'ERR_PIPE_EOF')
  t.deepEqual(wait([], 10), [])
})

test('wait(): readers fed by four worker threads, read until every one is at EOF (TestWait.test_wait with threads)', async (t) => {
  const readers: Connection[] = []
  const threads = []
  const messages: string[] = []
  for (let i = 0; i < 4; i++) {
    const [r, w] = pipe(t, false)
    threads.push(startThread('sendAll', [w, Array.from({ length: 10 }, (_, k) => `${i}:${k}`)]))
    readers.push(r)
  }
  const deadline = Date.now() + 60_000
  while (readers.length > 0) {
    if (Date.now() > deadline) throw new Error('wait loop did not finish')
    const ready = await waitAsync(readers, { timeout: 30_000 })
    t.true(ready.length > 0, 'something is ready before the timeout')
    for (const r of ready) {
      try {
        messages.push(r.recv() as string)
      } catch (err) {
        t.is((err as { code?: string }).code, 'ERR_PIPE_EOF')
        readers.splice(readers.indexOf(r), 1)
        r.close()
      }
    }
  }
  for (const th of threads) await joinThread(th)
  messages.sort()
  t.deepEqual(messages, Array.from({ length: 40 }, (_, n) => `${Math.floor(n / 10)}:${n % 10}`).sort())
})

test('waitAsync(): resolves [] at the timeout, the ready ends when a message arrives; an abort rejects', async (t) => {
  const [a, b] = pipe(t)
  t.deepEqual(await waitAsync([a, b], { timeout: 50 }), [])
  const p = waitAsync([a, b], { timeout: 30_000 })
  await sleep(30)
  a.send('to b')
  t.deepEqual(await p, [b])
  t.is(b.recv(), 'to b')
  const ac = new AbortController()
  const aborted = waitAsync([a, b], { signal: ac.signal })
  ac.abort(new Error('no more'))
  t.is((await rejectionOf(aborted)).message, 'no more')
  b.send('still there')
  t.deepEqual(await waitAsync([a, b], { timeout: 30_000 }), [a])
  t.is(a.recv(), 'still there', 'waiting takes no message')
})

test('wait(): a closed connection in the list is refused with ERR_CONNECTION_CLOSED', (t) => {
  const [a, b] = pipe(t)
  a.close()
  const err = errorOf(() => wait([a, b], 0))
  t.is(err.code, 'ERR_CONNECTION_CLOSED')
})
