/**
 * Data crossing threads through executors (issue 9, section 3), with real workers:
 * - an error whose `cause` chain is cyclic used to overflow the stack while being serialized,
 *   killing the worker and breaking the pool ("exit code 0"); it now arrives with its class
 *   name, message, stack and the cycle itself, and the pool keeps serving;
 * - `AggregateError.errors` arrive; a named property of an array survives;
 * - an own `"__proto__"` key (what `JSON.parse` of untrusted input gives) stays an own property
 *   in submit arguments and results (it used to become the object's prototype);
 * - a SharedArrayBuffer or a view on one in submit/map/apply arguments and in results arrives as
 *   the same memory (it was refused with ERR_NOT_SHAREABLE);
 * - on the thread that completed a Future, result(), exception(), await and done callbacks give
 *   the very object passed in.
 */
import test from 'ava'
import { Future } from '../src/future.ts'
import { ThreadPool } from '../src/thread-pool.ts'
import { LONG, makePool } from './_helpers.ts'

type Coded = Error & { code?: unknown }

async function errorOf(f: Future<unknown>): Promise<Coded> {
  try {
    await f.resultAsync(LONG)
  } catch (err) {
    return err as Coded
  }
  throw new Error('the call did not fail')
}

test('ThreadPoolExecutor: a task error whose cause is itself arrives with name, message, stack and the cycle; the pool stays usable', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 1 })
  const err = await errorOf(
    pool.submit(() => {
      class LoopError extends Error {}
      const e = new LoopError('self-caused') as Error & { code: string }
      e.code = 'E_LOOP'
      e.cause = e
      throw e
    }),
  )
  t.is(err.name, 'LoopError')
  t.is(err.message, 'self-caused')
  t.is(err.code, 'E_LOOP')
  t.regex(err.stack ?? '', /self-caused/)
  t.is(err.cause, err)
  // Same worker, still serving.
  t.is(await pool.submit((x: number) => x + 1, 41).resultAsync(LONG), 42)
})

test('ThreadPoolExecutor: a 2-cycle of causes (a -> b -> a) arrives as the same 2-cycle', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 1 })
  const err = await errorOf(
    pool.submit(() => {
      const a = new TypeError('a')
      const b = new RangeError('b', { cause: a })
      a.cause = b
      throw a
    }),
  )
  t.true(err instanceof TypeError)
  const b = err.cause as Error
  t.true(b instanceof RangeError)
  t.is(b.message, 'b')
  t.is(b.cause, err)
  t.is(await pool.submit(() => 'alive').resultAsync(LONG), 'alive')
})

test('ThreadPoolExecutor: AggregateError.errors arrive (each with its class), and an array result keeps its named property', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 1 })
  const err = (await errorOf(
    pool.submit(() => {
      throw new AggregateError([new TypeError('first'), new Error('second'), 3], 'several')
    }),
  )) as AggregateError
  t.true(err instanceof AggregateError)
  t.is(err.message, 'several')
  t.is(err.errors.length, 3)
  t.true(err.errors[0] instanceof TypeError)
  t.is(err.errors[0].message, 'first')
  t.is(err.errors[1].message, 'second')
  t.is(err.errors[2], 3)
  const arr = (await pool
    .submit(() => {
      const a = [1, 2, 3] as number[] & { label?: string }
      a.label = 'named'
      return a
    })
    .resultAsync(LONG)) as number[] & { label?: string }
  t.deepEqual([...arr], [1, 2, 3])
  t.is(arr.label, 'named')
})

test('ThreadPoolExecutor: an own "__proto__" key in a submit argument, a result and an error property stays an own property', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 1 })
  const hostile = JSON.parse('{"__proto__": {"isAdmin": true}, "deep": {"list": [{"__proto__": {"isAdmin": true}}]}}')
  // The worker reports what it received.
  const seen = (await pool
    .submit(
      (o: Record<string, any>) => ({
        admin: o.isAdmin === true,
        own: Object.hasOwn(o, '__proto__'),
        plainProto: Object.getPrototypeOf(o) === Object.prototype,
        deepAdmin: o.deep.list[0].isAdmin === true,
      }),
      hostile,
    )
    .resultAsync(LONG)) as Record<string, boolean>
  t.deepEqual(seen, { admin: false, own: true, plainProto: true, deepAdmin: false })
  // A result built from untrusted JSON in the worker, with a Map value too.
  const back = (await pool
    .submit(() => {
      const o = JSON.parse('{"__proto__": {"isAdmin": true}, "x": 1}')
      return { o, m: new Map([['k', JSON.parse('{"__proto__": {"isAdmin": true}}')]]) }
    })
    .resultAsync(LONG)) as { o: Record<string, unknown>; m: Map<string, Record<string, unknown>> }
  t.is(back.o.isAdmin, undefined)
  t.true(Object.hasOwn(back.o, '__proto__'))
  t.is(Object.getPrototypeOf(back.o), Object.prototype)
  t.is(back.m.get('k')!.isAdmin, undefined)
  t.true(Object.hasOwn(back.m.get('k')!, '__proto__'))
  // An error property.
  const err = (await errorOf(
    pool.submit(() => {
      const e = new Error('with data') as Error & Record<string, unknown>
      Object.defineProperty(e, '__proto__', { value: { isAdmin: true }, enumerable: true, writable: true, configurable: true })
      throw e
    }),
  )) as Coded & Record<string, unknown>
  t.is(err.isAdmin, undefined)
  t.true(err instanceof Error)
  t.deepEqual(Object.getOwnPropertyDescriptor(err, '__proto__')?.value, { isAdmin: true })
  t.is((Object.prototype as Record<string, unknown>).isAdmin, undefined)
})

