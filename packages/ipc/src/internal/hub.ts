/**
 * The I/O thread of a process (one per process that talks to others): owns the child processes it
 * spawned, the pipe to its parent, and the forwarding of messages between this process's
 * shared-memory queues and other processes.
 *
 * Processes form a tree (each child has one channel to its parent: two FIFOs, `channel.ts`, made
 * before `spawn` and passed as the child's descriptors 3-5), and frames are routed along it by pid: down to the child under which the destination was
 * announced, else up to the parent. So two siblings talk through their parent's I/O thread, which
 * never blocks (it only ever awaits), whatever the parent's own threads are doing.
 *
 * Exported ends (`pipe.ts`): the exporting process keeps the end `E` and this thread stands in for
 * the remote copy: it reads what `E`'s peer sends (`MSG_TO_IMPORT`) and writes what arrives from
 * the importer into `E` (`MSG_TO_EXPORT`). The importing process's thread holds the far end `Y` of
 * a new local pair and does the mirror image. Either side closing (`CLOSE_*`) or dying (`GONE`)
 * ends the bridge: `_bridgeEnded()` lets the end's peer see EOF once no copy is left.
 *
 * Threads write to a neighbour's channel themselves, and the main thread may borrow the reading
 * of a channel while it waits for a message that can only come over it (`direct.ts`):
 * `lendReading` pauses this thread's reading on request and resumes it when the channel is handed
 * back or left idle.
 *
 * A child learns that its parent died when the channel from it ends (every writer gone), and then exits (SIGTERM, then
 * SIGKILL half a second later): no orphans. A parent learns that a child died from its `exit`
 * event: it records the exit code for `join()`, and tells every process (`GONE`), so that bridges
 * and queue requests involving the dead process end at once.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { constants } from 'node:os'
import { adoptCell, IPC_NONDAEMON, processState, reviveCell } from '@tandem/sync/kit'
import type { RawItem } from '@tandem/queue/kit'
import type { Queue } from '@tandem/queue/queue'
import type { Connection } from '../pipe.ts'
// The kinds this thread revives from its command queue.
import '../pipe.ts'
import '@tandem/queue/queue'
import type { Command, HubBoot } from './hub-client.ts'
import { drainAll, track } from './forward.ts'
import { Channel, CHILD_FDS, closeFds, copyBytes, makeChannel, type ChannelFds } from './channel.ts'
import type { Frame } from './link.ts'
import { CONTROL_EXIT, CONTROL_PID, CONTROL_STATE, ENDED, RUNNING, SPAWN_FAILED } from './process-control.ts'
import { ENV_KEY } from './process-info.ts'
import { QueueServer } from './queue-server.ts'
import {
  ENDED as LENDING_ENDED,
  GEN,
  HUB,
  hasChannel,
  IDLE,
  putLeftover,
  LEFT,
  REG,
  registerChannel,
  retireChannel,
  ROLE,
  takeLeftover,
  trace,
  TRACE,
  useDirectory,
} from './direct.ts'
import { SocketServer } from './sockets.ts'

import {
  LAST_TYPE,
  T_ANNOUNCE,
  T_ATTACH,
  T_BOOT,
  T_CLOSE_TO_EXPORT,
  T_CLOSE_TO_IMPORT,
  T_GONE,
  T_WANT,
  T_MSG_TO_EXPORT,
  T_MSG_TO_IMPORT,
  T_QCANCEL,
  T_QPUT,
  T_QREP,
  T_QREQ,
} from './frames.ts'
export { T_ANNOUNCE, T_ATTACH, T_BOOT, T_CLOSE_TO_EXPORT, T_CLOSE_TO_IMPORT, T_GONE, T_MSG_TO_EXPORT, T_MSG_TO_IMPORT, T_QCANCEL, T_QPUT, T_QREP, T_QREQ }

/** `TANDEM_DEBUG=1` traces frames and commands on stderr. */
const DEBUG = process.env.TANDEM_DEBUG === '1'

