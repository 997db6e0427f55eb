/**
 * The process-wide registry of SharedArrayBuffers that cross threads inside encoded bytes
 * (queue items, future outcomes, executor work items), where a SharedArrayBuffer itself cannot
 * travel: the bytes carry a numeric id, and every thread resolves the id to its own handle on
 * the same memory.
 *
 * - **Ids.** `threadId * 2^22 + n`, where `n` counts the buffers this thread registered: unique
 *   in the process without any shared counter. A buffer keeps the id it was first given (or
 *   received with) in this thread, so encoding it again costs one WeakMap look-up.
 * - **Handing buffers over.** Every thread that loads this module joins one `BroadcastChannel`.
 *   Registering a buffer posts `{ id, sab }` on it *before* the encoded bytes are published
 *   (a post enqueues the message in every member's port at once), so a receiver that finds an
 *   unknown id drains its port synchronously (`receiveMessageOnPort`) and finds the buffer:
 *   posting happens-before publishing the bytes, which happens-before the receiver reads them.
 * - **Threads started later.** A Tandem `Thread` receives a snapshot of its parent's table in
 *   its boot data ({@link sabSnapshot}); buffers registered afterwards reach it on the channel.
 * - **The gap.** A buffer registered by a third thread between the parent's snapshot and the
 *   moment the new worker joins the channel (its first milliseconds) reaches neither. A thread
 *   that cannot resolve an id then asks for it on the channel, and every thread that holds the
 *   buffer answers from its event loop; the asking thread waits up to {@link ASK_MS} and then
 *   throws `ERR_SHARED_BUFFER_UNAVAILABLE`. (Only a buffer first shared while the worker starts,
 *   by a thread other than its parent, held only by threads that stay blocked, hits this.)
 * - **Lifetime.** A registered buffer stays referenced by the table of every Tandem thread of the
 *   process until that thread exits (an id in transit must stay resolvable): share long-lived
 *   buffers, do not create one per item.
 *
 * State is per thread, kept on `globalThis` so that every copy of this module in a thread (for
 * example `src/` under tsx next to `dist/`) uses one table and one channel.
 *
 * @module
 */
import { BroadcastChannel, receiveMessageOnPort, threadId } from 'node:worker_threads'
import { boot } from './process-state.ts'

/** How long a thread asks the other threads for a buffer it cannot resolve. */
export const ASK_MS = 10_000

const CHANNEL = 'tandem.sharedArrayBuffers'
const PER_THREAD = 2 ** 22

type Message = { readonly id: number; readonly sab: SharedArrayBuffer } | { readonly want: number }

interface Registry {
  readonly byId: Map<number, SharedArrayBuffer>
  readonly idOf: WeakMap<SharedArrayBuffer, number>
  next: number
  channel: BroadcastChannel | undefined
}

const KEY = Symbol.for('tandem.sab.registry')
const state: Registry =
  ((globalThis as Record<symbol, unknown>)[KEY] as Registry | undefined) ??
  ((globalThis as Record<symbol, unknown>)[KEY] = { byId: new Map(), idOf: new WeakMap(), next: 0, channel: undefined } satisfies Registry)

function adopt(id: number, sab: SharedArrayBuffer): void {
  if (state.byId.has(id)) return
  state.byId.set(id, sab)
  if (!state.idOf.has(sab)) state.idOf.set(sab, id)
}

function onMessage(msg: Message): void {
  if (msg === null || typeof msg !== 'object') return
  if ('want' in msg) {
    const sab = state.byId.get(msg.want)
    if (sab !== undefined) state.channel!.postMessage({ id: msg.want, sab } satisfies Message)
  } else if (typeof msg.id === 'number' && msg.sab instanceof SharedArrayBuffer) {
    adopt(msg.id, msg.sab)
  }
}

function channel(): BroadcastChannel {
  let ch = state.channel
  if (ch === undefined) {
    ch = state.channel = new BroadcastChannel(CHANNEL)
    ch.onmessage = (e) => onMessage((e as MessageEvent).data as Message)
    // Answering requests must not keep a thread alive.
    ch.unref()
  }
  return ch
}

// Join at load (as early as possible: see "the gap"), and adopt the parent's table.
channel()
const inherited = (boot as { sabs?: [number, SharedArrayBuffer][] } | undefined)?.sabs
if (Array.isArray(inherited)) for (const [id, sab] of inherited) adopt(id, sab)

/** Takes every message already queued on this thread's port. */
function drain(): void {
  const ch = channel()
  for (let m = receiveMessageOnPort(ch as never); m !== undefined; m = receiveMessageOnPort(ch as never)) {
    onMessage(m.message as Message)
  }
}

/**
 * The id of `sab`, registering it (and handing it to every other thread) on first use.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` once a thread has registered 2^22 buffers
 */
export function sabId(sab: SharedArrayBuffer): number {
  let id = state.idOf.get(sab)
  if (id !== undefined) return id
  if (state.next >= PER_THREAD) {
    const err = new RangeError(
      `This thread has shared ${PER_THREAD} distinct SharedArrayBuffers through encoded values; share long-lived buffers instead of one per item`,
    ) as RangeError & { code: string }
    err.code = 'ERR_OUT_OF_RANGE'
    throw err
  }
  id = threadId * PER_THREAD + state.next++
  state.byId.set(id, sab)
  state.idOf.set(sab, id)
  // Posted before the caller publishes the bytes that name `id` (see the module comment).
  channel().postMessage({ id, sab } satisfies Message)
  return id
}

const nap = new Int32Array(new SharedArrayBuffer(4))

/**
 * The buffer registered under `id`, from this thread's table, its queued messages, or (see
 * "the gap") by asking the other threads.
 * @throws {Error} `ERR_SHARED_BUFFER_UNAVAILABLE` if no thread hands it over within {@link ASK_MS}
 */
export function sabById(id: number): SharedArrayBuffer {
  let sab = state.byId.get(id)
  if (sab !== undefined) return sab
  drain()
  sab = state.byId.get(id)
  if (sab !== undefined) return sab
  channel().postMessage({ want: id } satisfies Message)
  const deadline = Date.now() + ASK_MS
  for (let ms = 1; ; ms = Math.min(ms * 2, 50)) {
    Atomics.wait(nap, 0, 0, ms)
    drain()
    sab = state.byId.get(id)
    if (sab !== undefined) return sab
    if (Date.now() >= deadline) break
  }
  const err = new Error(
    `A SharedArrayBuffer (id ${id}) arrived by reference, but no thread of this process handed it over within ${ASK_MS} ms ` +
      '(it was first shared while this thread was starting, and every thread holding it stayed blocked). ' +
      'Pass it to this thread once in Thread args or initargs, or share it before starting the thread',
  ) as Error & { code: string }
  err.code = 'ERR_SHARED_BUFFER_UNAVAILABLE'
  throw err
}

/** This thread's table, for a Thread about to start (its boot data carries it). */
export function sabSnapshot(): [number, SharedArrayBuffer][] {
  drain()
  return [...state.byId]
}
