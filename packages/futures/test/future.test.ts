/**
 * Future: CPython's `Lib/test/test_concurrent_futures/test_future.py` FutureTests, ported, with
 * the completing (or waiting) side in real worker threads, plus `await future`, `resultAsync`
 * with a timeout and an AbortSignal, and blocking `result()` across threads in both directions.
 *
 * The main thread never blocks without a timeout; workers may.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { Future } from '../src/future.ts'
import { CancelledError, InvalidStateError, TimeoutError } from '../src/errors.ts'
import { sharedInts, sleep, spawn } from '../../sync/test/_helpers.ts'
import { joinAll, LONG, makeFuture as makeFixture, until, type State } from './_helpers.ts'

/** A fixture future of `state` (an 'exception' one fails with RangeError 'boom', code E_BOOM). */
function makeFuture(state: State): Future<number> {
  const e = new RangeError('boom') as RangeError & { code: string }
  e.code = 'E_BOOM'
  return makeFixture<number>(state, e)
}

/** Runs `fn` with console.error captured (synchronously, so no other test interleaves). */
function captureStderr(fn: () => void): unknown[][] {
  const calls: unknown[][] = []
  const orig = console.error
  console.error = (...args: unknown[]) => {
    calls.push(args)
  }
  try {
    fn()
  } finally {
    console.error = orig
  }
  return calls
}

function stderrText(calls: unknown[][]): string {
  return calls.map((args) => args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : String(a))).join(' ')).join('\n')
}

function isCode(t: ExecutionContext, err: unknown, Ctor: new (...a: never[]) => Error, code: string): void {
  t.true(err instanceof Ctor, `expected ${Ctor.name}, got ${String(err)}`)
  t.is((err as { code?: string }).code, code)
}

// ---- done callbacks ------------------------------------------------------------------------

test('Future.addDoneCallback() runs the callback with the result when setResult completes it', (t) => {
  const f = new Future<number>()
  let got: number | undefined
  f.addDoneCallback((cf) => {
    got = cf.result(0)
  })
  t.is(got, undefined)
  f.setResult(5)
  t.is(got, 5)
})

test('Future.addDoneCallback() runs the callback with the error when setException completes it', (t) => {
  const f = new Future<number>()
  let got: unknown
  f.addDoneCallback((cf) => {
    got = cf.exception(0)
  })
  f.setException(new Error('test'))
  t.true(got instanceof Error)
  t.is((got as Error).message, 'test')
})

test('Future.addDoneCallback() runs the callback on cancel() and sees cancelled()', (t) => {
  const f = new Future<number>()
  let wasCancelled: boolean | undefined
  f.addDoneCallback((cf) => {
    wasCancelled = cf.cancelled()
  })
  t.true(f.cancel())
  t.true(wasCancelled)
})

test('Future.addDoneCallback(): a throwing callback is logged and the next callbacks still run', (t) => {
  const f = new Future<number>()
  let raisingCalled = false
  let fnCalled = false
  f.addDoneCallback(() => {
    raisingCalled = true
    throw new Error('doh!')
  })
  f.addDoneCallback(() => {
    fnCalled = true
  })
  const calls = captureStderr(() => f.setResult(5))
  t.true(raisingCalled)
  t.true(fnCalled)
  const text = stderrText(calls)
  t.true(text.includes('exception calling callback for'), text)
  t.true(text.includes('doh!'), text)
  t.is(f.result(0), 5)
})

test('Future.addDoneCallback() runs callbacks in the order they were added', (t) => {
  const f = new Future<number>()
  const order: number[] = []
  for (let i = 0; i < 5; i++) f.addDoneCallback(() => order.push(i))
  f.setResult(1)
  t.deepEqual(order, [0, 1, 2, 3, 4])
})

test('Future.addDoneCallback() runs each callback once', (t) => {
  const f = new Future<number>()
  let calls = 0
  f.addDoneCallback(() => calls++)
  f.setResult(1)
  t.is(f.result(0), 1)
  t.is(f.exception(0), undefined)
  t.is(calls, 1)
})