/** Messages a forwarding loop takes before it yields to the event loop again. */
const BATCH = 1024

const validType = (t: number): boolean => t >= 1 && t <= LAST_TYPE

interface Export {
  readonly end: Connection
  importer: number
  /** The importer reads the end (`T_WANT` came): what arrives for it is forwarded. */
  wanted: boolean
  abort: AbortController | undefined
}

interface Import {
  readonly end: Connection
  readonly home: number
  readonly id: number
  readonly abort: AbortController
}

interface Child {
  readonly proc: ChildProcess
  readonly link: Channel
  readonly daemon: boolean
  /** Keeps the control block alive while the child runs. */
  readonly holder: object
}

export class Hub {
  readonly pid = process.pid
  parent: Channel | undefined
  readonly children = new Map<number, Child>()
  /** Descendants announced by a child: the link toward them. */
  readonly routes = new Map<number, Channel>()
  readonly exports = new Map<number, Export>()
  /** Frames for exports this thread has not registered yet (the export command is on its way). */
  readonly early = new Map<number, Frame[]>()
  readonly imports = new Map<string, Import>()
  readonly queues: QueueServer
  readonly sockets = new SocketServer()
  readonly gone = new Set<number>()
  /** In a child: where the boot record goes (the child's main thread waits on it). */
  bootQueue: Queue<Uint8Array> | undefined

  constructor() {
    this.queues = new QueueServer(this)
  }

  // ---- Routing ---------------------------------------------------------------------------------

  linkFor(dst: number): Channel | undefined {
    return this.routes.get(dst) ?? this.parent
  }

  /** Sends a frame toward `dst` (delivered here if it is this process). */
  send(type: number, dst: number, id: number, payload?: Uint8Array, tag = 0, aux = 0): void {
    if (dst === this.pid) {
      const copy = payload === undefined ? new Uint8Array(0) : copyBytes(payload)
      queueMicrotask(() => this.dispatch({ type, tag, dst, src: this.pid, id, aux, payload: copy }, undefined))
      return
    }
    const link = this.linkFor(dst)
    if (link === undefined || link.closed || this.gone.has(dst)) {
      // Nobody to deliver to: the destination is gone (requests to it fail at once).
      queueMicrotask(() => {
        this.processGone(dst, undefined)
        this.queues.processGone(dst)
      })
      return
    }
    link.write(type, dst, this.pid, id, payload, tag, aux)
  }

  sendRaw(type: number, dst: number, id: number, raw: RawItem): void {
    this.send(type, dst, id, raw.bytes, raw.tag, raw.value)
  }

  onFrame(frame: Frame, from: Channel): void {
    if (frame.type === T_ANNOUNCE || frame.type === T_GONE) {
      // News about a process (in ID), for every hop.
      this.dispatch(frame, from)
      return
    }
    if (frame.dst !== this.pid) {
      // Passing through: forward without looking inside.
      const link = this.linkFor(frame.dst)
      if (link === undefined || link === from) return
      link.write(frame.type, frame.dst, frame.src, frame.id, frame.payload, frame.tag, frame.aux)
      return
    }
    this.dispatch(frame, from)
  }

  announce(pid: number, from: Channel): void {
    this.routes.set(pid, from)
    this.gone.delete(pid)
    this.parent?.write(T_ANNOUNCE, 0, this.pid, pid)
  }

