/**
 * The shareable protocol (src/shareable.ts): encode/decode of nested structures, identity and
 * cycles, values without shareables, refusals (functions, process targets, unregistered kinds),
 * user-defined kinds, and primitives nested in Thread args arriving as live handles in workers.
 */
import test from 'ava'
import { Barrier } from '../src/barrier.ts'
import { BoundedSemaphore } from '../src/bounded-semaphore.ts'
import { Condition } from '../src/condition.ts'
import { Event } from '../src/event.ts'
import { Lock } from '../src/lock.ts'
import { RLock } from '../src/rlock.ts'
import { Semaphore } from '../src/semaphore.ts'
import { decode, encode, isShareable, MARKER, SHARE } from '../src/shareable.ts'
import { moduleRef } from '../src/task.ts'
import { Thread, type ExceptHookArgs } from '../src/thread.ts'
import { sharedInts, sleep, until } from './_helpers.ts'
import { SharedCounter } from '../../../test/fixtures/threads-shareable-kind.ts'

const KIND = new URL('../../../test/fixtures/threads-shareable-kind.ts', import.meta.url)
const DECODE = new URL('../../../test/fixtures/threads-decode.ts', import.meta.url)

const reported: ExceptHookArgs[] = []
const helperHook = Thread.excepthook
Thread.excepthook = (args) => {
  reported.push(args)
  helperHook(args)
}

/** Starts a daemon Thread; throws if it fails to finish or reports an error. */
async function runThread(th: Thread, timeout = 20_000): Promise<void> {
  if (!(await th.joinAsync(timeout))) throw new Error(`${th.name} did not finish`)
  await sleep(20)
  const r = reported.find((x) => x.thread === th)
  if (r) throw r.excValue
}

function start(target: (...args: any[]) => unknown, ...args: unknown[]): Thread {
  const th = new Thread({ target, args, daemon: true })
  th.start()
  return th
}

/** Encodes for a thread and decodes after a structured clone, as a worker would. */
function crossInProcess<T>(value: T): T {
  return decode(structuredClone(encode(value, 'thread').value)) as T
}

// ---- encode without shareables -----------------------------------------------------------------

test('encode() returns a value without shareables unchanged (same reference)', (t) => {
  const cyclic: Record<string, unknown> = { n: 1 }
  cyclic.self = cyclic
  const values: unknown[] = [
    42,
    'text',
    null,
    undefined,
    { a: { b: [1, 'two', { c: 3n }] } },
    [1, [2, [3, [4]]]],
    new Map<unknown, unknown>([
      ['k', { v: [1] }],
      [{ key: true }, new Set([1])],
    ]),
    new Set([1, 'x', [2]]),
    new Date(0),
    /re/g,
    new Error('e'),
    sharedInts(2),
    new SharedArrayBuffer(8),
    new Uint8Array(4),
    cyclic,
  ]
  for (const v of values) {
    const enc = encode(v)
    t.is(enc.value, v)
    t.false(enc.shareables)
    t.deepEqual(enc.modules, [])
  }
})

test('encode() copies only the containers on the path to a shareable and leaves the input intact', (t) => {
  const lock = new Lock()
  const plain = { x: 1 }
  const untouchedList = [1, 2]
  const input = { plain, list: [untouchedList, { lock }], after: 'z' }
  const enc = encode(input)
  t.true(enc.shareables)
  const out = enc.value as typeof input
  t.not(out, input)
  t.is(out.plain, plain, 'a sibling without shareables is the same object')
  t.is(out.list[0], untouchedList)
  t.is(out.after, 'z')
  t.not(out.list, input.list)
  t.not(out.list[1], input.list[1])
  t.false((out.list[1] as { lock: unknown }).lock instanceof Lock, 'the lock was replaced by a marker')
  t.is((input.list[1] as { lock: Lock }).lock, lock, 'the input still holds the Lock')
  t.is(input.list.length, 2)
  t.deepEqual(Object.keys(out), ['plain', 'list', 'after'], 'key order kept')
})

// ---- round trips in one thread -----------------------------------------------------------------

