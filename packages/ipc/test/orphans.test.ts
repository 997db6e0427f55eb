/**
 * No orphans: a Process child never outlives its parent by more than a moment, whatever way the
 * parent ends. A parent killed by a signal takes its children (daemon or not, sleeping on a timer
 * or blocked in Atomics.wait) and their children with it; a parent whose main module ends
 * terminates its daemon children and waits for its non-daemon ones; a parent blocked in join()
 * sees a child killed by SIGKILL end with exitCode -9. Parents run test/fixtures/proc-orphan-parent.ts
 * as their own node process.
 *
 * Outcomes only: a pid counts as gone once `kill(pid, 0)` fails or the process is a zombie (PID 1
 * here need not reap orphans), polled up to GONE_BOUND, a generous bound for a ~1 s guarantee on
 * a loaded 2-core machine. Every process started is killed in teardown.
 */
import test, { type ExecutionContext } from 'ava'
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { moduleRef } from '@tandem/sync/task'
import { EOFError } from '../src/errors.ts'
import { Pipe } from '../src/pipe.ts'
import { Process } from '../src/process.ts'
import { isGone, sleep, stillRunningAfter } from '../../../test/fixtures/processes.ts'

const TARGETS = new URL('./fixtures/proc-targets.ts', import.meta.url)
const PARENT = fileURLToPath(new URL('./fixtures/proc-orphan-parent.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** How long a process may take to disappear before the test fails (the guarantee is ~1 s). */
const GONE_BOUND = 10_000
/** Bound for everything else a test waits for. */
const WAIT = 60_000

/** SIGKILLs `pid` if it still runs (teardown). */
function killIfRunning(pid: number): void {
  if (isGone(pid)) return
  try {
    process.kill(pid, 'SIGKILL')
  } catch {}
}

interface Parent {
  proc: ChildProcess
  /** Resolves with the pids the fixture printed. */
  pids: Promise<{ parent: number; children: number[] }>
  /** Resolves when the parent exits: [exit code, signal]. */
  exit: Promise<[number | null, NodeJS.Signals | null]>
  stdout: () => string
  stderr: () => string
}

/** Runs proc-orphan-parent.ts MODE; in teardown kills the parent and every pid it printed. */
function startParent(t: ExecutionContext, mode: string): Parent {
  const proc = spawn(process.execPath, ['--import=tsx', '--conditions=@tandem/source', PARENT, mode], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  let printed: number[] = []
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
    err += s
  })
  const exit = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => proc.on('exit', (code, signal) => resolve([code, signal])))
  const pids = new Promise<{ parent: number; children: number[] }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no PIDS line within ${WAIT} ms; stderr: ${err}`)), WAIT)
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s
      const line = out.split('\n').find((l) => l.startsWith('PIDS '))
      if (line !== undefined && printed.length === 0) {
        clearTimeout(timer)
        const parsed = JSON.parse(line.slice('PIDS '.length)) as { parent: number; children: number[] }
        printed = parsed.children
        resolve(parsed)
      }
    })
    void exit.then(([code, signal]) => {
      clearTimeout(timer)
      if (printed.length === 0) reject(new Error(`the parent exited (${code ?? signal}) before printing its PIDS; stderr: ${err}`))
    })
  })
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    for (const pid of printed) killIfRunning(pid)
  })
  return { proc, pids, exit, stdout: () => out, stderr: () => err }
}

/** Kills a parent in `mode` with `signal` once its children run; asserts they are all gone afterwards. */
async function killParentChildrenGone(t: ExecutionContext, mode: string, signal: NodeJS.Signals, count: number): Promise<void> {
  t.timeout(150_000)
  const parent = startParent(t, mode)
  const { children } = await parent.pids
  t.is(children.length, count)
  t.deepEqual(
    children.filter((pid) => isGone(pid)),
    [],
    'all children run before the parent is killed',
  )
  parent.proc.kill(signal)
  const [, sig] = await parent.exit
  t.is(sig, signal)
  t.deepEqual(await stillRunningAfter(children, GONE_BOUND), [], `children still running ${GONE_BOUND} ms after the parent was killed`)
}

test('SIGKILL of a parent: its daemon and non-daemon children (sleeping on a timer) are gone soon after', async (t) => {
  await killParentChildrenGone(t, 'kill-me', 'SIGKILL', 2)
})

test('SIGKILL of a parent: its daemon and non-daemon children blocked in Atomics.wait are gone soon after', async (t) => {
  await killParentChildrenGone(t, 'kill-me-blocked', 'SIGKILL', 2)
})

test('SIGKILL of a parent: its children blocked in recv() (reading the channel to it themselves) are gone soon after', async (t) => {
  await killParentChildrenGone(t, 'kill-me-recv', 'SIGKILL', 2)
})

test('SIGTERM of a parent: its daemon and non-daemon children are gone soon after', async (t) => {
  await killParentChildrenGone(t, 'kill-me', 'SIGTERM', 2)
})

test('SIGKILL of a parent: its child and its grandchild are both gone soon after', async (t) => {
  await killParentChildrenGone(t, 'kill-me-grandchild', 'SIGKILL', 2)
})

test('a parent whose main module ends terminates its daemon child that sleeps forever, and exits 0', async (t) => {
  t.timeout(150_000)
  const parent = startParent(t, 'daemon-exit')
  const { children } = await parent.pids
  t.is(children.length, 1)
  const exited = await Promise.race([parent.exit, sleep(WAIT).then(() => 'still running' as const)])
  t.deepEqual(exited, [0, null], `the parent exits by itself; stderr: ${parent.stderr()}`)
  t.deepEqual(await stillRunningAfter(children, GONE_BOUND), [], 'the daemon child is gone')
})

test('a parent whose main module ends waits for its non-daemon child: the child prints before the parent exits', async (t) => {
  t.timeout(150_000)
  const parent = startParent(t, 'nondaemon-exit')
  const { children } = await parent.pids
  t.is(children.length, 1)
  const exited = await Promise.race([parent.exit, sleep(WAIT).then(() => 'still running' as const)])
  t.deepEqual(exited, [0, null], `the parent exits by itself; stderr: ${parent.stderr()}`)
  // Both processes write to the same stdout pipe, so the order in it is the order of the writes.
  const out = parent.stdout()
  const main = out.indexOf('parent main done')
  const child = out.indexOf('child done')
  const exiting = out.indexOf('parent exiting')
  t.true(main >= 0 && child >= 0 && exiting >= 0, out)
  t.true(main < child, 'the parent main module ended before the child printed')
  t.true(child < exiting, `the parent's exit came after the child's output: ${JSON.stringify(out)}`)
  t.true(isGone(children[0]!))
})

test('Process.join() in a parent returns when its child is killed with SIGKILL meanwhile; exitCode -9', (t) => {
  t.timeout(120_000)
  const p = new Process({
    daemon: true,
    target: () => {
      setInterval(() => {}, 60_000)
      setTimeout(() => process.kill(process.pid, 'SIGKILL'), 300)
    },
  })
  t.teardown(() => {
    if (p.isAlive()) p.kill()
  })
  p.start()
  // Blocks this thread until the child is gone (bounded: a broken join must not hang the run).
  t.true(p.join(WAIT), 'join returned because the child ended')
  t.is(p.exitCode, -9)
  t.false(p.isAlive())
})

test('a grandchild whose parent is terminated reports the parent not alive, or is gone; either way it does not outlive it (test_parent_process)', async (t) => {
  t.timeout(150_000)
  const [rconn, wconn] = Pipe(false)
  const p = new Process({ target: moduleRef(TARGETS, 'createGrandchild'), args: [wconn] })
  let gpid: number | undefined
  t.teardown(() => {
    if (p.isAlive()) p.kill()
    if (gpid !== undefined) killIfRunning(gpid)
  })
  p.start()
  const first = (await rconn.recvAsync({ timeout: WAIT })) as [string, number]
  t.is(first[0], 'grandchild')
  gpid = first[1]
  t.is(await rconn.recvAsync({ timeout: WAIT }), 'alive')
  p.terminate()
  t.true(await p.joinAsync(WAIT))
  t.is(p.exitCode, -15)
  // CPython: the orphaned grandchild reports "not alive". Tandem may end it first (no orphans):
  // then the pipe reaches EOF. A timeout or "alive" is a failure.
  let second: unknown
  try {
    second = await rconn.recvAsync({ timeout: WAIT })
  } catch (err) {
    second = err instanceof EOFError ? 'EOF' : err
  }
  t.true(second === 'not alive' || second === 'EOF', `got ${String(second)}`)
  t.deepEqual(await stillRunningAfter([gpid], GONE_BOUND), [], 'the grandchild is gone')
})