  dispatch(f: Frame, from: Channel | undefined): void {
    if (DEBUG) process.stderr.write(`[${this.pid}] frame ${f.type} id ${f.id} src ${f.src} len ${f.payload.length}\n`)
    switch (f.type) {
      case T_BOOT:
        this.bootQueue?.put(copyBytes(f.payload))
        return
      case T_ANNOUNCE:
        if (from !== undefined) this.announce(f.id, from)
        return
      case T_GONE:
        this.processGone(f.id, from)
        return
      case T_ATTACH: {
        const ex = this.exports.get(f.id)
        if (ex === undefined) {
          this.later(f)
          return
        }
        this.attach(ex, f.id, f.src)
        return
      }
      case T_WANT: {
        const ex = this.exports.get(f.id)
        if (ex === undefined) {
          this.later(f)
          return
        }
        this.want(ex, f.id, f.src)
        return
      }
      case T_MSG_TO_EXPORT: {
        const ex = this.exports.get(f.id)
        if (ex === undefined) {
          this.later(f)
          return
        }
        try {
          ex.end._sendRaw(rawOf(f))
        } catch {
          // The peer is closed: tell the importer (its sends now fail).
          this.endExport(f.id, true)
        }
        return
      }
      case T_CLOSE_TO_EXPORT:
        if (!this.exports.has(f.id)) {
          this.later(f)
          return
        }
        this.endExport(f.id, false)
        return
      case T_MSG_TO_IMPORT: {
        const im = this.imports.get(`${f.src}:${f.id}`)
        if (im === undefined) return
        try {
          im.end._sendRaw(rawOf(f))
        } catch {
          this.endImport(im, true)
        }
        return
      }
      case T_CLOSE_TO_IMPORT: {
        const im = this.imports.get(`${f.src}:${f.id}`)
        if (im !== undefined) this.endImport(im, false)
        return
      }
      case T_QREQ:
      case T_QREP:
      case T_QCANCEL:
      case T_QPUT:
        this.queues.onFrame(f)
        return
    }
  }

  later(f: Frame): void {
    let list = this.early.get(f.id)
    if (list === undefined) this.early.set(f.id, (list = []))
    list.push({ ...f, payload: copyBytes(f.payload) })
  }

  // ---- Commands from this process's threads ------------------------------------------------------

  command(c: Command): void {
    if (DEBUG) process.stderr.write(`[${this.pid}] command ${c.op} ${'id' in c ? c.id : ''}\n`)
    switch (c.op) {
      case 'export': {
        this.exports.set(c.id, { end: c.end, importer: 0, wanted: false, abort: undefined })
        const early = this.early.get(c.id)
        if (early !== undefined) {
          this.early.delete(c.id)
          for (const f of early) this.dispatch(f, undefined)
        }
        return
      }
      case 'import': {
        const im: Import = { end: c.end, home: c.home, id: c.id, abort: new AbortController() }
        this.imports.set(`${c.home}:${c.id}`, im)
        this.send(T_ATTACH, c.home, c.id)
        if (this.gone.has(c.home)) {
          this.endImport(im, false)
          return
        }
        if (c.end.readable) void this.pump(c.end, im.abort.signal, T_MSG_TO_EXPORT, c.home, c.id, () => this.endImport(im, true))
        return
      }
      case 'want':
        this.send(T_WANT, c.home, c.id)
        return
      case 'spawn':
        this.spawnChild(c)
        return
      case 'flush':
        void this.flush(adoptCell({}, reviveCell(c.done)))
        return
      case 'qreq':
      case 'qcancel':
      case 'qexport':
      case 'qstream':
        this.queues.command(c)
        return
      case 'listen':
      case 'accept':
      case 'unlisten':
      case 'connect':
      case 'cancel':
        this.sockets.command(c)
        return
    }
  }

  // ---- Bridges -------------------------------------------------------------------------------------

  /** Process `importer` imported export `id` (its close or death now ends the bridge). */
  attach(ex: Export, id: number, importer: number): void {
    if (ex.importer !== 0) return
    ex.importer = importer
    if (this.gone.has(importer)) this.endExport(id, false)
  }

