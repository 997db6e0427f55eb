/**
 * `SyncManager`: Python's `multiprocessing.Manager` for Node. A server process holds the objects
 * (dict, list, Namespace, queues, locks, events, barriers, values, arrays, and types you
 * register); every process and thread uses them through proxies, whose methods are calls to the
 * server. Proxies are shareables: passed in a Process's or a task's args, in a queue item, or
 * stored in another proxy, they arrive as proxies on the same object, in any process that can
 * reach the server (another machine too, with a TCP address and the authkey).
 *
 * How a call travels: each thread keeps, per manager, one connection for blocking calls and one
 * for `Async` calls (a `Client` of `connection.ts`, authenticated with the manager's authkey). A
 * blocking call sends its request and waits for the answer on its own connection, so it blocks
 * only its thread; an `Async` call never blocks the event loop, and several may be in flight. A
 * wait with a timeout is timed by the server; an aborted `Async` wait is cancelled there, and the
 * object is as if the wait never happened (an answer that crossed the cancel wins: the call then
 * resolves).
 *
 * References: a proxy counts as a reference of its process on the server, as Python's proxies
 * do. A proxy that is garbage-collected gives its reference back; a process that ends gives back
 * all of its own (its connections close). A proxy sent to another process carries its reference
 * along.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { inspect } from 'node:util'
import { isMainThread, threadId } from 'node:worker_threads'
import { rangeError, TimeoutError, typeError } from '@tandem/sync/errors'
import { asyncOptions, checkTimeout, describe, onThreadExit, type AsyncWaitOptions } from '@tandem/sync/kit'
import { registerShareable, SHARE, type ShareContext } from '@tandem/sync/shareable'
import { deserializeError, moduleRef, toTaskSpec, type SerializedError, type TaskFunction, type TaskSpec } from '@tandem/sync/task'
import { Client, ClientAsync, type Address } from './connection.ts'
import { ManagerClosedError, ManagerProtocolError } from './errors.ts'
import { toAuthkey } from './internal/auth.ts'
import { closeLane, makeLane, receive as laneReceive, send as laneSend, type ClientLane, type PendingLane } from './internal/manager-lane.ts'
import type { ServerConfig } from './internal/manager-server.ts'
import { Pipe, type Connection } from './pipe.ts'
import { Process } from './process.ts'
import type { Typecode } from './shared.ts'

export type { Address }

const SERVER_URL = new URL(`./internal/manager-server${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

/** This process's name on a server: its references are counted under it. */
const SESSION = `${hostname()}:${process.pid}`
/** This thread's name on a server (owner of the RLocks it takes). */
const OWNER = `${SESSION}:${threadId}`

// ---------------------------------------------------------------------------------------------
// The server side of proxies revived inside the server process itself.

/** What a proxy revived in its own server's process uses instead of a connection. */
export interface LocalServer {
  readonly address: Address
  incref(session: string, id: number): boolean
  decref(session: string, id: number): void
}

let localServer: LocalServer | undefined
const LOCAL_SESSION = `${SESSION}:server`
/** @internal The references of proxies on their way between two processes (no process owns them). */
export const TRANSIT = 'transit'

/** @internal Set by the server process (`internal/manager-server.ts`). */
export function setLocalServer(s: LocalServer): void {
  localServer = s
}

function keyOf(address: Address): string {
  return typeof address === 'string' ? address : `${address.host}:${address.port}`
}

// ---------------------------------------------------------------------------------------------
// Connections to servers (per thread)

/** Where a proxy's object lives. */
interface Home {
  readonly address: Address
  /** The address as text (servers this thread knows are closed are listed by it). */
  readonly key: string
  readonly authkey: Uint8Array
  /** Connections are kept per address and key (another key must make its own, and fail). */
  readonly lane: string
}

function homeOf(address: Address, authkey: Uint8Array): Home {
  const key = keyOf(address)
  return { address, key, authkey, lane: `${key}#${Buffer.from(authkey).toString('hex')}` }
}

/** Servers this thread knows are gone (shut down here, or found dead): calls fail at once. */
const closed = new Set<string>()
const syncLanes = new Map<string, Connection>()

interface AsyncLane {
  readonly conn: Connection
  readonly pending: Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void; signal: AbortSignal | undefined }>
  pumping: boolean
}
const asyncLanes = new Map<string, Promise<AsyncLane>>()
let nextCall = 1

function closedError(home: Home, why?: string): ManagerClosedError {
  return new ManagerClosedError(`The manager at ${home.key} is ${why ?? 'gone'}; its proxies cannot be used any more (start a new SyncManager, or connect() to a running one)`)
}

