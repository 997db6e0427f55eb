/**
 * The user side of this process's I/O thread (`hub.ts`): starting it, and the command queue every
 * thread of the process uses to reach it.
 *
 * The I/O thread is a daemon Tandem `Thread` started by the main thread the first time the
 * process needs to talk to another process (a `Process.start()`, an end sent to a process), and
 * at boot in every child process. Its command queue is a `@tandem/queue` Queue; the queue's
 * shareable encoding is written as JSON into an arena block whose offset is published in word
 * `IPC_HUB` of the process-wide block, so any thread of the process can revive a handle on it.
 *
 * At exit (natural or `process.exit()`), the main thread waits for the non-daemon children (word
 * `IPC_NONDAEMON`, kept by the I/O thread) as Python does, then lets the I/O thread hand every
 * message still queued for another process to the kernel.
 *
 * @module
 */
import { isMainThread } from 'node:worker_threads'
import { codedError } from '@tandem/sync/errors'
import { WORKER_OPTIONS, alloc, arenaBuffer, IPC_HUB, IPC_NEXT_ID, IPC_NONDAEMON, newCell, processState, retain, shareCell, type CellRef } from '@tandem/sync/kit'
import { decode, encode } from '@tandem/sync/shareable'
import { deserializeError, moduleRef, type SerializedError } from '@tandem/sync/task'
import { Thread } from '@tandem/sync/thread'
import { Queue } from '@tandem/queue/queue'
import type { Connection } from '../pipe.ts'
import { makeDirectory, useDirectory } from './direct.ts'

/** What the I/O thread is asked to do. */
export type Command =
  | { op: 'export'; id: number; end: Connection }
  | { op: 'import'; home: number; id: number; end: Connection }
  | { op: 'want'; home: number; id: number }
  | { op: 'spawn'; control: CellRef; boot: Uint8Array; daemon: boolean; name: string; execArgv: string[]; entry: string; exports: number[] }
  | { op: 'flush'; done: CellRef }
  | { op: 'qreq'; home: number; qid: number; rid: number; kind: string; args: unknown; bytes: Uint8Array | null; tag: number; value: number; reply: Queue<unknown> | null }
  | { op: 'qcancel'; home: number; rid: number }
  | { op: 'qexport'; qid: number; queue: unknown }
  | { op: 'qstream'; home: number; qid: number; out: Queue<unknown> }
  | { op: 'listen'; lid: number; address: string | { host: string; port: number }; authkey: Uint8Array | null; backlog: number; rid: number; reply: Queue<unknown> }
  | { op: 'accept'; lid: number; rid: number; reply: Queue<unknown> }
  | { op: 'unlisten'; lid: number }
  | { op: 'connect'; address: string | { host: string; port: number }; authkey: Uint8Array | null; rid: number; reply: Queue<unknown> }
  | { op: 'cancel'; rid: number }

/** How the I/O thread starts. */
export interface HubBoot {
  /** In a child: true (the channel to the parent is on descriptors 3, 4 and 5, see `channel.ts`). */
  readonly child?: boolean
  /** In a child: the queue on which the I/O thread puts the boot record when it arrives. */
  readonly bootQueue?: Queue<Uint8Array>
  /** Arena offset of the channel directory (`direct.ts`). */
  readonly directory?: number
}

// One per thread, shared by every copy of this module the thread may load (an ES module import
// and a require() fallback of the shareable decoder can each load one under tsx).
const GLOBAL_KEY = Symbol.for('tandem.ipc.hub')
const slot = ((globalThis as Record<symbol, unknown>)[GLOBAL_KEY] ??= { commands: undefined }) as { commands: Queue<Command> | undefined }
let commands: Queue<Command> | undefined = slot.commands
let hubThread: Thread | undefined

