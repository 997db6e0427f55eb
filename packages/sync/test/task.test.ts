/**
 * Task functions (src/task.ts): functions shipped by source text in every syntax, the
 * captured-variable rule, what cannot be shipped, tsx's `__name` helper, module references, and
 * errors crossing threads (serializeError/deserializeError).
 */
import test from 'ava'
import { Lock } from '../src/lock.ts'
import { LockNotOwnedError, TaskModuleError } from '../src/errors.ts'
import { Thread, type ExceptHookArgs } from '../src/thread.ts'
import { deserializeError, isModuleRef, loadTask, loadTaskSync, moduleRef, resolveModule, serializeError, toTaskSpec, type TaskFunction } from '../src/task.ts'
import { sharedInts, sleep, until } from './_helpers.ts'

const TARGETS = new URL('../../../test/fixtures/threads-targets.ts', import.meta.url)

const reported: ExceptHookArgs[] = []
const helperHook = Thread.excepthook
Thread.excepthook = (args) => {
  reported.push(args)
  helperHook(args)
}

async function reportOf(t: Thread): Promise<ExceptHookArgs> {
  await until(() => reported.some((r) => r.thread === t), 20_000, `excepthook report of ${t.name}`)
  return reported.find((r) => r.thread === t)!
}

/** Runs `target(...args)` in a daemon Thread and waits for it (async, bounded). */
async function run(target: TaskFunction, ...args: unknown[]): Promise<Thread> {
  const th = new Thread({ target, args, daemon: true })
  th.start()
  if (!(await th.joinAsync(20_000))) throw new Error(`${th.name} did not finish`)
  return th
}

/** Runs `target` and returns the error it reported to Thread.excepthook. */
async function failureOf(target: TaskFunction, ...args: unknown[]): Promise<ExceptHookArgs> {
  return reportOf(await run(target, ...args))
}

function declared(out: Int32Array, i: number): void {
  out[i] = 1
}

class WithStatic {
  static shipped(out: Int32Array, i: number): void {
    out[i] = 1
  }
}

test('Task functions of every syntax run in a worker: arrow, function, async, method shorthand', async (t) => {
  t.timeout(40_000)
  const methods = {
    plain(out: Int32Array, i: number): void {
      out[i] = 1
    },
    async later(out: Int32Array, i: number): Promise<void> {
      await new Promise((r) => setTimeout(r, 10))
      out[i] = 1
    },
    ['computed'](out: Int32Array, i: number): void {
      out[i] = 1
    },
    async(out: Int32Array, i: number): void {
      out[i] = 1 // a method named "async"
    },
  }
  const forms: [string, TaskFunction][] = [
    ['arrow', (out: Int32Array, i: number) => void (out[i] = 1)],
    [
      'arrow with block',
      (out: Int32Array, i: number) => {
        out[i] = 1
      },
    ],
    [
      'async arrow',
      async (out: Int32Array, i: number) => {
        await new Promise((r) => setTimeout(r, 10))
        out[i] = 1
      },
    ],
    [
      'anonymous function',
      function (out: Int32Array, i: number) {
        out[i] = 1
      },
    ],
    ['declared function', declared],
    [
      'async function',
      async function named(out: Int32Array, i: number) {
        await null
        out[i] = 1
      },
    ],
    ['method shorthand', methods.plain],
    ['async method shorthand', methods.later],
    ['computed-key method', methods.computed],
    ['method named async', methods.async],
    ['static method', WithStatic.shipped],
    ['destructuring and defaults', ({ out, i }: { out: Int32Array; i: number }, extra = 0) => void (out[i] = 1 + extra)],
  ]
  const out = sharedInts(forms.length)
  const threads = forms.map(([name, fn], i) => {
    const th = new Thread({ target: fn, args: name === 'destructuring and defaults' ? [{ out, i }] : [out, i], daemon: true })
    th.start()
    return th
  })
  for (const th of threads) t.true(await th.joinAsync(20_000), th.name)
  await sleep(20)
  t.deepEqual(
    reported.filter((r) => threads.includes(r.thread)).map((r) => `${r.thread.name}: ${(r.excValue as Error).message}`),
    [],
  )
  forms.forEach(([name], i) => t.is(out[i], 1, name))
})

