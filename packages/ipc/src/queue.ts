/**
 * Process queues: Python's `multiprocessing.Queue`, `JoinableQueue` and `SimpleQueue`, usable from
 * every thread of every process in the tree.
 *
 * A queue lives in the process that created it (its home), as a `@tandem/queue` Queue whose items
 * are encoded for a process (so a shared-memory object in an item throws `ERR_NOT_SHAREABLE` at
 * `put`, in any process). Threads of the home use that queue directly, at shared-memory speed.
 * Sent to another process (in a Process's args, a message, another queue's item), a queue arrives
 * as a remote handle whose operations are requests to the home's I/O thread
 * (`internal/queue-server.ts`): a blocking `get` waits there, with its timeout; a `put` on an
 * unbounded queue does not wait for an answer (Python's feeder thread does the same), so a
 * producer is not slowed by the round trip.
 *
 * If the home process dies, operations elsewhere throw `ProcessLostError` (`ERR_PROCESS_LOST`),
 * waiting ones included, within about a second. A consumer process that dies while it waits in
 * `get` takes no item with it. `close()` is per process, as in Python: this process puts no more.
 *
 * @module
 */
import { codedError, TimeoutError } from '@tandem/sync/errors'
import { asyncOptions, checkTimeout, describe, type AsyncWaitOptions } from '@tandem/sync/kit'
import { registerShareable, SHARE, type ShareContext } from '@tandem/sync/shareable'
import type { GetOptions, PutOptions } from '@tandem/queue/queue'
import { QueueEmpty, QueueFull } from '@tandem/queue/errors'
import { decodeItem, encodeItem, type EncodedItem } from '@tandem/queue/kit'
import { Queue as LocalQueue } from '@tandem/queue/queue'
import { ProcessLostError } from './errors.ts'
import { awaitReply, awaitReplyAsync as awaitHubReply, hub, myPid, nextId, replyQueue, unwrapReply } from './internal/hub-client.ts'
import type { Reply, ReqHeader } from './internal/queue-server.ts'

interface Home {
  readonly q: LocalQueue<unknown>
}

interface Remote {
  readonly home: number
  readonly qid: number
  readonly maxsize: number
}

let reviving: { home?: Home; remote?: Remote; qid: number } | undefined

/** Sends a request to the queue's home; `answer`: false (no answer wanted), 'sync' or 'async' (which reply queue). */
function request(r: Remote, h: ReqHeader, item: { tag: number; value: number; bytes: Uint8Array | undefined } | undefined, answer: false | 'sync' | 'async'): number {
  const rid = answer === false ? 0 : nextId() || nextId()
  const reply = answer === false ? null : replyQueue(answer === 'async')
  hub().put({ op: 'qreq', home: r.home, qid: r.qid, rid, kind: h.kind, args: h, bytes: item?.bytes ?? null, tag: item?.tag ?? 0, value: item?.value ?? 0, reply })
  return rid
}

function settle(reply: Reply): unknown {
  if (reply.ok && reply.raw !== undefined) return decodeItem(reply.raw.tag, reply.raw.value, reply.raw.bytes)
  return unwrapReply(reply)
}

function awaitReplyAsync(r: Remote, rid: number, signal: AbortSignal | undefined): Promise<Reply> {
  return awaitHubReply(rid, signal, () => void hub().put({ op: 'qcancel', home: r.home, rid }))
}

/** Options of {@link Queue.put} and {@link Queue.get}: Python's `block` and `timeout`. */
export type { GetOptions, PutOptions }

/**
 * A FIFO queue shared by processes (Python's `multiprocessing.Queue`): `put`/`get` with `block` and
 * `timeout`, the nowait forms, `putAsync`/`getAsync` with `{ timeout?, signal? }`, `qsize`,
 * `empty`, `full`, `close`. Items are any structured-cloneable values; connections and process
 * queues inside arrive as working handles.
 * @example A producer process and the main process as consumer
 * ```ts
 * import { Process } from '@tandem/ipc/process'
 * import { Queue } from '@tandem/ipc/queue'
 *
 * const q = new Queue<number | null>()
 * const p = new Process({
 *   target: (q: Queue<number | null>) => {
 *     for (let i = 1; i <= 3; i++) q.put(i * i)
 *     q.put(null)
 *   },
 *   args: [q],
 * })
 * p.start()
 * const got: number[] = []
 * for (let x = q.get(); x !== null; x = q.get()) got.push(x)
 * p.join()
 * console.log(got) // [ 1, 4, 9 ]
 * ```
 */
