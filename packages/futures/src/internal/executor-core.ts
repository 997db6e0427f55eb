/**
 * The part of an executor that does not depend on where tasks run: work items, the shared work
 * queue, the task table, starting workers on demand, breaking the pool and shutting it down.
 * `ThreadPoolExecutor` and `ThreadPool` drive it with Tandem Threads running `workerLoop`
 * (`worker-loop.ts`); a process transport can drive the same items through a pipe.
 *
 * A work item is plain data, so the queue codec encodes it without the V8 serializer:
 * `[cell, task, mode, payload]`
 * - `cell`: arena offset of the Future's cell; the item holds one reference to it (taken by
 *   the submitter, given back by whoever completes or drops the item);
 * - `task`: arena offset of the task's spec, interned per pool (a worker loads each task once);
 * - `mode`: {@link CALL} `fn(...payload)`; {@link CHUNK_MAP} `payload.map((x) => fn(x))`;
 *   {@link CHUNK_STAR} `payload.map((args) => fn(...args))` (chunks resolve to an array).
 * A `null` item stops the worker that takes it (it puts it back for the next one).
 *
 * @module
 */
import { alloc, arenaBuffer, holdLoop, int32At, release, releaseLoop, retain, setBlockingHook, TRY_ACQUIRE } from '@tandem/sync/kit'
import { Event } from '@tandem/sync/event'
import { typeError } from '@tandem/sync/errors'
import { Semaphore } from '@tandem/sync/semaphore'
import { loadTask, toTaskSpec, type TaskSpec } from '@tandem/sync/task'
import { decodeItem, encodeItem, payloadBytes } from '@tandem/queue/kit'
import { Queue } from '@tandem/queue/queue'
import type { BrokenExecutor } from '../errors.ts'
import { Future } from '../future.ts'
import { cancelCell, cellAt, completeCell, EXCEPTION, releaseCell, startCell } from './cell.ts'

export const CALL = 0
export const CHUNK_MAP = 1
export const CHUNK_STAR = 2

/** One submitted call or chunk of calls. */
export type WorkItem = [cell: number, task: number, mode: number, payload: unknown[]]

/** What a worker needs: shared between the pool and every worker. */
export interface PoolShared {
  readonly queue: Queue<WorkItem | null>
  /** Set once the pool is broken. */
  readonly broken: Event
  /** Released by each idle worker; taken by a submit that an idle worker will serve. */
  readonly idle: Semaphore
  /**
   * Per worker index, {@link ExecutorCoreOptions.slotsPerWorker} slots (1 for a thread worker,
   * which runs one call at a time; a process worker's stand-in has several calls out): the cells
   * of the items it took and is starting or running, 0 where none (for a worker killed from
   * outside: whoever notices takes each cell with one exchange and fails it).
   */
  readonly running: Int32Array
  /** Words {@link IN_FLIGHT}, {@link BREAK} and {@link POLLER}. */
  readonly outstanding: Int32Array
  /** Why the pool broke: [0] length, then UTF-16 code units (the first breaker writes it). */
  readonly reason: Uint16Array
}

const REASON_CHARS = 1000

// Words of PoolShared.outstanding.
/**
 * Items submitted and not yet completed or dropped: +1 by the submitter before the item is queued,
 * -1 by whoever completes or drops it ({@link itemDone}, which wakes waiters at 0). A pool with
 * calls in flight keeps its owner's event loop alive.
 */
export const IN_FLIGHT = 0
/**
 * The break state: {@link NOT_BROKEN}, {@link BREAKING} (one breaker won the CAS and is writing
 * the reason), {@link BROKEN} (the reason is complete; readers read it only then).
 */
export const BREAK = 1
/** 1 while an idle worker polls the queue (it takes the next item without a wake-up). */
export const POLLER = 2
const OUTSTANDING_WORDS = 3

export const NOT_BROKEN = 0
export const BREAKING = 1
export const BROKEN = 2

/** Why the pool broke, if it did. */
export function breakReason(shared: PoolShared): string | undefined {
  if (Atomics.load(shared.outstanding, BREAK) !== BROKEN) return undefined
  const r = shared.reason
  return String.fromCharCode(...r.subarray(1, 1 + r[0]!))
}