/** What ended a connection to a server, for the message of the error that reports it. */
function causeOf(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

function lost(home: Home, why: string): ManagerClosedError {
  syncLanes.delete(home.lane)
  asyncLanes.delete(home.lane)
  return closedError(home, why)
}

function hello(conn: Connection): Connection {
  conn.send({ hello: 1, session: SESSION, owner: OWNER })
  return conn
}

function syncLane(home: Home): Connection {
  if (closed.has(home.key)) throw closedError(home, 'shut down')
  let conn = syncLanes.get(home.lane)
  if (conn === undefined) {
    try {
      conn = hello(Client(home.address, { authkey: home.authkey }))
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_AUTHENTICATION') throw err
      throw lost(home, `not reachable (${(err as Error).message})`)
    }
    syncLanes.set(home.lane, conn)
  }
  return conn
}

function unwrap(r: unknown[]): unknown {
  if (r[1] === 0) return r[2]
  throw deserializeError(r[2] as SerializedError)
}

/** This thread's lanes (`internal/manager-lane.ts`) by home; null where lanes are not possible. */
const lanes = new Map<string, ClientLane | null>()

/** This thread's lane to `home`, made on first use (a Unix-socket manager on this machine). */
function laneFor(home: Home): ClientLane | undefined {
  const known = lanes.get(home.lane)
  if (known !== undefined) return known ?? undefined
  if (typeof home.address !== 'string' || process.platform === 'win32') {
    lanes.set(home.lane, null)
    return undefined
  }
  let pending: PendingLane
  try {
    pending = makeLane()
  } catch {
    lanes.set(home.lane, null) // no mkfifo here: calls use the connection
    return undefined
  }
  let ok = false
  try {
    connectionRequest(home, 'lane', 0, undefined, [pending.request, pending.reply])
    ok = true
  } catch (err) {
    if (err instanceof ManagerClosedError || (err as { code?: string }).code === 'ERR_AUTHENTICATION') {
      pending.finish(false)
      throw err
    }
    // The server cannot open FIFOs of this process (another machine, another user): no lanes.
  }
  const lane = pending.finish(ok) ?? null
  lanes.set(home.lane, lane)
  return lane ?? undefined
}

// A worker thread that ends gives back its lanes and connections (the server then ends them and
// the references they carried); the main thread's end with the process.
if (!isMainThread)
  onThreadExit(() => {
    for (const lane of lanes.values()) if (lane) closeLane(lane)
    lanes.clear()
    for (const conn of syncLanes.values())
      try {
        conn.close()
      } catch {}
    syncLanes.clear()
  })

function dropLane(home: Home): void {
  const lane = lanes.get(home.lane)
  lanes.delete(home.lane)
  if (lane) closeLane(lane)
}

/** A blocking request; its answer (over this thread's lane when it has one). */
function request(home: Home, op: string, target: unknown, method: string | undefined, args: unknown[]): unknown {
  if (closed.has(home.key)) throw closedError(home, 'shut down')
  const lane = laneFor(home)
  if (lane === undefined) return connectionRequest(home, op, target, method, args)
  const id = nextCall++
  try {
    laneSend(lane, [id, op, target, method, args])
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_NOT_SHAREABLE') throw err
    dropLane(home)
    throw lost(home, 'gone')
  }
  for (;;) {
    let r: unknown
    try {
      r = laneReceive(lane)
    } catch {
      dropLane(home)
      throw lost(home, 'gone (its server ended)')
    }
    if (Array.isArray(r) && r[0] === id) return unwrap(r)
  }
}

/** A blocking request over this thread's connection; its answer. */
function connectionRequest(home: Home, op: string, target: unknown, method: string | undefined, args: unknown[]): unknown {
  const conn = syncLane(home)
  const id = nextCall++
  try {
    conn.send([id, op, target, method, args])
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_NOT_SHAREABLE') throw err
    throw lost(home, 'gone')
  }
  for (;;) {
    let r: unknown
    try {
      r = conn.recv()
    } catch (err) {
      throw lost(home, `gone (its server ended: ${causeOf(err)})`)
    }
    if (Array.isArray(r) && r[0] === id) return unwrap(r)
  }
}

/** A request without an answer (reference counting), on whichever connection this thread has. */
function notify(home: Home, op: string, target: number, method?: string): void {
  if (localServer !== undefined && keyOf(localServer.address) === home.key) {
    if (op === 'incref') localServer.incref(LOCAL_SESSION, target)
    else if (op === 'lend') localServer.incref(TRANSIT, target)
    else if (op === 'decref') localServer.decref(LOCAL_SESSION, target)
    else if (op === 'adopt' && method !== undefined && localServer.incref(LOCAL_SESSION, target)) localServer.decref(method, target)
    return
  }
  if (closed.has(home.key)) return
  // Inside a server, a proxy of another manager is counted only over a connection that exists
  // already: making one would block the server's event loop (for long, if that manager hangs).
  // Without a count, the object may be freed while the proxy is stored here.
  if (localServer !== undefined && !syncLanes.has(home.lane)) return
  try {
    const conn = syncLanes.get(home.lane) ?? syncLane(home)
    conn.send([0, op, target, method, []])
  } catch {
    // The server is gone: nothing to count any more.
  }
}

async function asyncLane(home: Home): Promise<AsyncLane> {
  if (closed.has(home.key)) throw closedError(home, 'shut down')
  let lane = asyncLanes.get(home.lane)
  if (lane === undefined) {
    lane = ClientAsync(home.address, { authkey: home.authkey }).then(
      (conn) => {
        try {
          return { conn: hello(conn), pending: new Map(), pumping: false }
        } catch (err) {
          asyncLanes.delete(home.lane)
          throw closedError(home, `gone (${causeOf(err)})`) // it ended while this thread connected
        }
      },
      (err: unknown) => {
        asyncLanes.delete(home.lane)
        if ((err as { code?: string }).code === 'ERR_AUTHENTICATION') throw err
        throw closedError(home, `not reachable (${(err as Error).message})`)
      },
    )
    asyncLanes.set(home.lane, lane)
  }
  return lane
}

function pump(home: Home, lane: AsyncLane): void {
  if (lane.pumping) return
  lane.pumping = true
  void (async () => {
    while (lane.pending.size > 0) {
      let r: unknown
      try {
        r = await lane.conn.recvAsync()
      } catch (cause) {
        const err = lost(home, `gone (its server ended: ${causeOf(cause)})`)
        for (const p of lane.pending.values()) p.reject(err)
        lane.pending.clear()
        break
      }
      if (!Array.isArray(r)) continue
      const p = lane.pending.get(r[0] as number)
      if (p === undefined) continue
      lane.pending.delete(r[0] as number)
      if (r[1] === 0) p.resolve(r[2])
      else {
        const err = deserializeError(r[2] as SerializedError)
        // A wait this thread cancelled reports the signal's reason.
        p.reject(p.signal?.aborted && (err as Error).name === 'AbortError' ? p.signal.reason : err)
      }
    }
    lane.pumping = false
  })()
}

/** An `Async` request; its answer. */
async function requestAsync(home: Home, op: string, target: unknown, method: string | undefined, args: unknown[], signal?: AbortSignal): Promise<unknown> {
  if (signal?.aborted) throw signal.reason
  const lane = await asyncLane(home)
  // Aborted while the connection was made: nothing was sent.
  if (signal?.aborted) throw signal.reason
  const id = nextCall++
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      try {
        lane.conn.send([0, 'cancel', id, undefined, []])
      } catch {}
    }
    lane.pending.set(id, {
      resolve: (v) => {
        signal?.removeEventListener('abort', onAbort)
        resolve(v)
      },
      reject: (e) => {
        signal?.removeEventListener('abort', onAbort)
        reject(e)
      },
      signal,
    })
    try {
      lane.conn.send([id, op, target, method, args])
    } catch (err) {
      lane.pending.delete(id)
      reject((err as { code?: string }).code === 'ERR_NOT_SHAREABLE' ? err : lost(home, 'gone'))
      return
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    pump(home, lane)
  })
}

// ---------------------------------------------------------------------------------------------
// Proxies

/** Gives back the reference of a proxy that was garbage-collected. */
const finalizer = new FinalizationRegistry<{ home: Home; id: number }>(({ home, id }) => notify(home, 'decref', id))

/** What a proxy carries when it crosses to another thread or process. */
interface ProxyData {
  /** address */
  readonly a: Address
  /** authkey */
  readonly k: Uint8Array
  /** typeid */
  readonly t: string
  /** object id */
  readonly i: number
  /** whose reference it carries (TRANSIT) */
  readonly s: string
}

const PROXY_KIND = 'tandem.ipc.ManagerProxy'

/**
 * What every proxy has: its object's type name (`typeid`) and id, and the manager's address. A
 * proxy is a Tandem shareable; it holds one reference to its object on the server.
 * @example
 * ```ts
 * import { BaseProxy, Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const d = manager.dict()
 * console.log(d instanceof BaseProxy, d.typeid) // true dict
 * ```
 */
export class BaseProxy {
  /** Shareable kind name. */
  static readonly shareKind = PROXY_KIND
  /** @internal */
  declare readonly _home: Home
  /** The type the server serves this object as (`'dict'`, `'Lock'`, a registered name, ...). */
  readonly typeid: string
  /** The object's id on its server. */
  readonly objectId: number

  /** @internal Proxies come from a manager's factories, or arrive as shareables. */
  constructor(home: Home, typeid: string, id: number) {
    // Not enumerable: printing a proxy must not show the manager's key.
    Object.defineProperty(this, '_home', { value: home, enumerable: false })
    this.typeid = typeid
    this.objectId = id
    finalizer.register(this, { home, id })
  }

  /** @internal */
  _call(method: string, ...args: unknown[]): unknown {
    return request(this._home, 'call', this.objectId, method, args)
  }

