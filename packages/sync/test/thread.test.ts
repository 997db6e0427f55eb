/**
 * Thread (src/thread.ts, src/internal/worker-main.ts) in real worker threads: lifecycle, join,
 * identity and names, subclasses, module-reference targets, argument checks, excepthook, daemon
 * threads, process.exit() in a thread, stack sizes and stdout ordering. Behaviours that concern
 * the whole process run test/fixtures/threads-child.ts in a child process.
 */
import test from 'ava'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Lock } from '../src/lock.ts'
import { moduleRef } from '../src/task.ts'
import { TaskModuleError, ThreadStateError } from '../src/errors.ts'
import { activeCount, currentThread, getIdent, mainThread, stackSize, Thread, type ExceptHookArgs } from '../src/thread.ts'
import { sharedInts, sleep, until } from './_helpers.ts'
import { AsyncRunner, InheritsModule, LockHolder, readString, sharedBytes } from '../../../test/fixtures/threads-targets.ts'

const TARGETS = new URL('../../../test/fixtures/threads-targets.ts', import.meta.url)
const CHILD = fileURLToPath(new URL('../../../test/fixtures/threads-child.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

// Record every report that reaches Thread.excepthook (the hook installed by _helpers.ts is kept
// and still called), without clearing the list, so concurrent tests cannot steal each other's.
const reported: ExceptHookArgs[] = []
const helperHook = Thread.excepthook
Thread.excepthook = (args) => {
  reported.push(args)
  helperHook(args)
}

/** Waits for the excepthook report of `t`. */
async function reportOf(t: Thread): Promise<ExceptHookArgs> {
  await until(() => reported.some((r) => r.thread === t), 20_000, `excepthook report of ${t.name}`)
  return reported.find((r) => r.thread === t)!
}

interface SelfReport {
  getIdent: number
  name: string
  ident: number
  daemon: boolean
  alive: boolean
  same: boolean
  mainName: string
  mainIdent: number
  mainIsCurrent: boolean
}

/** Runs reportSelf (fixture) in a new thread with `opts`, returns the thread and its report. */
async function selfReport(opts: { name?: string; daemon?: boolean } = {}): Promise<{ thread: Thread; report: SelfReport }> {
  const buf = sharedBytes()
  const thread = new Thread({ ...opts, target: moduleRef(TARGETS, 'reportSelf'), args: [buf] })
  thread.start()
  if (!(await thread.joinAsync(20_000))) throw new Error('reportSelf thread did not finish')
  return { thread, report: JSON.parse(readString(buf)) as SelfReport }
}

interface ChildResult {
  code: number | null
  signal: string | null
  stdout: string
  stderr: string
}

/** Runs the child fixture script with `args`; never rejects (a kill by timeout shows in `signal`). */
function runChild(args: string[], timeout = 40_000): Promise<ChildResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import=tsx', '--conditions=@tandem/source', CHILD, ...args], { cwd: ROOT, timeout, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: unknown; signal?: string | null }) | null
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr })
    })
  })
}

/** A target that flags out[1] = 1 when running, then waits until out[0] becomes 1. */
const gated = (out: Int32Array): void => {
  Atomics.store(out, 1, 1)
  Atomics.notify(out, 1)
  Atomics.wait(out, 0, 0, 20_000)
}

function openGate(out: Int32Array): void {
  Atomics.store(out, 0, 1)
  Atomics.notify(out, 0)
}

// ---- serial: these read or change process-wide state --------------------------------------

test.serial('activeCount() counts the main thread plus started, unfinished threads', async (t) => {
  t.timeout(40_000)
  const base = activeCount()
  t.true(base >= 1)
  const gates = [sharedInts(2), sharedInts(2)]
  const threads = gates.map((g) => new Thread({ target: gated, args: [g], daemon: true }))
  t.is(activeCount(), base, 'constructed threads are not counted')
  threads[0]!.start()
  t.is(activeCount(), base + 1)
  threads[1]!.start()
  t.is(activeCount(), base + 2)
  await until(() => gates.every((g) => Atomics.load(g, 1) === 1))
  t.is(activeCount(), base + 2)
  openGate(gates[0]!)
  t.true(await threads[0]!.joinAsync(20_000))
  t.is(activeCount(), base + 1)
  openGate(gates[1]!)
  t.true(await threads[1]!.joinAsync(20_000))
  t.is(activeCount(), base)
})