test('Future.addDoneCallback() on an already successful future runs the callback at once', (t) => {
  const f = makeFuture('pending')
  f.setResult(5)
  let got: number | undefined
  f.addDoneCallback((cf) => {
    got = cf.result(0)
  })
  t.is(got, 5)
})

test('Future.addDoneCallback() on an already failed future runs the callback at once', (t) => {
  const f = new Future<number>()
  f.setException(new Error('test'))
  let got: unknown
  f.addDoneCallback((cf) => {
    got = cf.exception(0)
  })
  t.is((got as Error).message, 'test')
})

test('Future.addDoneCallback() on an already cancelled future runs the callback at once', (t) => {
  const f = new Future<number>()
  t.true(f.cancel())
  let wasCancelled: boolean | undefined
  f.addDoneCallback((cf) => {
    wasCancelled = cf.cancelled()
  })
  t.true(wasCancelled)
})

test('Future.addDoneCallback(): a throwing callback on an already done future is logged, not thrown', (t) => {
  const f = new Future<number>()
  f.setResult(5)
  const calls = captureStderr(() => {
    t.notThrows(() =>
      f.addDoneCallback(() => {
        throw new Error('doh!')
      }),
    )
  })
  const text = stderrText(calls)
  t.true(text.includes('exception calling callback for'), text)
  t.true(text.includes('doh!'), text)
})

test('Future.addDoneCallback() throws ERR_INVALID_ARG_TYPE for a non-function', (t) => {
  const f = new Future<number>()
  const err = t.throws(() => f.addDoneCallback(42 as never))
  t.is((err as { code?: string }).code, 'ERR_INVALID_ARG_TYPE')
})

test('Future.addDoneCallback(): a future completed by a worker runs the callback from the main event loop', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<number>()
  const seen: (number | boolean)[] = []
  f.addDoneCallback((cf) => {
    seen.push(cf.done(), cf.result(0))
  })
  f.addDoneCallback(() => seen.push(-1))
  const th = spawn((f: Future<number>) => f.setResult(7), f)
  await joinAll([th])
  await until(() => seen.length === 3, 'callbacks to run')
  t.deepEqual(seen, [true, 7, -1])
})

test('Future.addDoneCallback(): a callback added in a worker runs in that worker when the main thread completes the future', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<number>()
  const box = sharedInts(3)
  const th = spawn(
    async (f: Future<number>, box: Int32Array) => {
      await new Promise<void>((resolve) => {
        f.addDoneCallback((cf) => {
          Atomics.store(box, 1, cf.result(0))
          resolve()
        })
        Atomics.store(box, 0, 1)
      })
      Atomics.store(box, 2, 1)
    },
    f,
    box,
  )
  await until(() => Atomics.load(box, 0) === 1, 'worker to add its callback')
  f.setResult(11)
  await joinAll([th])
  t.is(Atomics.load(box, 1), 11)
  t.is(Atomics.load(box, 2), 1)
})

// ---- repr / state checks -------------------------------------------------------------------

test('Future.toString() names the state', (t) => {
  t.regex(makeFuture('pending').toString(), /state=pending/)
  t.regex(makeFuture('running').toString(), /state=running/)
  t.regex(makeFuture('cancelled').toString(), /state=cancelled/)
  t.regex(makeFuture('cancelledAndNotified').toString(), /state=cancelled/)
  t.regex(makeFuture('exception').toString(), /state=finished/)
  t.regex(makeFuture('successful').toString(), /state=finished/)
})

test('Future.cancel() succeeds only while pending, and stays true once cancelled', (t) => {
  const f1 = makeFuture('pending')
  const f2 = makeFuture('running')
  const f3 = makeFuture('cancelled')
  const f4 = makeFuture('cancelledAndNotified')
  const f5 = makeFuture('exception')
  const f6 = makeFuture('successful')

  t.true(f1.cancel())
  t.regex(f1.toString(), /state=cancelled/)
  t.true(f1.cancelled())

  t.false(f2.cancel())
  t.regex(f2.toString(), /state=running/)
  t.true(f2.running())

  t.true(f3.cancel())
  t.true(f3.cancelled())

  t.true(f4.cancel())
  t.true(f4.cancelled())

  t.false(f5.cancel())
  t.regex(f5.toString(), /state=finished/)
  t.false(f5.cancelled())

  t.false(f6.cancel())
  t.regex(f6.toString(), /state=finished/)
  t.is(f6.result(0), 42)
})

