/**
 * Process (src/process.ts) with real child processes: attributes and names, the lifecycle
 * (start, join, joinAsync, isAlive, activeChildren, exit codes, terminate, kill, close),
 * currentProcess/parentProcess on both sides, subclasses, module-reference, source and async
 * targets, children that start processes and threads, args by value and with Connections, and
 * the values that cannot reach a process. Ports of CPython's `_TestProcess` and
 * `_TestSubclassingProcess` (`Lib/test/_test_multiprocessing.py`); what a child prints is read by
 * running test/fixtures/proc-script.ts as its own node process.
 *
 * Children report over a Pipe passed in their args. Every started process is killed in teardown;
 * the main thread never blocks without a bound.
 */
import test, { type ExecutionContext } from 'ava'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join as joinPath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Lock } from '@tandem/sync/lock'
import { moduleRef } from '@tandem/sync/task'
import { Queue as ThreadQueue } from '@tandem/queue/queue'
import { EOFError, ProcessStateError } from '../src/errors.ts'
import { type Connection, Pipe } from '../src/pipe.ts'
import { activeChildren, cpuCount, currentProcess, parentProcess, Process } from '../src/process.ts'
import { Value } from '../src/shared.ts'
import { AsyncRunner, FieldReporter, type SelfReport, UpperCaser } from './fixtures/proc-targets.ts'

const TARGETS = new URL('./fixtures/proc-targets.ts', import.meta.url)
const SCRIPT = fileURLToPath(new URL('./fixtures/proc-script.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** Bound for every wait on a child: generous, the machine is shared and has 2 cores. */
const WAIT = 60_000

const ref = (name: string) => moduleRef(TARGETS, name)

/** Kills `ps` in teardown if they still run (a closed Process throws on use: ignored). */
function track(t: ExecutionContext, ...ps: Process[]): void {
  t.teardown(() => {
    for (const p of ps) {
      try {
        if (p.isAlive()) p.kill()
      } catch {}
    }
  })
}

/** Receives one message, at most WAIT ms. */
function recv(conn: Connection): Promise<unknown> {
  return conn.recvAsync({ timeout: WAIT })
}

/** Waits (async, bounded) for `p` to end; fails the test if it does not. */
async function ended(t: ExecutionContext, p: Process): Promise<void> {
  t.true(await p.joinAsync(WAIT), `${p.name} did not end within ${WAIT} ms`)
}

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

interface ScriptResult {
  code: number | null
  signal: string | null
  stdout: string
  stderr: string
  result: { joined: boolean; exitCode: number | null; name: string } | undefined
}

/** Runs proc-script.ts MODE as its own node process (killed in teardown if still running). */
function runScript(t: ExecutionContext, mode: string): Promise<ScriptResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import=tsx', '--conditions=@tandem/source', SCRIPT, mode],
      { cwd: ROOT, timeout: 100_000, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: unknown; signal?: string | null }) | null
        const line = stdout.split('\n').find((l) => l.startsWith('RESULT '))
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr,
          result: line === undefined ? undefined : JSON.parse(line.slice('RESULT '.length)),
        })
      },
    )
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
  })
}

// ---- the root process ---------------------------------------------------------------------------

test('currentProcess() in the root: MainProcess, alive, not a daemon, ident = pid = process.pid, exitCode null (test_current)', (t) => {
  const cur = currentProcess()
  t.is(cur.name, 'MainProcess')
  t.true(cur.isAlive())
  t.false(cur.daemon)
  t.is(cur.pid, process.pid)
  t.is(cur.ident, process.pid)
  t.is(cur.exitCode, null)
  t.is(currentProcess(), cur, 'the same object each time')
})

test('parentProcess() is null in the root process', (t) => {
  t.is(parentProcess(), null)
})

test('cpuCount() is an integer >= 1 (test_cpu_count)', (t) => {
  const n = cpuCount()
  t.true(Number.isInteger(n))
  t.true(n >= 1)
})

// ---- attributes and lifecycle -------------------------------------------------------------------