test.serial('stackSize(kib) returns the previous setting and rejects 1..127 with RangeError', (t) => {
  const initial = stackSize()
  try {
    t.is(initial, 0, 'Node default unless set')
    t.is(stackSize(1024), 0)
    t.is(stackSize(), 1024, 'a call without argument only reads')
    t.is(stackSize(128), 1024, '128 KiB is the smallest usable stack accepted')
    for (const bad of [1, 32, 63, 64, 127, -1, 100.5, Number.NaN]) {
      const err = t.throws(() => stackSize(bad), { instanceOf: RangeError }, String(bad))
      t.is((err as { code?: string }).code, 'ERR_OUT_OF_RANGE')
    }
    t.throws(() => stackSize('512' as never), { instanceOf: TypeError })
    t.is(stackSize(), 128, 'a rejected value leaves the setting unchanged')
    t.is(stackSize(0), 128)
    t.is(stackSize(), 0)
  } finally {
    stackSize(initial)
  }
})

test.serial('stackSize(kib) is the default stack of Threads created afterwards', async (t) => {
  t.timeout(40_000)
  const initial = stackSize()
  let limited: Thread
  try {
    stackSize(512)
    const out = sharedInts(1)
    limited = new Thread({ target: moduleRef(TARGETS, 'recurseDepth'), args: [out], daemon: true })
    stackSize(0) // the setting is read at construction, not at start()
    limited.start()
    t.true(await limited.joinAsync(20_000))
    const unlimited = sharedInts(1)
    const d = new Thread({ target: moduleRef(TARGETS, 'recurseDepth'), args: [unlimited], daemon: true })
    d.start()
    t.true(await d.joinAsync(20_000))
    t.true(out[0]! > 0, 'the recursion ran')
    t.true(out[0]! < unlimited[0]!, `depth with 512 KiB (${out[0]}) < default (${unlimited[0]})`)
  } finally {
    stackSize(initial)
  }
})

// ---- lifecycle -------------------------------------------------------------------------------

test('Thread.start() runs the target in another thread; join() returns true once it finished', (t) => {
  t.timeout(30_000)
  const out = sharedInts(2)
  const th = new Thread({
    target: (out: Int32Array, a: number, b: string) => {
      out[0] = a + b.length
      out[1] = 1
    },
    args: [out, 40, 'xy'],
    daemon: true,
  })
  th.start()
  t.true(th.join(20_000))
  t.is(out[0], 42)
  t.is(out[1], 1)
  t.false(th.isAlive())
})

test('Thread.join(timeout) returns false while the target runs and true after it finished', async (t) => {
  t.timeout(30_000)
  const gate = sharedInts(2)
  const th = new Thread({ target: gated, args: [gate], daemon: true })
  th.start()
  await until(() => Atomics.load(gate, 1) === 1, 20_000, 'target running')
  t.false(th.join(0), 'join(0) polls')
  t.false(th.join(30), 'join(30) times out')
  t.true(th.isAlive())
  openGate(gate)
  t.true(th.join(20_000))
  t.true(th.join(0))
  t.true(th.join(), 'join() without timeout returns at once on a finished thread')
  t.false(th.isAlive())
})

test('Thread.join() validates its timeout', (t) => {
  const th = new Thread({ target: () => {}, daemon: true })
  th.start()
  for (const bad of [-1, Number.NaN]) {
    const err = t.throws(() => th.join(bad), { instanceOf: RangeError })
    t.is((err as { code?: string }).code, 'ERR_OUT_OF_RANGE')
  }
  t.true(th.join(20_000))
})

test('Thread.joinAsync() resolves false on timeout and true when the target finishes', async (t) => {
  t.timeout(30_000)
  const gate = sharedInts(2)
  const th = new Thread({ target: gated, args: [gate], daemon: true })
  th.start()
  t.false(await th.joinAsync(20))
  t.false(await th.joinAsync({ timeout: 20 }))
  const pending = th.joinAsync(20_000)
  let settled = false
  void pending.then(() => (settled = true))
  await sleep(30)
  t.false(settled, 'joinAsync waits for the target')
  openGate(gate)
  t.true(await pending)
  t.true(await th.joinAsync(0))
})