test('encode()/decode() turn shareables nested in objects, arrays, Map and Set into working handles', (t) => {
  const lock = new Lock()
  const sem = new Semaphore(2)
  const ev = new Event()
  const keyLock = new Lock()
  const value = {
    deep: { arr: [0, [1, { lock }]] },
    map: new Map<unknown, unknown>([
      ['sem', sem],
      [keyLock, 'a Lock as Map key'],
    ]),
    set: new Set([ev, 'other']),
  }
  const back = crossInProcess(value)
  const lock2 = ((back.deep.arr[1] as unknown[])[1] as { lock: Lock }).lock
  t.true(lock2 instanceof Lock)
  t.not(lock2, lock, 'a new handle')
  t.true(lock2.acquire({ blocking: false }))
  t.true(lock.locked(), 'on the same state')
  lock.release()
  t.false(lock2.locked())

  const sem2 = back.map.get('sem') as Semaphore
  t.true(sem2 instanceof Semaphore)
  t.true(sem2.acquire({ blocking: false }))
  t.is(sem.value, 1)

  const keys = [...back.map.keys()]
  const keyLock2 = keys.find((k) => k instanceof Lock) as Lock
  t.truthy(keyLock2, 'a shareable Map key is revived too')
  t.is(back.map.get(keyLock2), 'a Lock as Map key')
  keyLock2.acquire({ blocking: false })
  t.true(keyLock.locked())

  const items = [...back.set]
  const ev2 = items.find((x) => x instanceof Event) as Event
  t.truthy(ev2)
  t.true(items.includes('other'))
  ev2.set()
  t.true(ev.isSet())
})

test('encode()/decode() keep cycles and shared references, shareables included', (t) => {
  const lock = new Lock()
  const obj: Record<string, unknown> = { lock, again: lock }
  obj.self = obj
  obj.list = [obj, lock]
  obj.map = new Map<string, unknown>([
    ['back', obj],
    ['lock', lock],
  ])
  const enc = encode(obj)
  t.true(enc.shareables)
  const back = decode(structuredClone(enc.value)) as typeof obj
  t.is(back.self, back)
  t.is((back.list as unknown[])[0], back)
  t.is((back.map as Map<string, unknown>).get('back'), back)
  t.true(back.lock instanceof Lock)
  t.is(back.again, back.lock, 'the same shareable twice arrives as one handle')
  t.is((back.list as unknown[])[1], back.lock)
  t.is((back.map as Map<string, unknown>).get('lock'), back.lock)
})

test('encode() lists the modules of the kinds it used', (t) => {
  const enc = encode([new Lock(), new Lock(), new Event(), new SharedCounter()])
  t.true(enc.shareables)
  t.is(enc.modules.length, 3)
  t.true(enc.modules.some((m) => m.endsWith('/lock.ts') || m.endsWith('/lock.js')))
  t.true(enc.modules.some((m) => m.endsWith('/event.ts') || m.endsWith('/event.js')))
  t.true(enc.modules.includes(KIND.href))
})

test('A Condition crossing with its lock keeps one lock handle for both', (t) => {
  const lock = new Lock()
  const cond = new Condition(lock)
  const back = crossInProcess({ cond, lock })
  t.true(back.cond instanceof Condition)
  t.is(back.cond.lock, back.lock)
  t.true(back.lock.acquire({ blocking: false }))
  t.true(lock.locked())
  back.cond.notify() // legal: the lock is held through the revived handle
  back.lock.release()
})

// ---- refusals ------------------------------------------------------------------------------------

test('encode() refuses a function anywhere inside the value with TypeError ERR_NOT_SHAREABLE', (t) => {
  const fn = (): void => {}
  for (const v of [fn, [1, fn], { a: { b: fn } }, new Map([['k', fn]]), new Map([[fn, 1]]), new Set([fn])]) {
    const err = t.throws(() => encode(v), { instanceOf: TypeError })
    t.is((err as { code?: string }).code, 'ERR_NOT_SHAREABLE')
  }
})

test('A shareable sent to target "process" throws TypeError ERR_NOT_SHAREABLE', (t) => {
  const lock = new Lock()
  const primitives = [lock, new RLock(), new Condition(), new Condition(lock), new Semaphore(1), new BoundedSemaphore(1), new Event(), new Barrier(2), new SharedCounter()]
  for (const p of primitives) {
    for (const v of [p, { nested: [new Map([['p', p]])] }]) {
      const err = t.throws(() => encode(v, 'process'), { instanceOf: TypeError }, p.constructor.name)
      t.is((err as { code?: string }).code, 'ERR_NOT_SHAREABLE', p.constructor.name)
    }
    t.notThrows(() => encode(p, 'thread'))
  }
  t.is(encode({ plain: [1] }, 'process').shareables, false, 'plain data is fine for a process')
})