test('new Process(): name Process-N counting up, daemon false unless given, pid/ident/exitCode null, not alive, not in activeChildren (test_process, test_daemon_argument)', (t) => {
  const a = new Process({ target: ref('reportSelf') })
  const b = new Process({ target: ref('reportSelf') })
  const ma = /^Process-(\d+)$/.exec(a.name)
  const mb = /^Process-(\d+)$/.exec(b.name)
  t.truthy(ma, a.name)
  t.truthy(mb, b.name)
  t.is(Number(mb![1]), Number(ma![1]) + 1, 'consecutive processes get consecutive numbers')
  t.false(a.daemon, 'the root is not a daemon, so neither is its child by default')
  t.true(new Process({ target: ref('reportSelf'), daemon: true }).daemon)
  t.false(new Process({ target: ref('reportSelf'), daemon: false }).daemon)
  t.is(new Process({ target: ref('reportSelf'), name: 'SomeProcess' }).name, 'SomeProcess')
  t.is(a.pid, null)
  t.is(a.ident, null)
  t.is(a.exitCode, null)
  t.false(a.isAlive())
  t.true(Array.isArray(activeChildren()))
  t.false(activeChildren().includes(a))
})

test('Process lifecycle: running child has a pid (= ident), is alive, in activeChildren, exitCode null; after join exitCode 0, not alive, gone from activeChildren (test_process)', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('waitForGo'), args: [theirs], name: 'SomeProcess', daemon: true })
  track(t, p)
  p.start()
  t.is(p.exitCode, null)
  t.true(p.isAlive())
  t.true(activeChildren().includes(p))
  t.true(Number.isInteger(p.pid) && p.pid! > 0, `pid ${p.pid}`)
  t.not(p.pid, process.pid)
  t.is(p.ident, p.pid)
  t.is(await recv(mine), 'ready')
  t.true(p.isAlive(), 'still running: it waits for our message')
  t.is(p.exitCode, null)
  mine.send('go')
  t.deepEqual(await recv(mine), ['got', 'go'])
  await ended(t, p)
  t.is(p.exitCode, 0)
  t.false(p.isAlive())
  t.false(activeChildren().includes(p))
  t.is(p.pid !== null && p.pid > 0, true, 'pid stays readable after the end')
})

test("Process.daemon: settable before start(), ProcessStateError after; a child's new Process defaults to the child's daemon flag (test_daemon_argument)", async (t) => {
  t.timeout(120_000)
  const results: unknown[] = []
  for (const daemon of [true, false]) {
    const [mine, theirs] = Pipe()
    const p = new Process({ target: ref('defaultDaemon'), args: [theirs] })
    track(t, p)
    p.daemon = daemon
    t.is(p.daemon, daemon)
    p.start()
    t.is(
      codeOf(() => {
        p.daemon = !daemon
      }),
      'ERR_PROCESS_STATE',
    )
    t.is(p.daemon, daemon)
    results.push(await recv(mine))
    await ended(t, p)
    t.is(p.exitCode, 0)
  }
  t.deepEqual(results, [true, false])
})

test('Process.start() twice throws ProcessStateError ERR_PROCESS_STATE, while running and after the end', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('waitForGo'), args: [theirs], daemon: true })
  track(t, p)
  p.start()
  const err = t.throws(() => p.start(), { instanceOf: ProcessStateError })
  t.is(err?.code, 'ERR_PROCESS_STATE')
  t.is(await recv(mine), 'ready')
  mine.send('go')
  await ended(t, p)
  t.is(
    codeOf(() => p.start()),
    'ERR_PROCESS_STATE',
  )
  t.is(p.exitCode, 0, 'the second start() did not disturb the first run')
})

test('Process.join()/joinAsync() before start() throw ProcessStateError', async (t) => {
  const p = new Process({ target: ref('reportSelf') })
  t.throws(() => p.join(0), { instanceOf: ProcessStateError })
  await t.throwsAsync(() => p.joinAsync(0), { instanceOf: ProcessStateError })
})

test('Process.join(timeout) returns false while the child runs (join(0) too), joinAsync(timeout) too; both true after the end, repeatedly', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('waitForGo'), args: [theirs], daemon: true })
  track(t, p)
  p.start()
  t.is(await recv(mine), 'ready')
  t.false(p.join(0))
  t.false(p.join(200))
  t.false(await p.joinAsync(200))
  t.false(await p.joinAsync({ timeout: 100 }))
  t.true(p.isAlive())
  t.is(p.exitCode, null)
  mine.send('go')
  t.deepEqual(await recv(mine), ['got', 'go'])
  t.true(p.join(WAIT), 'blocking join with a bound returns true once the child ends')
  t.true(p.join(), 'join() after the end returns at once')
  t.true(p.join(0))
  t.true(await p.joinAsync())
  t.true(await p.joinAsync(0))
  t.is(p.exitCode, 0)
})