test('Thread.joinAsync({ signal }) rejects with the abort reason and leaves the thread joinable', async (t) => {
  t.timeout(30_000)
  const gate = sharedInts(2)
  const th = new Thread({ target: gated, args: [gate], daemon: true })
  th.start()
  const ac = new AbortController()
  const reason = new Error('stop waiting')
  const p = th.joinAsync({ signal: ac.signal })
  setTimeout(() => ac.abort(reason), 20)
  t.is(await t.throwsAsync(p), reason)
  t.true(th.isAlive())
  openGate(gate)
  t.true(await th.joinAsync(20_000))
})

test('Thread.isAlive() is false before start(), true while running, false after the target finished', async (t) => {
  t.timeout(30_000)
  const gate = sharedInts(2)
  const th = new Thread({ target: gated, args: [gate], daemon: true })
  t.false(th.isAlive())
  th.start()
  t.true(th.isAlive(), 'alive right after start(), before the worker has booted')
  await until(() => Atomics.load(gate, 1) === 1)
  t.true(th.isAlive())
  openGate(gate)
  t.true(await th.joinAsync(20_000))
  t.false(th.isAlive())
})

test('Thread.start() twice throws ThreadStateError ERR_THREAD_STATE', async (t) => {
  t.timeout(30_000)
  const gate = sharedInts(2)
  const th = new Thread({ target: gated, args: [gate], daemon: true })
  th.start()
  const err = t.throws(() => th.start(), { instanceOf: ThreadStateError })
  t.is(err.code, 'ERR_THREAD_STATE')
  openGate(gate)
  t.true(await th.joinAsync(20_000))
  const again = t.throws(() => th.start(), { instanceOf: ThreadStateError }, 'also after it finished')
  t.is(again.code, 'ERR_THREAD_STATE')
})

test('Thread.join() and joinAsync() before start() throw ThreadStateError ERR_THREAD_STATE', async (t) => {
  const th = new Thread({ target: () => {}, daemon: true })
  const err = t.throws(() => th.join(0), { instanceOf: ThreadStateError })
  t.is(err.code, 'ERR_THREAD_STATE')
  const err2 = await t.throwsAsync(th.joinAsync(0), { instanceOf: ThreadStateError })
  t.is(err2.code, 'ERR_THREAD_STATE')
})

test('Thread.daemon can be set before start() and not after', async (t) => {
  t.timeout(30_000)
  const th = new Thread({ target: () => {} })
  t.false(th.daemon, 'a thread created by the main thread is non-daemon by default')
  th.daemon = true
  t.true(th.daemon)
  t.throws(() => (th.daemon = 'yes' as never), { instanceOf: TypeError })
  th.start()
  const err = t.throws(() => (th.daemon = false), { instanceOf: ThreadStateError })
  t.is(err.code, 'ERR_THREAD_STATE')
  t.true(await th.joinAsync(20_000))
})

// ---- identity and names ----------------------------------------------------------------------

test('Thread.ident is undefined before start() and equals getIdent() inside the thread', async (t) => {
  t.timeout(30_000)
  const buf = sharedBytes()
  const th = new Thread({ target: moduleRef(TARGETS, 'reportSelf'), args: [buf], daemon: true })
  t.is(th.ident, undefined)
  th.start()
  const ident = th.ident
  t.is(typeof ident, 'number')
  t.not(ident, 0)
  t.not(ident, getIdent(), 'differs from the main thread')
  t.is(th.nativeId, ident)
  t.true(await th.joinAsync(20_000))
  const r = JSON.parse(readString(buf)) as SelfReport
  t.is<number | undefined, number | undefined>(r.getIdent, ident)
  t.is<number | undefined, number | undefined>(r.ident, ident, 'currentThread().ident inside the thread')
  t.true(r.same, 'currentThread() returns the same object on each call')
  t.true(r.alive, 'currentThread().isAlive() inside the thread')
  t.is(th.ident, ident, 'ident is kept after the thread finished')
})