  /**
   * The importer reads the end: forward to it what arrives for the end. Not before, so that a
   * process that holds a copy it never reads (and closes) takes no message from this process's
   * own reader (what was forwarded to a copy that is closed unread would be lost).
   */
  want(ex: Export, id: number, importer: number): void {
    if (ex.importer === 0) this.attach(ex, id, importer)
    if (ex.wanted || ex.importer !== importer || !this.exports.has(id)) return
    ex.wanted = true
    if (!ex.end.readable) return
    ex.abort = new AbortController()
    void this.pump(ex.end, ex.abort.signal, T_MSG_TO_IMPORT, importer, id, () => this.endExport(id, true))
    // The importer is a neighbour: the end's peer may write to it directly from now on.
    if (hasChannel(importer)) ex.end._route(importer, id, T_MSG_TO_IMPORT)
  }

  /**
   * Forwards everything `end` receives to (`dst`, `id`) until EOF, then calls `onEof`. While the
   * end's peer may write to the channel itself (`_direct()`), what this loop takes stays counted
   * in INFLIGHT until the kernel has it, so that a direct write never overtakes it.
   */
  async pump(end: Connection, signal: AbortSignal, type: number, dst: number, id: number, onEof: () => void): Promise<void> {
    const emit = (raw: RawItem): void => this.sendRaw(type, dst, id, raw)
    const untrack = track({ take: () => end._takeRaw() }, emit)
    try {
      for (;;) {
        try {
          await end._waitRawAsync(signal)
        } catch {
          return
        }
        end._inflight(1)
        try {
          let n = 0
          for (let raw = end._takeRaw(); raw !== undefined; raw = n < BATCH ? end._takeRaw() : undefined) {
            emit(raw)
            n++
          }
          if (n === 0) {
            if (end._eof()) {
              onEof()
              return
            }
            continue
          }
          if (end._direct()) await this.linkFor(dst)?.drained()
        } finally {
          end._inflight(-1)
        }
      }
    } finally {
      untrack()
    }
  }

  /** Ends an export's bridge; `tell` sends CLOSE to the importer. */
  endExport(id: number, tell: boolean): void {
    const ex = this.exports.get(id)
    if (ex === undefined) return
    this.exports.delete(id)
    ex.end._unroute()
    ex.abort?.abort()
    if (tell && ex.importer !== 0) this.send(T_CLOSE_TO_IMPORT, ex.importer, id)
    ex.end._bridgeEnded()
  }

  endImport(im: Import, tell: boolean): void {
    const key = `${im.home}:${im.id}`
    if (this.imports.get(key) !== im) return
    this.imports.delete(key)
    im.end._unroute()
    im.abort.abort()
    if (tell) this.send(T_CLOSE_TO_EXPORT, im.home, im.id)
    im.end._bridgeEnded()
  }

  // ---- Processes -----------------------------------------------------------------------------------

  /**
   * A child started ahead of need: it has loaded Node and Tandem and waits for its boot record, so
   * `start()` costs a frame instead of a Node start-up (CPython's forkserver does the same).
   */
  spare: { proc: ChildProcess; fds: ChannelFds; key: string } | undefined