test('Process.join(-1) throws RangeError ERR_OUT_OF_RANGE (a negative timeout; CPython treats it as 0)', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('waitForGo'), args: [theirs], daemon: true })
  track(t, p)
  p.start()
  const err = t.throws(() => p.join(-1), { instanceOf: RangeError })
  t.is((err as { code?: string } | undefined)?.code, 'ERR_OUT_OF_RANGE')
  t.is(await recv(mine), 'ready')
  mine.send('go')
  await ended(t, p)
})

/** CPython `_kill_process`: a sleeping daemon child, checked, then ended by `meth`; returns its exit code. */
async function killProcess(t: ExecutionContext, meth: (p: Process) => void): Promise<number | null> {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('sleepForever'), args: [theirs], daemon: true })
  track(t, p)
  p.start()
  t.true(p.isAlive())
  t.true(activeChildren().includes(p))
  t.is(p.exitCode, null)
  t.false(p.join(0))
  t.true(p.isAlive())
  t.is(await recv(mine), 'ready')
  meth(p)
  await ended(t, p)
  t.false(p.isAlive())
  t.false(activeChildren().includes(p))
  t.true(p.join(0))
  return p.exitCode
}

test('Process.terminate(): a sleeping child ends with exitCode -15 (test_terminate)', async (t) => {
  t.is(await killProcess(t, (p) => p.terminate()), -15)
})

test('Process.kill(): a sleeping child ends with exitCode -9 (test_kill)', async (t) => {
  t.is(await killProcess(t, (p) => p.kill()), -9)
})

test('Process.terminate() on a child blocked in Atomics.wait ends it with -15', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('blockForever'), args: [theirs], daemon: true })
  track(t, p)
  p.start()
  t.is(await recv(mine), 'ready')
  p.terminate()
  await ended(t, p)
  t.is(p.exitCode, -15)
})

test('Process exitCode is n after process.exit(n) in the target (test_sys_exit)', async (t) => {
  t.timeout(120_000)
  const ps = [0, 3, 8].map((n) => new Process({ target: ref('exitWith'), args: [n], daemon: true }))
  track(t, ...ps)
  for (const p of ps) p.start()
  for (const p of ps) await ended(t, p)
  t.deepEqual(
    ps.map((p) => p.exitCode),
    [0, 3, 8],
  )
})

test('Process exitCode is 1 after an uncaught error (a source target and a rejected async module target)', async (t) => {
  t.timeout(120_000)
  const a = new Process({
    name: 'ExpectedFailure-sync',
    daemon: true,
    target: () => {
      throw new Error('expected failure (process.test.ts)')
    },
  })
  const b = new Process({ name: 'ExpectedFailure-async', daemon: true, target: ref('asyncReject'), args: ['expected failure (process.test.ts)'] })
  track(t, a, b)
  a.start()
  b.start()
  await ended(t, a)
  await ended(t, b)
  t.is(a.exitCode, 1)
  t.is(b.exitCode, 1)
})

test('Process.terminate() right after start(): five fresh children all end with -15; five short ones end with 0 (test_many_processes)', async (t) => {
  t.timeout(150_000)
  const quick = Array.from({ length: 5 }, () => new Process({ target: ref('exitWith'), args: [0] }))
  track(t, ...quick)
  for (const p of quick) p.start()
  for (const p of quick) await ended(t, p)
  t.deepEqual(
    quick.map((p) => p.exitCode),
    [0, 0, 0, 0, 0],
  )
  const sleepers = Array.from({ length: 5 }, () => new Process({ target: ref('sleepForever') }))
  track(t, ...sleepers)
  for (const p of sleepers) p.start()
  for (const p of sleepers) p.terminate()
  for (const p of sleepers) await ended(t, p)
  t.deepEqual(
    sleepers.map((p) => p.exitCode),
    [-15, -15, -15, -15, -15],
  )
})