test('Future.cancelled() is true only for cancelled futures', (t) => {
  t.false(makeFuture('pending').cancelled())
  t.false(makeFuture('running').cancelled())
  t.true(makeFuture('cancelled').cancelled())
  t.true(makeFuture('cancelledAndNotified').cancelled())
  t.false(makeFuture('exception').cancelled())
  t.false(makeFuture('successful').cancelled())
})

test('Future.done() is true for cancelled and finished futures', (t) => {
  t.false(makeFuture('pending').done())
  t.false(makeFuture('running').done())
  t.true(makeFuture('cancelled').done())
  t.true(makeFuture('cancelledAndNotified').done())
  t.true(makeFuture('exception').done())
  t.true(makeFuture('successful').done())
})

test('Future.running() is true only for running futures', (t) => {
  t.false(makeFuture('pending').running())
  t.true(makeFuture('running').running())
  t.false(makeFuture('cancelled').running())
  t.false(makeFuture('cancelledAndNotified').running())
  t.false(makeFuture('exception').running())
  t.false(makeFuture('successful').running())
})

// ---- result / exception with timeouts ------------------------------------------------------

test('Future.result(0) raises TimeoutError if not done, CancelledError if cancelled, the error if failed', (t) => {
  isCode(
    t,
    t.throws(() => makeFuture('pending').result(0)),
    TimeoutError,
    'ERR_TIMEOUT',
  )
  isCode(
    t,
    t.throws(() => makeFuture('running').result(0)),
    TimeoutError,
    'ERR_TIMEOUT',
  )
  isCode(
    t,
    t.throws(() => makeFuture('cancelled').result(0)),
    CancelledError,
    'ERR_CANCELLED',
  )
  isCode(
    t,
    t.throws(() => makeFuture('cancelledAndNotified').result(0)),
    CancelledError,
    'ERR_CANCELLED',
  )
  const err = t.throws(() => makeFuture('exception').result(0))
  t.true(err instanceof RangeError)
  t.is((err as { code?: string }).code, 'E_BOOM')
  t.is(makeFuture('successful').result(0), 42)
})

test('Future.result(timeout) raises TimeoutError after a short timeout on a pending future', (t) => {
  t.timeout(20_000)
  const f = makeFuture('pending')
  isCode(
    t,
    t.throws(() => f.result(20)),
    TimeoutError,
    'ERR_TIMEOUT',
  )
  t.false(f.done())
})

test('Future.exception(0) raises TimeoutError/CancelledError, returns the error or undefined', (t) => {
  isCode(
    t,
    t.throws(() => makeFuture('pending').exception(0)),
    TimeoutError,
    'ERR_TIMEOUT',
  )
  isCode(
    t,
    t.throws(() => makeFuture('running').exception(0)),
    TimeoutError,
    'ERR_TIMEOUT',
  )
  isCode(
    t,
    t.throws(() => makeFuture('cancelled').exception(0)),
    CancelledError,
    'ERR_CANCELLED',
  )
  isCode(
    t,
    t.throws(() => makeFuture('cancelledAndNotified').exception(0)),
    CancelledError,
    'ERR_CANCELLED',
  )
  const e = makeFuture('exception').exception(0)
  t.true(e instanceof RangeError)
  t.is((e as Error).message, 'boom')
  t.is(makeFuture('successful').exception(0), undefined)
})

test('Future.result(timeout) on the main thread returns the result set later by a worker', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<number>()
  const box = sharedInts(1)
  const th = spawn(
    (f: Future<number>, box: Int32Array) => {
      Atomics.store(box, 0, 1)
      Atomics.wait(box, 0, 1, 100) // give the main thread time to block in result()
      f.setResult(42)
    },
    f,
    box,
  )
  await until(() => Atomics.load(box, 0) === 1, 'worker to start')
  t.is(f.result(LONG), 42)
  await joinAll([th])
})