const HUB_URL = new URL(`./hub${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href

/** This process's id, as other processes address it. */
export function myPid(): number {
  return process.pid
}

/** A fresh id, unique in this process (exported ends, requests). */
export function nextId(): number {
  return (Atomics.add(processState, IPC_NEXT_ID, 1) + 1) >>> 0
}

/** The I/O thread's command queue, starting the I/O thread if this is the main thread. */
export function hub(): Queue<Command> {
  commands ??= slot.commands
  if (commands !== undefined) return commands
  const at = Atomics.load(processState, IPC_HUB)
  if (at !== 0) {
    commands = slot.commands ??= readAddress(at)
    return commands
  }
  if (!isMainThread) {
    throw codedError(
      "This process's ipc I/O thread is not running, and only the main thread can start it: start a Process, or create the process pool or manager, on the main thread first",
      'ERR_IPC_NOT_STARTED',
    )
  }
  startHub({})
  return commands!
}

/**
 * Makes sure this process's I/O thread runs: starts it on the main thread; elsewhere, throws
 * `ERR_IPC_NOT_STARTED` unless the main thread has started it.
 */
export function ensureIoThread(): void {
  hub()
}

/** Starts the I/O thread (main thread only, once). */
export function startHub(boot: HubBoot): void {
  if (Atomics.load(processState, IPC_HUB) !== 0) return
  const q = new Queue<Command>()
  const dir = makeDirectory()
  boot = { ...boot, directory: dir }
  // The I/O thread opens and closes the descriptors of the channels to children, which belong to
  // the process (Node would warn about them, and close them when the thread ends).
  hubThread = new Thread({
    target: moduleRef(HUB_URL, 'runHub'),
    args: [q, boot],
    daemon: true,
    name: 'ipc-io',
    [WORKER_OPTIONS]: { trackUnmanagedFds: false },
  } as ConstructorParameters<typeof Thread>[0])
  hubThread.start()
  const json = new TextEncoder().encode(JSON.stringify(encode(q, 'thread').value))
  const at = alloc(json.length + 8)
  new DataView(arenaBuffer()).setInt32(at, json.length, true)
  new DataView(arenaBuffer()).setInt32(at + 4, dir, true)
  new Uint8Array(arenaBuffer(), at + 8, json.length).set(json)
  commands = slot.commands = q
  Atomics.store(processState, IPC_HUB, at)
  installExitHooks()
}

/**
 * The I/O thread's address block: [i32 length of the JSON][i32 offset of the channel directory
 * (`direct.ts`)][the command queue's shareable encoding as JSON].
 */
function readAddress(at: number): Queue<Command> {
  const view = new DataView(arenaBuffer())
  const len = view.getInt32(at, true)
  useDirectory(view.getInt32(at + 4, true))
  const text = new TextDecoder().decode(new Uint8Array(arenaBuffer(), at + 8, len).slice())
  const data: unknown = JSON.parse(text)
  // The stored encoding carries one transit reference per block, and every thread that reads it
  // adopts references (given back when the thread ends): each reader adds its own first, so the
  // stored ones stay for the next reader (else the blocks are released once per thread that
  // ever read them, and freed while the I/O thread still uses them).
  for (const ref of cellRefs(data)) retain(ref)
  return decode(data) as Queue<Command>
}

/** The arena offsets of every cell reference (`{ a, at, n }`) in encoded data. */
function cellRefs(v: unknown, out: number[] = []): number[] {
  if (Array.isArray(v)) for (const x of v) cellRefs(x, out)
  else if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    if (typeof o.a === 'number' && typeof o.at === 'number' && typeof o.n === 'number') out.push(o.at)
    else for (const x of Object.values(o)) cellRefs(x, out)
  }
  return out
}

let directoryReady = false

/** Makes this thread able to use channels directly (`direct.ts`), once the I/O thread runs. */
export function directReady(): boolean {
  if (directoryReady) return true
  const at = Atomics.load(processState, IPC_HUB)
  if (at === 0) return false
  useDirectory(new DataView(arenaBuffer()).getInt32(at + 4, true))
  directoryReady = true
  return true
}

/** True once the I/O thread runs in this process. */
export function hubRunning(): boolean {
  return Atomics.load(processState, IPC_HUB) !== 0
}

/** Registers an end being sent to another process; returns its export id. */
export function exportEnd(end: Connection): number {
  const id = nextId()
  hub().put({ op: 'export', id, end })
  collected?.push(id)
  return id
}

let collected: number[] | undefined

/**
 * Runs `encode` (a child's boot record) and returns what it returns with the ids of the ends it
 * exported: they are the child's, before it has attached to them, so that its death ends them
 * even if it dies before (the peer sees EOF instead of waiting for a process that is gone).
 */
export function withExports<T>(encode: () => T): { value: T; exports: number[] } {
  const outer = collected
  const mine: number[] = []
  collected = mine
  try {
    return { value: encode(), exports: mine }
  } finally {
    collected = outer
  }
}

/** Connects `end` (the far end of a new local pair) to end `id` exported by process `home`. */
export function importEnd(home: number, id: number, end: Connection): void {
  hub().put({ op: 'import', home, id, end })
}

/** The end imported from export `id` of process `home` is read here: asks `home` to forward to it. */
export function wantEnd(home: number, id: number): void {
  hub().put({ op: 'want', home, id })
}

/**
 * Waits (blocking, up to `timeoutMs`) until the I/O thread has handed every message queued so far
 * for another process to the kernel.
 */
export function flushHub(timeoutMs: number): boolean {
  if (!hubRunning()) return true
  const done = newCell({}, 1)
  hub().put({ op: 'flush', done: shareCell(done) })
  return Atomics.wait(done, 0, 0, timeoutMs) !== 'timed-out'
}

/** An answer of the I/O thread to a request of one thread (`rid` says which). */
export interface HubReply {
  readonly rid: number
  readonly ok: boolean
  readonly value?: unknown
  readonly error?: SerializedError
  readonly raw?: { tag: number; value: number; bytes: Uint8Array | undefined }
}

let blockingReplies: Queue<HubReply> | undefined
let asyncReplies: Queue<HubReply> | undefined

/**
 * This thread's queue for the I/O thread's answers: one for blocking requests, one for async ones
 * (a thread must not wait on one queue both blocking and async: a wake-up handed to its async
 * waiter could not be used while the thread blocks).
 */
export function replyQueue(async: boolean): Queue<HubReply> {
  if (async) return (asyncReplies ??= new Queue<HubReply>())
  return (blockingReplies ??= new Queue<HubReply>())
}

// Answers for this thread's async requests, by rid; the blocking and async waits of one thread
// share one reply queue, so whoever takes an answer hands it to its owner.
const asyncWaiters = new Map<number, (reply: HubReply) => void>()
let pump: AbortController | undefined

function deliver(reply: HubReply): void {
  const w = asyncWaiters.get(reply.rid)
  if (w === undefined) return // the answer to an abandoned request
  asyncWaiters.delete(reply.rid)
  w(reply)
}

/** Takes answers for async waiters while there are any. */
async function runPump(): Promise<void> {
  const q = replyQueue(true)
  const ctl = new AbortController()
  pump = ctl
  try {
    while (asyncWaiters.size > 0) {
      let reply: HubReply
      try {
        reply = await q.getAsync({ signal: ctl.signal })
      } catch {
        return
      }
      deliver(reply)
    }
  } finally {
    if (pump === ctl) pump = undefined
  }
}

/** Waits (blocking) for the answer to blocking request `rid`. */
export function awaitReply(rid: number): HubReply {
  const q = replyQueue(false)
  for (;;) {
    const r = q.get()
    if (r.rid === rid) return r
    // Otherwise the answer to an earlier blocking request that was abandoned: dropped.
  }
}

/** Async form of {@link awaitReply}; on abort calls `onAbort` and still waits for the final answer. */
export async function awaitReplyAsync(rid: number, signal: AbortSignal | undefined, onAbort: () => void): Promise<HubReply> {
  const answered = new Promise<HubReply>((resolve) => asyncWaiters.set(rid, resolve))
  if (pump === undefined) void runPump()
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    return await answered
  } finally {
    signal?.removeEventListener('abort', onAbort)
    if (asyncWaiters.size === 0) pump?.abort()
  }
}

/** The value of an answer, or its error thrown. */
export function unwrapReply(reply: HubReply): unknown {
  if (reply.ok) return reply.value
  throw deserializeError(reply.error!)
}

let hooked = false

function installExitHooks(): void {
  if (hooked || !isMainThread) return
  hooked = true
  // Natural exit: as Python's atexit, wait for non-daemon children (they keep us alive).
  let waiting = false
  process.on('beforeExit', () => {
    if (waiting) return
    if (Atomics.load(processState, IPC_NONDAEMON) > 0) {
      waiting = true
      const check = (): void => {
        if (Atomics.load(processState, IPC_NONDAEMON) > 0) setTimeout(check, 20)
        else waiting = false
      }
      setTimeout(check, 20)
      return
    }
    flushHub(5000)
  })
  // process.exit(): the same, blocking (the I/O thread still runs while exit handlers do).
  process.on('exit', () => {
    for (;;) {
      const n = Atomics.load(processState, IPC_NONDAEMON)
      if (n <= 0) break
      Atomics.wait(processState, IPC_NONDAEMON, n, 200)
    }
    flushHub(5000)
  })
}