test('A method whose name is a reserved word ships as a task function', async (t) => {
  t.timeout(30_000)
  // `{ delete(k) {} }` is a common shape (Map-like objects); its source text is not a valid
  // function expression once prefixed with `function`.
  const store = {
    delete(out: Int32Array): void {
      out[0] = 1
    },
    new(out: Int32Array): void {
      out[1] = 1
    },
  }
  const out = sharedInts(2)
  await run(store.delete, out)
  await run(store.new, out)
  t.deepEqual([...out], [1, 1])
})

test('A task function may use globals and import modules itself', async (t) => {
  t.timeout(30_000)
  const out = sharedInts(3)
  await run(async (out: Int32Array) => {
    const os = await import('node:os')
    const { Lock: L } = await import('@tandem/sync')
    out[0] = os.cpus().length > 0 ? 1 : 0
    out[1] = new L().acquire({ blocking: false }) ? 1 : 0
    out[2] = Math.max(1, 2) + JSON.parse('[3]')[0] + (typeof globalThis.setTimeout === 'function' ? 1 : 0)
  }, out)
  t.deepEqual([...out], [1, 1, 6])
})

test('A task function using a variable of its enclosing scope fails with ReferenceError ERR_TASK_CAPTURED_VARIABLE', async (t) => {
  t.timeout(30_000)
  const secret = 41
  const sync = await failureOf((out: Int32Array) => {
    out[0] = secret + 1
  }, sharedInts(1))
  t.is(sync.excType, 'ReferenceError')
  t.true(sync.excValue instanceof ReferenceError)
  t.is((sync.excValue as { code?: string }).code, 'ERR_TASK_CAPTURED_VARIABLE')

  const later = await failureOf(async () => {
    await new Promise((r) => setTimeout(r, 10))
    return secret
  })
  t.true(later.excValue instanceof ReferenceError, 'also after an await')
  t.is((later.excValue as { code?: string }).code, 'ERR_TASK_CAPTURED_VARIABLE')

  const imported = await failureOf(() => new Lock())
  t.true(imported.excValue instanceof ReferenceError, 'an import of the test module is a captured variable too')
  t.is((imported.excValue as { code?: string }).code, 'ERR_TASK_CAPTURED_VARIABLE')
})

test('An unrelated ReferenceError with its own code keeps that code', async (t) => {
  t.timeout(30_000)
  const r = await failureOf(() => {
    const e = new ReferenceError('x is not defined') as ReferenceError & { code: string }
    e.code = 'ERR_MINE'
    throw e
  })
  t.is((r.excValue as { code?: string }).code, 'ERR_MINE')
})

test('A bound or native function as task throws TypeError ERR_INVALID_ARG_TYPE', (t) => {
  const fn = (out: Int32Array): void => void (out[0] = 1)
  for (const bad of [fn.bind(null), Math.max, parseInt, console.log, Array.prototype.push]) {
    const err = t.throws(() => new Thread({ target: bad as never }), { instanceOf: TypeError })
    t.is((err as { code?: string }).code, 'ERR_INVALID_ARG_TYPE', bad.name)
    t.throws(() => toTaskSpec(bad), { instanceOf: TypeError })
  }
})

test('A class as task throws TypeError ERR_INVALID_ARG_TYPE', (t) => {
  class Job {
    run(): void {}
  }
  const Anonymous = class {}
  for (const bad of [Job, Anonymous, Lock]) {
    const err = t.throws(() => new Thread({ target: bad as never }), { instanceOf: TypeError })
    t.is((err as { code?: string }).code, 'ERR_INVALID_ARG_TYPE')
  }
})

test('Shipped source that uses tsx’s __name helper (nested named functions, arrows, classes) runs', async (t) => {
  t.timeout(30_000)
  const target = (out: Int32Array): void => {
    function inner(): number {
      return 1
    }
    const arrow = (): number => 2
    const expr = function (): number {
      return 3
    }
    class Local {
      value(): number {
        return 4
      }
    }
    out[0] = inner() + arrow() + expr() + new Local().value()
    out[1] = inner.name === 'inner' && arrow.name === 'arrow' && expr.name === 'expr' && Local.name === 'Local' ? 1 : 0
  }
  // Under tsx (esbuild keepNames) the text refers to a `__name` helper of the test module's
  // scope; the worker must provide its own. Check the test really exercises that.
  t.true(Function.prototype.toString.call(target).includes('__name'), 'tsx keepNames is active')
  const out = sharedInts(2)
  const th = await run(target, out)
  await sleep(20)
  t.false(
    reported.some((r) => r.thread === th),
    'no error escaped',
  )
  t.deepEqual([...out], [10, 1])
})