test('Future.result(timeout) on the main thread raises CancelledError when a worker cancels', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<number>()
  const box = sharedInts(1)
  const th = spawn(
    (f: Future<number>, box: Int32Array) => {
      Atomics.store(box, 0, 1)
      Atomics.wait(box, 0, 1, 100)
      if (!f.cancel()) throw new Error('cancel() returned false')
    },
    f,
    box,
  )
  await until(() => Atomics.load(box, 0) === 1, 'worker to start')
  isCode(
    t,
    t.throws(() => f.result(LONG)),
    CancelledError,
    'ERR_CANCELLED',
  )
  await joinAll([th])
})

test('Future.exception(timeout) returns the error a worker set: class name, message, code and the worker stack', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<number>()
  const box = sharedInts(1)
  const th = spawn(
    (f: Future<number>, box: Int32Array) => {
      class WorkerFailure extends Error {
        code = 'E_WORKER_FAILURE'
      }
      function throwFromWorker(): never {
        throw new WorkerFailure('it broke')
      }
      Atomics.store(box, 0, 1)
      Atomics.wait(box, 0, 1, 100)
      try {
        throwFromWorker()
      } catch (e) {
        f.setException(e)
      }
    },
    f,
    box,
  )
  await until(() => Atomics.load(box, 0) === 1, 'worker to start')
  const e = f.exception(LONG) as Error & { code?: string }
  t.true(e instanceof Error)
  t.is(e.name, 'WorkerFailure')
  t.is(e.message, 'it broke')
  t.is(e.code, 'E_WORKER_FAILURE')
  t.true(typeof e.stack === 'string' && e.stack.includes('throwFromWorker'), e.stack)
  const thrown = t.throws(() => f.result(0)) as Error & { code?: string }
  t.is(thrown.name, 'WorkerFailure')
  t.is(thrown.code, 'E_WORKER_FAILURE')
  await joinAll([th])
})

test('Future.result() blocking in a worker returns the result the main thread sets', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<{ n: number; s: string }>()
  const box = sharedInts(3)
  const th = spawn(
    (f: Future<{ n: number; s: string }>, box: Int32Array) => {
      Atomics.store(box, 0, 1)
      const r = f.result() // no timeout: a worker may block forever
      Atomics.store(box, 1, r.n)
      Atomics.store(box, 2, r.s === 'hello' ? 1 : -1)
    },
    f,
    box,
  )
  await until(() => Atomics.load(box, 0) === 1, 'worker to start')
  await sleep(100) // let it block in result()
  t.is(Atomics.load(box, 1), 0)
  f.setResult({ n: 99, s: 'hello' })
  await joinAll([th])
  t.is(Atomics.load(box, 1), 99)
  t.is(Atomics.load(box, 2), 1)
})

test('Future.result() blocking in a worker raises CancelledError when the main thread cancels', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<number>()
  const box = sharedInts(2)
  const th = spawn(
    (f: Future<number>, box: Int32Array) => {
      Atomics.store(box, 0, 1)
      try {
        f.result()
        Atomics.store(box, 1, -1)
      } catch (e) {
        Atomics.store(box, 1, (e as { code?: string }).code === 'ERR_CANCELLED' ? 1 : -2)
      }
    },
    f,
    box,
  )
  await until(() => Atomics.load(box, 0) === 1, 'worker to start')
  await sleep(100)
  t.true(f.cancel())
  await joinAll([th])
  t.is(Atomics.load(box, 1), 1)
})

test('Future.result() with a large payload set by a worker arrives intact', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<string>()
  const th = spawn((f: Future<string>) => f.setResult('x'.repeat(10_000) + 'end'), f)
  await joinAll([th])
  const r = f.result(0)
  t.is(r.length, 10_003)
  t.true(r.endsWith('end'))
})

// ---- completing twice / after cancel -------------------------------------------------------