  /** @internal */
  _callAsync(method: string, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    return requestAsync(this._home, 'call', this.objectId, method, args, signal)
  }

  /** @internal */
  [SHARE](_ctx: ShareContext): ProxyData {
    // A reference travels with the data, counted apart from any process (the sender may end
    // before the receiver adopts it: see `lend` and `adopt` in the server).
    notify(this._home, 'lend', this.objectId)
    return { a: this._home.address, k: this._home.authkey, t: this.typeid, i: this.objectId, s: TRANSIT }
  }

  toString(): string {
    return `<${this.typeid} proxy ${this.objectId} at ${this._home.key}>`
  }

  /** What `console.log` shows (never the key). */
  [inspect.custom](): string {
    return this.toString()
  }
}

/** A wait's options with the blocking flag and timeout of Python's `acquire`. */
export interface AcquireOptions {
  /** Wait (`true`, default) or return `false` at once. */
  blocking?: boolean
  /** Longest wait in ms (default: forever). */
  timeout?: number
}

/** `put`/`get` options of a manager Queue (as `@tandem/queue`'s). */
export interface QueueWaitOptions {
  /** Wait (`true`, default) or throw at once. */
  block?: boolean
  /** Longest wait in ms (default: forever). */
  timeout?: number
}

function acquireArgs(opts: AcquireOptions | undefined, what: string): [boolean, number] {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) throw typeError(`${what}: options must be an object { blocking?, timeout? }; received ${describe(opts)}`)
  const blocking = opts?.blocking === undefined ? true : Boolean(opts.blocking)
  const timeout = checkTimeout(opts?.timeout)
  if (!blocking && opts?.timeout !== undefined) throw rangeError(`${what}: a timeout cannot be given with blocking: false`)
  return [blocking, timeout]
}

function waitArgs(opts: number | AsyncWaitOptions | undefined): [number, AbortSignal | undefined] {
  const { timeout, signal } = asyncOptions(opts)
  return [timeout, signal]
}

/** A disposable that releases a lock-like proxy (`using _ = lock.hold()`). */
function holder(release: () => void): Disposable {
  let done = false
  return {
    [Symbol.dispose]() {
      if (!done) {
        done = true
        release()
      }
    },
  }
}

/**
 * A manager `Lock` (Python's `threading.Lock` served by the manager).
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const lock = manager.Lock()
 * {
 *   using _ = lock.hold()
 *   console.log(lock.locked(), lock.acquire({ blocking: false })) // true false
 * }
 * console.log(lock.locked()) // false
 * ```
 */
export class LockProxy extends BaseProxy {
  /** Takes the lock; `false` if `blocking: false` or the timeout passed first. */
  acquire(opts?: AcquireOptions): boolean {
    return this._call('acquire', ...acquireArgs(opts, `${this.typeid}.acquire()`)) as boolean
  }
  /** Async form of {@link acquire}: a timeout in ms or `{ timeout?, signal? }`. */
  acquireAsync(opts?: number | AsyncWaitOptions): Promise<boolean> {
    const [timeout, signal] = waitArgs(opts)
    return this._callAsync('acquire', [true, timeout], signal) as Promise<boolean>
  }
  /** Releases the lock. @throws {LockNotOwnedError} `ERR_LOCK_NOT_OWNED` if it is not held */
  release(): void {
    this._call('release')
  }
  /** Async form of {@link release}. */
  async releaseAsync(): Promise<void> {
    await this._callAsync('release', [])
  }
  /** Whether some thread holds the lock. */
  locked(): boolean {
    return this._call('locked') as boolean
  }
  /** Async form of {@link locked}. */
  lockedAsync(): Promise<boolean> {
    return this._callAsync('locked', []) as Promise<boolean>
  }
  /** `using _ = lock.hold()`: acquires, and releases at the end of the scope. */
  hold(opts?: AcquireOptions): Disposable {
    if (!this.acquire(opts)) throw new TimeoutError(`${this.typeid}.hold(): not acquired within the timeout`)
    return holder(() => this.release())
  }
  /** `using _ = await lock.holdAsync()`. */
  async holdAsync(opts?: number | AsyncWaitOptions): Promise<Disposable> {
    if (!(await this.acquireAsync(opts))) throw new TimeoutError(`${this.typeid}.holdAsync(): not acquired within the timeout`)
    return holder(() => this.release())
  }
}

/**
 * A manager `RLock`: re-entrant, owned by the thread (of any process) that took it.
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const r = manager.RLock()
 * r.acquire()
 * r.acquire()
 * console.log(r.isOwned()) // true
 * r.release()
 * r.release()
 * ```
 */
export class RLockProxy extends LockProxy {
  /** Whether the calling thread holds it. */
  isOwned(): boolean {
    return this._call('isOwned') as boolean
  }
  isOwnedAsync(): Promise<boolean> {
    return this._callAsync('isOwned', []) as Promise<boolean>
  }
}

/**
 * A manager `Semaphore` (and `BoundedSemaphore`).
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const s = manager.BoundedSemaphore(2)
 * s.acquire()
 * console.log(s.getValue()) // 1
 * s.release()
 * try {
 *   s.release()
 * } catch (err) {
 *   console.log((err as { code?: string }).code) // ERR_SEMAPHORE_OVERFLOW
 * }
 * ```
 */
export class SemaphoreProxy extends LockProxy {
  /** Gives back `n` permits. @throws {RangeError} `ERR_SEMAPHORE_OVERFLOW` for a bounded one released too often */
  override release(n = 1): void {
    this._call('release', n)
  }
  override async releaseAsync(n = 1): Promise<void> {
    await this._callAsync('release', [n])
  }
  /** The permits left now. */
  getValue(): number {
    return this._call('getValue') as number
  }
  getValueAsync(): Promise<number> {
    return this._callAsync('getValue', []) as Promise<number>
  }
  override locked(): boolean {
    return this.getValue() === 0
  }
}

/**
 * A manager `Condition` (on a manager `RLock` by default, or the lock given).
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const cond = manager.Condition()
 * using _ = cond.hold()
 * console.log(cond.wait(10)) // false (nobody notified within 10 ms; the lock is held again)
 * ```
 */
export class ConditionProxy extends LockProxy {
  /** Releases the lock, waits for a notify (or the timeout), takes the lock back; false on timeout. */
  wait(timeout?: number): boolean {
    return this._call('wait', checkTimeout(timeout)) as boolean
  }
  /** Async form of {@link wait}: a timeout in ms or `{ timeout?, signal? }`. */
  waitAsync(opts?: number | AsyncWaitOptions): Promise<boolean> {
    const [timeout, signal] = waitArgs(opts)
    return this._callAsync('wait', [timeout], signal) as Promise<boolean>
  }
  /** Waits until `predicate()` is truthy (checked here, under the lock); its last value. */
  waitFor<T>(predicate: () => T, timeout?: number): T {
    const deadline = Date.now() + checkTimeout(timeout)
    let v = predicate()
    while (!v) {
      const left = deadline - Date.now()
      if (left <= 0) break
      this.wait(left === Number.POSITIVE_INFINITY ? undefined : left)
      v = predicate()
    }
    return v
  }
  /** Async form of {@link waitFor}. */
  async waitForAsync<T>(predicate: () => T, opts?: number | AsyncWaitOptions): Promise<T> {
    const [timeout, signal] = waitArgs(opts)
    const deadline = Date.now() + timeout
    let v = predicate()
    while (!v) {
      const left = deadline - Date.now()
      if (left <= 0) break
      await this.waitAsync({ timeout: left, signal })
      v = predicate()
    }
    return v
  }
  /** Wakes up to `n` waiters (the caller must hold the lock). */
  notify(n = 1): void {
    this._call('notify', n)
  }
  async notifyAsync(n = 1): Promise<void> {
    await this._callAsync('notify', [n])
  }
  /** Wakes every waiter (the caller must hold the lock). */
  notifyAll(): void {
    this._call('notifyAll')
  }
  async notifyAllAsync(): Promise<void> {
    await this._callAsync('notifyAll', [])
  }
  override locked(): never {
    throw typeError('Condition.locked() is not available on a manager Condition')
  }
}