test('Thread idents of live threads are distinct', async (t) => {
  t.timeout(30_000)
  const gates = [sharedInts(2), sharedInts(2), sharedInts(2)]
  const threads = gates.map((g) => new Thread({ target: gated, args: [g], daemon: true }))
  for (const th of threads) th.start()
  t.is(new Set([getIdent(), ...threads.map((th) => th.ident)]).size, 4)
  for (const g of gates) openGate(g)
  for (const th of threads) t.true(await th.joinAsync(20_000))
})

test('Thread.name defaults to Thread-N, with the target name appended when it has one', (t) => {
  const a = new Thread()
  const b = new Thread()
  const ma = /^Thread-(\d+)$/.exec(a.name)
  const mb = /^Thread-(\d+)$/.exec(b.name)
  t.truthy(ma, a.name)
  t.truthy(mb, b.name)
  t.is(Number(mb![1]), Number(ma![1]) + 1, 'N counts up')
  const named = new Thread({ target: function work() {} })
  t.regex(named.name, /^Thread-\d+ \(work\)$/)
  const arrow = (): void => {}
  t.regex(new Thread({ target: arrow }).name, /^Thread-\d+ \(arrow\)$/)
  t.regex(new Thread({ target: moduleRef(TARGETS, 'writeAt') }).name, /^Thread-\d+ \(writeAt\)$/)
  t.is(new Thread({ target: arrow, name: 'custom' }).name, 'custom')
  t.is(new Thread({ name: '' }).name, '', 'an empty name is a name')
})

test('Thread.name is settable and validated', (t) => {
  const th = new Thread()
  th.name = 'renamed'
  t.is(th.name, 'renamed')
  const err = t.throws(() => (th.name = 42 as never), { instanceOf: TypeError })
  t.is((err as { code?: string }).code, 'ERR_INVALID_ARG_TYPE')
  t.throws(() => new Thread({ name: 42 as never }), { instanceOf: TypeError })
})

test('currentThread().name inside the thread is the Thread name (custom and default)', async (t) => {
  t.timeout(30_000)
  const custom = await selfReport({ name: 'wörker ✓ 1', daemon: true })
  t.is(custom.report.name, 'wörker ✓ 1')
  t.true(custom.report.daemon)
  const plain = await selfReport({ daemon: false })
  t.regex(plain.thread.name, /^Thread-\d+ \(reportSelf\)$/)
  t.is(plain.report.name, plain.thread.name)
  t.false(plain.report.daemon)
})

test('A name set before start() is the one the thread sees', async (t) => {
  t.timeout(30_000)
  const buf = sharedBytes()
  const th = new Thread({ target: moduleRef(TARGETS, 'reportSelf'), args: [buf], daemon: true })
  th.name = 'renamed-before-start'
  th.start()
  t.true(await th.joinAsync(20_000))
  t.is((JSON.parse(readString(buf)) as SelfReport).name, 'renamed-before-start')
})

test('mainThread() and currentThread() on the main thread describe the main thread', (t) => {
  const main = mainThread()
  t.is(main.name, 'MainThread')
  t.is(main.ident, getIdent())
  t.is(currentThread(), main)
  t.is(mainThread(), main)
  t.true(main.isAlive())
  t.false(main.daemon)
  const err = t.throws(() => main.join(0), { instanceOf: ThreadStateError }, 'a thread cannot join itself')
  t.is(err.code, 'ERR_THREAD_STATE')
  const err2 = t.throws(() => main.start(), { instanceOf: ThreadStateError })
  t.is(err2.code, 'ERR_THREAD_STATE')
})

test('mainThread() inside a thread describes the main thread, not the caller', async (t) => {
  t.timeout(30_000)
  const { report } = await selfReport({ daemon: true })
  t.is(report.mainName, 'MainThread')
  t.is(report.mainIdent, getIdent())
  t.false(report.mainIsCurrent)
})