  /** Starts a child on a new channel (its ends are the child's descriptors 3, 4 and 5). */
  #launch(execArgv: string[], entry: string): { proc: ChildProcess; fds: ChannelFds } {
    const env = { ...process.env }
    delete env[ENV_KEY]
    const ch = makeChannel()
    try {
      const proc = spawn(process.execPath, [...execArgv, entry], {
        stdio: ['ignore', 'inherit', 'inherit', ch.child.readBlocking, ch.child.read, ch.child.write],
        env,
        windowsHide: true,
      })
      return { proc, fds: ch.parent }
    } catch (err) {
      closeAll(ch.parent)
      throw err
    } finally {
      closeFds(ch.child.read, ch.child.readBlocking, ch.child.write)
    }
  }

  #prepareSpare(execArgv: string[], entry: string): void {
    if (this.spare !== undefined || process.env.TANDEM_NO_SPARE === '1') return
    let proc: ChildProcess
    let fds: ChannelFds
    try {
      ;({ proc, fds } = this.#launch(execArgv, entry))
    } catch {
      return
    }
    if (proc.pid === undefined) {
      proc.on('error', () => {})
      closeAll(fds)
      return
    }
    const spare = { proc, fds, key: JSON.stringify([execArgv, entry]) }
    this.spare = spare
    proc.on('error', () => {})
    proc.once('exit', () => {
      if (this.spare !== spare) return
      this.spare = undefined
      closeAll(fds)
    })
  }

  spawnChild(c: Extract<Command, { op: 'spawn' }>): void {
    const holder = {}
    const control = adoptCell(holder, reviveCell(c.control))
    let proc: ChildProcess
    let fds: ChannelFds
    const spare = this.spare
    if (spare !== undefined && spare.key === JSON.stringify([c.execArgv, c.entry]) && spare.proc.exitCode === null && spare.proc.signalCode === null) {
      this.spare = undefined
      proc = spare.proc
      fds = spare.fds
    } else {
      try {
        ;({ proc, fds } = this.#launch(c.execArgv, c.entry))
      } catch (err) {
        fail(err)
        return
      }
      if (proc.pid === undefined) {
        closeAll(fds)
        proc.once('error', fail)
        return
      }
    }
    function fail(err: unknown): void {
      process.stderr.write(`Process ${c.name} could not be started: ${(err as Error)?.message ?? err}\n`)
      Atomics.store(control, CONTROL_EXIT, 1)
      Atomics.store(control, CONTROL_STATE, SPAWN_FAILED)
      Atomics.notify(control, CONTROL_STATE)
    }
    const pid = proc.pid!
    // The ends in its boot record are its own from now on: its death ends them, also if it dies
    // before it attaches to them (killed while it starts).
    for (const id of c.exports) {
      const ex = this.exports.get(id)
      if (ex !== undefined && ex.importer === 0) ex.importer = pid
    }
    // The child is gone for its bridges once it has exited AND everything it wrote has been read.
    let exited = false
    let drained = false
    const link = new Channel(
      fds,
      {
        onFrame: (f, l) => this.onFrame(f, l as never),
        onClose: () => {
          drained = true
          if (exited) this.processGone(pid, undefined)
        },
      },
      { validType },
    )
    this.children.set(pid, { proc, link, daemon: c.daemon, holder })
    // Threads of this process may now write to (and read from) the child directly.
    const direct = registerChannel(pid, { write: fds.directWrite!, readBlocking: fds.readBlocking, read: fds.directRead! })
    const stopLending = direct === undefined ? undefined : lendReading(direct, link)
    const retire = (): void => {
      const close = (): void => closeFds(fds.directWrite, fds.directRead, fds.readBlocking)
      if (direct === undefined) close()
      else
        void retireChannel(direct, () => {
          stopLending!()
          close()
        })
    }
    this.routes.set(pid, link)
    this.gone.delete(pid)
    if (!c.daemon) Atomics.add(processState, IPC_NONDAEMON, 1)
    link.write(T_BOOT, pid, this.pid, 0, c.boot)
    this.parent?.write(T_ANNOUNCE, 0, this.pid, pid)
    Atomics.store(control, CONTROL_PID, pid)
    Atomics.store(control, CONTROL_STATE, RUNNING)
    Atomics.notify(control, CONTROL_STATE)
    proc.on('error', () => {})
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      const exit = code ?? (signal ? -(constants.signals[signal] ?? 1) : 1)
      Atomics.store(control, CONTROL_EXIT, exit)
      Atomics.store(control, CONTROL_STATE, ENDED)
      Atomics.notify(control, CONTROL_STATE)
      this.children.delete(pid)
      if (!c.daemon) {
        Atomics.sub(processState, IPC_NONDAEMON, 1)
        Atomics.notify(processState, IPC_NONDAEMON)
      }
      exited = true
      retire()
      if (drained) this.processGone(pid, undefined)
      // Its socket ends once the kernel has handed us its last bytes; do not wait forever.
      setTimeout(() => link.close(), 1000).unref()
    }
    if (proc.exitCode !== null || proc.signalCode !== null) onExit(proc.exitCode, proc.signalCode)
    else proc.once('exit', onExit)
    setImmediate(() => this.#prepareSpare(c.execArgv, c.entry))
  }

  /** A process died: end everything involving it, and tell the rest of the tree. */
  processGone(pid: number, from: Channel | undefined): void {
    if (pid === this.pid || this.gone.has(pid)) return
    this.gone.add(pid)
    if (this.gone.size > 100_000) this.gone.clear()
    this.routes.delete(pid)
    for (const [id, ex] of this.exports) if (ex.importer === pid) this.endExport(id, false)
    for (const im of [...this.imports.values()]) if (im.home === pid) this.endImport(im, false)
    this.queues.processGone(pid)
    if (from !== this.parent) this.parent?.write(T_GONE, 0, this.pid, pid)
    for (const child of this.children.values()) if (child.link !== from) child.link.write(T_GONE, 0, this.pid, pid)
  }

  #ending = false

  onParentClosed(): void {
    // The parent died (or closed us off): no orphans.
    if (this.#ending) return
    this.#ending = true
    try {
      process.kill(process.pid, 'SIGTERM')
    } catch {}
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 500).unref()
  }

  async flush(done: Int32Array): Promise<void> {
    // Send what waits in every forwarding loop's queue (their own wake-ups may come too late under
    // load), then wait for the kernel to take it. drainAll() runs at the start of a turn of the
    // event loop, never in the middle of a loop's take-then-emit (which a turn always finishes).
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((r) => setImmediate(r))
      drainAll()
    }
    const links = [...this.children.values()].map((c) => c.link)
    if (this.parent !== undefined) links.push(this.parent)
    await Promise.all(links.map((l) => l.drained()))
    Atomics.store(done, 0, 1)
    Atomics.notify(done, 0)
  }
}