/** One item is completed or dropped. */
export function itemDone(shared: PoolShared): void {
  if (Atomics.sub(shared.outstanding, IN_FLIGHT, 1) === 1) Atomics.notify(shared.outstanding, IN_FLIGHT)
}

// ---- task table -------------------------------------------------------------------------------

/** Stores `spec` in the arena: `[tag, value, bytes...]` of its encoding. */
function storeSpec(spec: TaskSpec): number {
  const enc = encodeItem(spec, { tag: 0, value: 0, bytes: undefined })
  const n = enc.bytes?.length ?? 0
  const at = alloc(8 + n)
  const w = int32At(at, 2)
  w[0] = enc.tag
  w[1] = enc.value
  if (n > 0) new Uint8Array(arenaBuffer(), at + 8, n).set(enc.bytes!)
  return at
}

const loaded = new Map<number, Function>()

/** The spec of the task stored at `at` (for a transport that sends it elsewhere). */
export function specAt(at: number): TaskSpec {
  const w = int32At(at, 2)
  const len = payloadBytes(w[0]!, w[1]!)
  return decodeItem(w[0]!, w[1]!, len === 0 ? undefined : new Uint8Array(arenaBuffer(), at + 8, len)) as TaskSpec
}

/** The function of the task stored at `at` (imported or compiled once per worker). */
export async function taskAt(at: number): Promise<Function> {
  let fn = loaded.get(at)
  if (fn === undefined) {
    fn = await loadTask(specAt(at))
    loaded.set(at, fn)
  }
  return fn
}

/** Awaits an async call's promise; a Future, though thenable, is a result like any other. */
function settle(r: unknown): unknown {
  return r !== null && typeof r === 'object' && !(r instanceof Future) && typeof (r as PromiseLike<unknown>).then === 'function' ? r : undefined
}

/** Runs one work item's call(s); the outcome comes boxed (an async function would adopt a thenable). */
export async function runItem(fn: Function, mode: number, payload: unknown[]): Promise<{ value: unknown }> {
  if (mode === CALL) {
    const r = fn(...payload)
    const p = settle(r)
    return { value: p === undefined ? r : await p }
  }
  const out = new Array(payload.length)
  for (let i = 0; i < payload.length; i++) {
    const r = mode === CHUNK_MAP ? fn(payload[i]) : fn(...(payload[i] as unknown[]))
    const p = settle(r)
    out[i] = p === undefined ? r : await p
  }
  return { value: out }
}

// ---- failing items ----------------------------------------------------------------------------

/** Fails (or, if cancelled, acknowledges) an item that will not run, and drops its reference. */
export function failItem(shared: PoolShared, item: WorkItem, error: unknown): void {
  const c = cellAt(item[0])
  try {
    if (startCell(c)) completeCell(c, EXCEPTION, error, 'setException')
  } catch {}
  releaseCell(item[0])
  itemDone(shared)
}

/**
 * Fails the cell of an item a worker had taken (pending, running, or cancelled: then only
 * acknowledged); one already completed (by a waiter, see `worker-liveness.ts`) is left as it is.
 */
function failTaken(c: Int32Array, error: unknown): void {
  let cancelled = false
  try {
    cancelled = !startCell(c)
  } catch {
    // already running (or completed)
  }
  if (cancelled) return
  try {
    completeCell(c, EXCEPTION, error, 'setException')
  } catch {
    // completed meanwhile
  }
}

/** The class of a pool's broken error (`BrokenThreadPool`, `BrokenProcessPool`). */
export type BrokenClass = new (message: string) => BrokenExecutor

/**
 * Marks the pool broken and fails every queued item with a `broken` error (keeps a shutdown
 * sentinel in place). The first breaker's reason is kept (CPython repeats it in later errors).
 */
export function breakPool(shared: PoolShared, why: string, broken: BrokenClass): void {
  if (Atomics.compareExchange(shared.outstanding, BREAK, NOT_BROKEN, BREAKING) === NOT_BROKEN) {
    const text = why.slice(0, REASON_CHARS)
    for (let i = 0; i < text.length; i++) shared.reason[1 + i] = text.charCodeAt(i)
    shared.reason[0] = text.length
    Atomics.store(shared.outstanding, BREAK, BROKEN)
  }
  shared.broken.set()
  for (;;) {
    let item: WorkItem | null
    try {
      item = shared.queue.getNowait()
    } catch {
      return
    }
    if (item === null) {
      shared.queue.put(null)
      return
    }
    failItem(shared, item, new broken(why))
  }
}