/**
 * A manager `Event`.
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const ev = manager.Event()
 * const waiting = ev.waitAsync(5000)
 * ev.set()
 * console.log(await waiting, ev.isSet()) // true true
 * ```
 */
export class EventProxy extends BaseProxy {
  set(): void {
    this._call('set')
  }
  async setAsync(): Promise<void> {
    await this._callAsync('set', [])
  }
  clear(): void {
    this._call('clear')
  }
  async clearAsync(): Promise<void> {
    await this._callAsync('clear', [])
  }
  isSet(): boolean {
    return this._call('isSet') as boolean
  }
  isSetAsync(): Promise<boolean> {
    return this._callAsync('isSet', []) as Promise<boolean>
  }
  /** Waits until the flag is set; false if the timeout passed first. */
  wait(timeout?: number): boolean {
    return this._call('wait', checkTimeout(timeout)) as boolean
  }
  waitAsync(opts?: number | AsyncWaitOptions): Promise<boolean> {
    const [timeout, signal] = waitArgs(opts)
    return this._callAsync('wait', [timeout], signal) as Promise<boolean>
  }
}

/**
 * A manager `Barrier`.
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const b = manager.Barrier(2)
 * const [x, y] = await Promise.all([b.waitAsync(), b.waitAsync()])
 * console.log([x, y].sort()) // [ 0, 1 ]
 * ```
 */
export class BarrierProxy extends BaseProxy {
  /** Waits for the others; this party's arrival index. @throws {BrokenBarrierError} `ERR_BROKEN_BARRIER` */
  wait(timeout?: number): number {
    return this._call('wait', timeout === undefined ? undefined : checkTimeout(timeout)) as number
  }
  waitAsync(opts?: number | AsyncWaitOptions): Promise<number> {
    const explicit = opts !== undefined && (typeof opts === 'number' || opts.timeout !== undefined)
    const [timeout, signal] = waitArgs(opts)
    return this._callAsync('wait', [explicit ? timeout : undefined], signal) as Promise<number>
  }
  reset(): void {
    this._call('reset')
  }
  async resetAsync(): Promise<void> {
    await this._callAsync('reset', [])
  }
  abort(): void {
    this._call('abort')
  }
  async abortAsync(): Promise<void> {
    await this._callAsync('abort', [])
  }
  get parties(): number {
    return this._call('parties') as number
  }
  partiesAsync(): Promise<number> {
    return this._callAsync('parties', []) as Promise<number>
  }
  get nWaiting(): number {
    return this._call('nWaiting') as number
  }
  nWaitingAsync(): Promise<number> {
    return this._callAsync('nWaiting', []) as Promise<number>
  }
  get broken(): boolean {
    return this._call('broken') as boolean
  }
  brokenAsync(): Promise<boolean> {
    return this._callAsync('broken', []) as Promise<boolean>
  }
}

/**
 * A manager `Queue` (Python's `queue.Queue` served by the manager).
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const q = manager.Queue<string>()
 * q.put('job')
 * console.log(q.qsize(), q.get()) // 1 job
 * try {
 *   q.get({ timeout: 10 })
 * } catch (err) {
 *   console.log((err as { code?: string }).code) // ERR_QUEUE_EMPTY
 * }
 * ```
 */
export class QueueProxy<T = unknown> extends BaseProxy {
  /** @throws {QueueFull} `ERR_QUEUE_FULL` when not blocking or after the timeout */
  put(item: T, opts?: QueueWaitOptions): void {
    this._call('put', item, opts?.block ?? true, checkTimeout(opts?.timeout))
  }
  async putAsync(item: T, opts?: number | AsyncWaitOptions): Promise<void> {
    const [timeout, signal] = waitArgs(opts)
    await this._callAsync('put', [item, true, timeout], signal)
  }
  /** @throws {QueueEmpty} `ERR_QUEUE_EMPTY` when not blocking or after the timeout */
  get(opts?: QueueWaitOptions): T {
    return this._call('get', opts?.block ?? true, checkTimeout(opts?.timeout)) as T
  }
  getAsync(opts?: number | AsyncWaitOptions): Promise<T> {
    const [timeout, signal] = waitArgs(opts)
    return this._callAsync('get', [true, timeout], signal) as Promise<T>
  }
  putNowait(item: T): void {
    this._call('putNowait', item)
  }
  async putNowaitAsync(item: T): Promise<void> {
    await this._callAsync('putNowait', [item])
  }
  getNowait(): T {
    return this._call('getNowait') as T
  }
  getNowaitAsync(): Promise<T> {
    return this._callAsync('getNowait', []) as Promise<T>
  }
  qsize(): number {
    return this._call('qsize') as number
  }
  qsizeAsync(): Promise<number> {
    return this._callAsync('qsize', []) as Promise<number>
  }
  empty(): boolean {
    return this._call('empty') as boolean
  }
  emptyAsync(): Promise<boolean> {
    return this._callAsync('empty', []) as Promise<boolean>
  }
  full(): boolean {
    return this._call('full') as boolean
  }
  fullAsync(): Promise<boolean> {
    return this._callAsync('full', []) as Promise<boolean>
  }
}

/**
 * A manager `JoinableQueue`.
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const q = manager.JoinableQueue<number>()
 * q.put(1)
 * console.log(q.join(10)) // false (one task not done)
 * q.get()
 * q.taskDone()
 * console.log(q.join()) // true
 * ```
 */
export class JoinableQueueProxy<T = unknown> extends QueueProxy<T> {
  taskDone(): void {
    this._call('taskDone')
  }
  async taskDoneAsync(): Promise<void> {
    await this._callAsync('taskDone', [])
  }
  /** Waits until every item put was marked done; false if the timeout passed first. */
  join(timeout?: number): boolean {
    return this._call('join', checkTimeout(timeout)) as boolean
  }
  joinAsync(opts?: number | AsyncWaitOptions): Promise<boolean> {
    const [timeout, signal] = waitArgs(opts)
    return this._callAsync('join', [timeout], signal) as Promise<boolean>
  }
}

/** Keys a manager dict accepts: values that compare by value across processes. */
export type DictKey = string | number | bigint | boolean | null | undefined

function checkKey(k: unknown, what: string): void {
  const t = typeof k
  if (k === null || t === 'string' || t === 'number' || t === 'bigint' || t === 'boolean' || t === 'undefined') return
  throw typeError(`${what}: a manager dict's keys must be strings, numbers, bigints, booleans, null or undefined (they compare by value); received ${describe(k)}`)
}