export class Queue<T = unknown> {
  /** Shareable kind name. */
  static readonly shareKind: string = 'tandem.ipc.Queue'
  readonly #home: Home | undefined
  readonly #remote: Remote | undefined
  readonly #qid: number
  #closed = false
  /**
   * Whether remote puts may stream (no answer, batched). Not for JoinableQueue: its `join()` must
   * not overtake this thread's puts on their way.
   */
  get #streams(): boolean {
    return !(this instanceof JoinableQueue)
  }

  /** @param maxsize 0 (default) for an unbounded queue */
  constructor(maxsize = 0) {
    if (reviving !== undefined) {
      this.#home = reviving.home
      this.#remote = reviving.remote
      this.#qid = reviving.qid
      return
    }
    this.#home = { q: new LocalQueue<unknown>(maxsize) }
    this.#qid = nextId()
  }

  /** Display name for errors. */
  protected get kindName(): string {
    return 'Queue'
  }

  /** Maximum number of items; 0 means unbounded. */
  get maxsize(): number {
    return this.#home?.q.maxsize ?? this.#remote!.maxsize
  }

  #open(what: string): void {
    if (this.#closed) throw codedError(`${this.kindName}.${what}(): the queue is closed in this process`, 'ERR_QUEUE_CLOSED')
  }

  /**
   * Puts an item, waiting for room in a bounded queue.
   * @param opts `block` (default true) and `timeout` in ms
   * @throws {QueueFull} `ERR_QUEUE_FULL` if there is no room in time
   * @throws {TypeError} `ERR_NOT_SHAREABLE` for a function or a shared-memory object in the item
   */
  put(item: T, opts?: PutOptions): void {
    this.#open('put')
    if (this.#home !== undefined) {
      this.#home.q._putFor(item, opts, 'process')
      return
    }
    const r = this.#remote!
    const { block, timeout } = blockOptions(opts)
    const enc = this.#putUnbounded(r, item)
    if (enc === undefined) return
    const reply = awaitReply(request(r, { kind: 'put', block, timeout }, enc, 'sync'))
    if (!reply.ok && reply.error?.name === 'QueueFull') throw new QueueFull(item, `${this.kindName}.put(): the queue is full (maxsize ${r.maxsize})`)
    settle(reply)
  }

  /**
   * A remote put that needs no answer (an unbounded queue: it cannot wait or fail for lack of
   * room) is done here and returns undefined; otherwise returns the item encoded for a request.
   */
  #putUnbounded(r: Remote, item: T): EncodedItem | undefined {
    if (r.maxsize === 0) {
      checkHome(r, this.kindName)
      if (this.#streams) {
        streamPut(r, item, this.kindName)
        return undefined
      }
    }
    const enc = encodeItem(item, { tag: 0, value: 0, bytes: undefined }, 0, 'process')
    if (r.maxsize !== 0) return enc
    request(r, { kind: 'put' }, enc, false)
    return undefined
  }

  /** `put(item, { block: false })`. */
  putNowait(item: T): void {
    this.put(item, { block: false })
  }

  /** Async form of {@link put}; `{ timeout?, signal? }`. */
  async putAsync(item: T, opts?: number | AsyncWaitOptions): Promise<void> {
    this.#open('putAsync')
    if (this.#home !== undefined) return this.#home.q._putAsyncFor(item, opts, 'process')
    const { timeout, signal } = asyncOptions(opts)
    if (signal?.aborted) throw signal.reason
    const r = this.#remote!
    const enc = this.#putUnbounded(r, item)
    if (enc === undefined) return
    const reply = await awaitReplyAsync(r, request(r, { kind: 'put', block: true, timeout }, enc, 'async'), signal)
    if (!reply.ok && reply.error?.name === 'AbortError') throw signal!.reason
    if (!reply.ok && reply.error?.name === 'QueueFull') throw new QueueFull(item, `${this.kindName}.putAsync(): the queue is full (maxsize ${r.maxsize})`)
    settle(reply)
  }

  /**
   * Removes and returns the next item, waiting for one.
   * @param opts `block` (default true) and `timeout` in ms
   * @throws {QueueEmpty} `ERR_QUEUE_EMPTY` if no item arrives in time
   * @throws {ProcessLostError} `ERR_PROCESS_LOST` if the queue's home process died
   */
  get(opts?: GetOptions): T {
    this.#open('get')
    if (this.#home !== undefined) return this.#home.q.get(opts) as T
    const { block, timeout } = blockOptions(opts)
    return settle(awaitReply(request(this.#remote!, { kind: 'get', block, timeout }, undefined, 'sync'))) as T
  }

  /** `get({ block: false })`. */
  getNowait(): T {
    return this.get({ block: false })
  }

  /**
   * Async form of {@link get}: `{ timeout?, signal? }`. An aborted get takes no item (unless the
   * item was already on its way, then it resolves with it).
   */
  async getAsync(opts?: number | AsyncWaitOptions): Promise<T> {
    this.#open('getAsync')
    if (this.#home !== undefined) return (await this.#home.q.getAsync(opts)) as T
    const { timeout, signal } = asyncOptions(opts)
    if (signal?.aborted) throw signal.reason
    const r = this.#remote!
    const reply = await awaitReplyAsync(r, request(r, { kind: 'get', block: true, timeout }, undefined, 'async'), signal)
    if (!reply.ok && reply.error?.name === 'AbortError') throw signal!.reason
    return settle(reply) as T
  }

  #ask(kind: ReqHeader['kind']): unknown {
    return settle(awaitReply(request(this.#remote!, { kind }, undefined, 'sync')))
  }

  /** Approximate number of items. */
  qsize(): number {
    return this.#home !== undefined ? this.#home.q.qsize() : (this.#ask('qsize') as number)
  }

  /** True if the queue is empty (a snapshot). */
  empty(): boolean {
    return this.#home !== undefined ? this.#home.q.empty() : (this.#ask('empty') as boolean)
  }

  /** True if the queue is bounded and full (a snapshot). */
  full(): boolean {
    return this.#home !== undefined ? this.#home.q.full() : (this.#ask('full') as boolean)
  }

  /** Closes the queue in this process (Python's `close()`): later puts and gets here throw `ERR_QUEUE_CLOSED`. */
  close(): void {
    this.#closed = true
  }

  /** @internal For JoinableQueue. */
  protected _taskDone(): void {
    if (this.#home !== undefined) this.#home.q.taskDone()
    else this.#ask('taskDone')
  }

  /** @internal For JoinableQueue. */
  protected _join(timeout: number): boolean {
    if (this.#home !== undefined) return this.#home.q.join(timeout)
    return settle(awaitReply(request(this.#remote!, { kind: 'join', timeout }, undefined, 'sync'))) as boolean
  }

  /** @internal For JoinableQueue. */
  protected async _joinAsync(opts?: number | AsyncWaitOptions): Promise<boolean> {
    if (this.#home !== undefined) return this.#home.q.joinAsync(opts)
    const { timeout, signal } = asyncOptions(opts)
    const r = this.#remote!
    const reply = await awaitReplyAsync(r, request(r, { kind: 'join', timeout }, undefined, 'async'), signal)
    if (!reply.ok && reply.error?.name === 'AbortError') throw signal!.reason
    return settle(reply) as boolean
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    if (this.#home !== undefined) {
      if (ctx.target === 'thread') return { home: myPid(), qid: this.#qid, maxsize: this.maxsize, local: ctx.encode(this.#home.q) }
      hub().put({ op: 'qexport', qid: this.#qid, queue: this.#home.q })
      return { home: myPid(), qid: this.#qid, maxsize: this.maxsize }
    }
    return { ...this.#remote! }
  }

  /** @internal */
  static _revive<Q>(this: new () => Q, d: Remote & { local?: LocalQueue<unknown> }): Q {
    reviving = d.local !== undefined ? { home: { q: d.local }, qid: d.qid } : { remote: { home: d.home, qid: d.qid, maxsize: d.maxsize }, qid: d.qid }
    try {
      return new this()
    } finally {
      reviving = undefined
    }
  }
}

// This thread's streams of puts to remote unbounded queues, by `${home}:${qid}`: a local queue of
// encoded items that this process's I/O thread forwards to the home as they come (batched), so a
// producer pays a shared-memory put per item, not a request.
const streams = new Map<string, LocalQueue<unknown>>()

function streamPut(r: Remote, item: unknown, kind: string): void {
  const key = `${r.home}:${r.qid}`
  let out = streams.get(key)
  if (out === undefined) {
    out = new LocalQueue<unknown>()
    hub().put({ op: 'qstream', home: r.home, qid: r.qid, out })
    streams.set(key, out)
  }
  try {
    out._putFor(item, undefined, 'process')
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_QUEUE_SHUT_DOWN') throw new ProcessLostError(`${kind}.put(): the process ${r.home} that holds this queue has exited`)
    throw err
  }
}

/** How often (ms) a put that does not wait for an answer checks that the home still runs. */
const HOME_CHECK_MS = 20
/** When each home was last found running (a check is a system call: not one per put). */
const homeSeen = new Map<number, number>()

/**
 * A put that does not wait for an answer first checks that the home still runs (at most every
 * {@link HOME_CHECK_MS}; a put in between to a home that has just died is lost with it, and the
 * next ones throw once this process learns of the death).
 */
function checkHome(r: Remote, kind: string): void {
  const now = performance.now()
  const seen = homeSeen.get(r.home)
  if (seen !== undefined && now - seen < HOME_CHECK_MS) return
  try {
    process.kill(r.home, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
      homeSeen.delete(r.home)
      throw new ProcessLostError(`${kind}.put(): the process ${r.home} that holds this queue has exited`)
    }
  }
  homeSeen.set(r.home, now)
}

function blockOptions(opts: PutOptions | GetOptions | undefined): { block: boolean; timeout: number } {
  if (opts === undefined) return { block: true, timeout: Infinity }
  if (typeof opts !== 'object' || opts === null) throw new TypeError(`options must be an object { block?, timeout? }; received ${describe(opts)}`)
  return { block: opts.block === undefined ? true : Boolean(opts.block), timeout: checkTimeout(opts.timeout) }
}

/**
 * A process queue with task tracking (Python's `multiprocessing.JoinableQueue`): `taskDone()` after
 * each item got, and `join()` waits until every item put has been marked done.
 * @example
 * ```ts
 * import { Process } from '@tandem/ipc/process'
 * import { JoinableQueue } from '@tandem/ipc/queue'
 *
 * const q = new JoinableQueue<string>()
 * const worker = new Process({
 *   target: (q: JoinableQueue<string>) => {
 *     for (;;) {
 *       const job = q.get()
 *       console.log('done', job)
 *       q.taskDone()
 *     }
 *   },
 *   args: [q],
 *   daemon: true,
 * })
 * worker.start()
 * q.put('a')
 * q.put('b')
 * q.join() // done a, done b
 * console.log('all done') // all done
 * worker.terminate()
 * ```
 */
export class JoinableQueue<T = unknown> extends Queue<T> {
  static override readonly shareKind: string = 'tandem.ipc.JoinableQueue'

  protected override get kindName(): string {
    return 'JoinableQueue'
  }

  /** Marks one got item as processed. @throws {RangeError} `ERR_TASK_DONE_TOO_MANY` */
  taskDone(): void {
    this._taskDone()
  }

  /** Waits until every item put has been marked done; false if `timeout` ms passed first. */
  join(timeout?: number): boolean {
    return this._join(checkTimeout(timeout))
  }

  /** Async form of {@link join}. */
  joinAsync(opts?: number | AsyncWaitOptions): Promise<boolean> {
    return this._joinAsync(opts)
  }
}

/**
 * An unbounded process queue with only `put`, `get`, `empty` and `close` (Python's
 * `multiprocessing.SimpleQueue`), plus the async forms.
 * @example
 * ```ts
 * import { SimpleQueue } from '@tandem/ipc/queue'
 *
 * const q = new SimpleQueue<string>()
 * q.put('x')
 * console.log(q.empty(), q.get(), q.empty()) // false x true
 * ```
 */
export class SimpleQueue<T = unknown> {
  /** Shareable kind name. */
  static readonly shareKind = 'tandem.ipc.SimpleQueue'
  readonly #q: Queue<T>

  constructor() {
    this.#q = (simpleReviving as Queue<T> | undefined) ?? new Queue<T>()
  }

  /** Puts an item (never waits). */
  put(item: T): void {
    this.#q.put(item)
  }

  /** Async form of `put`. */
  putAsync(item: T): Promise<void> {
    return this.#q.putAsync(item)
  }

  /** Removes and returns the next item, waiting for one. */
  get(): T {
    return this.#q.get()
  }

  /** Async form of `get`: `{ timeout?, signal? }`. */
  getAsync(opts?: number | AsyncWaitOptions): Promise<T> {
    return this.#q.getAsync(opts)
  }

  /** True if the queue is empty (a snapshot). */
  empty(): boolean {
    return this.#q.empty()
  }

  /** This process will put no more items. */
  close(): void {
    this.#q.close()
  }

  /** @internal */
  [SHARE](ctx: ShareContext): unknown {
    return ctx.encode(this.#q)
  }
}

let simpleReviving: Queue<unknown> | undefined

registerShareable(Queue.shareKind, import.meta.url, (d) => Queue._revive(d))
registerShareable(JoinableQueue.shareKind, import.meta.url, (d) => JoinableQueue._revive(d))
registerShareable(SimpleQueue.shareKind, import.meta.url, (q: Queue<unknown>) => {
  simpleReviving = q
  try {
    return new SimpleQueue()
  } finally {
    simpleReviving = undefined
  }
})

// Keep the names of the errors a process queue throws next to it.
export { QueueEmpty, QueueFull, TimeoutError }