test('A Thread started inside a thread runs, joins, and inherits the daemon flag', async (t) => {
  t.timeout(40_000)
  for (const daemon of [true, false]) {
    const buf = sharedBytes()
    const th = new Thread({ target: moduleRef(TARGETS, 'spawnInner'), args: [buf], daemon })
    th.start()
    t.true(await th.joinAsync(30_000))
    const r = JSON.parse(readString(buf)) as {
      joined: boolean
      outerIdent: number
      outerDaemon: boolean
      innerIdent: number
      innerDaemon: boolean
      inner: SelfReport
    }
    t.true(r.joined)
    t.is<number | undefined, number | undefined>(r.outerIdent, th.ident)
    t.is(r.outerDaemon, daemon)
    t.is(r.innerDaemon, daemon, 'default daemon flag is the creating thread’s')
    t.is(r.inner.name, 'inner')
    t.is(r.inner.getIdent, r.innerIdent)
    t.not(r.innerIdent, r.outerIdent)
    t.not(r.innerIdent, getIdent())
    t.is(r.inner.mainName, 'MainThread')
    t.is(r.inner.mainIdent, getIdent())
  }
})

// ---- subclasses ------------------------------------------------------------------------------

test('A Thread subclass overriding run() runs in the worker with its fields, a Lock field included', async (t) => {
  t.timeout(30_000)
  const out = sharedInts(4)
  const lock = new Lock()
  const th = new LockHolder(out, lock, 'ab')
  t.is(th.name, 'holder-ab')
  th.start()
  await until(() => Atomics.load(out, 0) !== 0, 20_000, 'subclass run() to take the lock')
  t.is(out[0], 1, 'the worker acquired the lock it received')
  t.true(lock.locked(), 'the main thread sees the lock held by the worker')
  t.false(lock.acquire({ blocking: false }))
  t.is(out[1], 2 * 100 + 6, 'string and nested object fields arrived')
  t.is(out[2], 1, 'inside run(): currentThread() is this, with its name and class')
  Atomics.store(out, 3, 1)
  Atomics.notify(out, 3)
  t.true(await th.joinAsync(20_000))
  t.false(lock.locked(), 'released by the worker')
  t.true(lock.acquire({ timeout: 1000 }))
  lock.release()
})

test('A Thread subclass with an async run() stays alive until its promise settles', async (t) => {
  t.timeout(30_000)
  const out = sharedInts(3)
  const th = new AsyncRunner(out)
  th.daemon = true
  th.start()
  await until(() => Atomics.load(out, 0) === 1, 20_000, 'run() started')
  await sleep(30)
  t.true(th.isAlive(), 'alive while run() awaits')
  t.false(await th.joinAsync(20))
  Atomics.store(out, 1, 1)
  t.true(await th.joinAsync(20_000))
  t.is(out[2], 1, 'the promise completed before the thread counted as finished')
})

test('A Thread subclass overriding run() without its own static module throws TypeError at start()', (t) => {
  class Local extends Thread {
    override run(): void {}
  }
  const th = new Local({ daemon: true })
  t.throws(() => th.start(), { instanceOf: TypeError })
  t.false(th.isAlive())
  t.is(th.ident, undefined, 'not started')
  const inherited = new InheritsModule(sharedInts(4), new Lock(), 'x')
  t.throws(() => inherited.start(), { instanceOf: TypeError }, 'an inherited static module does not name this class')
  t.false(inherited.isAlive())
})

test('A Thread subclass the worker cannot load is reported as TaskModuleError through Thread.excepthook', async (t) => {
  t.timeout(30_000)
  class NotExported extends Thread {
    static override module = TARGETS.href // the class is not exported there
    override run(): void {}
  }
  class BrokenImport extends Thread {
    static override module = new URL('../../../test/fixtures/threads-broken-module.ts', import.meta.url)
    override run(): void {}
  }
  for (const th of [new NotExported({ daemon: true }), new BrokenImport({ daemon: true })]) {
    th.start()
    t.true(await th.joinAsync(20_000), 'join returns normally')
    const r = await reportOf(th)
    t.is(r.excType, 'TaskModuleError', th.constructor.name)
    t.is((r.excValue as { code?: string }).code, 'ERR_TASK_MODULE_NOT_FOUND')
  }
})

test('A Thread subclass that does not override run() needs no static module', async (t) => {
  t.timeout(30_000)
  class Plain extends Thread {}
  const out = sharedInts(1)
  const th = new Plain({ target: (out: Int32Array) => void (out[0] = 5), args: [out], daemon: true })
  th.start()
  t.true(await th.joinAsync(20_000))
  t.is(out[0], 5)
})

// ---- targets ---------------------------------------------------------------------------------