/**
 * A manager `dict`: `Map`'s methods plus Python's. Each method has an `Async` twin.
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const d = manager.dict<string, number>({ a: 1 })
 * d.set('b', 2)
 * console.log(d.get('a'), d.keys(), await d.sizeAsync()) // 1 [ 'a', 'b' ] 2
 * console.log(d.pop('a'), d.setdefault('c', 3), d.copy()) // 1 3 Map(2) { 'b' => 2, 'c' => 3 }
 * ```
 */
export class DictProxy<K extends DictKey = DictKey, V = unknown> extends BaseProxy {
  get(key: K): V | undefined
  get<D>(key: K, dflt: D): V | D
  get(key: K, ...dflt: unknown[]): unknown {
    checkKey(key, 'dict.get()')
    return this._call('get', key, ...dflt)
  }
  getAsync(key: K, dflt?: V): Promise<V | undefined> {
    checkKey(key, 'dict.getAsync()')
    return this._callAsync('get', [key, dflt]) as Promise<V | undefined>
  }
  set(key: K, value: V): this {
    checkKey(key, 'dict.set()')
    this._call('set', key, value)
    return this
  }
  async setAsync(key: K, value: V): Promise<void> {
    checkKey(key, 'dict.setAsync()')
    await this._callAsync('set', [key, value])
  }
  has(key: K): boolean {
    checkKey(key, 'dict.has()')
    return this._call('has', key) as boolean
  }
  hasAsync(key: K): Promise<boolean> {
    return this._callAsync('has', [key]) as Promise<boolean>
  }
  delete(key: K): boolean {
    checkKey(key, 'dict.delete()')
    return this._call('delete', key) as boolean
  }
  deleteAsync(key: K): Promise<boolean> {
    return this._callAsync('delete', [key]) as Promise<boolean>
  }
  size(): number {
    return this._call('size') as number
  }
  sizeAsync(): Promise<number> {
    return this._callAsync('size', []) as Promise<number>
  }
  keys(): K[] {
    return this._call('keys') as K[]
  }
  keysAsync(): Promise<K[]> {
    return this._callAsync('keys', []) as Promise<K[]>
  }
  values(): V[] {
    return this._call('values') as V[]
  }
  valuesAsync(): Promise<V[]> {
    return this._callAsync('values', []) as Promise<V[]>
  }
  entries(): [K, V][] {
    return this._call('entries') as [K, V][]
  }
  entriesAsync(): Promise<[K, V][]> {
    return this._callAsync('entries', []) as Promise<[K, V][]>
  }
  /** Removes `key` and returns its value. @throws {KeyError} `ERR_KEY_NOT_FOUND` if missing and no default */
  pop(key: K, ...dflt: [] | [V]): V {
    checkKey(key, 'dict.pop()')
    return this._call('pop', key, ...dflt) as V
  }
  popAsync(key: K, ...dflt: [] | [V]): Promise<V> {
    return this._callAsync('pop', [key, ...dflt]) as Promise<V>
  }
  /** Removes and returns the last inserted entry. @throws {KeyError} `ERR_KEY_NOT_FOUND` if empty */
  popitem(): [K, V] {
    return this._call('popitem') as [K, V]
  }
  popitemAsync(): Promise<[K, V]> {
    return this._callAsync('popitem', []) as Promise<[K, V]>
  }
  setdefault(key: K, dflt: V): V {
    checkKey(key, 'dict.setdefault()')
    return this._call('setdefault', key, dflt) as V
  }
  setdefaultAsync(key: K, dflt: V): Promise<V> {
    checkKey(key, 'dict.setdefaultAsync()')
    return this._callAsync('setdefault', [key, dflt]) as Promise<V>
  }
  /** Sets every entry of a Map, an array of `[key, value]` pairs or a plain object. */
  update(src: Map<K, V> | readonly (readonly [K, V])[] | Record<string, V>): void {
    this._call('update', src)
  }
  async updateAsync(src: Map<K, V> | readonly (readonly [K, V])[] | Record<string, V>): Promise<void> {
    await this._callAsync('update', [src])
  }
  clear(): void {
    this._call('clear')
  }
  async clearAsync(): Promise<void> {
    await this._callAsync('clear', [])
  }
  /** A local copy. */
  copy(): Map<K, V> {
    return this._call('copy') as Map<K, V>
  }
  /** Iterates a snapshot of the entries (`for (const [k, v] of d)`, `new Map(d)`). */
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries()[Symbol.iterator]()
  }
  copyAsync(): Promise<Map<K, V>> {
    return this._callAsync('copy', []) as Promise<Map<K, V>>
  }
}

/**
 * A manager `list`: Python's list methods (negative indices count from the end).
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const l = manager.list([3, 1])
 * l.append(2)
 * l.sort()
 * console.log(l.copy(), l.get(-1), l.index(2)) // [ 1, 2, 3 ] 3 1
 * ```
 */
export class ListProxy<T = unknown> extends BaseProxy {
  /** @throws {IndexError} `ERR_INDEX_OUT_OF_RANGE` */
  get(i: number): T {
    return this._call('get', i) as T
  }
  getAsync(i: number): Promise<T> {
    return this._callAsync('get', [i]) as Promise<T>
  }
  set(i: number, v: T): void {
    this._call('set', i, v)
  }
  async setAsync(i: number, v: T): Promise<void> {
    await this._callAsync('set', [i, v])
  }
  append(v: T): void {
    this._call('append', v)
  }
  async appendAsync(v: T): Promise<void> {
    await this._callAsync('append', [v])
  }
  extend(vs: Iterable<T>): void {
    this._call('extend', [...vs])
  }
  async extendAsync(vs: Iterable<T>): Promise<void> {
    await this._callAsync('extend', [[...vs]])
  }
  insert(i: number, v: T): void {
    this._call('insert', i, v)
  }
  async insertAsync(i: number, v: T): Promise<void> {
    await this._callAsync('insert', [i, v])
  }
  pop(i = -1): T {
    return this._call('pop', i) as T
  }
  popAsync(i = -1): Promise<T> {
    return this._callAsync('pop', [i]) as Promise<T>
  }
  /** @throws {ValueError} `ERR_VALUE_NOT_FOUND` */
  remove(v: T): void {
    this._call('remove', v)
  }
  async removeAsync(v: T): Promise<void> {
    await this._callAsync('remove', [v])
  }
  /** @throws {ValueError} `ERR_VALUE_NOT_FOUND` */
  index(v: T, start?: number, stop?: number): number {
    return this._call('index', v, start, stop) as number
  }
  indexAsync(v: T, start?: number, stop?: number): Promise<number> {
    return this._callAsync('index', [v, start, stop]) as Promise<number>
  }
  count(v: T): number {
    return this._call('count', v) as number
  }
  countAsync(v: T): Promise<number> {
    return this._callAsync('count', [v]) as Promise<number>
  }
  len(): number {
    return this._call('len') as number
  }
  lenAsync(): Promise<number> {
    return this._callAsync('len', []) as Promise<number>
  }
  slice(start?: number, stop?: number): T[] {
    return this._call('slice', start, stop) as T[]
  }
  sliceAsync(start?: number, stop?: number): Promise<T[]> {
    return this._callAsync('slice', [start, stop]) as Promise<T[]>
  }
  /** Sorts numbers and strings in place, as Python does (mixed types: TypeError). */
  sort(opts?: { reverse?: boolean }): void {
    this._call('sort', opts?.reverse === true)
  }
  async sortAsync(opts?: { reverse?: boolean }): Promise<void> {
    await this._callAsync('sort', [opts?.reverse === true])
  }
  reverse(): void {
    this._call('reverse')
  }
  async reverseAsync(): Promise<void> {
    await this._callAsync('reverse', [])
  }
  clear(): void {
    this._call('clear')
  }
  async clearAsync(): Promise<void> {
    await this._callAsync('clear', [])
  }
  /** A local copy. */
  copy(): T[] {
    return this._call('copy') as T[]
  }
  copyAsync(): Promise<T[]> {
    return this._callAsync('copy', []) as Promise<T[]>
  }
}

