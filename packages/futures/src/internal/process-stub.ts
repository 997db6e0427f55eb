/**
 * The process transport of the executor core: each worker of a process pool is a child process
 * (`process-worker.ts`) and, in the pool's process, a Tandem Thread that stands in for it
 * (`processStubLoop`, the target of `startProcessWorker`). To the core the stand-in is a worker
 * like a thread pool's: it takes work items from the pool's shared queue, marks their futures
 * running, and completes them; only it runs them in its child, over one `Connection`, with calls
 * sent ahead so that the child never waits for the next one: about {@link AHEAD_MS} of work by
 * the recent calls' times, at most {@link WINDOW} calls, and only calls of tasks that have been
 * quick so far ({@link QUICK_MS}), behind quick ones. A call of a task that is long, or not known
 * yet, goes alone: as in CPython, it never holds up another call while a worker is free, and two
 * calls that wait for each other cannot end up queued one behind the other. Calls sent ahead
 * hold at most {@link AHEAD_BYTES} (a write to a full pipe waits for the child). A call whose
 * arguments are plain data goes to the child as the bytes the submitter put in the pool's queue
 * (see `Call`), and the stand-in reads its child's answers from the channel itself, as a main
 * thread does (`readChannelsHere`): neither is decoded and encoded again, nor passes through the
 * I/O thread. The futures live in this process's shared memory, so a thread blocked in
 * `result()` (the main thread included) is woken by the stand-in, without its own event loop
 * running.
 *
 * A child that dies (exits, is killed, runs out of memory) or whose initializer throws breaks
 * the pool at once: the calls sent to it and every queued call fail with `BrokenProcessPool`
 * naming the worker, its pid and how it ended (CPython's `test_deadlock` cases); the stand-in
 * learns it from the connection (EOF) while calls are out, and by looking at the child every
 * {@link IDLE_CHECK_MS} while it waits for work. A stand-in thread that dies itself is noticed as
 * a thread pool's worker is (`worker-liveness.ts`): its `running` slots and the RUNNER word of
 * the calls it sent.
 *
 * A process `Pool`'s stand-in (`replace`) does not break the pool when its child dies: the call
 * the child was running fails with `WorkerLostError`, the calls sent ahead of it go to a new
 * child, and the worker goes on (CPython's `Pool` replaces the worker too, but waits for that
 * call forever). A child that dies while idle is replaced. After `Pool.terminate()` (the TERMINATED
 * word of `control`, and the pool's process kills the children whose pids it finds there) the
 * calls out fail with `CancelledError` and the stand-in ends.
 *
 * `maxTasksPerChild`: after that many calls the stand-in lets its child finish, ends it, and
 * starts a new one (with the initializer again) before it takes more work.
 *
 * @module
 */
import { readChannelsHere } from '@tandem/ipc/kit'
import { Pipe, type Connection } from '@tandem/ipc/pipe'
import { Process } from '@tandem/ipc/process'
import { QueueEmpty } from '@tandem/queue/errors'
import { decodeItem, encodeItem, type EncodedItem, plainIntsHead, type RawItem, TAG_PLAIN } from '@tandem/queue/kit'
import type { Thread } from '@tandem/sync/thread'
import { describe, THREAD_TOKEN } from '@tandem/sync/kit'
import { deserializeError, moduleRef, type SerializedError, type TaskSpec } from '@tandem/sync/task'
import { BrokenProcessPool, CancelledError, WorkerLostError } from '../errors.ts'
import { cellAt, completeCell, EXCEPTION, releaseCell, RESULT, RUNNER, startCell } from './cell.ts'
import { breakPool, breakReason, type ExecutorCore, itemDone, specAt, type PoolShared, type WorkItem } from './executor-core.ts'
import { startThreadWorker } from './thread-workers.ts'
import { FAILED, INIT_FAILED, OK, OK_ENCODED, READY, STARTED, TASK } from './process-worker.ts'

/** A task whose calls take less than this (moving average) may be sent ahead of others. */
const QUICK_MS = 0.5
/** Most calls a stand-in has out in its child (also its `running` slots). */
export const WINDOW = 64
/**
 * Fewest calls out: one, while calls are long and at first (so that, as in CPython, a worker
 * takes a call only when it is free, and a call never waits behind another while a worker idles).
 */
const MIN_WINDOW = 1
/** How much work, by the recent calls' times, a stand-in keeps sent ahead to its child. */
const AHEAD_MS = 2
/**
 * Most bytes of calls a stand-in sends ahead: the pipe to the child holds 64 KiB, and a write to
 * a full pipe would wait for the child to read (one chunk of a map is a few KiB per 1,000 ints).
 */