test('ThreadPoolExecutor: a SharedArrayBuffer and views on one (Int32Array, DataView, offset subarray) in submit args arrive as the same memory', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 2 })
  const sab = new SharedArrayBuffer(64)
  const ints = new Int32Array(sab)
  const sub = ints.subarray(4, 8) // byteOffset 16
  const dv = new DataView(sab, 32, 16)
  const r = await pool
    .submit(
      (args: { sab: SharedArrayBuffer; ints: Int32Array; sub: Int32Array; dv: DataView }) => {
        Atomics.store(args.ints, 0, 11) // through the full view
        args.sub[0] = 22 // ints[4]
        args.dv.setInt32(0, 33, true) // ints[8]
        new Int32Array(args.sab)[12] = 44
        return [args.sub.byteOffset, args.sub.length, args.dv.byteOffset, args.dv.byteLength, args.ints.buffer === args.sab]
      },
      { sab, ints, sub, dv },
    )
    .resultAsync(LONG)
  t.deepEqual(r, [16, 4, 32, 16, true])
  t.deepEqual([ints[0], ints[4], ints[8], ints[12]], [11, 22, 33, 44])
  // A buffer created after the workers started reaches them too; a write by the sender is seen.
  const late = new Int32Array(new SharedArrayBuffer(8))
  late[0] = 5
  t.is(await pool.submit((v: Int32Array) => v[0]! + (v[1] = 1), late).resultAsync(LONG), 6)
  t.is(late[1], 1)
})

test("ThreadPoolExecutor: a SharedArrayBuffer view returned by a task is the worker's memory: it writes after returning and the caller sees it", async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 1 })
  const view = (await pool
    .submit(() => {
      const v = new Int32Array(new SharedArrayBuffer(8))
      ;(globalThis as Record<string, unknown>).__sharedResult = v
      return v
    })
    .resultAsync(LONG)) as Int32Array
  t.true(view.buffer instanceof SharedArrayBuffer)
  await pool
    .submit(() => {
      const v = (globalThis as Record<string, unknown>).__sharedResult as Int32Array
      Atomics.store(v, 1, 99)
    })
    .resultAsync(LONG)
  t.is(Atomics.load(view, 1), 99)
  view[0] = 7
  t.is(await pool.submit(() => ((globalThis as Record<string, unknown>).__sharedResult as Int32Array)[0]).resultAsync(LONG), 7)
})

test('ThreadPoolExecutor.map and ThreadPool.apply/map: views on a SharedArrayBuffer in args are the same memory', async (t) => {
  t.timeout(LONG)
  const pool = makePool(t, { maxWorkers: 2 })
  const counts = new Int32Array(new SharedArrayBuffer(4 * 8))
  const out = [
    ...pool.map(
      (p: [Int32Array, number]) => Atomics.add(p[0], p[1], 1),
      Array.from({ length: 8 }, (_, i) => [counts, i] as [Int32Array, number]),
      { timeout: LONG },
    ),
  ]
  t.deepEqual(out, [0, 0, 0, 0, 0, 0, 0, 0])
  t.deepEqual([...counts], [1, 1, 1, 1, 1, 1, 1, 1])
  const tp = new ThreadPool(2)
  t.teardown(() => tp.terminate())
  const dv = new DataView(counts.buffer, 8, 8)
  t.is(
    tp.apply((d: DataView) => (d.setInt32(0, 100, true), d.byteOffset), [dv]),
    8,
  )
  t.is(counts[2], 100)
  const chunks = await tp.mapAsync((v: Int32Array) => Atomics.add(v, 7, 10), [counts, counts, counts])
  t.deepEqual(chunks, [1, 11, 21])
  t.is(counts[7], 31)
})

test('Future: the thread that set the outcome reads back the very object (result, exception, await, done callbacks); another thread gets a copy', async (t) => {
  t.timeout(LONG)
  const value = { n: 1 }
  const f = new Future<typeof value>()
  let fromCallback: unknown
  f.addDoneCallback((g) => (fromCallback = g.result()))
  const awaited = f.then((v) => v)
  f.setResult(value)
  t.is(f.result(), value)
  t.is(await f, value)
  t.is(await awaited, value)
  t.is(await f.resultAsync(), value)
  t.is(fromCallback, value)
  let late: unknown
  f.addDoneCallback((g) => (late = g.result()))
  t.is(late, value)

  const error = new RangeError('mine')
  const e = new Future<number>()
  e.setException(error)
  t.is(e.exception(), error)
  t.is(await e.exceptionAsync(), error)
  t.is(
    t.throws(() => e.result()),
    error,
  )
  await t.throwsAsync(async () => e.resultAsync(), { is: error })

  // Completed in a worker: the main thread gets an equal copy.
  const pool = makePool(t, { maxWorkers: 1 })
  const remote = new Future<{ n: number }>()
  await pool.submit((f: Future<{ n: number }>) => f.setResult({ n: 2 }), remote).resultAsync(LONG)
  t.deepEqual(remote.result(), { n: 2 })
})