test('Future.setResult() twice raises InvalidStateError and keeps the first result', (t) => {
  const f = makeFuture('pending')
  f.setResult(1)
  const err = t.throws(() => f.setResult(2))
  isCode(t, err, InvalidStateError, 'ERR_INVALID_STATE')
  t.true(f.done())
  t.is(f.result(0), 1)
})

test('Future.setException() twice raises InvalidStateError and keeps the first error', (t) => {
  const f = makeFuture('pending')
  f.setException(new TypeError('first'))
  const err = t.throws(() => f.setException(new Error('second')))
  isCode(t, err, InvalidStateError, 'ERR_INVALID_STATE')
  const e = f.exception(0) as Error
  t.true(e instanceof TypeError)
  t.is(e.message, 'first')
})

test('Future.setResult()/setException() after the other raise InvalidStateError', (t) => {
  const a = makeFuture('successful')
  isCode(
    t,
    t.throws(() => a.setException(new Error('x'))),
    InvalidStateError,
    'ERR_INVALID_STATE',
  )
  t.is(a.result(0), 42)
  const b = makeFuture('exception')
  isCode(
    t,
    t.throws(() => b.setResult(1)),
    InvalidStateError,
    'ERR_INVALID_STATE',
  )
  t.true(b.exception(0) instanceof RangeError)
})

test('Future.setResult()/setException() after cancel raise InvalidStateError', (t) => {
  for (const state of ['cancelled', 'cancelledAndNotified'] as const) {
    const f = makeFuture(state)
    isCode(
      t,
      t.throws(() => f.setResult(1)),
      InvalidStateError,
      'ERR_INVALID_STATE',
    )
    isCode(
      t,
      t.throws(() => f.setException(new Error('x'))),
      InvalidStateError,
      'ERR_INVALID_STATE',
    )
    t.true(f.cancelled())
  }
})

test('Future.setResult() on a running future finishes it', (t) => {
  const f = makeFuture('running')
  f.setResult(3)
  t.false(f.running())
  t.true(f.done())
  t.is(f.result(0), 3)
})

test('Future.setResult() only one of many racing workers wins; the others get InvalidStateError', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<number>()
  const box = sharedInts(8) // [go, wins, invalid, ...]
  const threads = Array.from({ length: 4 }, (_, i) =>
    spawn(
      (i: number, f: Future<number>, box: Int32Array) => {
        Atomics.wait(box, 0, 0, 10_000)
        try {
          f.setResult(i + 1)
          Atomics.add(box, 1, 1)
        } catch (e) {
          if ((e as { code?: string }).code === 'ERR_INVALID_STATE') Atomics.add(box, 2, 1)
        }
      },
      i,
      f,
      box,
    ),
  )
  await sleep(50)
  Atomics.store(box, 0, 1)
  Atomics.notify(box, 0)
  await joinAll(threads)
  t.is(Atomics.load(box, 1), 1)
  t.is(Atomics.load(box, 2), 3)
  const r = f.result(0)
  t.true(r >= 1 && r <= 4)
})

// ---- setRunningOrNotifyCancel --------------------------------------------------------------

test('Future.setRunningOrNotifyCancel() on a pending future returns true and makes it running', (t) => {
  const f = makeFuture('pending')
  t.true(f.setRunningOrNotifyCancel())
  t.true(f.running())
  t.false(f.done())
  t.false(f.cancel())
})

test('Future.setRunningOrNotifyCancel() on a cancelled future returns false and it stays cancelled', (t) => {
  const f = makeFuture('cancelled')
  t.false(f.setRunningOrNotifyCancel())
  t.true(f.cancelled())
  t.true(f.done())
  t.false(f.running())
  t.regex(f.toString(), /state=cancelled/)
})

test('Future.setRunningOrNotifyCancel() on a running or finished future raises InvalidStateError', (t) => {
  for (const state of ['running', 'successful', 'exception'] as const) {
    const f = makeFuture(state)
    isCode(
      t,
      t.throws(() => f.setRunningOrNotifyCancel()),
      InvalidStateError,
      'ERR_INVALID_STATE',
    )
  }
})

// ---- await / resultAsync / exceptionAsync --------------------------------------------------