/**
 * A manager `Value`: `.value` reads and writes the server's item.
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const v = manager.Value('i', 41)
 * v.value = v.value + 1
 * console.log(v.value) // 42
 * ```
 */
export class ValueProxy<T = number> extends BaseProxy {
  get value(): T {
    return this._call('get') as T
  }
  set value(v: T) {
    this._call('set', v)
  }
  get(): T {
    return this._call('get') as T
  }
  set(v: T): void {
    this._call('set', v)
  }
  getAsync(): Promise<T> {
    return this._callAsync('get', []) as Promise<T>
  }
  async setAsync(v: T): Promise<void> {
    await this._callAsync('set', [v])
  }
}

/**
 * A manager `Array` of a typecode.
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const a = manager.Array('d', [0.5, 1.5])
 * a.set(0, 2)
 * console.log(a.length, a.toArray()) // 2 [ 2, 1.5 ]
 * ```
 */
export class ArrayProxy<T = number> extends BaseProxy {
  get length(): number {
    return this._call('len') as number
  }
  len(): number {
    return this._call('len') as number
  }
  lenAsync(): Promise<number> {
    return this._callAsync('len', []) as Promise<number>
  }
  get(i: number): T {
    return this._call('get', i) as T
  }
  getAsync(i: number): Promise<T> {
    return this._callAsync('get', [i]) as Promise<T>
  }
  set(i: number, v: T): void {
    this._call('set', i, v)
  }
  async setAsync(i: number, v: T): Promise<void> {
    await this._callAsync('set', [i, v])
  }
  slice(start?: number, end?: number): T[] {
    return this._call('slice', start, end) as T[]
  }
  sliceAsync(start?: number, end?: number): Promise<T[]> {
    return this._callAsync('slice', [start, end]) as Promise<T[]>
  }
  toArray(): T[] {
    return this._call('toArray') as T[]
  }
  toArrayAsync(): Promise<T[]> {
    return this._callAsync('toArray', []) as Promise<T[]>
  }
}

/** Names a Namespace proxy keeps for itself (not forwarded as properties). */
const NAMESPACE_OWN = new Set(['getAsync', 'setAsync', 'deleteAsync', 'entries', 'entriesAsync', 'typeid', 'objectId', 'toString', 'then', 'constructor', '_home'])

/**
 * A manager `Namespace`: plain properties (`ns.x = 1`, `ns.x`), each a call to the server.
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const ns = manager.Namespace()
 * ns.total = 10
 * ns.total += 5
 * console.log(ns.total, 'total' in ns) // 15 true
 * ```
 */
export class NamespaceProxy extends BaseProxy {
  constructor(home: Home, typeid: string, id: number) {
    super(home, typeid, id)
    // biome-ignore lint/correctness/noConstructorReturn: properties of a Namespace are the server's
    return new Proxy(this, {
      get(target, prop, receiver) {
        if (typeof prop === 'symbol' || NAMESPACE_OWN.has(prop) || prop.startsWith('_')) return Reflect.get(target, prop, receiver)
        return target._call('get', prop)
      },
      set(target, prop, value) {
        if (typeof prop === 'symbol' || NAMESPACE_OWN.has(prop) || prop.startsWith('_')) return Reflect.set(target, prop, value)
        target._call('set', prop, value)
        return true
      },
      has(target, prop) {
        if (typeof prop === 'symbol') return Reflect.has(target, prop)
        return target._call('has', prop) as boolean
      },
      deleteProperty(target, prop) {
        if (typeof prop === 'symbol') return Reflect.deleteProperty(target, prop)
        target._call('delete', prop)
        return true
      },
    })
  }
  /** Async read of property `name`. @throws {KeyError} `ERR_KEY_NOT_FOUND` if it is not set */
  getAsync(name: string): Promise<unknown> {
    return this._callAsync('get', [name])
  }
  async setAsync(name: string, value: unknown): Promise<void> {
    await this._callAsync('set', [name, value])
  }
  deleteAsync(name: string): Promise<boolean> {
    return this._callAsync('delete', [name]) as Promise<boolean>
  }
  /** Every property as `[name, value]` pairs. */
  entries(): [string, unknown][] {
    return this._call('entries') as [string, unknown][]
  }
  entriesAsync(): Promise<[string, unknown][]> {
    return this._callAsync('entries', []) as Promise<[string, unknown][]>
  }
  /** Properties are read and written as `ns.name`. */
  [key: string]: any
}

/**
 * A proxy on an object of a registered type: `call(method, ...args)` / `callAsync(method, args)`.
 * @example
 * ```ts
 * import { SyncManager } from '@tandem/ipc/manager'
 *
 * class MyManager extends SyncManager {}
 * MyManager.register('Greeter', (name: string) => ({ hello: (who: string) => `${name} greets ${who}` }))
 * using manager = new MyManager().start()
 * const g = manager.create('Greeter', 'server')
 * console.log(g.call('hello', 'you')) // server greets you
 * ```
 */
export class RemoteObject extends BaseProxy {
  /** Calls method `name` of the object (blocking). */
  call(name: string, ...args: unknown[]): unknown {
    return this._call(name, ...args)
  }
  /** Calls method `name` of the object (async). */
  callAsync(name: string, args: unknown[] = [], opts?: { signal?: AbortSignal }): Promise<unknown> {
    return this._callAsync(name, args, opts?.signal)
  }
}

const CLASSES: Record<string, new (home: Home, typeid: string, id: number) => BaseProxy> = {
  dict: DictProxy,
  list: ListProxy,
  Namespace: NamespaceProxy,
  Queue: QueueProxy,
  JoinableQueue: JoinableQueueProxy,
  Lock: LockProxy,
  RLock: RLockProxy,
  Semaphore: SemaphoreProxy,
  BoundedSemaphore: SemaphoreProxy,
  Condition: ConditionProxy,
  Event: EventProxy,
  Barrier: BarrierProxy,
  Value: ValueProxy,
  Array: ArrayProxy,
}

function proxyFor(home: Home, typeid: string, id: number): BaseProxy {
  return new (Object.hasOwn(CLASSES, typeid) ? CLASSES[typeid]! : RemoteObject)(home, typeid, id)
}