test('A class implementing [SHARE] without a registered shareKind is refused with ERR_NOT_SHAREABLE', (t) => {
  class Unregistered {
    [SHARE](): unknown {
      return 1
    }
  }
  class UnknownKind {
    static shareKind = 'tandem.test.neverRegistered';
    [SHARE](): unknown {
      return 1
    }
  }
  t.true(isShareable(new Unregistered()))
  for (const v of [new Unregistered(), [new UnknownKind()]]) {
    const err = t.throws(() => encode(v), { instanceOf: TypeError })
    t.is((err as { code?: string }).code, 'ERR_NOT_SHAREABLE')
  }
  t.false(isShareable({}))
  t.false(isShareable(null))
  t.true(isShareable(new Lock()))
})

// ---- in real workers -----------------------------------------------------------------------------

test('A Lock nested in a Map inside an object arrives as a working handle in a worker', async (t) => {
  t.timeout(30_000)
  const lock = new Lock()
  const out = sharedInts(3)
  const th = start(
    (box: { cfg: Map<string, Lock>; flags: Int32Array }) => {
      const lock = box.cfg.get('lock')!
      Atomics.store(box.flags, 0, lock.acquire({ timeout: 20_000 }) ? 1 : -1)
      Atomics.notify(box.flags, 0)
      Atomics.wait(box.flags, 1, 0, 20_000) // hold until the main thread has looked
      lock.release()
      Atomics.store(box.flags, 2, 1)
    },
    { cfg: new Map([['lock', lock]]), flags: out },
  )
  await until(() => Atomics.load(out, 0) !== 0, 20_000, 'worker to take the lock')
  t.is(out[0], 1)
  t.true(lock.locked(), 'the main thread sees the lock taken in the worker')
  t.false(lock.acquire({ blocking: false }))
  const waiting = lock.acquireAsync({ timeout: 20_000 })
  Atomics.store(out, 1, 1)
  Atomics.notify(out, 1)
  t.true(await waiting, 'the worker’s release wakes a main-thread waiter')
  lock.release()
  await runThread(th)
  t.is(out[2], 1)
})

test('Sync primitives nested in args keep identity in a worker and share state with the sender', async (t) => {
  t.timeout(40_000)
  const lock = new Lock()
  const rlock = new RLock()
  const cond = new Condition(lock)
  const sem = new Semaphore(0)
  const bsem = new BoundedSemaphore(3)
  const ev = new Event()
  const barrier = new Barrier(2)
  const out = sharedInts(8)
  const root: Record<string, unknown> = {
    locks: [lock, lock, rlock],
    cond,
    sems: new Map<string, unknown>([
      ['sem', sem],
      ['bsem', bsem],
    ]),
    events: new Set([ev]),
    nested: { deeper: { barrier } },
    out,
  }
  const th = start((root: any) => {
    const out = root.out as Int32Array
    out[0] = root.nested.deeper.barrier.parties
    out[1] = root.locks[0] === root.locks[1] && root.cond.lock === root.locks[0] ? 1 : -1
    const rlock = root.locks[2]
    rlock.acquire()
    rlock.acquire()
    out[2] = rlock.recursionCount()
    rlock.release()
    rlock.release()
    root.sems.get('sem').release(3)
    out[3] = root.sems.get('bsem').acquire({ timeout: 20_000 }) ? 1 : -1
    const [ev] = [...root.events]
    ev.set()
    out[4] = root.nested.deeper.barrier.wait(20_000) + 10
    // Condition: wait for the main thread's notify.
    const cond = root.cond
    cond.acquire()
    out[5] = 1
    Atomics.notify(out, 5)
    out[6] = cond.wait(20_000) ? 1 : -1
    cond.release()
  }, root)
  t.true(await ev.waitAsync(20_000), 'Event set in the worker is seen here')
  t.true(await sem.acquireAsync({ timeout: 20_000 }))
  t.is(sem.value, 2, 'release(3) in the worker, one taken here')
  const idx = await barrier.waitAsync(20_000)
  t.true(idx === 0 || idx === 1)
  await until(() => Atomics.load(out, 5) === 1, 20_000, 'worker waiting on the Condition')
  // The worker released the lock inside wait(): we can take it and notify.
  t.true(await cond.acquireAsync({ timeout: 20_000 }))
  cond.notify()
  cond.release()
  await runThread(th)
  t.is(out[0], 2)
  t.is(out[1], 1, 'one Lock twice in args, and as the Condition’s lock, is one handle')
  t.is(out[2], 2)
  t.is(out[3], 1)
  t.is(bsem.value, 2, 'the worker took one BoundedSemaphore permit')
  t.is(out[4]! - 10 + idx, 1, 'the two parties got indexes 0 and 1')
  t.is(out[6], 1, 'notify from the main thread woke the worker')
  t.false(lock.locked())
  t.false(rlock.locked())
})