/** How long the main thread may hold a channel without receiving before this thread takes it back. */
const LEASE_IDLE_MS = 2
/** The longest interval between two looks while the main thread keeps receiving. */
const LEASE_BUSY_MS = 16

/**
 * Lends the reading of a channel to the main thread when it asks (`readOwn` in `direct.ts`), and
 * takes it back when the main thread hands it back or has not received for {@link LEASE_IDLE_MS}
 * (then frames for others, which the main thread would only see at its next receive, flow again).
 */
function lendReading(cell: Int32Array, link: Channel): () => void {
  // Every write to the cell happens on this thread, right after checking that the slot still
  // holds this channel (`direct.ts` reuses slots).
  const reg = cell[REG]
  let lent = false
  let stopped = false
  const mine = (): boolean => cell[REG] === reg && !link.closed && !stopped
  /** Takes the channel back for good (no thread uses the slot any more: USERS is 0). */
  const stop = (): void => {
    if (cell[REG] !== reg || stopped) return
    stopped = true
    if (lent) link.resume(takeLeftover(cell))
    lent = false
    Atomics.store(cell, ROLE, LENDING_ENDED)
    Atomics.notify(cell, ROLE)
  }
  link.onEnded(stop)
  void (async () => {
    for (;;) {
      while (Atomics.load(cell, ROLE) === HUB && mine()) {
        const w = Atomics.waitAsync(cell, ROLE, HUB)
        if (w.async) await w.value
      }
      if (!mine()) {
        if (TRACE) trace(`hub stops lending ${cell[0]}`)
        return
      }
      // Grant: stop reading (between two reads, so at most a partial packet is in hand).
      putLeftover(cell, link.pause())
      if (TRACE) trace(`hub grants ${cell[0]} (left ${cell[LEFT]})`)
      lent = true
      Atomics.store(cell, ROLE, IDLE)
      Atomics.notify(cell, ROLE)
      let gen = Atomics.load(cell, GEN)
      // While the main thread keeps receiving, look less often (these wake-ups share its core).
      let wait = LEASE_IDLE_MS
      let due = performance.now() + wait
      for (;;) {
        // Until the next look, or until the main thread hands the channel back (handBack()
        // notifies ROLE): a message longer than a packet is handed back, and the I/O thread
        // must read its rest at once, not at its next look (that cost milliseconds per message).
        const role0 = Atomics.load(cell, ROLE)
        if (role0 !== HUB) await roleChangeOrTimeout(cell, role0, due - performance.now())
        if (!mine()) {
          if (TRACE) trace(`hub stops lending ${cell[0]} while lent`)
          return
        }
        const role = Atomics.load(cell, ROLE)
        if (role === HUB) break
        if (performance.now() < due) continue
        wait = Math.min(wait * 2, LEASE_BUSY_MS)
        due = performance.now() + wait
        if (role !== IDLE) continue
        const g = Atomics.load(cell, GEN)
        if (g === gen && Atomics.compareExchange(cell, ROLE, IDLE, HUB) === IDLE) break
        gen = g
      }
      lent = false
      if (TRACE) trace(`hub takes back ${cell[0]} (${Atomics.load(cell, ROLE) === HUB ? 'handed back' : 'idle'}, left ${cell[LEFT]})`)
      link.resume(takeLeftover(cell))
    }
  })().catch((err: unknown) => {
    // A bug, not a state: say so, and keep reading the channel here.
    process.stderr.write(`Tandem ipc I/O thread: lending a channel failed: ${(err as Error)?.stack ?? err}\n`)
    stopped = true
    if (lent) link.resume(new Uint8Array(0))
  })
  return stop
}