test('await future resolves to the result a worker sets', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<number>()
  const th = spawn((f: Future<number>) => f.setResult(123), f)
  t.is(await f, 123)
  await joinAll([th])
})

test('await future rejects with the error a worker sets', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<number>()
  const th = spawn((f: Future<number>) => {
    const e = new TypeError('nope') as TypeError & { code: string }
    e.code = 'E_NOPE'
    f.setException(e)
  }, f)
  const err = await t.throwsAsync(async () => await f)
  t.true(err instanceof TypeError)
  t.is(err!.message, 'nope')
  t.is((err as { code?: string }).code, 'E_NOPE')
  await joinAll([th])
})

test('await future rejects with CancelledError when cancelled', async (t) => {
  t.timeout(20_000)
  const f = new Future<number>()
  const p = (async () => await f)()
  t.true(f.cancel())
  const err = await t.throwsAsync(p)
  isCode(t, err, CancelledError, 'ERR_CANCELLED')
})

test('await future on an already finished future resolves at once', async (t) => {
  t.is(await makeFuture('successful'), 42)
})

test('Future.resultAsync(timeout) rejects with TimeoutError on a pending future', async (t) => {
  t.timeout(20_000)
  const f = new Future<number>()
  isCode(t, await t.throwsAsync(f.resultAsync(20)), TimeoutError, 'ERR_TIMEOUT')
  isCode(t, await t.throwsAsync(f.resultAsync({ timeout: 20 })), TimeoutError, 'ERR_TIMEOUT')
  isCode(t, await t.throwsAsync(f.exceptionAsync(20)), TimeoutError, 'ERR_TIMEOUT')
  t.false(f.done())
})

test('Future.resultAsync(timeout) resolves when completed before the timeout', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<number>()
  const p = f.resultAsync(LONG)
  const th = spawn((f: Future<number>) => f.setResult(8), f)
  t.is(await p, 8)
  await joinAll([th])
})

test('Future.resultAsync({ signal }) rejects when the signal aborts, leaving the future pending', async (t) => {
  t.timeout(20_000)
  const f = new Future<number>()
  const ac = new AbortController()
  const p = f.resultAsync({ signal: ac.signal })
  let settled = false
  p.then(
    () => (settled = true),
    () => (settled = true),
  )
  await sleep(20)
  t.false(settled)
  const reason = new Error('stop waiting')
  ac.abort(reason)
  // API.md: an aborted wait rejects with the signal's reason.
  const err = await t.throwsAsync(p)
  t.is(err, reason)
  t.false(f.done())
  // The future is still usable afterwards.
  f.setResult(1)
  t.is(await f.resultAsync(1000), 1)
})

test('Future.resultAsync({ signal }) with an already aborted signal rejects at once for a pending future', async (t) => {
  t.timeout(20_000)
  const f = new Future<number>()
  const signal = AbortSignal.abort()
  const err = await t.throwsAsync(f.resultAsync({ signal }), { any: true })
  t.is(err, signal.reason)
  t.false(f.done())
})

test('Future.resultAsync() rejects with CancelledError and exceptionAsync() too', async (t) => {
  t.timeout(20_000)
  const f = new Future<number>()
  const p1 = f.resultAsync(LONG)
  const p2 = f.exceptionAsync(LONG)
  t.true(f.cancel())
  isCode(t, await t.throwsAsync(p1), CancelledError, 'ERR_CANCELLED')
  isCode(t, await t.throwsAsync(p2), CancelledError, 'ERR_CANCELLED')
})

test('Future.exceptionAsync() resolves with the error, or undefined on success', async (t) => {
  t.timeout(LONG + 10_000)
  const f = new Future<number>()
  const g = new Future<number>()
  const th = spawn(
    (f: Future<number>, g: Future<number>) => {
      f.setException(new SyntaxError('bad'))
      g.setResult(1)
    },
    f,
    g,
  )
  const e = await f.exceptionAsync(LONG)
  t.true(e instanceof SyntaxError)
  t.is((e as Error).message, 'bad')
  t.is(await g.exceptionAsync(LONG), undefined)
  await joinAll([th])
})