test('toTaskSpec() describes source and module tasks and caches per function', (t) => {
  const fn = function shipMe(a: number): number {
    return a
  }
  const spec = toTaskSpec(fn)
  t.is(spec.kind, 'source')
  t.is(spec.name, 'shipMe')
  t.is(toTaskSpec(fn), spec, 'same spec object for the same function')
  const ref = moduleRef(TARGETS, 'writeAt')
  t.deepEqual(toTaskSpec(ref), { kind: 'module', module: TARGETS.href, name: 'writeAt' })
  t.throws(() => toTaskSpec(undefined), { instanceOf: TypeError })
})

test('loadTask() compiles source tasks once and wraps captured-variable errors', async (t) => {
  const outer = 5
  const fnA = (a: number, b: number): number => a * b
  const fnB = (a: number, b: number): number => a * b // same source text, other function
  const a = await loadTask(toTaskSpec(fnA))
  t.is(a(6, 7), 42)
  t.is(await loadTask(toTaskSpec(fnB)), a, 'compiled once per source text')
  t.is(loadTaskSync(toTaskSpec(fnA)), a)
  const captured = await loadTask(toTaskSpec(() => outer))
  const err = t.throws(() => captured(), { instanceOf: ReferenceError })
  t.is((err as { code?: string }).code, 'ERR_TASK_CAPTURED_VARIABLE')
  t.true((err as Error).cause instanceof ReferenceError, 'the original error is the cause')
  const asyncCaptured = await loadTask(toTaskSpec(async () => outer))
  const err2 = await t.throwsAsync(asyncCaptured() as Promise<unknown>, { instanceOf: ReferenceError })
  t.is((err2 as { code?: string }).code, 'ERR_TASK_CAPTURED_VARIABLE')
})

test('loadTask() imports module tasks; a missing export or module is TaskModuleError ERR_TASK_MODULE_NOT_FOUND', async (t) => {
  const writeAt = await loadTask(toTaskSpec(moduleRef(TARGETS, 'writeAt')))
  const out = sharedInts(1)
  writeAt(out, 0, 3)
  t.is(out[0], 3)
  t.is(loadTaskSync(toTaskSpec(moduleRef(TARGETS, 'writeAt'))), writeAt)
  for (const spec of [
    toTaskSpec(moduleRef(TARGETS, 'noSuchExport')),
    toTaskSpec(moduleRef(TARGETS, 'notAFunction')),
    toTaskSpec(moduleRef(new URL('./no-such-module.ts', TARGETS), 'x')),
  ]) {
    const err = await t.throwsAsync(loadTask(spec), { instanceOf: TaskModuleError })
    t.is(err.code, 'ERR_TASK_MODULE_NOT_FOUND')
  }
  const err = t.throws(() => loadTaskSync(toTaskSpec(moduleRef(new URL('./no-such-module.ts', TARGETS), 'x'))), { instanceOf: TaskModuleError })
  t.is(err.code, 'ERR_TASK_MODULE_NOT_FOUND')
})

test('A Thread whose moduleRef names a missing export reports TaskModuleError through Thread.excepthook', async (t) => {
  t.timeout(30_000)
  for (const name of ['noSuchExport', 'notAFunction']) {
    const r = await failureOf(moduleRef(TARGETS, name))
    t.is(r.excType, 'TaskModuleError')
    t.is((r.excValue as Error).name, 'TaskModuleError')
    t.is((r.excValue as { code?: string }).code, 'ERR_TASK_MODULE_NOT_FOUND')
  }
})

test('moduleRef() resolves URLs and paths and validates its arguments', (t) => {
  const ref = moduleRef(TARGETS, 'writeAt')
  t.true(isModuleRef(ref))
  t.is(ref.module, TARGETS.href)
  t.is(ref.name, 'writeAt')
  t.is(moduleRef(TARGETS).name, 'default')
  t.false(isModuleRef({ module: TARGETS.href, name: 'writeAt' }))
  t.false(isModuleRef(() => 1))
  t.false(isModuleRef(null))
  t.is(resolveModule('/abs/x.ts'), 'file:///abs/x.ts')
  t.is(resolveModule(`./test/fixtures/threads-targets.ts`), TARGETS.href, 'relative to the working directory')
  t.is(resolveModule('node:fs'), 'node:fs')
  t.is(resolveModule('@tandem/sync'), '@tandem/sync')
  t.is(resolveModule(TARGETS.href), TARGETS.href)
  for (const bad of [42, '', null, undefined]) {
    const err = t.throws(() => moduleRef(bad as never, 'x'), { instanceOf: TypeError })
    t.is((err as { code?: string }).code, 'ERR_INVALID_ARG_TYPE')
  }
  const err = t.throws(() => moduleRef(TARGETS, 42 as never), { instanceOf: TypeError })
  t.is((err as { code?: string }).code, 'ERR_INVALID_ARG_TYPE')
})