test('A cycle through Thread args holding a Lock survives in a worker', async (t) => {
  t.timeout(30_000)
  const lock = new Lock()
  const root: Record<string, unknown> = { lock, out: sharedInts(3) }
  root.self = root
  root.list = [root]
  const th = start((root: any) => {
    const out = root.out as Int32Array
    out[0] = root.self === root && root.list[0] === root ? 1 : -1
    out[1] = typeof root.self.lock.acquire === 'function' && root.self.lock === root.lock ? 1 : -1
    out[2] = root.lock.acquire({ blocking: false }) ? 1 : -1
  }, root)
  await runThread(th)
  const out = root.out as Int32Array
  t.is(out[0], 1, 'root.self === root in the worker')
  t.is(out[1], 1, 'the Lock reached through the cycle is the live handle')
  t.is(out[2], 1)
  t.true(lock.locked())
})

test('A user-defined kind registered with registerShareable crosses to a worker nested in args', async (t) => {
  t.timeout(30_000)
  const counter = new SharedCounter()
  counter.add(1)
  const out = sharedInts(1)
  const th = new Thread({ target: moduleRef(KIND, 'bump'), args: [{ inner: { counter } }, 41, out], daemon: true })
  th.start()
  await runThread(th)
  t.is(out[0], 1, 'revived as a SharedCounter in the worker')
  t.is(counter.value, 42)
})

test('A user-defined kind crosses to a source-shipped target whose worker never imported its module', async (t) => {
  t.timeout(30_000)
  // The worker bootstrap preloads the modules named by the encoded args before decoding.
  const counter = new SharedCounter()
  const out = sharedInts(1)
  const th = start(
    (box: { c: { add(n: number): number; constructor: { name: string } } }, out: Int32Array) => {
      box.c.add(7)
      out[0] = box.c.constructor.name === 'SharedCounter' ? 1 : -1
    },
    { c: counter },
    out,
  )
  await runThread(th)
  t.is(counter.value, 7)
  t.is(out[0], 1)
})

/**
 * The markers travel as plain data (the bootstrap does not decode them) and the fixture calls
 * decode() itself, from a module that never imports the kind's module, as a receiver of queue
 * items or pipe messages would. decode() must find the kind (preloaded by the worker bootstrap
 * or loaded on demand).
 */
async function decodeInWorker(value: Record<string, unknown>): Promise<{ out: Int32Array; error: unknown }> {
  const enc = encode(value)
  if (!enc.shareables) throw new Error('nothing to decode')
  const out = sharedInts(2)
  const th = new Thread({ target: moduleRef(DECODE, 'decodeHere'), args: [enc.value, out], daemon: true })
  th.start()
  if (!(await th.joinAsync(20_000))) throw new Error('decodeHere did not finish')
  await sleep(20)
  return { out, error: reported.find((x) => x.thread === th)?.excValue }
}

test('decode() in a worker revives a Tandem kind its code never imported (Lock)', async (t) => {
  t.timeout(30_000)
  const lock = new Lock()
  const { out, error } = await decodeInWorker({ lock })
  t.is(error, undefined, (error as Error | undefined)?.message)
  t.is(out[0], 1)
  t.is(out[1], 1)
  t.true(lock.locked(), 'the worker took the lock through its decoded handle')
})

test('decode() in a worker revives a user-defined kind its code never imported', async (t) => {
  t.timeout(30_000)
  const counter = new SharedCounter()
  const { out, error } = await decodeInWorker({ counter })
  t.is(error, undefined, (error as Error | undefined)?.message)
  t.is(out[0], 1)
  t.is(counter.value, 5)
})

test('Markers are not mistaken for data: a plain object with the marker key only decodes on purpose', (t) => {
  // decode() of plain data without markers returns the same structure.
  const plain = { a: [1, { b: new Map([['c', new Set([2])]]) }] }
  t.is(decode(plain), plain)
  t.deepEqual(decode(structuredClone(plain)), plain)
  const enc = encode({ lock: new Lock() })
  const marker = (enc.value as { lock: Record<string, unknown> }).lock
  t.is(typeof marker[MARKER], 'string')
})