test('Thread target given as moduleRef(url, name) runs that export with the args', async (t) => {
  t.timeout(30_000)
  const out = sharedInts(3)
  const th = new Thread({ target: moduleRef(TARGETS, 'writeAt'), args: [out, 2, 77], daemon: true })
  th.start()
  t.true(await th.joinAsync(20_000))
  t.deepEqual([...out], [0, 0, 77])
  const def = new Thread({ target: moduleRef(TARGETS), args: [out], daemon: true })
  def.start()
  t.true(await def.joinAsync(20_000))
  t.is(out[0], 99, 'moduleRef(url) names the default export')
  const rel = new Thread({ target: moduleRef('./test/fixtures/threads-targets.ts', 'writeAt'), args: [out, 1, 5], daemon: true })
  rel.start()
  t.true(await rel.joinAsync(20_000))
  t.is(out[1], 5, 'a ./relative path resolves against the working directory')
})

test('An async moduleRef target is awaited before the thread counts as finished', async (t) => {
  t.timeout(30_000)
  const out = sharedInts(3)
  const th = new Thread({ target: moduleRef(TARGETS, 'awaitGate'), args: [out], daemon: true })
  th.start()
  await until(() => Atomics.load(out, 0) === 1, 20_000, 'target started')
  t.false(th.join(30), 'blocking join times out while the promise is pending')
  t.true(th.isAlive())
  Atomics.store(out, 1, 1)
  t.true(await th.joinAsync(20_000))
  t.is(out[2], 1)
})

test('An async source target is awaited before the thread counts as finished', async (t) => {
  t.timeout(30_000)
  const out = sharedInts(2)
  const th = new Thread({
    target: async (out: Int32Array) => {
      await new Promise((r) => setTimeout(r, 100))
      out[0] = 1
    },
    args: [out],
    daemon: true,
  })
  th.start()
  t.true(th.join(20_000))
  t.is(out[0], 1)
})

test('new Thread() with a moduleRef to a missing module throws TaskModuleError ERR_TASK_MODULE_NOT_FOUND', (t) => {
  const missing = new URL('../../../test/fixtures/threads-does-not-exist.ts', import.meta.url)
  const err = t.throws(() => new Thread({ target: moduleRef(missing, 'x') }), { instanceOf: TaskModuleError })
  t.is(err.code, 'ERR_TASK_MODULE_NOT_FOUND')
  const err2 = t.throws(() => new Thread({ target: moduleRef('./no/such/module.ts', 'x') }), { instanceOf: TaskModuleError })
  t.is(err2.code, 'ERR_TASK_MODULE_NOT_FOUND')
})

test('new Thread() rejects a non-callable target with TypeError ERR_INVALID_ARG_TYPE', (t) => {
  for (const bad of [42, 'run', {}, null, [() => 1], Symbol('x')]) {
    const err = t.throws(() => new Thread({ target: bad as never }), { instanceOf: TypeError })
    t.is((err as { code?: string }).code, 'ERR_INVALID_ARG_TYPE', String(typeof bad))
  }
})

test('new Thread() validates args, daemon and stackSize options', (t) => {
  const code = (f: () => unknown, cls: typeof TypeError | typeof RangeError): string | undefined => (t.throws(f, { instanceOf: cls }) as { code?: string } | undefined)?.code
  t.is(
    code(() => new Thread({ args: 'abc' as never }), TypeError),
    'ERR_INVALID_ARG_TYPE',
  )
  t.is(
    code(() => new Thread({ daemon: 1 as never }), TypeError),
    'ERR_INVALID_ARG_TYPE',
  )
  t.is(
    code(() => new Thread({ stackSize: 32 }), RangeError),
    'ERR_OUT_OF_RANGE',
  )
  t.is(
    code(() => new Thread({ stackSize: 127 }), RangeError),
    'ERR_OUT_OF_RANGE',
  )
  t.is(
    code(() => new Thread({ stackSize: -1 }), RangeError),
    'ERR_OUT_OF_RANGE',
  )
  t.is(
    code(() => new Thread({ stackSize: 100.5 }), RangeError),
    'ERR_OUT_OF_RANGE',
  )
  t.is(
    code(() => new Thread(42 as never), TypeError),
    'ERR_INVALID_ARG_TYPE',
  )
})