/** The error for an executor found in task arguments or a queue item. */
export function executorNotShareable(what: string): TypeError {
  return typeError(
    `A ${what} cannot be sent to another thread (its workers and state belong to the thread that created it); submit from that thread, or create a pool inside the worker`,
    'ERR_NOT_SHAREABLE',
  )
}

// ---- the submitting side ------------------------------------------------------------------------

// Pools whose calls in flight keep the process alive (see the constructor).
const keepAlivePools = new Set<WeakRef<ExecutorCore>>()

function onBeforeExit(): void {
  for (const ref of keepAlivePools) {
    const core = ref.deref()
    if (core === undefined) keepAlivePools.delete(ref)
    else if (Atomics.load(core.shared.outstanding, IN_FLIGHT) > 0) void core.untilIdle()
  }
  if (keepAlivePools.size === 0) process.off('beforeExit', onBeforeExit)
}

/** Most workers of one pool (each is a V8 isolate). */
export const MAX_WORKERS = 1024

/** Most items queued without waking a worker before a submit wakes workers itself. */
export const BATCH = 32

/** Calls in flight below which a submit wakes a worker at once. */
export const EAGER_BACKLOG = 64

// Cores of this thread holding buffered items, flushed at the end of the synchronous run or
// before the thread blocks.
const unflushed = new Set<ExecutorCore>()
let microtaskQueued = false
let immediateQueued = false

function flushAll(): void {
  for (const core of unflushed) core.flush()
  unflushed.clear()
}

function flushFromMicrotask(): void {
  microtaskQueued = false
  flushAll()
}

function flushFromImmediate(): void {
  immediateQueued = false
  flushAll()
}

/**
 * Arranges a flush of `core`: at the end of the synchronous run (`soon`), or after this turn of
 * the event loop (a backlog is in flight, so a few more items per wake-up beat latency).
 */
function schedule(core: ExecutorCore, soon: boolean): void {
  if (unflushed.size === 0) setBlockingHook(flushAll)
  unflushed.add(core)
  if (soon) {
    if (!microtaskQueued) {
      microtaskQueued = true
      queueMicrotask(flushFromMicrotask)
    }
  } else if (!immediateQueued) {
    immediateQueued = true
    setImmediate(flushFromImmediate)
  }
}

/** How an {@link ExecutorCore} is made. */
export interface ExecutorCoreOptions {
  readonly maxWorkers: number
  /** Starts worker `index` (a thread running `workerLoop`, or a process worker's stand-in). */
  readonly startWorker: (index: number) => void
  /** The class of this pool's broken error. */
  readonly broken: BrokenClass
  /**
   * Keep this thread's event loop alive while calls are in flight (ThreadPoolExecutor, like
   * CPython's exit handler; not ThreadPool, whose workers are daemon). @default true
   */
  readonly keepAlive?: boolean
  /** `running` slots per worker. @default 1 */
  readonly slotsPerWorker?: number
}

/**
 * Owner-side state of one pool: submits items, interns tasks, starts workers on demand through
 * `startWorker`, and stops them.
 */
export class ExecutorCore {
  readonly shared: PoolShared
  readonly #specs = new WeakMap<TaskSpec, number>()
  readonly #moduleSpecs = new Map<string, number>()
  readonly #specBlocks: number[] = []
  readonly #maxWorkers: number
  readonly #startWorker: (index: number) => void
  readonly #broken: BrokenClass
  readonly #slots: number
  #workers = 0
  #shutdown = false
  #deferred = 0
  #woke = false

  constructor(opts: ExecutorCoreOptions) {
    const { maxWorkers, startWorker, broken, keepAlive = true, slotsPerWorker = 1 } = opts
    // Like CPython's exit handler, a pool with calls in flight keeps its thread alive: checked
    // when the event loop runs dry, so it costs nothing per call.
    if (keepAlive) {
      if (keepAlivePools.size === 0) process.on('beforeExit', onBeforeExit)
      keepAlivePools.add(new WeakRef(this))
    }
    this.shared = {
      queue: new Queue<WorkItem | null>(),
      broken: new Event(),
      idle: new Semaphore(0),
      running: new Int32Array(new SharedArrayBuffer(4 * maxWorkers * slotsPerWorker)),
      outstanding: new Int32Array(new SharedArrayBuffer(4 * OUTSTANDING_WORDS)),
      reason: new Uint16Array(new SharedArrayBuffer(2 * (1 + REASON_CHARS))),
    }
    this.#maxWorkers = maxWorkers
    this.#startWorker = startWorker
    this.#broken = broken
    this.#slots = slotsPerWorker
  }

