/**
 * The objects a `SyncManager`'s server holds (`manager-server.ts`), one class per typeid. They
 * live on the server's main thread (its event loop): every method runs to completion before the
 * next request is looked at, so no locking is needed, and a wait is a promise settled by a later
 * request (a release, a put, a notify) or by its timeout or cancellation.
 *
 * Each class lists its callable methods in `exposed`; a method takes the caller (`Caller`: who
 * calls, for the owned locks, and a signal aborted when the client gives up) and the call's
 * arguments, already checked by the client and checked again here (a hostile client gets a
 * `TypeError`/`RangeError`, never a crash).
 *
 * Timeouts are in ms; a negative one (or none) waits forever.
 *
 * @module
 */
import { isDeepStrictEqual } from 'node:util'
import { BrokenBarrierError, LockNotOwnedError, TimeoutError } from '@tandem/sync/errors'
import { rangeError, typeError } from '@tandem/sync/errors'
import { QueueEmpty, QueueFull } from '@tandem/queue/errors'
import { IndexError, KeyError, ValueError } from '../errors.ts'
import { Array as SharedArray, Value as SharedValue, type Typecode } from '../shared.ts'

/** Who calls: `owner` names the calling thread (for RLock/Condition), `signal` ends its wait. */
export interface Caller {
  readonly owner: string
  readonly signal: AbortSignal
}

/** A method a client may call. */
export type Method = (caller: Caller, ...args: any[]) => unknown

/** A served object: its methods by name. */
export interface Served {
  readonly exposed: ReadonlyMap<string, Method>
}

/** The abort reason a cancelled wait rejects with (the client then reports its own signal's). */
function aborted(): Error {
  const err = new Error('The wait was cancelled by the client')
  err.name = 'AbortError'
  return err
}

/** Longest timer Node keeps (a longer one would fire at once): waits longer than this are endless. */
const MAX_TIMER = 2 ** 31 - 1

function timeoutOf(v: unknown, what: string): number {
  if (v === undefined || v === null) return -1
  if (typeof v !== 'number' || Number.isNaN(v)) throw typeError(`${what}: timeout must be a number of ms`)
  return v > MAX_TIMER ? -1 : v
}

function intOf(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(`${what} must be an integer`)
  return v
}

/**
 * A queue of waiting calls. `wait()` resolves true when {@link Waiters.wakeOne} picks it (the
 * waker has done what the waiter waited for: handed a lock over, taken an item), false at its
 * timeout; a cancelled wait rejects. A waiter that was picked is out of the queue, so a later
 * timeout or cancel does not touch it.
 */
class Waiters {
  readonly #q: { wake: () => void }[] = []

  get length(): number {
    return this.#q.length
  }

  wait(caller: Caller, timeout: number, onWake: () => void = () => {}): Promise<boolean> {
    if (caller.signal.aborted) return Promise.reject(aborted())
    return new Promise<boolean>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const entry = {
        wake: () => {
          done()
          onWake()
          resolve(true)
        },
      }
      const done = (): void => {
        const i = this.#q.indexOf(entry)
        if (i >= 0) this.#q.splice(i, 1)
        if (timer !== undefined) clearTimeout(timer)
        caller.signal.removeEventListener('abort', cancel)
      }
      const cancel = (): void => {
        done()
        reject(aborted())
      }
      this.#q.push(entry)
      caller.signal.addEventListener('abort', cancel, { once: true })
      if (timeout >= 0)
        timer = setTimeout(() => {
          done()
          resolve(false)
        }, timeout)
    })
  }

  /** Wakes the first waiter (which then owns what it waited for); false if none waits. */
  wakeOne(): boolean {
    const w = this.#q[0]
    if (w === undefined) return false
    w.wake()
    return true
  }

  /** Wakes every waiter (those waiting now: one that starts waiting meanwhile waits on). */
  wakeAll(): void {
    // Taken out first: each wake then finds the queue without it at once (no O(n) splice each).
    for (const w of this.#q.splice(0)) w.wake()
  }
}

function methods(entries: Record<string, Method>): ReadonlyMap<string, Method> {
  return new Map(Object.entries(entries))
}

// ---------------------------------------------------------------------------------------------
// Locks