test('Thread.start() with a function inside args throws TypeError ERR_NOT_SHAREABLE and does not start', async (t) => {
  t.timeout(30_000)
  const fn = (): number => 1
  for (const args of [[fn], [{ deep: { cb: fn } }], [new Map([['k', fn]])], [new Set([fn])], [[1, [2, fn]]]]) {
    const th = new Thread({ target: () => {}, args, daemon: true })
    const err = t.throws(() => th.start(), { instanceOf: TypeError })
    t.is((err as { code?: string }).code, 'ERR_NOT_SHAREABLE')
    t.false(th.isAlive())
    t.is(th.ident, undefined)
  }
  // A value the structured clone refuses (a Symbol) is reported the same way.
  const sym = new Thread({ target: () => {}, args: [Symbol('s')], daemon: true })
  const err = t.throws(() => sym.start(), { instanceOf: TypeError })
  t.is((err as { code?: string }).code, 'ERR_NOT_SHAREABLE')
  t.false(sym.isAlive())
})

// ---- errors escaping the target ----------------------------------------------------------------

test('An error escaping the target reaches Thread.excepthook with its thread, class and message; join() returns normally', async (t) => {
  t.timeout(30_000)
  const th = new Thread({
    name: 'thrower',
    target: () => {
      const err = new RangeError('kaboom') as RangeError & { code: string }
      err.code = 'ERR_KABOOM'
      throw err
    },
    daemon: true,
  })
  th.start()
  t.true(th.join(20_000), 'join returns true, it does not throw')
  const r = await reportOf(th)
  t.is(r.thread, th)
  t.is(r.excType, 'RangeError')
  t.true(r.excValue instanceof RangeError)
  const e = r.excValue as RangeError & { code: string }
  t.is(e.message, 'kaboom')
  t.is(e.code, 'ERR_KABOOM')
  t.regex(e.stack ?? '', /kaboom/)
  t.false(th.isAlive())
  // The process survived: a new thread still works.
  const out = sharedInts(1)
  const next = new Thread({ target: (out: Int32Array) => void (out[0] = 1), args: [out], daemon: true })
  next.start()
  t.true(await next.joinAsync(20_000))
  t.is(out[0], 1)
})

test('Thread.excepthook receives a custom error class by name with code and cause', async (t) => {
  t.timeout(30_000)
  const th = new Thread({ target: moduleRef(TARGETS, 'throwCustom'), args: ['custom message'], daemon: true })
  th.start()
  t.true(await th.joinAsync(20_000))
  const r = await reportOf(th)
  t.is(r.excType, 'CustomFailure')
  const e = r.excValue as Error & { code: string; detail: unknown; cause: unknown }
  t.true(e instanceof Error)
  t.is(e.name, 'CustomFailure')
  t.is(e.message, 'custom message')
  t.is(e.code, 'ERR_CUSTOM_FAILURE')
  t.deepEqual(e.detail, { n: 1 })
  t.true(e.cause instanceof TypeError)
  t.is((e.cause as Error).message, 'inner cause')
  t.regex(e.stack ?? '', /throwCustom/, 'the stack is the worker’s')
})

test('A rejected async target and a thrown non-Error reach Thread.excepthook', async (t) => {
  t.timeout(30_000)
  const rejecting = new Thread({
    target: async () => {
      await new Promise((r) => setTimeout(r, 10))
      throw new TypeError('async failure')
    },
    daemon: true,
  })
  const nonError = new Thread({
    target: () => {
      throw { reason: 'plain object', n: 42 }
    },
    daemon: true,
  })
  rejecting.start()
  nonError.start()
  t.true(await rejecting.joinAsync(20_000))
  t.true(await nonError.joinAsync(20_000))
  const r1 = await reportOf(rejecting)
  t.is(r1.excType, 'TypeError')
  t.true(r1.excValue instanceof TypeError)
  t.is((r1.excValue as Error).message, 'async failure')
  const r2 = await reportOf(nonError)
  t.is(r2.excType, 'NonError')
  t.deepEqual(r2.excValue, { reason: 'plain object', n: 42 })
})