test('Process.close(): throws ProcessStateError while running; fine after the end, then isAlive/join/terminate throw; close twice is fine (test_close)', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('waitForGo'), args: [theirs], daemon: true })
  track(t, p)
  p.start()
  t.true(p.isAlive())
  const err = t.throws(() => p.close(), { instanceOf: ProcessStateError })
  t.is(err?.code, 'ERR_PROCESS_STATE')
  t.true(p.isAlive(), 'a refused close() leaves the process usable')
  t.is(await recv(mine), 'ready')
  mine.send('go')
  await ended(t, p)
  t.false(p.isAlive())
  t.is(p.exitCode, 0)
  t.notThrows(() => p.close())
  t.is(
    codeOf(() => p.isAlive()),
    'ERR_PROCESS_STATE',
  )
  t.is(
    codeOf(() => p.join()),
    'ERR_PROCESS_STATE',
  )
  t.is(
    codeOf(() => p.terminate()),
    'ERR_PROCESS_STATE',
  )
  t.is(
    codeOf(() => p.kill()),
    'ERR_PROCESS_STATE',
  )
  t.notThrows(() => p.close())
})

// ---- what the child sees --------------------------------------------------------------------------

test('in the child: currentProcess() is the Process (name, pid, daemon, alive), parentProcess() is the root (pid, MainProcess, alive)', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('reportSelf'), args: [theirs], name: 'Reporter', daemon: true })
  track(t, p)
  p.start()
  const r = (await recv(mine)) as SelfReport
  await ended(t, p)
  t.is(p.exitCode, 0)
  t.is(p.pid, r.pid, 'the Process pid is the child OS pid')
  t.is(r.current.name, 'Reporter')
  t.is(r.current.pid, p.pid)
  t.is(r.current.ident, p.pid)
  t.true(r.current.daemon)
  t.true(r.current.alive)
  t.is(r.current.exitCode, null)
  t.not(r.parent, null)
  t.is(r.parent?.pid, process.pid)
  t.is(r.parent?.pid, currentProcess().pid)
  t.is(r.parent?.name, 'MainProcess')
  t.true(r.parent?.alive)
  t.is(r.activeChildren, 0)
})

test('in the child: a default-named Process sees its Process-N name (test_process)', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('reportSelf'), args: [theirs], daemon: true })
  track(t, p)
  p.start()
  const r = (await recv(mine)) as SelfReport
  await ended(t, p)
  t.regex(p.name, /^Process-\d+$/)
  t.is(r.current.name, p.name)
  t.false(r.current.daemon === false, 'daemon flag crosses')
})

test('in the child: parentProcess().join(200) returns false while the parent lives', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('parentJoinWhileAlive'), args: [theirs], daemon: true })
  track(t, p)
  p.start()
  t.deepEqual(await recv(mine), { joined: false, alive: true })
  await ended(t, p)
  t.is(p.exitCode, 0)
})

test('in the child: stdin is /dev/null (reads as empty)', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('readStdin'), args: [theirs], daemon: true })
  track(t, p)
  p.start()
  t.is(await recv(mine), 0)
  await ended(t, p)
})

// ---- targets ---------------------------------------------------------------------------------------

test('a source target runs in the child and can import @tandem/ipc/pipe there', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({
    daemon: true,
    args: [theirs, 20, 22],
    target: async (conn: Connection, a: number, b: number) => {
      const { Pipe: LocalPipe } = await import('@tandem/ipc/pipe')
      const [x, y] = LocalPipe()
      x.send(a + b)
      conn.send(['source', y.recv(), process.pid])
    },
  })
  track(t, p)
  p.start()
  t.deepEqual(await recv(mine), ['source', 42, p.pid])
  await ended(t, p)
  t.is(p.exitCode, 0)
})

test('an async target is awaited: the child runs until its promise settles, then exits 0', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('asyncGate'), args: [theirs], daemon: true })
  track(t, p)
  p.start()
  t.is(await recv(mine), 'started')
  t.true(p.isAlive(), 'the child waits for its promise')
  t.false(await p.joinAsync(200))
  mine.send('go')
  t.deepEqual(await recv(mine), ['done', 'go'])
  await ended(t, p)
  t.is(p.exitCode, 0)
})

