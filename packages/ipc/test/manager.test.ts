/**
 * SyncManager and its proxies across real processes: the proxy methods of every type (CPython's
 * `_TestDict`, `_TestList`, `_TestNamespace`, the manager Lock/Event/Queue/Condition cases,
 * `_TestValue` through a manager), proxies passed to children and grandchildren, remote errors
 * with their codes, `register` (`_TestMyManager`), `connect()` to a running manager over TCP
 * (`_TestRemoteManager`), a wrong authkey, shutdown and a killed server (every waiting call fails,
 * nothing hangs).
 */
import test, { type ExecutionContext } from 'ava'
import { KeyError, IndexError, ManagerClosedError, ValueError } from '@tandem/ipc/errors'
import { Manager, SyncManager, type DictProxy } from '@tandem/ipc/manager'
import { existsSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pipe } from '@tandem/ipc/pipe'
import { Queue as ProcessQueue } from '@tandem/ipc/queue'
import { Process } from '@tandem/ipc/process'
import { moduleRef } from '@tandem/sync/task'
import { Thread } from '@tandem/sync/thread'
import { JOIN } from './fixtures/pq-helpers.ts'

const CHILDREN = new URL('./fixtures/manager-children.ts', import.meta.url)

test.beforeEach((t) => {
  t.timeout(180_000)
})

function manager(t: ExecutionContext, opts?: ConstructorParameters<typeof SyncManager>[0]): SyncManager {
  const m = Manager(opts)
  t.teardown(() => m.shutdown())
  return m
}