  /** The error for a call on a broken pool: repeats why it broke (as CPython does). */
  brokenError(): BrokenExecutor {
    return new this.#broken(breakReason(this.shared) ?? 'A worker of this pool died or its initializer failed; the pool cannot run new tasks')
  }

  /** Breaks the pool (see {@link breakPool}) with this pool's error class. */
  breakPool(why: string): void {
    breakPool(this.shared, why, this.#broken)
  }

  get isShutdown(): boolean {
    return this.#shutdown
  }

  /** The arena offset of `fn`'s task spec in this pool's table. */
  task(fn: unknown, what = 'fn'): number {
    const spec = toTaskSpec(fn, what)
    // toTaskSpec returns one spec object per function text; module specs are keyed by module and name.
    return spec.kind === 'source' ? this.#intern(this.#specs, spec, spec) : this.#intern(this.#moduleSpecs, `${spec.module}#${spec.name}`, spec)
  }

  #intern<K>(table: { get(k: K): number | undefined; set(k: K, at: number): unknown }, key: K, spec: TaskSpec): number {
    let at = table.get(key)
    if (at === undefined) {
      at = storeSpec(spec)
      table.set(key, at)
      this.#specBlocks.push(at)
    }
    return at
  }

  /**
   * Queues one item and returns its future. The item is in the queue at once; waking sleeping
   * workers is what costs (a futex wake per item when workers outpace the submitter). With few
   * calls in flight the first item of a synchronous run wakes one, and the rest of the run's
   * items wake workers in one go when the run ends (a microtask); with a backlog in flight
   * ({@link EAGER_BACKLOG}) no item wakes a worker at once: they wake workers after
   * {@link BATCH} items or after this turn of the event loop. Either way, before this thread
   * blocks in a Tandem wait. A worker that takes an item and sees more wakes the next (a chain),
   * so a burst spreads over the pool even while this thread is busy.
   * @throws {TypeError} `ERR_NOT_SHAREABLE` if the payload cannot be cloned (nothing queued)
   */
  submit<R>(task: number, mode: number, payload: unknown[]): Future<R> {
    const f = new Future<R>()
    const at = Future.cellOf(f as Future<unknown>).byteOffset
    const queue = this.shared.queue
    // The work item and its argument list are our own arrays: skip their named-property check.
    const staged = queue._stage([at, task, mode, payload], 2)
    retain(at)
    // With few calls in flight, the first item since the last wake-up wakes a worker (latency);
    // with a backlog, items wake workers BATCH at a time (throughput: waking a sleeping worker
    // is a futex call, and workers that outpace the submitter sleep between items; a submitter
    // that awaits each result in turn, with a backlog, used to wake one per item).
    const soon = Atomics.add(this.shared.outstanding, IN_FLIGHT, 1) < EAGER_BACKLOG
    // A polling worker that keeps up (the queue is empty) takes the item without a wake-up.
    const polled = Atomics.load(this.shared.outstanding, POLLER) !== 0 && queue.qsize() === 0
    const wake = this.#woke || polled || !soon ? 0 : 1
    try {
      queue._putStaged([staged], wake)
    } catch (err) {
      queue._dropStaged(staged)
      failItem(this.shared, [at, 0, 0, []], err)
      throw err
    }
    // Counted after the put: the put may block on the queue's mutex and so run the blocking
    // hook, which flushes (and zeroes the count) before this item is in the queue. An item
    // that woke a worker itself needs no later wake-up.
    if (wake === 1) {
      this.#woke = true
      schedule(this, true)
    } else if (polled && Atomics.load(this.shared.outstanding, POLLER) !== 0) {
      // Still polling after the put: the worker clears its flag before its last look at the
      // queue (see workerLoop), so it finds this item; nothing to flush. (Seen cleared now, it
      // may have looked before the put: the flush below wakes it.)
    } else if (++this.#deferred >= BATCH) {
      this.flush()
    } else {
      schedule(this, soon)
    }
    this.#adjustWorkers()
    return f
  }