test('Process args cross by value (test_args_argument)', async (t) => {
  t.timeout(120_000)
  const values: unknown[] = [1, 'str', [1], { a: { b: [2, 'x'] } }, null, 2n ** 70n, new Map([[1, 'x']]), new Set(['s']), new Date(0), new Uint8Array([1, 2, 3]), true, -0.5]
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('echoArgs'), args: [theirs, ...values], daemon: true })
  track(t, p)
  p.start()
  t.deepEqual(await recv(mine), values)
  await ended(t, p)
  t.is(p.exitCode, 0)
})

test('Process args: a local object changed after start() is not seen by the child (copied at start)', async (t) => {
  t.timeout(120_000)
  const obj = { n: 1 }
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('echoArgs'), args: [theirs, obj], daemon: true })
  track(t, p)
  p.start()
  obj.n = 2
  t.deepEqual(await recv(mine), [{ n: 1 }])
  await ended(t, p)
})

test('Process args: a Connection in args works in the child both ways', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const [ask, answer] = Pipe()
  const p = new Process({
    daemon: true,
    args: [theirs, answer],
    target: (conn: Connection, other: Connection) => {
      const q = other.recv() as number
      other.send(q * 2)
      conn.send('answered')
    },
  })
  track(t, p)
  p.start()
  ask.send(21)
  t.is(await ask.recvAsync({ timeout: WAIT }), 42)
  t.is(await recv(mine), 'answered')
  await ended(t, p)
  t.is(p.exitCode, 0)
})

test('Process.start() with a @tandem/sync Lock in args throws TypeError ERR_NOT_SHAREABLE and starts nothing', (t) => {
  const p = new Process({ target: ref('echoArgs'), args: [new Lock()], daemon: true })
  track(t, p)
  const err = t.throws(() => p.start(), { instanceOf: TypeError })
  t.is((err as { code?: string } | undefined)?.code, 'ERR_NOT_SHAREABLE')
  t.false(p.isAlive())
  t.is(p.pid, null)
  t.false(activeChildren().includes(p))
})

test('Process.start() with a thread Queue, a thread-side Value, a function (nested too) in args throws TypeError ERR_NOT_SHAREABLE', (t) => {
  const bad: [string, unknown][] = [
    ['@tandem/queue Queue', new ThreadQueue()],
    ['thread-side Value', Value('i', 1)],
    ['function', () => 1],
    ['Lock inside an object', { deep: [new Lock()] }],
  ]
  for (const [what, value] of bad) {
    const p = new Process({ target: ref('echoArgs'), args: [value], daemon: true })
    track(t, p)
    const err = t.throws(() => p.start(), { instanceOf: TypeError }, what)
    t.is((err as { code?: string } | undefined)?.code, 'ERR_NOT_SHAREABLE', what)
    t.false(p.isAlive(), what)
  }
})

test('a child holding both ends of a Pipe and reading neither takes no message from the parent that reads one (the UpperCaser race)', async (t) => {
  t.timeout(120_000)
  // The child writes to its copy of `a`; what arrives at `b` belongs to the parent, who reads
  // `b`. The child's copy of `b` is never read and closed late: nothing may be forwarded to it.
  const [a, b] = Pipe()
  const p = new Process({
    daemon: true,
    args: [a, b],
    target: (mine: Connection, theirs: Connection) => {
      for (let i = 0; i < 100; i++) mine.send(i)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300)
      theirs.close()
      mine.send('done')
    },
  })
  track(t, p)
  p.start()
  const got: unknown[] = []
  for (let i = 0; i <= 100; i++) got.push(await b.recvAsync({ timeout: WAIT }))
  t.deepEqual(got, [...Array.from({ length: 100 }, (_, i) => i), 'done'])
  await ended(t, p)
  t.is(p.exitCode, 0)
})

test('a child SIGKILLed right after start(), before it took the Pipe end in its args: the parent end gets EOFError (it used to wait forever)', async (t) => {
  t.timeout(120_000)
  for (let round = 0; round < 5; round++) {
    const [mine, theirs] = Pipe()
    const p = new Process({ daemon: true, args: [theirs], target: (c: Connection) => c.recv() })
    track(t, p)
    p.start()
    theirs.close()
    p.kill()
    const err = await mine.recvAsync({ timeout: WAIT }).then(
      (v) => v,
      (e: unknown) => e,
    )
    t.true(err instanceof EOFError, `round ${round}: ${String(err)}`)
    await ended(t, p)
  }
})

// ---- subclasses --------------------------------------------------------------------------------------