function child(t: ExecutionContext, name: string, args: unknown[]): Process {
  const p = new Process({ target: moduleRef(CHILDREN, name), args, daemon: true })
  t.teardown(async () => {
    if (p.isAlive()) p.kill()
    await p.joinAsync(10_000)
  })
  p.start()
  return p
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function joined(p: Process): Promise<number | null> {
  if (!(await p.joinAsync(JOIN))) throw new Error(`${p.name} did not end`)
  return p.exitCode
}

test('dict proxy: Map methods and Python methods; a missing key in pop is KeyError ERR_KEY_NOT_FOUND (_TestDict)', (t) => {
  const m = manager(t)
  const d = m.dict<string, number>({ a: 1 })
  d.set('b', 2).set('c', 3)
  t.is(d.get('a'), 1)
  t.is(d.get('zz'), undefined)
  t.is(d.get('zz', 7), 7)
  t.true(d.has('b'))
  t.is(d.size(), 3)
  t.deepEqual(d.keys(), ['a', 'b', 'c'])
  t.deepEqual(d.values(), [1, 2, 3])
  t.deepEqual(d.entries(), [
    ['a', 1],
    ['b', 2],
    ['c', 3],
  ])
  t.is(d.pop('a'), 1)
  t.is(d.pop('a', 9), 9)
  const err = t.throws(() => d.pop('a'))
  t.true(err instanceof KeyError)
  t.is((err as KeyError).code, 'ERR_KEY_NOT_FOUND')
  t.deepEqual(d.popitem(), ['c', 3])
  t.is(d.setdefault('x', 5), 5)
  t.is(d.setdefault('x', 6), 5)
  d.update([['y', 8]])
  d.update(new Map([['z', 9]]))
  t.deepEqual(
    d.copy(),
    new Map([
      ['b', 2],
      ['x', 5],
      ['y', 8],
      ['z', 9],
    ]),
  )
  t.true(d.delete('b'))
  t.false(d.delete('b'))
  d.clear()
  t.is(d.size(), 0)
  t.throws(() => d.popitem(), { code: 'ERR_KEY_NOT_FOUND' })
  t.throws(() => d.set({} as never, 1), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('dict proxy Async forms give the same answers', async (t) => {
  const m = manager(t)
  const d = await m.dictAsync<number, string>()
  await d.setAsync(1, 'one')
  t.is(await d.getAsync(1), 'one')
  t.true(await d.hasAsync(1))
  t.is(await d.sizeAsync(), 1)
  t.deepEqual(await d.entriesAsync(), [[1, 'one']])
  t.is(await d.popAsync(1), 'one')
  await t.throwsAsync(d.popAsync(1), { instanceOf: KeyError })
})

test('list proxy: Python list methods, negative indices, IndexError and ValueError (_TestList)', (t) => {
  const m = manager(t)
  const l = m.list<number>([5, 1, 4])
  l.append(2)
  l.extend([3, 3])
  t.is(l.len(), 6)
  t.is(l.get(-1), 3)
  l.set(0, 0)
  l.insert(1, 9)
  t.deepEqual(l.copy(), [0, 9, 1, 4, 2, 3, 3])
  t.is(l.count(3), 2)
  t.is(l.index(4), 3)
  t.throws(() => l.index(4, 4), { instanceOf: ValueError, code: 'ERR_VALUE_NOT_FOUND' })
  l.remove(9)
  t.throws(() => l.remove(9), { code: 'ERR_VALUE_NOT_FOUND' })
  t.is(l.pop(), 3)
  t.is(l.pop(0), 0)
  t.deepEqual(l.slice(1, -1), [4, 2])
  l.sort()
  t.deepEqual(l.copy(), [1, 2, 3, 4])
  l.sort({ reverse: true })
  l.reverse()
  t.deepEqual(l.copy(), [1, 2, 3, 4])
  const err = t.throws(() => l.get(10))
  t.true(err instanceof IndexError)
  t.is((err as IndexError).code, 'ERR_INDEX_OUT_OF_RANGE')
  t.throws(() => l.set(-5, 1), { code: 'ERR_INDEX_OUT_OF_RANGE' })
  l.clear()
  t.throws(() => l.pop(), { code: 'ERR_INDEX_OUT_OF_RANGE' })
  const mixed = m.list<unknown>([1, 'a'])
  t.throws(() => mixed.sort(), { code: 'ERR_INVALID_ARG_TYPE' })
  // Values compare by value (Python's ==).
  const objs = m.list([{ a: [1] }, { a: [2] }])
  t.is(objs.index({ a: [2] }), 1)
})

test('Namespace proxy: properties are read and written on the server (_TestNamespace)', async (t) => {
  const m = manager(t)
  const ns = m.Namespace({ name: 'Bob' })
  ns.job = 'Builder'
  t.is(ns.name, 'Bob')
  t.is(ns.job, 'Builder')
  t.true('job' in ns)
  delete ns.job
  t.false('job' in ns)
  t.throws(() => ns.job, { code: 'ERR_KEY_NOT_FOUND' })
  await ns.setAsync('n', 3)
  t.is(await ns.getAsync('n'), 3)
  t.deepEqual(ns.entries(), [
    ['name', 'Bob'],
    ['n', 3],
  ])
})

test('Value and Array through a manager: typecodes wrap as ctypes do (_TestValue, _TestArray)', (t) => {
  const m = manager(t)
  const v = m.Value('i', 7)
  t.is(v.value, 7)
  v.value = 2 ** 31
  t.is(v.value, -(2 ** 31))
  const big = m.Value<bigint>('q', 5n)
  big.set(big.get() * 3n)
  t.is(big.value, 15n)
  const a = m.Array('d', [1.5, 2.5])
  a.set(-1, 4)
  t.deepEqual(a.toArray(), [1.5, 4])
  t.is(a.length, 2)
  t.throws(() => a.get(2), { code: 'ERR_INDEX_OUT_OF_RANGE' })
  t.deepEqual(m.Array('b', 3).slice(), [0, 0, 0])
})

test('2 processes x 10,000 increments of one dict key under a manager Lock: the total is exact', async (t) => {
  const m = manager(t)
  const d = m.dict<string, number>()
  const lock = m.Lock()
  d.set('n', 0)
  const ps = [child(t, 'increment', [d, lock, 'n', 10_000]), child(t, 'increment', [d, lock, 'n', 10_000])]
  for (const p of ps) t.is(await joined(p), 0)
  t.is(d.get('n'), 20_000)
})

test('Lock and RLock: timeouts, non-blocking tries, ownership across threads of different processes', async (t) => {
  const m = manager(t)
  const lock = m.Lock()
  t.true(lock.acquire())
  t.true(lock.locked())
  t.false(lock.acquire({ blocking: false }))
  t.false(lock.acquire({ timeout: 50 }))
  t.false(await lock.acquireAsync(50))
  lock.release()
  t.throws(() => lock.release(), { code: 'ERR_LOCK_NOT_OWNED' })
  const r = m.RLock()
  t.true(r.acquire())
  t.true(r.acquire())
  t.true(r.isOwned())
  r.release()
  r.release()
  t.throws(() => r.release(), { code: 'ERR_LOCK_NOT_OWNED' })
  // Another process cannot take it while this thread holds it, nor release it.
  r.acquire()
  const d = m.dict<string, unknown>()
  const p = new Process({
    target: (r: any, d: any) => {
      d.set('got', r.acquire({ timeout: 100 }))
      try {
        r.release()
      } catch (e) {
        d.set('release', (e as { code?: string }).code)
      }
    },
    args: [r, d],
    daemon: true,
  })
  p.start()
  t.is(await joined(p), 0)
  t.is(d.get('got'), false)
  t.is(d.get('release'), 'ERR_LOCK_NOT_OWNED')
  r.release()
  using _ = await r.holdAsync()
  t.true(r.isOwned())
})

test('Semaphore and BoundedSemaphore: permits, and over-release of a bounded one is ERR_SEMAPHORE_OVERFLOW', (t) => {
  const m = manager(t)
  const s = m.Semaphore(2)
  t.true(s.acquire())
  t.true(s.acquire())
  t.false(s.acquire({ timeout: 30 }))
  s.release(2)
  t.is(s.getValue(), 2)
  const b = m.BoundedSemaphore(1)
  t.throws(() => b.release(), { code: 'ERR_SEMAPHORE_OVERFLOW' })
})

test('Event set in one process wakes a wait in another', async (t) => {
  const m = manager(t)
  const ev = m.Event()
  const d = m.dict<string, unknown>()
  t.false(ev.wait(20))
  const p = child(t, 'waitEvent', [ev, d])
  await new Promise((r) => setTimeout(r, 200))
  ev.set()
  t.is(await joined(p), 0)
  t.is(d.get('seen'), true)
  t.true(ev.isSet())
  ev.clear()
  t.false(await ev.waitAsync(20))
})

test('Condition: a waiter in a child wakes on notify and holds the lock again', async (t) => {
  const m = manager(t)
  const cond = m.Condition()
  const d = m.dict<string, unknown>()
  const p = child(t, 'condWaiter', [cond, d])
  while (d.get('waiting') !== true) await new Promise((r) => setTimeout(r, 20))
  {
    using _ = cond.hold()
    d.set('ready', true)
    cond.notifyAll()
  }
  t.is(await joined(p), 0)
  t.is(d.get('woke'), true)
  t.throws(() => cond.notify(), { code: 'ERR_LOCK_NOT_OWNED' })
  // A Condition on a given manager Lock.
  const lock = m.Lock()
  const c2 = m.Condition(lock)
  c2.acquire()
  t.true(lock.locked())
  t.false(c2.wait(30))
  t.true(lock.locked(), 'the lock is held again after the timeout')
  c2.release()
  t.false(lock.locked())
})

test('Barrier: three parties in three processes get three distinct indices', async (t) => {
  const m = manager(t)
  const b = m.Barrier(3)
  const d = m.dict<string, number>()
  const ps = [child(t, 'barrierParty', [b, d, 'p1']), child(t, 'barrierParty', [b, d, 'p2'])]
  const mine = await b.waitAsync(60_000)
  for (const p of ps) t.is(await joined(p), 0)
  t.deepEqual([mine, d.get('p1')!, d.get('p2')!].sort(), [0, 1, 2])
  t.is(b.parties, 3)
  b.abort()
  t.true(b.broken)
  t.throws(() => b.wait(10), { code: 'ERR_BROKEN_BARRIER' })
  b.reset()
  t.false(b.broken)
})

test('Queue between processes: 2 producers x 3,000 items, 2 consumers; every item once', async (t) => {
  const m = manager(t)
  const q = m.Queue<number | null>(100)
  const out = m.dict<string, number>()
  const ps = [child(t, 'produce', [q, 3000]), child(t, 'produce', [q, 3000]), child(t, 'consume', [q, out, 'a']), child(t, 'consume', [q, out, 'b'])]
  for (const p of ps) t.is(await joined(p), 0)
  t.is(out.get('a')! + out.get('b')!, 2 * ((3000 * 2999) / 2))
  t.is(out.get('a.count')! + out.get('b.count')!, 6000)
})

test('Queue: get timeout is QueueEmpty; an aborted getAsync takes no item; put on a full queue times out with QueueFull', async (t) => {
  const m = manager(t)
  const q = m.Queue<string>(1)
  t.throws(() => q.get({ timeout: 30 }), { code: 'ERR_QUEUE_EMPTY' })
  t.throws(() => q.getNowait(), { code: 'ERR_QUEUE_EMPTY' })
  const ctl = new AbortController()
  const pending = q.getAsync({ signal: ctl.signal })
  await new Promise((r) => setTimeout(r, 50))
  ctl.abort(new Error('stop'))
  await t.throwsAsync(pending, { message: 'stop' })
  q.put('kept')
  t.is(q.qsize(), 1, 'the aborted get took nothing')
  t.throws(() => q.put('x', { timeout: 30 }), { code: 'ERR_QUEUE_FULL' })
  t.is(await q.getAsync(1000), 'kept')
  t.true(q.empty())
})

test('getAsync aborted in the same tick as the call (before its connection exists): rejects with the reason and takes nothing', async (t) => {
  const m = manager(t)
  const q = m.Queue<number>()
  const ctl = new AbortController()
  const pending = q.getAsync({ signal: ctl.signal })
  ctl.abort(new Error('early'))
  await t.throwsAsync(pending, { message: 'early' })
  q.put(1)
  t.is(await q.getAsync(30_000), 1, 'the aborted get took nothing')
})

test('JoinableQueue: join returns once a child marked every item done', async (t) => {
  const m = manager(t)
  const q = m.JoinableQueue<number | null>()
  for (let i = 0; i < 50; i++) q.put(i)
  q.put(null)
  t.false(q.join(20))
  const p = child(t, 'drainJoinable', [q])
  t.true(await q.joinAsync(60_000))
  t.is(await joined(p), 0)
  t.throws(() => q.taskDone(), { code: 'ERR_TASK_DONE_TOO_MANY' })
})

test('a proxy passed to a child and on to a grandchild works there (and proxies stored in a dict come back as proxies)', async (t) => {
  const m = manager(t)
  const d = m.dict<string, number>()
  const p = child(t, 'spawnGrandchild', [d])
  t.is(await joined(p), 0)
  t.is(d.get('child'), p.pid!)
  t.true(typeof d.get('grandchild') === 'number' && d.get('grandchild') !== p.pid)
  const holder = m.dict<string, DictProxy<string, number>>()
  holder.set('inner', d)
  const back = holder.get('inner')!
  t.is(back.get('child'), p.pid!)
  t.is(back.objectId, d.objectId)
})

test('a proxy put on a process queue reaches a child, and a thread of that child uses it', async (t) => {
  const m = manager(t)
  const d = m.dict<string, number>()
  const q = new ProcessQueue<DictProxy<string, number>>()
  const p = child(t, 'proxyFromQueueToThread', [q])
  q.put(d)
  t.is(await joined(p), 0)
  t.is(d.get('fromChild'), p.pid!)
  t.is(d.get('fromThread'), p.pid!, 'the thread wrote through the same object')
})

test('a manager restarted on the same socket path serves again (_TestManagerRestart)', (t) => {
  // (A random part: the pid of an earlier, killed run may be reused and its socket file left.)
  const address = join(tmpdir(), `tandem-restart-${process.pid}-${Math.random().toString(36).slice(2, 8)}.sock`)
  const authkey = 'restart'
  const first = new SyncManager({ address, authkey }).start()
  first.dict({ a: 1 })
  first.shutdown()
  t.false(existsSync(address), 'shutdown removed the socket')
  const second = new SyncManager({ address, authkey }).start()
  t.teardown(() => second.shutdown())
  const d = second.dict({ b: 2 })
  t.deepEqual(d.copy(), new Map([['b', 2]]))
})

test('the server ends when its owner is killed with SIGKILL (no orphan)', async (t) => {
  const [report, reportChild] = Pipe()
  const owner = child(t, 'managerOwner', [reportChild])
  const serverPid = (await report.recvAsync({ timeout: JOIN })) as number
  t.true(alive(serverPid))
  owner.kill()
  await joined(owner)
  const deadline = Date.now() + 30_000
  while (alive(serverPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.false(alive(serverPid), 'the manager server outlived its owner')
})

test('a worker thread that used a manager and ended gives its lane back: the server closes its descriptors', async (t) => {
  const m = manager(t)
  const d = m.dict<string, number>()
  d.set('main', 1) // the main thread's own lane exists before the count
  const server = m.process!.pid!
  const fds = (): number => readdirSync(`/proc/${server}/fd`).length
  const before = fds()
  for (let i = 0; i < 3; i++) {
    const th = new Thread({
      target: (d: DictProxy<string, number>, i: number) => {
        d.set(`thread${i}`, i)
      },
      args: [d, i],
    })
    th.start()
    t.true(await th.joinAsync(JOIN))
  }
  t.is(d.get('thread2'), 2)
  const deadline = Date.now() + 30_000
  while (fds() > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.true(fds() <= before, `the server holds ${fds() - before} more descriptors after the threads ended`)
})

test('register(): a user type served by the manager, its methods (sync and async) and only its public ones (_TestMyManager)', async (t) => {
  class MyManager extends SyncManager {}
  MyManager.register('Counter', moduleRef(CHILDREN, 'makeCounter'))
  const m = new MyManager().start()
  t.teardown(() => m.shutdown())
  const c = m.create('Counter', 10)
  t.is(c.call('add', 5), 15)
  t.is(await c.callAsync('later', [10]), 15)
  t.throws(() => c.call('_secret'), { code: 'ERR_MANAGER_PROTOCOL' })
  t.throws(() => c.call('nope'), { code: 'ERR_MANAGER_PROTOCOL' })
  t.throws(() => m.create('Unknown'), { code: 'ERR_MANAGER_PROTOCOL' })
  // A plain SyncManager does not serve the subclass's type.
  const plain = manager(t)
  t.throws(() => plain.create('Counter'), { code: 'ERR_MANAGER_PROTOCOL' })
})

test('a manager on TCP serves a client that connects with the address and key; a wrong key is AuthenticationError (_TestRemoteManager)', async (t) => {
  const m = manager(t, { address: { host: '127.0.0.1', port: 0 }, authkey: 'tcp-key' })
  const address = m.address as { host: string; port: number }
  t.true(address.port > 0)
  const [report, reportChild] = Pipe()
  const p = child(t, 'remoteClient', [address, 'tcp-key', reportChild])
  const ns = (await report.recvAsync({ timeout: JOIN })) as { from: number }
  t.is(ns.from, p.pid!)
  t.is(await joined(p), 0)
  const wrong = new SyncManager({ address, authkey: 'wrong' })
  t.throws(() => wrong.connect(), { code: 'ERR_AUTHENTICATION' })
  const right = new SyncManager({ address, authkey: 'tcp-key' }).connect()
  t.is(right.dict().size(), 0)
})

test('a proxy sent by a process that then exits still works when it is received seconds later (the reference it carries belongs to no process)', async (t) => {
  const m = manager(t, { authkey: 'late' })
  const [report, reportChild] = Pipe()
  const p = child(t, 'remoteClient', [m.address, 'late', reportChild])
  t.is(await joined(p), 0)
  // Longer than the server's grace for the ended process's references and for freeing.
  await new Promise((r) => setTimeout(r, 3000))
  const ns = (await report.recvAsync({ timeout: JOIN })) as { from: number }
  t.is(ns.from, p.pid!)
})

test('shutdown(): idempotent; every later call (blocking or async) is ManagerClosedError at once', async (t) => {
  const m = Manager()
  const d = m.dict()
  const q = m.Queue()
  const waiting = q.getAsync()
  m.shutdown()
  m.shutdown()
  t.throws(() => d.size(), { instanceOf: ManagerClosedError, code: 'ERR_MANAGER_CLOSED' })
  await t.throwsAsync(d.sizeAsync(), { code: 'ERR_MANAGER_CLOSED' })
  await t.throwsAsync(waiting, { code: 'ERR_MANAGER_CLOSED' })
  t.throws(() => m.dict(), { code: 'ERR_MANAGER_CLOSED' })
  t.false(m.process!.isAlive())
  await m.shutdownAsync()
})

test('the server killed with SIGKILL: a blocking get in a child and an async get here both fail with ManagerClosedError', async (t) => {
  const m = manager(t)
  const q = m.Queue<number>()
  const [report, reportChild] = Pipe()
  const p = child(t, 'blockedGet', [q, reportChild])
  t.is(await report.recvAsync({ timeout: JOIN }), 'waiting')
  const mine = q.getAsync()
  await new Promise((r) => setTimeout(r, 200))
  m.process!.kill()
  await t.throwsAsync(mine, { code: 'ERR_MANAGER_CLOSED' })
  t.deepEqual(await report.recvAsync({ timeout: JOIN }), ['ManagerClosedError', 'ERR_MANAGER_CLOSED'])
  t.is(await joined(p), 0)
  t.throws(() => q.qsize(), { code: 'ERR_MANAGER_CLOSED' })
})