  /** Resolves once no call is in flight, holding the event loop meanwhile. */
  async untilIdle(): Promise<void> {
    const out = this.shared.outstanding
    holdLoop()
    try {
      for (let n = Atomics.load(out, IN_FLIGHT); n > 0; n = Atomics.load(out, IN_FLIGHT)) {
        const r = Atomics.waitAsync(out, IN_FLIGHT, n)
        if (r.async) await r.value
      }
    } finally {
      releaseLoop()
    }
  }

  /** Wakes workers for the items queued without a wake-up. */
  flush(): void {
    this.#woke = false
    const n = this.#deferred
    if (n === 0) return
    this.#deferred = 0
    // A polling worker that keeps up (the queue holds at most the item just put) takes them, and
    // passes a wake-up on if it sees more (see submit). A backlog means it does not keep up (it
    // may have lost its core): wake sleepers.
    if (Atomics.load(this.shared.outstanding, POLLER) !== 0 && this.shared.queue.qsize() <= 1) return
    this.shared.queue._wake(n)
  }

  /** Starts every worker now (a process `Pool`, as CPython's, starts its workers when it is made). */
  startAll(): void {
    while (this.#workers < this.#maxWorkers) this.#startWorker(this.#workers++)
  }

  #adjustWorkers(): void {
    // An idle worker will take the item: no new worker (CPython's _idle_semaphore). (One try at a
    // permit: acquire({ blocking: false }) would also look for permits held by ended threads,
    // at every submit, and this semaphore's permits are never held by a thread.)
    if (this.shared.idle[TRY_ACQUIRE]()) return
    if (this.#workers >= this.#maxWorkers) return
    this.#startWorker(this.#workers++)
  }

  /** Stops accepting work; optionally cancels the queued items; tells the workers to stop. */
  shutdown(cancelFutures: boolean): void {
    const first = !this.#shutdown
    if (!first && !cancelFutures) return
    this.#shutdown = true
    this.flush()
    let sentinel = first
    if (cancelFutures) {
      for (;;) {
        let item: WorkItem | null
        try {
          item = this.shared.queue.getNowait()
        } catch {
          break
        }
        if (item === null) {
          sentinel = true // put back below, after the cancelled items are gone
          continue
        }
        // Cancelled and acknowledged at once: no worker will take it (unlike CPython, where such
        // a future never counts as done for wait()).
        const c = cellAt(item[0])
        cancelCell(c)
        try {
          startCell(c)
        } catch {}
        releaseCell(item[0])
        itemDone(this.shared)
      }
    }
    if (sentinel) this.shared.queue.put(null)
  }

  /**
   * Worker `index` (named `name`) has ended: seen by the `exit` event on this thread's event loop,
   * or by a blocked wait of this thread after a slice (`worker-liveness.ts`); both come, in either
   * order. If it died without running its exit handler (terminated from outside, out of memory),
   * fails the call it was running and breaks the pool. A clean end leaves nothing to do: through
   * the shutdown sentinel, or `process.exit()`/an uncaught error, whose exit handler failed its
   * call and broke the pool before the thread ended. Idempotent; it touches only shared memory
   * (the `running` slot is taken by one exchange) and reads this core's shutdown flag.
   */
  workerLost(index: number, name: string): void {
    const taken: number[] = []
    for (let k = index * this.#slots; k < (index + 1) * this.#slots; k++) {
      const at = Atomics.exchange(this.shared.running, k, 0)
      if (at !== 0) taken.push(at)
    }
    if (taken.length === 0 && (this.shared.broken.isSet() || this.#shutdown)) return
    const why = `Worker ${name} was terminated or ran out of memory (it ended without running its exit handlers); the pool is broken`
    for (const at of taken) {
      failTaken(cellAt(at), new this.#broken(why))
      releaseCell(at)
      itemDone(this.shared)
    }
    this.breakPool(why)
  }

  /** Frees the task table: call once every worker has exited. */
  freeTasks(): void {
    for (const at of this.#specBlocks.splice(0)) release(at)
  }
}
