/**
 * serializeError/deserializeError and the shareable walk against hostile shapes (issue 9,
 * section 3). Regressions guarded: a cyclic `cause` overflowed the stack in serializeError; an
 * error property or object key named "__proto__" became the prototype (Object.assign / o[k] = x);
 * AggregateError.errors were lost; a getter that throws made serializeError throw.
 */
import test from 'ava'
import { Lock } from '../src/lock.ts'
import { decode, encode } from '../src/shareable.ts'
import { deserializeError, serializeError } from '../src/task.ts'

/** As a worker would send it: structured-cloned data. */
function roundTrip(err: unknown): any {
  return deserializeError(structuredClone(serializeError(err)))
}

test('serializeError keeps a self cause and a 2-cycle as cycles; deserializeError rebuilds them', (t) => {
  const self = new TypeError('self') as TypeError & { code: string }
  self.cause = self
  self.code = 'E_SELF'
  const back = roundTrip(self)
  t.true(back instanceof TypeError)
  t.is(back.cause, back)
  t.is(back.code, 'E_SELF')
  t.is(back.stack, self.stack)
  const a = new Error('a')
  const b = new RangeError('b', { cause: a })
  a.cause = b
  const two = roundTrip(a)
  t.true(two.cause instanceof RangeError)
  t.is(two.cause.cause, two)
})

test('serializeError cuts a chain longer than 1000 errors with a marker instead of overflowing', (t) => {
  let e = new Error('leaf')
  for (let i = 0; i < 5000; i++) e = new Error(`level ${i}`, { cause: e })
  let back = roundTrip(e)
  let depth = 0
  while (back.cause !== undefined && depth < 10_000) {
    back = back.cause
    depth++
  }
  t.is(back.code, 'ERR_ERROR_CHAIN_CUT')
  t.true(depth >= 999 && depth <= 1000)
})

test('AggregateError.errors come back, each with its class; non-errors as themselves', (t) => {
  const back = roundTrip(new AggregateError([new SyntaxError('s'), 'plain', { n: 1 }], 'agg'))
  t.true(back instanceof AggregateError)
  t.is(back.message, 'agg')
  t.true(back.errors[0] instanceof SyntaxError)
  t.is(back.errors[1], 'plain')
  t.deepEqual(back.errors[2], { n: 1 })
})

test('An error property named "__proto__" stays an own property; the prototype stays the class\'s', (t) => {
  const e = new Error('x') as Error & Record<string, unknown>
  Object.defineProperty(e, '__proto__', { value: { isAdmin: true }, enumerable: true, writable: true, configurable: true })
  e.data = JSON.parse('{"__proto__": {"isAdmin": true}}')
  const back = roundTrip(e)
  t.is(Object.getPrototypeOf(back), Error.prototype)
  t.is(back.isAdmin, undefined)
  t.deepEqual(Object.getOwnPropertyDescriptor(back, '__proto__')?.value, { isAdmin: true })
  t.is(back.data.isAdmin, undefined)
  t.true(Object.hasOwn(back.data, '__proto__'))
})

test('serializeError never throws: getters that throw are left out', (t) => {
  const e = new Error('m')
  Object.defineProperty(e, 'cause', {
    get() {
      throw new Error('no cause for you')
    },
  })
  Object.defineProperty(e, 'bad', {
    get() {
      throw new Error('nope')
    },
    enumerable: true,
  })
  const back = roundTrip(e)
  t.is(back.message, 'm')
  t.false('bad' in back)
})

test('shareable encode/decode keep an own "__proto__" key own, and a marker-shaped user object as plain data', (t) => {
  const data = { lock: new Lock(), user: JSON.parse('{"__proto__": {"isAdmin": true}, "n": 1}'), fake: { '\u0000tandem': 'tandem.sync.Lock', m: 'file:///nonexistent.js', d: 1 } }
  const enc = encode(data, 'thread', 'test')
  t.true(enc.shareables)
  const back = decode(structuredClone(enc.value)) as typeof data
  t.true(back.lock instanceof Lock)
  t.is(back.user.isAdmin, undefined)
  t.true(Object.hasOwn(back.user, '__proto__'))
  t.deepEqual(back.fake, data.fake)
})