/**
 * Resolves once `cell[ROLE]` is notified while it holds `role`, or after `ms` (a timer holds the
 * event loop meanwhile: a pending waitAsync does not).
 */
function roleChangeOrTimeout(cell: Int32Array, role: number, ms: number): Promise<unknown> | undefined {
  if (ms <= 0) return undefined
  const w = Atomics.waitAsync(cell, ROLE, role, ms)
  if (!w.async) return undefined
  let timer: NodeJS.Timeout | undefined
  return Promise.race([w.value, new Promise((r) => (timer = setTimeout(r, ms + 1)))]).finally(() => clearTimeout(timer))
}

/** Closes every descriptor of one side of a channel. */
function closeAll(fds: ChannelFds): void {
  closeFds(fds.read, fds.readBlocking, fds.write, fds.directRead, fds.directWrite)
}

function rawOf(f: Frame): RawItem {
  return { tag: f.tag, value: f.aux, bytes: f.payload.length === 0 ? undefined : f.payload }
}

/** Entry of the I/O thread (a daemon Tandem Thread target). */
export async function runHub(commands: Queue<Command>, boot: HubBoot): Promise<void> {
  const hub = new Hub()
  hub.bootQueue = boot.bootQueue as Queue<Uint8Array> | undefined
  useDirectory(boot.directory!)
  if (boot.child === true) {
    const direct = registerChannel(process.ppid, CHILD_FDS)
    hub.parent = new Channel(CHILD_FDS, { onFrame: (f, l) => hub.onFrame(f, l as never), onClose: () => hub.onParentClosed() }, { validType })
    if (direct !== undefined) lendReading(direct, hub.parent)
    // Belt and braces: the channel's end is seen only while this thread reads it (a thread that
    // reads it directly hands it back at its end), so also watch for being re-parented.
    const ppid = process.ppid
    setInterval(() => {
      if (process.ppid !== ppid) hub.onParentClosed()
    }, 250)
  }
  for (;;) {
    const c = await commands.getAsync()
    try {
      hub.command(c)
    } catch (err) {
      process.stderr.write(`Tandem ipc I/O thread: ${(err as Error)?.stack ?? err}\n`)
    }
  }
}