test('Process subclass: UpperCaser upper-cases over its own Pipe fields (test_subclassing)', async (t) => {
  t.timeout(120_000)
  const [childConn, parentConn] = Pipe()
  const u = new UpperCaser(childConn, parentConn)
  u.daemon = true
  track(t, u)
  t.regex(u.name, /^UpperCaser-\d+$/, 'a subclass is named after its class, as in CPython')
  u.start()
  t.is(await u.submit('hello'), 'HELLO')
  t.is(await u.submit('world'), 'WORLD')
  u.stop()
  await ended(t, u)
  t.is(u.exitCode, 0)
})

test('Process subclass: own fields reach run() in the child; currentProcess() there is the instance', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const r = new FieldReporter(theirs, 'x1')
  r.daemon = true
  track(t, r)
  r.start()
  const got = (await recv(mine)) as Record<string, unknown>
  await ended(t, r)
  t.is(r.exitCode, 0)
  t.is(got.label, 'x1')
  t.deepEqual(got.nested, { list: [1, 2, 3], deep: { ok: true } })
  t.deepEqual(got.table, [['a', 1]])
  t.is(got.name, 'reporter-x1')
  t.is(got.currentName, 'reporter-x1')
  t.is(got.pid, r.pid)
  t.true(got.isInstance, 'run() runs on a FieldReporter')
  t.true(got.currentIsThis, 'currentProcess() === this in the child (CPython sets _current_process = self)')
})

test('Process subclass: a field holding a @tandem/sync Lock makes start() throw TypeError ERR_NOT_SHAREABLE', (t) => {
  const [, theirs] = Pipe()
  const r = new FieldReporter(theirs, 'locked')
  ;(r as unknown as { extra: Lock }).extra = new Lock()
  track(t, r)
  const err = t.throws(() => r.start(), { instanceOf: TypeError })
  t.is((err as { code?: string } | undefined)?.code, 'ERR_NOT_SHAREABLE')
  t.false(r.isAlive())
})

test('Process subclass: an async run() is awaited', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const a = new AsyncRunner(theirs)
  a.daemon = true
  track(t, a)
  a.start()
  t.is(await recv(mine), 'started')
  t.true(a.isAlive())
  mine.send('go')
  t.deepEqual(await recv(mine), ['done', 'go'])
  await ended(t, a)
  t.is(a.exitCode, 0)
})

// ---- children that start processes and threads ----------------------------------------------------

test('a child starts its own Process: the grandchild sees the child as its parent; the child joins it (exit 0)', async (t) => {
  t.timeout(150_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('spawnGrandchild'), args: [theirs] })
  track(t, p)
  p.start()
  const gr = (await recv(mine)) as SelfReport
  const seen = (await recv(mine)) as { name: string; pid: number; exitCode: number; joined: boolean; before: boolean; during: boolean; after: boolean; me: number }
  await ended(t, p)
  t.is(p.exitCode, 0)
  t.is(p.pid, seen.me)
  t.true(seen.joined)
  t.is(seen.exitCode, 0)
  t.false(seen.before, 'not in activeChildren before start')
  t.true(seen.during, 'in activeChildren while running (in the child)')
  t.false(seen.after, 'gone from activeChildren after join')
  t.is(gr.pid, seen.pid)
  t.is(gr.current.name, seen.name)
  t.is(seen.name, `${p.name}:1`, "CPython names a child's first child PARENTNAME:1")
  t.not(gr.parent, null)
  t.is(gr.parent?.pid, p.pid, "the grandchild's parentProcess() is the child")
  t.is(gr.parent?.name, p.name)
  t.true(gr.parent?.alive)
})

test('a Connection end passed to one child, then (after that child ended) to a second child, still reaches the reader (as in CPython)', async (t) => {
  // CPython: the parent's copy of wconn stays open until it is closed, so it can be handed to
  // one child after another. test_recursion below relies on this.
  t.timeout(120_000)
  const [rconn, wconn] = Pipe(false)
  const a = new Process({ target: ref('sendTag'), args: [wconn, 'a'], daemon: true })
  track(t, a)
  a.start()
  await ended(t, a)
  t.is(a.exitCode, 0)
  t.is(await recv(rconn), 'a')
  const b = new Process({ target: ref('sendTag'), args: [wconn, 'b'], daemon: true })
  track(t, b)
  b.start()
  await ended(t, b)
  t.is(b.exitCode, 0, 'the second child could send')
  t.is(await recv(rconn), 'b')
})