const AHEAD_BYTES = 32 * 1024
/** How often a stand-in waiting for work looks whether its child is still alive. */
const IDLE_CHECK_MS = 250
/** Times a `Pool`'s call may go to a new child because its child died before it started it. */
const MAX_RESENDS = 2

/** The stand-in's loop, as a Thread target. */
export const PROCESS_STUB = moduleRef(new URL(import.meta.url), 'processStubLoop')

const SERVE_TASKS = moduleRef(new URL(`./process-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url), 'serveTasks')

/**
 * Throws `ERR_NOT_SHAREABLE` at `submit`/`apply` for arguments that cannot reach a process (a
 * thread-only shareable such as a Lock, a SharedArrayBuffer), as for those no thread can take (a
 * function). Plain data is not encoded twice: only values that hold objects are tried.
 */
export function checkProcessArgs(args: unknown[]): void {
  for (const a of args) {
    if (typeof a === 'object' && a !== null) {
      encodeItem(args, scratch, 1, 'process')
      return
    }
  }
}

const scratch: EncodedItem = { tag: 0, value: 0, bytes: undefined }

/** Starts worker `index` of a process pool: its stand-in thread (which starts the child). */
export function startProcessStub(core: ExecutorCore, index: number, opts: StubOptions): Thread {
  return startThreadWorker(core, index, { name: opts.name, initializer: undefined, initargs: [], resourceLimits: undefined }, { target: PROCESS_STUB, args: [opts] })
}

/** What a stand-in needs besides the pool's shared state. */
export interface StubOptions {
  /** The worker's name (its child process is named after it). */
  readonly name: string
  readonly initializer: TaskSpec | undefined
  readonly initargs: unknown[]
  /** Calls per child before it is replaced; 0 for no limit. */
  readonly maxTasksPerChild: number
  /**
   * A process `Pool`'s worker: a child that dies is replaced (its running call fails with
   * `WorkerLostError`) instead of breaking the pool.
   */
  readonly replace?: boolean
  /** A `Pool`'s control words: {@link TERMINATED}, then each worker's child pid (0 when none). */
  readonly control?: Int32Array
}

/** Word of `StubOptions.control`: 1 once `Pool.terminate()` ran. */
export const TERMINATED = 0

/** Word of `StubOptions.control` that holds worker `index`'s child pid. */
export const pidWord = (index: number): number => 1 + index

/**
 * A call as the stand-in holds it: a work item, or (most calls) a work item whose bytes, as the
 * submitter encoded them into the pool's queue, are plain data: then they are the call message
 * `[id, key, mode, payload]` of `process-worker.ts` as they are, and go to the child without
 * being decoded and encoded again here (only the three leading ints are read).
 */
type Call = readonly [at: number, task: number, mode: number, payload: unknown[] | RawItem]

const head = [0, 0, 0]

/** The call (or the `null` sentinel) of an item taken from the pool's queue as its bytes. */
function callOf(raw: RawItem): Call | null {
  if (raw.tag === TAG_PLAIN && plainIntsHead(raw.bytes!, raw.value, head)) return [head[0]!, head[1]!, head[2]!, raw]
  return decodeItem(raw.tag, raw.value, raw.bytes) as WorkItem | null
}

/** One child process and its connection. */
interface Child {
  readonly p: Process
  readonly conn: Connection
  /** Tasks (by arena offset) defined in this child. */
  readonly tasks: Set<number>
  /** Calls sent to it. */
  sent: number
}

/** A way the child ended, for error messages. */
function howEnded(p: Process): string {
  p.join(1000)
  const code = p.exitCode
  if (code === null) return 'stopped answering'
  if (code < 0) return `was killed by signal ${-code}`
  return `exited with code ${code}`
}

/** The stand-in's main loop (a `moduleRef` target of the pool's Threads). */
export async function processStubLoop(shared: PoolShared, index: number, opts: StubOptions): Promise<void> {
  const { queue, idle, running } = shared
  // This thread is the only reader of its child's connection: it reads the child's answers
  // from the channel itself, without a hop through the I/O thread.
  readChannelsHere()
  const slots = running.subarray(index * WINDOW, (index + 1) * WINDOW)
  const name = opts.name
  /** Calls sent and not answered, oldest first (answers come in order). */
  const out: Call[] = []
  /** When each call in `out` was sent. */
  const sentAt: number[] = []
  /** How many calls may be out now (see the module comment). */
  let window = MIN_WINDOW
  /** Recent time per call, from its turn to its answer (moving average), in ms; unknown at first. */
  let perCall = Number.POSITIVE_INFINITY
  /** The same per task (by its arena offset): only calls of quick tasks are sent ahead. */
  const perTask = new Map<number, number>()
  /** A call taken from the queue that waits here until the calls out are answered (see quick). */
  let held: Call | undefined
  /** When the previous answer came (the oldest call's turn began then, or at its send). */
  let lastAnswer = 0
  let child: Child | undefined
  /** Calls sent to a child that died before it ran them (a `Pool`): they go to the next child. */
  const redo: Call[] = []
  /**
   * A `Pool`'s calls (by cell offset) sent to an idle child that has not yet said it has them
   * (STARTED): if the child is found dead, they never reached it, and go to the next child; how
   * many times each went so (a call whose child dies before it starts, again and again, fails).
   */
  const unacked = new Set<number>()
  const resent = new Map<number, number>()
  const control = opts.control
  const terminated = (): boolean => control !== undefined && Atomics.load(control, TERMINATED) === 1
  const setPid = (pid: number): void => {
    if (control !== undefined) Atomics.store(control, pidWord(index), pid)
  }

  const fail = (why: string): void => {
    // Broken first (as CPython): a thread that sees one of these futures fail and submits again
    // gets BrokenProcessPool at once.
    breakPool(shared, why, BrokenProcessPool)
    sentAt.length = 0
    for (const item of out.splice(0)) finish(item, EXCEPTION, new BrokenProcessPool(why))
    for (const item of redo.splice(0)) finish(item, EXCEPTION, new BrokenProcessPool(why))
    if (held !== undefined) finish(held, EXCEPTION, new BrokenProcessPool(why))
    held = undefined
  }
  /**
   * A `Pool`'s child died (`c`; `unsent`: a call its death kept from being sent): the call it ran
   * fails with WorkerLostError, the calls sent after it go to a new child. After terminate() they
   * all fail with CancelledError instead. False if the stand-in must end (terminated, or the new
   * child could not start: the pool is broken).
   */
  const replaceChild = (c: Child, unsent?: Call): boolean => {
    const how = howEnded(c.p)
    setPid(0)
    c.conn.close()
    sentAt.length = 0
    if (unsent !== undefined) out.push(unsent)
    if (terminated()) {
      const cancelled = (): CancelledError => new CancelledError(`Pool.terminate() ended worker ${name} (pid ${c.p.pid}) while this call was in it`)
      for (const item of out.splice(0)) finish(item, EXCEPTION, cancelled())
      if (held !== undefined) finish(held, EXCEPTION, cancelled())
      held = undefined
      return false
    }
    // The oldest call was running, unless it never reached the child (unsent, or not acknowledged
    // by a child that was idle) and has not gone so too often.
    const first = out[0]
    const reached = first !== undefined && first !== unsent && !unacked.has(first[0])
    const tries = first === undefined ? 0 : (resent.get(first[0]) ?? 0) + 1
    if (first !== undefined && (reached || tries > MAX_RESENDS)) {
      out.shift()
      resent.delete(first[0])
      const what = reached ? 'while running this call' : `${tries} times before this call started`
      finish(first, EXCEPTION, new WorkerLostError(`Worker ${name} (pid ${c.p.pid}) ${how} ${what}; the pool replaced the worker`))
    } else if (first !== undefined) {
      resent.set(first[0], tries)
    }
    unacked.clear()
    redo.push(...out.splice(0))
    child = spawn()
    return child !== undefined
  }
  const finish = (item: Call, outcome: number, value: unknown, encoded?: EncodedItem): void => {
    const at = item[0]
    try {
      completeCell(cellAt(at), outcome, value, outcome === EXCEPTION ? 'setException' : 'setResult', encoded)
    } catch (err) {
      // A result this process cannot keep in the future's cell fails that future only.
      if (outcome === EXCEPTION) throw err
      completeCell(cellAt(at), EXCEPTION, err, 'setException')
    }
    const k = slots.indexOf(at)
    if (k >= 0) Atomics.store(slots, k, 0)
    unacked.delete(at)
    resent.delete(at)
    releaseCell(at)
    itemDone(shared)
  }
  /** Starts a child and waits for its initializer; undefined (pool broken) if that failed. */
  const spawn = (): Child | undefined => {
    const [conn, end] = Pipe()
    const p = new Process({ target: SERVE_TASKS, args: [end, opts.initializer, opts.initargs], name: opts.name, daemon: true })
    try {
      p.start()
    } catch (err) {
      conn.close()
      end.close()
      fail(`Worker ${name} could not start its process (${err instanceof Error ? err.message : describe(err)}); the pool is broken`)
      return undefined
    }
    end.close()
    setPid(p.pid ?? 0)
    let hello: unknown
    try {
      hello = conn.recv()
    } catch {
      if (terminated()) {
        setPid(0)
        for (const item of redo.splice(0)) finish(item, EXCEPTION, new CancelledError('Pool.terminate() ended the pool before this call ran'))
        return undefined
      }
      fail(`Worker ${name} (pid ${p.pid}) ${howEnded(p)} before its initializer finished; the pool is broken`)
      return undefined
    }
    const h = hello as [number, SerializedError?]
    if (!Array.isArray(hello) || (h[0] !== READY && h[0] !== INIT_FAILED)) {
      endChild({ p, conn, tasks: new Set(), sent: 0 })
      fail(`Worker ${name} (pid ${p.pid}) answered ${describe(hello)} instead of its ready message; the pool is broken`)
      return undefined
    }
    if (h[0] === INIT_FAILED) {
      const err = deserializeError(h[1]!)
      const what = err instanceof Error ? `${err.name}: ${err.message}` : describe(err)
      p.join(5000)
      fail(`The initializer of worker ${name} (pid ${p.pid}) failed (${what}); the pool is broken`)
      return undefined
    }
    return { p, conn, tasks: new Set(), sent: 0 }
  }
  /**
   * Reads the oldest call's answer; false once the stand-in must end (the pool broke, or it was
   * terminated). A `Pool`'s child that died is replaced: true, with nothing out.
   */
  const answer = (c: Child): boolean => {
    let msg: unknown
    try {
      msg = c.conn.recv()
    } catch {
      if (opts.replace === true) return replaceChild(c)
      fail(`Worker ${name} (pid ${c.p.pid}) ${howEnded(c.p)} while running a task; the pool is broken`)
      return false
    }
    const [id, outcome, value, encValue, encBytes] = msg as [number, number, unknown, number?, Uint8Array?]
    if (outcome === STARTED) {
      unacked.delete(id)
      return true
    }
    const item = out.shift()!
    const now = performance.now()
    const took = now - Math.max(sentAt.shift()!, lastAnswer)
    lastAnswer = now
    // A slow call counts at once (queued calls must not wait behind it); fast ones are averaged.
    perCall = took > perCall || perCall === Number.POSITIVE_INFINITY ? took : perCall * 0.75 + took * 0.25
    const t = perTask.get(item[1])
    perTask.set(item[1], t === undefined || took > t ? took : t * 0.75 + took * 0.25)
    window = Math.max(MIN_WINDOW, Math.min(WINDOW, Math.floor(AHEAD_MS / Math.max(perCall, 1e-3))))
    if (outcome === OK_ENCODED) finish(item, RESULT, undefined, { tag: value as number, value: encValue!, bytes: encBytes ?? undefined })
    else finish(item, outcome === OK ? RESULT : EXCEPTION, outcome === FAILED ? deserializeError(value as SerializedError) : value)
    return true
  }
  /**
   * Sends one call (`again`: a call sent to a child that died before it ran it); false if the
   * stand-in must end (as for {@link answer}).
   */
  const send = (c: Child, item: Call, again = false): boolean => {
    const [at, task, mode] = item
    const cell = cellAt(at)
    if (!again) {
      if (!startCell(cell)) {
        // Cancelled while queued: acknowledged, never sent.
        releaseCell(at)
        itemDone(shared)
        return true
      }
      Atomics.store(cell, RUNNER, THREAD_TOKEN)
      Atomics.store(slots, slots.indexOf(0), at)
    }
    // A Pool's call to an idle child: the child acknowledges it (see `unacked`).
    const ack = opts.replace === true && out.length === 0
    try {
      if (ack && !c.p.isAlive()) throw new Error('the worker process is gone')
      if (!c.tasks.has(task)) {
        c.conn.send([TASK, task, specAt(task)])
        c.tasks.add(task)
      }
      const payload = item[3]
      if (ack) {
        unacked.add(at)
        c.conn.send([at, task, mode, Array.isArray(payload) ? payload : (decodeItem(payload.tag, payload.value, payload.bytes) as WorkItem)[3], 1])
      } else if (Array.isArray(payload)) c.conn.send([at, task, mode, payload])
      else c.conn._sendPlain(payload) // the work item's bytes are the call message
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_NOT_SHAREABLE' || err instanceof TypeError) {
        // Arguments that cannot reach a process (a Lock, a function): this call fails only.
        finish(item, EXCEPTION, err)
        return true
      }
      if (opts.replace === true) return replaceChild(c, item)
      out.push(item)
      fail(`Worker ${name} (pid ${c.p.pid}) ${howEnded(c.p)}; the pool is broken`)
      return false
    }
    out.push(item)
    sentAt.push(performance.now())
    c.sent++
    return true
  }
  /** Bytes of the calls out that the child may not have read yet (those sent as plain bytes). */
  const bytesOut = (): number => {
    let n = 0
    for (const item of out) if (!Array.isArray(item[3])) n += (item[3] as RawItem).value
    return n
  }
  /** Whether `item`'s task has been quick so far (its calls may be sent ahead, and queue behind). */
  const quick = (item: Call): boolean => (perTask.get(item[1]) ?? Number.POSITIVE_INFINITY) < QUICK_MS
  /** Ends the child of a broken pool (it may be alive: another worker broke the pool). */
  const endChild = (c: Child): void => {
    c.conn.close()
    if (c.p.isAlive()) c.p.kill()
    c.p.join(5000)
    setPid(0)
  }
  const retire = (c: Child): void => {
    try {
      c.conn.send(null)
    } catch {}
    c.p.join(30_000)
    c.conn.close()
    setPid(0)
  }

  child = spawn()
  if (child === undefined) return
  for (;;) {
    if (opts.maxTasksPerChild > 0 && child.sent >= opts.maxTasksPerChild) {
      // Replaced after its quota: its answers first, then a new child (unless it died meanwhile).
      const full: Child = child
      while (out.length > 0) if (!answer(child)) return
      if (child === full) {
        retire(child)
        child = spawn()
        if (child === undefined) return
      }
      continue
    }
    // A pool broken by another worker: this one's answers still come, then its child ends
    // (CPython ends every worker of a broken pool).
    if (shared.broken.isSet() && out.length === 0) {
      const why = breakReason(shared) ?? 'A worker of this pool died; the pool is broken'
      for (const item of redo.splice(0)) finish(item, EXCEPTION, new BrokenProcessPool(why))
      if (held !== undefined) finish(held, EXCEPTION, new BrokenProcessPool(why))
      held = undefined
      endChild(child)
      return
    }
    let item: Call | null | undefined
    if (redo.length > 0) {
      // Sent to a child that died before it ran them: to this child, in their order.
      if (!send(child, redo.shift()!, true)) return
      continue
    }
    if (held !== undefined) {
      if (out.length > 0) {
        if (!answer(child)) return
        continue
      }
      item = held
      held = undefined
    } else if (out.length < window && queue.qsize() > 0 && (out.length === 0 || (quick(out[out.length - 1]!) && bytesOut() < AHEAD_BYTES))) {
      const raw = queue._takeRaw()
      item = raw === undefined ? undefined : callOf(raw) // undefined: another worker took it
      // Sent ahead only if quick: a call that may be long (or may wait for another call) is
      // sent once the calls out are answered, so that nothing waits behind it.
      if (item !== undefined && item !== null && out.length > 0 && !quick(item)) {
        held = item
        continue
      }
    }
    if (item === undefined) {
      if (out.length > 0) {
        if (!answer(child)) return
        continue
      }
      // Idle (nothing sent, nothing queued): wait for work, looking at the child now and then.
      idle.release()
      for (;;) {
        try {
          item = callOf(queue._getRaw({ timeout: IDLE_CHECK_MS }))
          break
        } catch (err) {
          if (!(err instanceof QueueEmpty)) throw err
        }
        if (!child.p.isAlive() && !shared.broken.isSet() && opts.replace === true) {
          // A Pool's child that died between calls: a new one takes its place.
          if (replaceChild(child)) continue
          idle.acquire({ blocking: false })
          return
        }
        if (!child.p.isAlive() || shared.broken.isSet()) {
          if (!shared.broken.isSet()) fail(`Worker ${name} (pid ${child.p.pid}) ${howEnded(child.p)} while idle; the pool is broken`)
          idle.acquire({ blocking: false })
          endChild(child)
          return
        }
      }
    }
    if (item === null) {
      queue.put(null) // one sentinel serves every worker
      // The calls out are answered (a Pool's calls sent to a child that died go to the next).
      while (out.length > 0 || redo.length > 0) {
        if (redo.length > 0 ? !send(child, redo.shift()!, true) : !answer(child)) return
      }
      retire(child)
      return
    }
    // Pass a wake-up on, as thread workers do: the submitter wakes one worker per burst.
    if (queue.qsize() > 0) queue._wake(1)
    if (!send(child, item)) return
  }
}