test('A Thread that ends normally is not reported to Thread.excepthook', async (t) => {
  t.timeout(30_000)
  const th = new Thread({ target: () => {}, daemon: true })
  th.start()
  t.true(await th.joinAsync(20_000))
  await sleep(100)
  t.false(reported.some((r) => r.thread === th))
})

test('With the default Thread.excepthook, stderr shows "Exception in thread NAME:" and the process survives', async (t) => {
  t.timeout(60_000)
  const r = await runChild(['excepthook'])
  t.is(r.signal, null, r.stderr)
  t.is(r.code, 0, r.stderr)
  t.regex(r.stderr, /^Exception in thread boom-thread:\nRangeError: kaboom from the target\n/m)
  t.regex(r.stderr, /^Exception in thread async-boom:\nTypeError: async kaboom\n/m)
  t.deepEqual(r.stdout.trim().split('\n'), ['joined true alive false', 'joined true alive false', 'main still running'])
})

// ---- process-level behaviour -----------------------------------------------------------------

test('process.exit() inside a target marks the thread finished; join() returns', async (t) => {
  t.timeout(30_000)
  const out = sharedInts(1)
  const th = new Thread({
    target: (out: Int32Array) => {
      out[0] = 1
      process.exit(3)
    },
    args: [out],
    daemon: true,
  })
  th.start()
  t.true(th.join(20_000), 'blocking join sees the exit')
  t.false(th.isAlive())
  t.is(out[0], 1)
  const async = new Thread({ target: () => process.exit(0), daemon: true })
  async.start()
  t.true(await async.joinAsync(20_000))
  await sleep(50)
  t.false(
    reported.some((r) => r.thread === th || r.thread === async),
    'process.exit() is not an error',
  )
})

test('A daemon thread blocked forever does not keep the process alive', async (t) => {
  t.timeout(60_000)
  const r = await runChild(['daemon'])
  t.is(r.signal, null, 'the process exited by itself (not killed at the timeout)')
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'main done')
})

test('A non-daemon thread keeps the process alive until it finishes', async (t) => {
  t.timeout(60_000)
  const r = await runChild(['non-daemon'])
  t.is(r.signal, null)
  t.is(r.code, 0, r.stderr)
  t.deepEqual(r.stdout.trim().split('\n'), ['main done daemon=false', 'thread done'])
})

test('console.log from two threads alternating through a Condition comes out in program order', async (t) => {
  t.timeout(60_000)
  const rounds = 100
  const r = await runChild(['pingpong', String(rounds)])
  t.is(r.signal, null)
  t.is(r.code, 0, r.stderr)
  const expected = ['start']
  for (let i = 0; i < rounds; i++) expected.push(`ping ${i}`, `pong ${i}`)
  expected.push('joined true true')
  t.deepEqual(r.stdout.trim().split('\n'), expected)
})

// ---- stack size ----------------------------------------------------------------------------------

test('Thread stackSize option: recursion overflows sooner with 256 KiB than with 1024 KiB or the default', async (t) => {
  t.timeout(60_000)
  const depthWith = async (stack: number | undefined): Promise<number> => {
    const out = sharedInts(1)
    const th = new Thread({ target: moduleRef(TARGETS, 'recurseDepth'), args: [out], stackSize: stack, daemon: true })
    th.start()
    if (!(await th.joinAsync(20_000))) throw new Error(`stackSize ${stack}: thread did not finish`)
    return out[0]!
  }
  const small = await depthWith(256)
  const medium = await depthWith(1024)
  const dflt = await depthWith(undefined)
  t.log({ small, medium, dflt })
  t.true(small > 0, 'the thread with stackSize 256 ran its target')
  t.true(small < medium, `256 KiB depth ${small} < 1024 KiB depth ${medium}`)
  t.true(medium < dflt, `1024 KiB depth ${medium} < default depth ${dflt}`)
})

test('Thread with stackSize 128 (the smallest accepted) runs without crashing the process', async (t) => {
  // Regression: Node keeps 192 KiB of a worker's stack away from V8, so a small stackSizeMb
  // used to leave V8 no stack and abort the whole process (exit code 6), and under tsx a
  // 256 KiB worker could not even boot. stackSize is now the usable stack.
  t.timeout(60_000)
  const r = await runChild(['stack', '128'])
  t.is(r.signal, null)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'joined true ran true')
})