// ---- errors crossing threads -------------------------------------------------------------------

/** serializeError, a structured clone (as postMessage does), then deserializeError. */
function roundTrip(err: unknown): unknown {
  return deserializeError(structuredClone(serializeError(err)))
}

test('serializeError/deserializeError keep a built-in class, message, stack and code', (t) => {
  const err = new TypeError('bad type') as TypeError & { code: string }
  err.code = 'ERR_BAD'
  const back = roundTrip(err) as TypeError & { code: string }
  t.true(back instanceof TypeError)
  t.is(back.name, 'TypeError')
  t.is(back.message, 'bad type')
  t.is(back.stack, err.stack)
  t.is(back.code, 'ERR_BAD')
  for (const Ctor of [Error, RangeError, ReferenceError, SyntaxError, EvalError, URIError]) {
    const b = roundTrip(new Ctor('m')) as Error
    t.true(b instanceof Ctor)
    t.is(b.name, Ctor.name)
  }
})

test('serializeError/deserializeError keep a custom class name, own properties and the cause chain', (t) => {
  class ParseFailure extends Error {
    override name = 'ParseFailure'
    line = 7
    handler = () => 1 // not cloneable: dropped, not fatal
  }
  const root = new RangeError('root cause')
  const mid = new ParseFailure('mid', { cause: root })
  const top = new Error('top', { cause: mid }) as Error & { code: string }
  top.code = 'ERR_TOP'
  const back = roundTrip(top) as Error & { code: string; cause: Error & { line: number; handler?: unknown; cause: unknown } }
  t.is(back.message, 'top')
  t.is(back.code, 'ERR_TOP')
  t.is(back.stack, top.stack)
  t.is(back.cause.name, 'ParseFailure')
  t.true(back.cause instanceof Error)
  t.is(back.cause.message, 'mid')
  t.is(back.cause.line, 7)
  t.is(back.cause.handler, undefined)
  t.is(back.cause.stack, mid.stack)
  t.true(back.cause.cause instanceof RangeError)
  t.is((back.cause.cause as Error).message, 'root cause')
})

test('serializeError/deserializeError keep Tandem error classes by name and code', (t) => {
  const back = roundTrip(new LockNotOwnedError('not owned')) as Error & { code: string }
  t.is(back.name, 'LockNotOwnedError')
  t.is(back.code, 'ERR_LOCK_NOT_OWNED')
  t.is(back.message, 'not owned')
  const mod = roundTrip(new TaskModuleError('gone', { cause: new Error('inner') })) as Error & { code: string; cause: Error }
  t.is(mod.name, 'TaskModuleError')
  t.is(mod.code, 'ERR_TASK_MODULE_NOT_FOUND')
  t.is(mod.cause.message, 'inner')
})

test('serializeError/deserializeError pass thrown non-Error values through', (t) => {
  t.is(roundTrip(42), 42)
  t.is(roundTrip('just a string'), 'just a string')
  t.is(roundTrip(undefined), undefined)
  t.is(roundTrip(null), null)
  t.deepEqual(roundTrip({ a: [1, 2], b: new Map([[1, 2]]) }), { a: [1, 2], b: new Map([[1, 2]]) })
  t.is(serializeError(42).name, 'NonError')
  const fn = function notCloneable(): void {}
  t.is(typeof roundTrip(fn), 'string', 'an uncloneable value arrives as its string form')
  const withValueCause = roundTrip(new Error('e', { cause: 'why' })) as Error
  t.is(withValueCause.cause, 'why')
})

test('An error thrown in a worker arrives with the worker’s stack', async (t) => {
  t.timeout(30_000)
  const r = await failureOf(function failsInWorker() {
    throw new SyntaxError('from the worker')
  })
  const e = r.excValue as SyntaxError
  t.true(e instanceof SyntaxError)
  t.is(e.message, 'from the worker')
  t.regex(e.stack ?? '', /^SyntaxError: from the worker\n\s+at /)
  t.regex(e.stack ?? '', /worker-main/, 'frames of the worker, not of the main thread')
})