registerShareable(PROXY_KIND, import.meta.url, (d: ProxyData) => {
  if (typeof d !== 'object' || d === null || typeof d.t !== 'string' || typeof d.i !== 'number') throw new ManagerProtocolError('A malformed manager proxy arrived')
  const home = homeOf(d.a, new Uint8Array(d.k))
  const p = proxyFor(home, d.t, d.i)
  notify(home, 'adopt', d.i, d.s)
  return p
})

// ---------------------------------------------------------------------------------------------
// The manager

/** Options of `new SyncManager()`. */
export interface SyncManagerOptions {
  /**
   * Where the server listens: a Unix socket path (default: a new one in the temporary directory)
   * or `{ host, port }` for TCP (port 0 picks one). For `connect()`: the running server's address.
   */
  address?: Address
  /** The key clients must know (string or bytes). @default 32 random bytes (start) */
  authkey?: string | Uint8Array
}

let managers = 0

/**
 * Python's `multiprocessing.managers.SyncManager`: a server process holding shared objects, and
 * factories that create them and return proxies.
 * @example Two processes add to one dict under one manager lock
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 * import { Process } from '@tandem/ipc/process'
 *
 * using manager = Manager()
 * const d = manager.dict<string, number>()
 * const lock = manager.Lock()
 * d.set('hits', 0)
 * const add = (d: any, lock: any) => {
 *   for (let i = 0; i < 100; i++) {
 *     using _ = lock.hold()
 *     d.set('hits', d.get('hits') + 1)
 *   }
 * }
 * const ps = [new Process({ target: add, args: [d, lock] }), new Process({ target: add, args: [d, lock] })]
 * for (const p of ps) p.start()
 * for (const p of ps) p.join()
 * console.log(d.get('hits')) // 200
 * ```
 */
export class SyncManager {
  static #registries = new WeakMap<object, Map<string, TaskSpec>>()

  /**
   * Serves objects of a type of your own: `manager.create(typeid, ...args)` calls `callable(...args)`
   * in the server (a task function: self-contained, or a `moduleRef`) and returns a
   * {@link RemoteObject} on its result. Register before `start()`; a subclass's registrations
   * stay its own (and its subclasses').
   */
  static register(typeid: string, callable: TaskFunction): void {
    if (typeof typeid !== 'string' || typeid === '' || Object.hasOwn(CLASSES, typeid))
      throw typeError(`SyncManager.register(): typeid must be a new non-empty name; received ${describe(typeid)}`)
    const spec = toTaskSpec(callable, `SyncManager.register('${typeid}')`)
    // `this` is the class register() was called on: a subclass keeps its own types.
    // biome-ignore lint/complexity/noThisInStatic: on purpose (see above)
    let reg = SyncManager.#registries.get(this)
    if (reg === undefined) {
      reg = new Map()
      // biome-ignore lint/complexity/noThisInStatic: on purpose (see above)
      SyncManager.#registries.set(this, reg)
    }
    reg.set(typeid, spec)
  }

  static #registryOf(cls: object): Map<string, TaskSpec> {
    const out = new Map<string, TaskSpec>()
    const chain: object[] = []
    for (let c: object | null = cls; c !== null && c !== Function.prototype; c = Object.getPrototypeOf(c)) chain.unshift(c)
    for (const c of chain) for (const [k, v] of SyncManager.#registries.get(c) ?? []) out.set(k, v)
    return out
  }

  readonly #requested: Address | undefined
  readonly #authkey: Uint8Array
  #home: Home | undefined
  #process: Process | undefined
  #state: 'initial' | 'started' | 'connected' | 'shutdown' = 'initial'

  constructor(opts: SyncManagerOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw typeError(`new SyncManager(opts): opts must be an object; received ${describe(opts)}`)
    this.#requested = opts.address
    this.#authkey = toAuthkey(opts.authkey) ?? new Uint8Array(randomBytes(32))
  }

  /** The server's address (once started or connected). */
  get address(): Address | undefined {
    return this.#home?.address
  }

  /** The server process (a manager you started), or undefined. */
  get process(): Process | undefined {
    return this.#process
  }