/** What a Condition needs from its lock: release it fully, then take it back as it was. */
interface CondLock extends Served {
  owns(owner: string): boolean
  releaseAll(owner: string): number
  restore(owner: string, count: number): Promise<void>
}

export class ServerLock implements CondLock {
  #locked = false
  readonly #waiters = new Waiters()

  acquire(caller: Caller, blocking: unknown = true, timeout?: unknown): boolean | Promise<boolean> {
    const ms = timeoutOf(timeout, 'Lock.acquire()')
    if (!this.#locked && this.#waiters.length === 0) return (this.#locked = true)
    if (blocking === false || ms === 0) return false
    // The releaser hands the lock over (it stays locked), so nobody can slip in between.
    return this.#waiters.wait(caller, ms)
  }

  release(_caller?: Caller): void {
    if (!this.#locked) throw new LockNotOwnedError('Lock.release(): the lock is not locked; release only a lock you acquired')
    if (!this.#waiters.wakeOne()) this.#locked = false
  }

  locked(): boolean {
    return this.#locked
  }

  owns(): boolean {
    return this.#locked
  }

  releaseAll(owner: string): number {
    this.release({ owner, signal: new AbortController().signal })
    return 1
  }

  async restore(owner: string): Promise<void> {
    const never = new AbortController().signal
    while (!(await this.acquire({ owner, signal: never }, true))) {}
  }

  readonly exposed = methods({
    acquire: (c, blocking, timeout) => this.acquire(c, blocking, timeout),
    release: (c) => this.release(c),
    locked: () => this.locked(),
  })
}

export class ServerRLock implements CondLock {
  #owner: string | undefined
  #count = 0
  readonly #waiters = new Waiters()

  acquire(caller: Caller, blocking: unknown = true, timeout?: unknown): boolean | Promise<boolean> {
    const ms = timeoutOf(timeout, 'RLock.acquire()')
    if (this.#owner === caller.owner) {
      this.#count++
      return true
    }
    if (this.#owner === undefined && this.#waiters.length === 0) {
      this.#owner = caller.owner
      this.#count = 1
      return true
    }
    if (blocking === false || ms === 0) return false
    return this.#waiters.wait(caller, ms, () => {
      this.#owner = caller.owner
      this.#count = 1
    })
  }

  release(caller: Caller): void {
    if (this.#owner !== caller.owner) throw new LockNotOwnedError('RLock.release(): the calling thread does not own this lock; only the owner may release an RLock')
    if (--this.#count > 0) return
    this.#owner = undefined
    this.#waiters.wakeOne()
  }

  locked(): boolean {
    return this.#owner !== undefined
  }

  owns(owner: string): boolean {
    return this.#owner === owner
  }

  releaseAll(owner: string): number {
    const n = this.#count
    this.#count = 1
    this.release({ owner, signal: new AbortController().signal })
    return n
  }

  async restore(owner: string, count: number): Promise<void> {
    const never = new AbortController().signal
    while (!(await this.acquire({ owner, signal: never }, true))) {}
    this.#count = count
  }

  readonly exposed = methods({
    acquire: (c, blocking, timeout) => this.acquire(c, blocking, timeout),
    release: (c) => this.release(c),
    locked: () => this.locked(),
    isOwned: (c) => this.owns(c.owner),
  })
}

export class ServerSemaphore implements Served {
  #value: number
  readonly #bound: number | undefined
  readonly #waiters = new Waiters()

  constructor(value: unknown = 1, bounded = false) {
    // As @tandem/sync's: not a number is a TypeError, a number out of range a RangeError.
    if (typeof value !== 'number') throw typeError(`Semaphore(${repr(value)}): the value must be an integer`)
    if (!Number.isInteger(value) || value < 0) throw rangeError(`Semaphore(${value}): the value must be an integer >= 0`)
    this.#value = value
    this.#bound = bounded ? value : undefined
  }

  acquire(caller: Caller, blocking: unknown = true, timeout?: unknown): boolean | Promise<boolean> {
    const ms = timeoutOf(timeout, 'Semaphore.acquire()')
    if (this.#value > 0 && this.#waiters.length === 0) {
      this.#value--
      return true
    }
    if (blocking === false || ms === 0) return false
    // A release hands its permit to the first waiter directly.
    return this.#waiters.wait(caller, ms)
  }

  release(_caller: Caller, n: unknown = 1): void {
    const k = intOf(n, 'Semaphore.release(n): n')
    if (k < 1) throw rangeError(`Semaphore.release(${k}): n must be at least 1`)
    if (this.#bound !== undefined && this.#value + k > this.#bound)
      throw rangeError(
        `BoundedSemaphore.release(${k}): released too many times (value ${this.#value}, bound ${this.#bound}); release only what you acquired`,
        'ERR_SEMAPHORE_OVERFLOW',
      )
    // Permits go to the waiters first (each wake-up hands one over), the rest to the value.
    let left = k
    while (left > 0 && this.#waiters.wakeOne()) left--
    this.#value += left
  }

  readonly exposed = methods({
    acquire: (c, blocking, timeout) => this.acquire(c, blocking, timeout),
    release: (c, n) => this.release(c, n),
    getValue: () => this.#value,
  })
}

export class ServerCondition implements Served {
  readonly #lock: CondLock
  readonly #waiters = new Waiters()

  constructor(lock: CondLock | undefined) {
    this.#lock = lock ?? new ServerRLock()
  }

  async wait(caller: Caller, timeout?: unknown): Promise<boolean> {
    const ms = timeoutOf(timeout, 'Condition.wait()')
    if (!this.#lock.owns(caller.owner)) throw new LockNotOwnedError('Condition.wait(): the calling thread does not hold the lock; acquire it first')
    const saved = this.#lock.releaseAll(caller.owner)
    let woken: boolean
    try {
      woken = await this.#waiters.wait(caller, ms)
    } finally {
      // Whatever ended the wait (a notify, the timeout, a cancel), the lock is taken back first.
      await this.#lock.restore(caller.owner, saved)
    }
    return woken
  }

  notify(caller: Caller, n: unknown = 1): void {
    const k = intOf(n, 'Condition.notify(n): n')
    if (!this.#lock.owns(caller.owner)) throw new LockNotOwnedError('Condition.notify(): the calling thread does not hold the lock; acquire it first')
    for (let i = 0; i < k && this.#waiters.wakeOne(); i++) {}
  }

  notifyAll(caller: Caller): void {
    if (!this.#lock.owns(caller.owner)) throw new LockNotOwnedError('Condition.notifyAll(): the calling thread does not hold the lock; acquire it first')
    while (this.#waiters.wakeOne()) {}
  }

  readonly exposed = methods({
    acquire: (c, blocking, timeout) => this.#lock.exposed.get('acquire')!(c, blocking, timeout),
    release: (c) => this.#lock.exposed.get('release')!(c),
    wait: (c, timeout) => this.wait(c, timeout),
    notify: (c, n) => this.notify(c, n),
    notifyAll: (c) => this.notifyAll(c),
  })
}

export class ServerEvent implements Served {
  #flag = false
  readonly #waiters = new Waiters()

  wait(caller: Caller, timeout?: unknown): boolean | Promise<boolean> {
    const ms = timeoutOf(timeout, 'Event.wait()')
    if (this.#flag) return true
    if (ms === 0) return false
    return this.#waiters.wait(caller, ms)
  }

  readonly exposed = methods({
    set: () => {
      this.#flag = true
      this.#waiters.wakeAll()
    },
    clear: () => {
      this.#flag = false
    },
    isSet: () => this.#flag,
    wait: (c, timeout) => this.wait(c, timeout),
  })
}

interface BarrierWaiter {
  pass(i: number): void
  fail(e: Error): void
}

export class ServerBarrier implements Served {
  readonly #parties: number
  readonly #timeout: number
  #count = 0
  #broken = false
  /** The current cycle's waiters: each settles with its index or a BrokenBarrierError. */
  #cycle: BarrierWaiter[] = []

  constructor(parties: unknown, timeout?: unknown) {
    if (typeof parties !== 'number') throw typeError(`Barrier(${repr(parties)}): parties must be an integer`)
    if (!Number.isInteger(parties) || parties < 1) throw rangeError(`Barrier(${parties}): parties must be an integer >= 1`)
    this.#parties = parties
    this.#timeout = timeoutOf(timeout, 'Barrier()')
  }

  wait(caller: Caller, timeout?: unknown): number | Promise<number> {
    const ms = timeout === undefined ? this.#timeout : timeoutOf(timeout, 'Barrier.wait()')
    if (this.#broken) throw new BrokenBarrierError('Barrier.wait(): the barrier is broken; reset() it first')
    // Each party gets its arrival index, as in Python; the last to arrive releases the others.
    const index = this.#count
    if (index + 1 === this.#parties) {
      const cycle = this.#cycle
      this.#cycle = []
      this.#count = 0
      cycle.forEach((w, i) => w.pass(i))
      return index
    }
    this.#count++
    if (caller.signal.aborted) {
      this.#break()
      throw aborted()
    }
    return new Promise<number>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const finish = (): void => {
        if (timer !== undefined) clearTimeout(timer)
        caller.signal.removeEventListener('abort', cancel)
      }
      const entry: BarrierWaiter = {
        pass: (i: number) => {
          finish()
          resolve(i)
        },
        fail: (e: Error) => {
          finish()
          reject(e)
        },
      }
      // A waiter that gives up breaks the barrier for everyone, as in Python.
      const cancel = (): void => this.#break(aborted(), entry)
      this.#cycle.push(entry)
      caller.signal.addEventListener('abort', cancel, { once: true })
      if (ms >= 0) timer = setTimeout(() => this.#break(new BrokenBarrierError('Barrier.wait(): timed out; the barrier is now broken')), ms)
    })
  }

  #break(own?: Error, who?: BarrierWaiter): void {
    this.#broken = true
    const cycle = this.#cycle
    this.#cycle = []
    this.#count = 0
    for (const w of cycle) w.fail(w === who && own !== undefined ? own : new BrokenBarrierError('Barrier.wait(): the barrier broke while waiting'))
  }

  readonly exposed = methods({
    wait: (c, timeout) => this.wait(c, timeout),
    reset: () => {
      if (this.#cycle.length > 0) this.#break()
      this.#broken = false
    },
    abort: () => this.#break(),
    parties: () => this.#parties,
    nWaiting: () => this.#count,
    broken: () => this.#broken,
  })
}

// ---------------------------------------------------------------------------------------------
// Queues

export class ServerQueue implements Served {
  readonly #max: number
  readonly #items: unknown[] = []
  readonly #getters = new Waiters()
  readonly #putters = new Waiters()
  #unfinished = 0
  readonly #joiners = new Waiters()
  readonly #joinable: boolean

  constructor(maxsize: unknown = 0, joinable = false) {
    if (typeof maxsize !== 'number' || !Number.isInteger(maxsize)) throw typeError('Queue(maxsize): maxsize must be an integer')
    this.#max = Math.max(0, maxsize)
    this.#joinable = joinable
  }

  #full(): boolean {
    return this.#max > 0 && this.#items.length >= this.#max
  }

  #add(item: unknown): void {
    this.#items.push(item)
    this.#unfinished++
    // A waiting getter takes it at once (the waiter owns the item it was woken for).
    this.#getters.wakeOne()
  }

  put(caller: Caller, item: unknown, block: unknown = true, timeout?: unknown): void | Promise<void> {
    const ms = timeoutOf(timeout, 'Queue.put()')
    if (!this.#full()) return this.#add(item)
    if (block === false || ms === 0) throw new QueueFull(item)
    return this.#putSlow(caller, item, ms)
  }

  async #putSlow(caller: Caller, item: unknown, ms: number): Promise<void> {
    while (this.#full()) {
      // Woken when a get made room; check again (another put may have taken it).
      if (!(await this.#putters.wait(caller, ms))) throw new QueueFull(item)
    }
    this.#add(item)
  }

  #take(): unknown {
    const item = this.#items.shift()
    this.#putters.wakeOne()
    return item
  }

  get(caller: Caller, block: unknown = true, timeout?: unknown): unknown {
    const ms = timeoutOf(timeout, 'Queue.get()')
    if (this.#items.length > 0) return this.#take()
    if (block === false || ms === 0) throw new QueueEmpty()
    return this.#getSlow(caller, ms)
  }

  async #getSlow(caller: Caller, ms: number): Promise<unknown> {
    const deadline = ms < 0 ? Number.POSITIVE_INFINITY : Date.now() + ms
    while (this.#items.length === 0) {
      const left = deadline === Number.POSITIVE_INFINITY ? -1 : Math.max(0, deadline - Date.now())
      if (!(await this.#getters.wait(caller, left))) throw new QueueEmpty()
    }
    return this.#take()
  }

  taskDone(): void {
    if (!this.#joinable) throw typeError('Queue.taskDone(): only a JoinableQueue counts tasks')
    if (this.#unfinished <= 0) throw rangeError('JoinableQueue.taskDone() called more times than items were put', 'ERR_TASK_DONE_TOO_MANY')
    if (--this.#unfinished === 0) this.#joiners.wakeAll()
  }

  join(caller: Caller, timeout?: unknown): boolean | Promise<boolean> {
    const ms = timeoutOf(timeout, 'JoinableQueue.join()')
    if (this.#unfinished === 0) return true
    if (ms === 0) return false
    return this.#joiners.wait(caller, ms)
  }

  readonly exposed = methods({
    put: (c, item, block, timeout) => this.put(c, item, block, timeout),
    get: (c, block, timeout) => this.get(c, block, timeout),
    putNowait: (c, item) => this.put(c, item, false),
    getNowait: (c) => this.get(c, false),
    qsize: () => this.#items.length,
    empty: () => this.#items.length === 0,
    full: () => this.#full(),
    taskDone: () => this.taskDone(),
    join: (c, timeout) => this.join(c, timeout),
  })
}

// ---------------------------------------------------------------------------------------------
// Containers

function repr(v: unknown): string {
  try {
    return typeof v === 'string' ? `'${v}'` : typeof v === 'bigint' ? `${v}n` : (JSON.stringify(v) ?? String(v))
  } catch {
    return String(v)
  }
}

export class ServerDict implements Served {
  readonly #map: Map<unknown, unknown>

  constructor(init?: unknown) {
    this.#map = new Map()
    if (init !== undefined && init !== null) this.update(init)
  }

  update(src: unknown): void {
    if (src instanceof Map) for (const [k, v] of src) this.#map.set(k, v)
    else if (Array.isArray(src)) {
      for (const e of src) {
        if (!Array.isArray(e) || e.length !== 2) throw typeError('dict.update(): an array must hold [key, value] pairs')
        this.#map.set(e[0], e[1])
      }
    } else if (typeof src === 'object' && src !== null) for (const [k, v] of Object.entries(src)) this.#map.set(k, v)
    else throw typeError('dict.update(): expected a Map, an array of [key, value] pairs or a plain object')
  }

  readonly exposed = methods({
    get: (_c, k, dflt) => (this.#map.has(k) ? this.#map.get(k) : dflt),
    set: (_c, k, v) => {
      this.#map.set(k, v)
    },
    has: (_c, k) => this.#map.has(k),
    delete: (_c, k) => this.#map.delete(k),
    size: () => this.#map.size,
    keys: () => [...this.#map.keys()],
    values: () => [...this.#map.values()],
    entries: () => [...this.#map.entries()],
    pop: (_c, k, ...dflt) => {
      if (this.#map.has(k)) {
        const v = this.#map.get(k)
        this.#map.delete(k)
        return v
      }
      if (dflt.length > 0) return dflt[0]
      throw new KeyError(`dict.pop(): key ${repr(k)} not found`)
    },
    popitem: () => {
      const last = [...this.#map.keys()].pop()
      if (this.#map.size === 0) throw new KeyError('dict.popitem(): the dict is empty')
      const v = this.#map.get(last)
      this.#map.delete(last)
      return [last, v]
    },
    setdefault: (_c, k, dflt) => {
      if (!this.#map.has(k)) this.#map.set(k, dflt)
      return this.#map.get(k)
    },
    update: (_c, src) => this.update(src),
    clear: () => this.#map.clear(),
    copy: () => new Map(this.#map),
  })
}

function listIndex(list: unknown[], i: unknown, what: string): number {
  const n = intOf(i, `${what}: index`)
  const at = n < 0 ? list.length + n : n
  if (at < 0 || at >= list.length) throw new IndexError(`${what}: index ${n} out of range for a list of ${list.length}`)
  return at
}

function clamp(i: unknown, n: number, dflt: number): number {
  if (i === undefined || i === null) return dflt
  const k = intOf(i, 'slice bound')
  return k < 0 ? Math.max(0, n + k) : Math.min(k, n)
}

/** Python's ordering of list.sort(): numbers with numbers, strings with strings, else TypeError. */
function compare(a: unknown, b: unknown): number {
  const ta = typeof a
  const tb = typeof b
  const num = (t: string): boolean => t === 'number' || t === 'bigint' || t === 'boolean'
  if (num(ta) && num(tb)) return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0
  if (ta === 'string' && tb === 'string') return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = compare(a[i], b[i])
      if (c !== 0) return c
    }
    return a.length - b.length
  }
  throw typeError(`list.sort(): cannot order ${ta} and ${tb}`)
}

export class ServerList implements Served {
  readonly #list: unknown[]

  constructor(init?: unknown) {
    if (init === undefined || init === null) this.#list = []
    else if (Array.isArray(init)) this.#list = [...init]
    else throw typeError('list(init): init must be an array')
  }

  #find(v: unknown, start = 0, stop = this.#list.length): number {
    for (let i = start; i < stop; i++) if (isDeepStrictEqual(this.#list[i], v)) return i
    return -1
  }

  readonly exposed = methods({
    get: (_c, i) => this.#list[listIndex(this.#list, i, 'list.get()')],
    set: (_c, i, v) => {
      this.#list[listIndex(this.#list, i, 'list.set()')] = v
    },
    append: (_c, v) => {
      this.#list.push(v)
    },
    extend: (_c, vs) => {
      if (!Array.isArray(vs)) throw typeError('list.extend(): expected an array')
      for (const v of vs) this.#list.push(v)
    },
    insert: (_c, i, v) => {
      this.#list.splice(clamp(i, this.#list.length, 0), 0, v)
    },
    pop: (_c, i = -1) => {
      if (this.#list.length === 0) throw new IndexError('list.pop(): pop from an empty list')
      return this.#list.splice(listIndex(this.#list, i, 'list.pop()'), 1)[0]
    },
    remove: (_c, v) => {
      const i = this.#find(v)
      if (i < 0) throw new ValueError(`list.remove(): ${repr(v)} is not in the list`)
      this.#list.splice(i, 1)
    },
    index: (_c, v, start, stop) => {
      const n = this.#list.length
      const i = this.#find(v, clamp(start, n, 0), clamp(stop, n, n))
      if (i < 0) throw new ValueError(`list.index(): ${repr(v)} is not in the list`)
      return i
    },
    count: (_c, v) => this.#list.filter((x) => isDeepStrictEqual(x, v)).length,
    len: () => this.#list.length,
    slice: (_c, start, stop) => {
      const n = this.#list.length
      return this.#list.slice(clamp(start, n, 0), clamp(stop, n, n))
    },
    sort: (_c, reverse) => {
      this.#list.sort(compare)
      if (reverse === true) this.#list.reverse()
    },
    reverse: () => {
      this.#list.reverse()
    },
    clear: () => {
      this.#list.length = 0
    },
    copy: () => [...this.#list],
  })
}

/** Plain properties (Python's `Namespace`). */
export class ServerNamespace implements Served {
  readonly #props = new Map<string, unknown>()

  constructor(init?: unknown) {
    if (typeof init === 'object' && init !== null) for (const [k, v] of Object.entries(init)) this.#props.set(k, v)
  }

  readonly exposed = methods({
    get: (_c, name) => {
      if (typeof name !== 'string') throw typeError('Namespace: a property name must be a string')
      if (!this.#props.has(name)) throw new KeyError(`Namespace has no property '${name}'`)
      return this.#props.get(name)
    },
    has: (_c, name) => this.#props.has(String(name)),
    set: (_c, name, v) => {
      if (typeof name !== 'string') throw typeError('Namespace: a property name must be a string')
      this.#props.set(name, v)
    },
    delete: (_c, name) => this.#props.delete(String(name)),
    entries: () => [...this.#props.entries()],
  })
}

/** `Value(typecode, v)`: one item of a typecode, stored as the thread-side raw Value does. */
export class ServerValue implements Served {
  readonly #v: { value: unknown }

  constructor(typecode: unknown, value: unknown) {
    this.#v = SharedValue(typecode as Typecode, value as never, { lock: false }) as { value: unknown }
  }

  readonly exposed = methods({
    get: () => this.#v.value,
    set: (_c, v) => {
      this.#v.value = v
    },
  })
}

/** `Array(typecode, seq)`: items of a typecode, stored as the thread-side raw Array does. */
export class ServerArray implements Served {
  readonly #a: { length: number; get(i: number): unknown; set(i: number, v: unknown): void; slice(s?: number, e?: number): unknown[] }

  constructor(typecode: unknown, init: unknown) {
    this.#a = SharedArray(typecode as Typecode, init as never, { lock: false }) as never
  }

  readonly exposed = methods({
    len: () => this.#a.length,
    get: (_c, i) => {
      const n = this.#a.length
      const k = intOf(i, 'Array.get(): index')
      if (k < -n || k >= n) throw new IndexError(`Array.get(): index ${k} out of range for an array of ${n}`)
      return this.#a.get(k < 0 ? n + k : k)
    },
    set: (_c, i, v) => {
      const n = this.#a.length
      const k = intOf(i, 'Array.set(): index')
      if (k < -n || k >= n) throw new IndexError(`Array.set(): index ${k} out of range for an array of ${n}`)
      this.#a.set(k < 0 ? n + k : k, v)
    },
    slice: (_c, start, end) => this.#a.slice(start as number | undefined, end as number | undefined),
    toArray: () => this.#a.slice(),
  })
}

/** A user type's instance (`SyncManager.register`): its public methods, awaited when async. */
export class ServerCustom implements Served {
  readonly exposed: ReadonlyMap<string, Method>

  constructor(obj: unknown, typeid: string) {
    if (typeof obj !== 'object' || obj === null) throw typeError(`register('${typeid}'): the callable must return an object; it returned ${repr(obj)}`)
    const map = new Map<string, Method>()
    for (let p: object | null = obj; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      for (const name of Object.getOwnPropertyNames(p)) {
        if (name === 'constructor' || name.startsWith('_') || map.has(name)) continue
        const f = (obj as Record<string, unknown>)[name]
        if (typeof f === 'function') map.set(name, (_c, ...args) => (f as (...a: unknown[]) => unknown).apply(obj, args))
      }
    }
    this.exposed = map
  }
}

/** The built-in typeids and how to make each from the create arguments. */
export const BUILTIN: ReadonlyMap<string, (args: unknown[], lookup: (ref: unknown) => Served | undefined) => Served> = new Map<
  string,
  (args: unknown[], lookup: (ref: unknown) => Served | undefined) => Served
>([
  ['dict', (a) => new ServerDict(a[0])],
  ['list', (a) => new ServerList(a[0])],
  ['Namespace', (a) => new ServerNamespace(a[0])],
  ['Queue', (a) => new ServerQueue(a[0] ?? 0)],
  ['JoinableQueue', (a) => new ServerQueue(a[0] ?? 0, true)],
  ['Lock', () => new ServerLock()],
  ['RLock', () => new ServerRLock()],
  ['Semaphore', (a) => new ServerSemaphore(a[0] ?? 1)],
  ['BoundedSemaphore', (a) => new ServerSemaphore(a[0] ?? 1, true)],
  [
    'Condition',
    (a, lookup) => {
      if (a[0] === undefined || a[0] === null) return new ServerCondition(undefined)
      const lock = lookup(a[0])
      if (!(lock instanceof ServerLock || lock instanceof ServerRLock)) throw typeError('Condition(lock): lock must be a Lock or RLock of the same manager')
      return new ServerCondition(lock)
    },
  ],
  ['Event', () => new ServerEvent()],
  ['Barrier', (a) => new ServerBarrier(a[0], a[1])],
  ['Value', (a) => new ServerValue(a[0], a[1])],
  ['Array', (a) => new ServerArray(a[0], a[1])],
])

export { TimeoutError }