test('children start children recursively; messages arrive in depth-first order over one pipe (test_recursion)', async (t) => {
  t.timeout(180_000)
  const [rconn, wconn] = Pipe(false)
  // CPython calls _test_recursion(wconn, []) in the test process; here the top level runs in a
  // child too, so that its blocking joins do not hold up the test's event loop.
  const top = new Process({ target: ref('recursion'), args: [wconn, []], daemon: false })
  track(t, top)
  top.start()
  const result: unknown[] = []
  for (let i = 0; i < 7; i++) result.push(await recv(rconn))
  t.deepEqual(result, [[], [0], [0, 0], [0, 1], [1], [1, 0], [1, 1]])
  await ended(t, top)
  t.is(top.exitCode, 0)
  t.false(rconn.poll(0))
})

test('a child runs a @tandem/sync Thread and joins it', async (t) => {
  t.timeout(120_000)
  const [mine, theirs] = Pipe()
  const p = new Process({ target: ref('runThread'), args: [theirs], daemon: true })
  track(t, p)
  p.start()
  t.deepEqual(await recv(mine), { joined: true, value: 7, alive: false })
  await ended(t, p)
  t.is(p.exitCode, 0)
})

test('a child waits for its non-daemon threads before it exits (test_wait_for_threads)', async (t) => {
  t.timeout(120_000)
  const dir = mkdtempSync(joinPath(tmpdir(), 'tandem-proc-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = joinPath(dir, 'flag.txt')
  const p = new Process({ target: ref('leaveThreadRunning'), args: [path, 500], daemon: true })
  track(t, p)
  p.start()
  await ended(t, p)
  t.is(p.exitCode, 0)
  t.is(readFileSync(path, 'utf8'), 'thread done', 'the thread finished before the process ended')
})

// ---- what a child prints (run as its own node process) ---------------------------------------------

test('an uncaught error in a child: exitCode 1, stderr has "Process NAME:" and the stack (test_stderr_flush)', async (t) => {
  t.timeout(120_000)
  const r = await runScript(t, 'throw')
  t.is(r.code, 0, r.stderr)
  t.deepEqual(r.result, { joined: true, exitCode: 1, name: 'Failer' })
  t.regex(r.stderr, /Process Failer:/)
  t.regex(r.stderr, /boom MARKER/)
  t.regex(r.stderr, /\n\s+at /, 'a stack trace follows')
  t.true(r.stderr.indexOf('Process Failer:') < r.stderr.indexOf('boom MARKER'), 'the header comes first')
})

test('an uncaught error in a module-reference target: the stack names the module file', async (t) => {
  t.timeout(120_000)
  const r = await runScript(t, 'throw-module')
  t.deepEqual(r.result, { joined: true, exitCode: 1, name: 'ModFailer' })
  t.regex(r.stderr, /Process ModFailer:/)
  t.regex(r.stderr, /module MARKER/)
  t.regex(r.stderr, /proc-targets\.ts/)
})

test('a rejected async target: exitCode 1 and "Process NAME:" with the error on stderr', async (t) => {
  t.timeout(120_000)
  const r = await runScript(t, 'reject')
  t.deepEqual(r.result, { joined: true, exitCode: 1, name: 'AsyncFailer' })
  t.regex(r.stderr, /Process AsyncFailer:/)
  t.regex(r.stderr, /async MARKER/)
})

test('process.exit(3) in a child: exitCode 3 and no error report on stderr', async (t) => {
  t.timeout(120_000)
  const r = await runScript(t, 'exit')
  t.deepEqual(r.result, { joined: true, exitCode: 3, name: 'Exiter' })
  t.notRegex(r.stderr, /Process Exiter/)
})

test('a child inherits stdout and stderr', async (t) => {
  t.timeout(120_000)
  const r = await runScript(t, 'stdout')
  t.deepEqual(r.result, { joined: true, exitCode: 0, name: 'Printer' })
  t.regex(r.stdout, /hello from the child\n/)
  t.regex(r.stderr, /warning from the child\n/)
  t.true(r.stdout.indexOf('hello from the child') < r.stdout.indexOf('RESULT'), 'the child printed before the parent saw it end')
})