  #begin(what: string): { config: ServerConfig; end: Connection } {
    if (this.#state !== 'initial') throw new ManagerProtocolError(`SyncManager.${what}(): the manager was already ${this.#state}`)
    const [end, childEnd] = Pipe()
    const config: ServerConfig = { address: this.#requested, authkey: this.#authkey, registry: [...SyncManager.#registryOf(this.constructor)] }
    const p = new Process({ target: moduleRef(SERVER_URL, 'serve'), args: [childEnd, config], daemon: true, name: `SyncManager-${++managers}` })
    p.start()
    childEnd.close()
    this.#process = p
    this.#state = 'started'
    return { config, end }
  }

  #ready(reply: unknown): this {
    const address = (reply as { address?: Address } | undefined)?.address
    if (address === undefined) throw new ManagerProtocolError('SyncManager.start(): the server did not report its address')
    this.#home = homeOf(address, this.#authkey)
    closed.delete(this.#home.key)
    return this
  }

  /** Starts the server process; returns once it listens. */
  start(): this {
    const { end } = this.#begin('start')
    try {
      return this.#ready(end.recv())
    } catch (err) {
      this.#state = 'shutdown'
      throw new ManagerClosedError(`SyncManager.start(): the server process failed to start (${(err as Error).message})`)
    }
  }

  /** Async form of {@link start}. */
  async startAsync(): Promise<this> {
    const { end } = this.#begin('startAsync')
    try {
      return this.#ready(await end.recvAsync())
    } catch (err) {
      this.#state = 'shutdown'
      throw new ManagerClosedError(`SyncManager.startAsync(): the server process failed to start (${(err as Error).message})`)
    }
  }

  #attach(): Home {
    if (this.#state !== 'initial') throw new ManagerProtocolError(`SyncManager.connect(): the manager was already ${this.#state}`)
    if (this.#requested === undefined) throw typeError('SyncManager.connect(): give the address of the running manager')
    const home = homeOf(this.#requested, this.#authkey)
    closed.delete(home.key)
    return home
  }

  /** Connects to a running manager (`new SyncManager({ address, authkey })`); checks that it answers. */
  connect(): this {
    const home = this.#attach()
    request(home, 'ping', 0, undefined, [])
    this.#home = home
    this.#state = 'connected'
    return this
  }

  /** Async form of {@link connect}. */
  async connectAsync(): Promise<this> {
    const home = this.#attach()
    await requestAsync(home, 'ping', 0, undefined, [])
    this.#home = home
    this.#state = 'connected'
    return this
  }

  #live(what: string): Home {
    if (this.#state === 'shutdown') throw new ManagerClosedError(`SyncManager.${what}(): the manager was shut down`)
    if (this.#home === undefined) throw new ManagerProtocolError(`SyncManager.${what}(): start() or connect() the manager first`)
    return this.#home
  }

  #make<P extends BaseProxy>(typeid: string, args: unknown[]): P {
    const home = this.#live(typeid)
    const id = request(home, 'create', typeid, undefined, args) as number
    return proxyFor(home, typeid, id) as P
  }

  async #makeAsync<P extends BaseProxy>(typeid: string, args: unknown[]): Promise<P> {
    const home = this.#live(typeid)
    const id = (await requestAsync(home, 'create', typeid, undefined, args)) as number
    return proxyFor(home, typeid, id) as P
  }

  /**
   * Stops the server (a manager you started) and forgets it: every proxy's next call throws
   * `ManagerClosedError`. Idempotent. On a manager you connected to, only forgets it here.
   */
  shutdown(): void {
    if (this.#state === 'shutdown') return
    const was = this.#state
    this.#state = 'shutdown'
    const home = this.#home
    if (home === undefined) return
    if (was === 'started') {
      try {
        request(home, 'shutdown', 0, undefined, [])
      } catch {}
      if (this.#process !== undefined && !this.#process.join(5000)) this.#process.kill()
    }
    forget(home)
  }

  /** Async form of {@link shutdown}. */
  async shutdownAsync(): Promise<void> {
    if (this.#state === 'shutdown') return
    const was = this.#state
    this.#state = 'shutdown'
    const home = this.#home
    if (home === undefined) return
    if (was === 'started') {
      try {
        await requestAsync(home, 'shutdown', 0, undefined, [])
      } catch {}
      if (this.#process !== undefined && !(await this.#process.joinAsync(5000))) this.#process.kill()
    }
    forget(home)
  }

  [Symbol.dispose](): void {
    this.shutdown()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdownAsync()
  }

  /** An object of a type registered with {@link SyncManager.register}. */
  create(typeid: string, ...args: unknown[]): RemoteObject {
    return this.#make(typeid, args)
  }
  createAsync(typeid: string, ...args: unknown[]): Promise<RemoteObject> {
    return this.#makeAsync(typeid, args)
  }

  /** A shared dict (`Map` semantics plus Python's methods). */
  dict<K extends DictKey = DictKey, V = unknown>(init?: Map<K, V> | readonly (readonly [K, V])[] | Record<string, V>): DictProxy<K, V> {
    return this.#make('dict', [init])
  }
  dictAsync<K extends DictKey = DictKey, V = unknown>(init?: Map<K, V> | readonly (readonly [K, V])[] | Record<string, V>): Promise<DictProxy<K, V>> {
    return this.#makeAsync('dict', [init])
  }
  /** A shared list. */
  list<T = unknown>(init?: Iterable<T>): ListProxy<T> {
    return this.#make('list', [init === undefined ? undefined : [...init]])
  }
  listAsync<T = unknown>(init?: Iterable<T>): Promise<ListProxy<T>> {
    return this.#makeAsync('list', [init === undefined ? undefined : [...init]])
  }
  /** A shared namespace: plain properties. */
  Namespace(init?: Record<string, unknown>): NamespaceProxy {
    return this.#make('Namespace', [init])
  }
  NamespaceAsync(init?: Record<string, unknown>): Promise<NamespaceProxy> {
    return this.#makeAsync('Namespace', [init])
  }
  /** A shared FIFO queue; `maxsize` 0 (default) is unbounded. */
  Queue<T = unknown>(maxsize = 0): QueueProxy<T> {
    return this.#make('Queue', [maxsize])
  }
  QueueAsync<T = unknown>(maxsize = 0): Promise<QueueProxy<T>> {
    return this.#makeAsync('Queue', [maxsize])
  }
  JoinableQueue<T = unknown>(maxsize = 0): JoinableQueueProxy<T> {
    return this.#make('JoinableQueue', [maxsize])
  }
  JoinableQueueAsync<T = unknown>(maxsize = 0): Promise<JoinableQueueProxy<T>> {
    return this.#makeAsync('JoinableQueue', [maxsize])
  }
  Lock(): LockProxy {
    return this.#make('Lock', [])
  }
  LockAsync(): Promise<LockProxy> {
    return this.#makeAsync('Lock', [])
  }
  RLock(): RLockProxy {
    return this.#make('RLock', [])
  }
  RLockAsync(): Promise<RLockProxy> {
    return this.#makeAsync('RLock', [])
  }
  Semaphore(value = 1): SemaphoreProxy {
    return this.#make('Semaphore', [value])
  }
  SemaphoreAsync(value = 1): Promise<SemaphoreProxy> {
    return this.#makeAsync('Semaphore', [value])
  }
  BoundedSemaphore(value = 1): SemaphoreProxy {
    return this.#make('BoundedSemaphore', [value])
  }
  BoundedSemaphoreAsync(value = 1): Promise<SemaphoreProxy> {
    return this.#makeAsync('BoundedSemaphore', [value])
  }
  /** A condition variable on `lock` (a manager Lock or RLock of this manager; default a new RLock). */
  Condition(lock?: LockProxy): ConditionProxy {
    return this.#make('Condition', [lock])
  }
  ConditionAsync(lock?: LockProxy): Promise<ConditionProxy> {
    return this.#makeAsync('Condition', [lock])
  }
  Event(): EventProxy {
    return this.#make('Event', [])
  }
  EventAsync(): Promise<EventProxy> {
    return this.#makeAsync('Event', [])
  }
  /** A barrier for `parties` (no action: run it in the party that gets index 0). */
  Barrier(parties: number, timeout?: number): BarrierProxy {
    return this.#make('Barrier', [parties, timeout])
  }
  BarrierAsync(parties: number, timeout?: number): Promise<BarrierProxy> {
    return this.#makeAsync('Barrier', [parties, timeout])
  }
  /** One item of a typecode (Python's `Value`). */
  Value<T = number>(typecode: Typecode, value: T): ValueProxy<T> {
    return this.#make('Value', [typecode, value])
  }
  ValueAsync<T = number>(typecode: Typecode, value: T): Promise<ValueProxy<T>> {
    return this.#makeAsync('Value', [typecode, value])
  }
  /** Items of a typecode (Python's `Array`): a length or the values. */
  Array<T = number>(typecode: Typecode, sizeOrValues: number | Iterable<T>): ArrayProxy<T> {
    return this.#make('Array', [typecode, typeof sizeOrValues === 'number' ? sizeOrValues : [...sizeOrValues]])
  }
  ArrayAsync<T = number>(typecode: Typecode, sizeOrValues: number | Iterable<T>): Promise<ArrayProxy<T>> {
    return this.#makeAsync('Array', [typecode, typeof sizeOrValues === 'number' ? sizeOrValues : [...sizeOrValues]])
  }
}

/** Drops this thread's connections to a server that was shut down; later calls fail at once. */
function forget(home: Home): void {
  closed.add(home.key)
  dropLane(home)
  const s = syncLanes.get(home.lane)
  syncLanes.delete(home.lane)
  try {
    s?.close()
  } catch {}
  const a = asyncLanes.get(home.lane)
  asyncLanes.delete(home.lane)
  void a?.then(
    (lane) => {
      const err = closedError(home, 'shut down')
      for (const p of lane.pending.values()) p.reject(err)
      lane.pending.clear()
      lane.conn.close()
    },
    () => {},
  )
}

/**
 * A started {@link SyncManager} (Python's `multiprocessing.Manager()`).
 * @example
 * ```ts
 * import { Manager } from '@tandem/ipc/manager'
 *
 * using manager = Manager()
 * const l = manager.list([3, 1, 2])
 * l.sort()
 * console.log(l.copy()) // [ 1, 2, 3 ]
 * ```
 */
export function Manager(opts?: SyncManagerOptions): SyncManager {
  return new SyncManager(opts).start()
}
