/**
 * A `SyncManager`'s server: the target of the child process that `SyncManager.start()` starts
 * (`serve`). It listens with a `Listener` (Unix socket, or TCP, with the manager's authkey),
 * accepts clients (one connection per client thread and form, plus a lane per thread for its
 * blocking calls on this machine: `manager.ts`) and serves their requests on its event loop; the
 * objects are `manager-objects.ts`'.
 *
 * Protocol (plain values over each connection):
 * - first message: `{ hello: 1, session, owner }`: `session` names the client process (its
 *   references), `owner` the client thread (for RLock and Condition);
 * - requests `[id, op, target, method, args]`, `op` one of `create` (target: typeid; replies the
 *   new object's id, referenced once by the session), `call` (target: object id), `incref`,
 *   `decref`, `lend` (a proxy is being sent: a reference counted under `transit`, no process's),
 *   `adopt` (method: whose reference the received proxy carried; it moves to the receiver), `cancel` (target: the id of a waiting call, which then replies
 *   an AbortError), `lane` (args: the paths of two FIFOs the client made: `manager-lane.ts`; the
 *   lane then carries the same requests for the same session and owner), `ping` and `shutdown`;
 *   only `create`, `call`, `lane`, `ping`, `shutdown` reply;
 * - replies `[id, 0, value]` or `[id, 1, serializedError]`.
 *
 * A malformed message (not an array, an id that is not a safe integer) closes its connection; a
 * well-formed request that cannot be served (unknown op, type, method or object, bad arguments)
 * gets a `ManagerProtocolError` or the method's own error. Nothing a client sends can stop the
 * server or make it hold more than its objects (the listener bounds the waiting connections, the
 * connections bound message sizes).
 *
 * References: an object lives while some session refers to it. A session's references go when
 * its last connection has been closed for {@link SESSION_GRACE_MS} (its process ended or died);
 * an object whose count drops to zero is freed {@link FREE_GRACE_MS} later unless a reference
 * came back meanwhile (a proxy in flight between two processes can be counted on either side
 * first).
 *
 * The server ends when asked (`shutdown`), or when the connection to its owner ends (the owner
 * exited or died; the process tree also ends a daemon child whose parent is gone).
 *
 * @module
 */
import { unlinkSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { hostname } from 'node:os'
import { refuseModuleLoading } from '@tandem/sync/kit'
import { loadTask, serializeError, type TaskSpec } from '@tandem/sync/task'
import { Listener, type Address } from '../connection.ts'
import { ManagerProtocolError } from '../errors.ts'
import type { Connection } from '../pipe.ts'
import { setLocalServer, TRANSIT, type LocalServer } from '../manager.ts'
import { MAX_UNSENT_BYTES, openServerLane } from './manager-lane.ts'
import { BUILTIN, ServerCustom, type Caller, type Served } from './manager-objects.ts'

/** What the owner sends its server. */
export interface ServerConfig {
  readonly address: Address | undefined
  readonly authkey: Uint8Array
  readonly registry: readonly (readonly [string, TaskSpec])[]
}

/** The session of the server's own references (proxies revived inside the server). */
export const SERVER_SESSION = `${hostname()}:${process.pid}:server`

const SESSION_GRACE_MS = 1000
const FREE_GRACE_MS = 1000

/**
 * A client that does not read its answers: the server takes no more requests from a connection
 * while more than {@link MAX_UNSENT_BYTES} of answers wait in its socket, or more than this many
 * answers wait for the I/O thread (a lane pauses the same way: `manager-lane.ts`).
 */
const MAX_UNSENT_ANSWERS = 64
/** How often a paused connection looks whether its client has read. */
const CONGESTED_POLL_MS = 5
/** Calls of one connection or lane waiting at once (blocked gets, acquires, ...) at most. */
export const MAX_WAITING_CALLS = 65_536

interface Entry {
  readonly typeid: string
  readonly served: Served
  refs: number
}

/** A client connection or lane: who sends, its waiting calls, and how to answer. */
interface Peer {
  readonly session: string
  readonly owner: string
  readonly waiting: Map<number, AbortController>
  /** Calls answered by a promise, not settled yet. */
  pending: number
  reply(id: number, ok: boolean, v: unknown): void
}

interface Session {
  conns: number
  readonly refs: Map<number, number>
  timer: NodeJS.Timeout | undefined
}

/**
 * The caller of one `call` request: its owner (thread), and the abort signal of a wait, made
 * only when the method asks for it (most calls answer at once and never do).
 */
class CallContext implements Caller {
  ac: AbortController | undefined = undefined
  readonly owner: string
  readonly waiting: Map<number, AbortController>
  readonly id: number

  constructor(owner: string, waiting: Map<number, AbortController>, id: number) {
    this.owner = owner
    this.waiting = waiting
    this.id = id
  }

  get signal(): AbortSignal {
    if (this.ac === undefined) this.waiting.set(this.id, (this.ac = new AbortController()))
    return this.ac.signal
  }
}

/** How a peer answers request `id` (none for id 0) with `send`. */
function answerWith(send: (msg: unknown) => void): Peer['reply'] {
  return (id, ok, v) => {
    if (id === 0) return
    try {
      send([id, ok ? 0 : 1, ok ? v : serializeError(v)])
    } catch (err) {
      // A result that cannot travel (a function, ...) is reported instead; a closed
      // connection or lane is the client's end.
      if (ok)
        try {
          send([id, 1, serializeError(err)])
        } catch {}
    }
  }
}

class Server implements LocalServer {
  readonly objects = new Map<number, Entry>()
  readonly sessions = new Map<string, Session>()
  readonly factories = new Map<string, (...args: unknown[]) => unknown>()
  #next = 1
  #listener: Listener | undefined
  address: Address = ''

  session(s: string): Session {
    let x = this.sessions.get(s)
    if (x === undefined) this.sessions.set(s, (x = { conns: 0, refs: new Map(), timer: undefined }))
    return x
  }

  incref(s: string, id: number): boolean {
    const e = this.objects.get(id)
    if (e === undefined) return false
    e.refs++
    const sess = this.session(s)
    sess.refs.set(id, (sess.refs.get(id) ?? 0) + 1)
    return true
  }

  decref(s: string, id: number): void {
    const sess = this.sessions.get(s)
    const n = sess?.refs.get(id) ?? 0
    if (n <= 0) return
    if (n === 1) sess!.refs.delete(id)
    else sess!.refs.set(id, n - 1)
    const e = this.objects.get(id)
    if (e === undefined) return
    if (--e.refs <= 0)
      setTimeout(() => {
        if (this.objects.get(id) === e && e.refs <= 0) this.objects.delete(id)
      }, FREE_GRACE_MS).unref()
  }

  /** The served object a value names: a proxy of this server (revived here) or an object id. */
  lookup(ref: unknown): Served | undefined {
    const id = typeof ref === 'number' ? ref : (ref as { objectId?: unknown } | null)?.objectId
    return typeof id === 'number' ? this.objects.get(id)?.served : undefined
  }

  create(s: string, typeid: unknown, args: unknown[]): number {
    if (typeof typeid !== 'string') throw new ManagerProtocolError('create: the typeid must be a string')
    const builtin = BUILTIN.get(typeid)
    let served: Served
    if (builtin !== undefined) served = builtin(args, (r) => this.lookup(r))
    else {
      const f = this.factories.get(typeid)
      if (f === undefined) throw new ManagerProtocolError(`This manager serves no type '${typeid}' (register it with SyncManager.register() before start())`)
      served = new ServerCustom(f(...args), typeid)
    }
    const id = this.#next++
    this.objects.set(id, { typeid, served, refs: 0 })
    this.incref(s, id)
    return id
  }

  call(caller: Caller, target: unknown, method: unknown, args: unknown[]): unknown {
    const e = typeof target === 'number' ? this.objects.get(target) : undefined
    if (e === undefined) throw new ManagerProtocolError(`No object ${String(target)} on this manager (it was freed, or never existed)`)
    const m = typeof method === 'string' ? e.served.exposed.get(method) : undefined
    if (m === undefined) throw new ManagerProtocolError(`A ${e.typeid} proxy has no method '${String(method)}'`)
    return m(caller, ...args)
  }

  endSession(s: string): void {
    const sess = this.sessions.get(s)
    if (sess === undefined || sess.conns > 0) return
    for (const [id, n] of [...sess.refs]) for (let i = 0; i < n; i++) this.decref(s, id)
    this.sessions.delete(s)
  }

  /** Opens a session's connection (or lane); undefined for a bad hello. */
  #join(hello: unknown): { session: string; owner: string } | undefined {
    const { session, owner } = (hello ?? {}) as { session?: unknown; owner?: unknown }
    if (typeof hello !== 'object' || typeof session !== 'string' || typeof owner !== 'string' || session === SERVER_SESSION || session === TRANSIT) return undefined
    const sess = this.session(session)
    sess.conns++
    if (sess.timer !== undefined) clearTimeout(sess.timer)
    sess.timer = undefined
    return { session, owner }
  }

  /** Closes a session's connection (or lane): its waiting calls are cancelled. */
  #leave(peer: Peer): void {
    for (const ac of peer.waiting.values()) ac.abort()
    const sess = this.sessions.get(peer.session)
    if (sess === undefined) return
    sess.conns--
    if (sess.conns === 0) sess.timer = setTimeout(() => this.endSession(peer.session), SESSION_GRACE_MS)
  }

  /** Serves one request; false when the message is not this protocol (then hang up). */
  #handle(peer: Peer, msg: unknown): boolean {
    if (!Array.isArray(msg) || !Number.isSafeInteger(msg[0])) return false
    const [id, op, target, method, rawArgs] = msg as [number, unknown, unknown, unknown, unknown]
    const { session, owner, waiting } = peer
    const reply = (ok: boolean, v: unknown): void => peer.reply(id, ok, v)
    const args = rawArgs === undefined ? [] : rawArgs
    if (!Array.isArray(args)) {
      if (id !== 0) reply(false, new ManagerProtocolError('The arguments of a request must be an array'))
      return true
    }
    switch (op) {
      case 'call': {
        if (peer.pending >= MAX_WAITING_CALLS) {
          reply(false, new ManagerProtocolError(`More than ${MAX_WAITING_CALLS} calls of one client thread are waiting at once`))
          break
        }
        // A method answers at once, or (a wait) with a promise: calls run side by side, so a
        // blocked get does not hold up a put from the same client. The abort controller of a
        // wait is made only when the method asks for its signal.
        const caller = new CallContext(owner, waiting, id)
        let v: unknown
        try {
          v = this.call(caller, target, method, args)
        } catch (err) {
          if (caller.ac !== undefined) waiting.delete(id)
          reply(false, err)
          break
        }
        if (v instanceof Promise) {
          peer.pending++
          v.then(
            (r) => reply(true, r),
            (err) => reply(false, err),
          ).finally(() => {
            peer.pending--
            waiting.delete(id)
          })
        } else {
          if (caller.ac !== undefined) waiting.delete(id)
          reply(true, v)
        }
        break
      }
      case 'create':
        try {
          reply(true, this.create(session, target, args))
        } catch (err) {
          reply(false, err)
        }
        break
      case 'incref':
        if (typeof target === 'number') this.incref(session, target)
        break
      case 'lend':
        // A proxy sent to another thread or process: its reference waits there for `adopt`.
        if (typeof target === 'number') this.incref(TRANSIT, target)
        break
      case 'decref':
        if (typeof target === 'number') this.decref(session, target)
        break
      case 'adopt':
        // A proxy arrived here: the reference it carried (lent, under `method`) moves over.
        if (typeof target === 'number' && this.incref(session, target) && typeof method === 'string') this.decref(method, target)
        break
      case 'cancel':
        if (typeof target === 'number') waiting.get(target)?.abort()
        break
      case 'lane':
        try {
          this.#openLane(peer, args[0], args[1])
          reply(true, true)
        } catch (err) {
          reply(false, err)
        }
        break
      case 'ping':
        reply(true, true)
        break
      case 'shutdown':
        reply(true, true)
        this.stop()
        break
      default:
        if (id !== 0) reply(false, new ManagerProtocolError(`Unknown request '${String(op)}'`))
    }
    return true
  }

  /** A lane for the thread of `peer` (its paths came over `peer`'s authenticated connection). */
  #openLane(peer: Peer, request: unknown, reply: unknown): void {
    if (typeof request !== 'string' || typeof reply !== 'string') throw new ManagerProtocolError('lane: two FIFO paths expected')
    // Lanes are for clients on this machine: a manager on TCP serves its clients over sockets.
    if (typeof this.address !== 'string') throw new ManagerProtocolError('lane: this manager listens on TCP; lanes are for a Unix-socket manager')
    const lanePeer: Peer = { session: peer.session, owner: peer.owner, waiting: new Map(), pending: 0, reply: () => {} }
    const lane = openServerLane(
      request,
      reply,
      (m) => {
        if (!this.#handle(lanePeer, m)) lane.close()
      },
      () => this.#leave(lanePeer),
    )
    lanePeer.reply = answerWith((m) => lane.reply(m))
    // Counted in its session only once open (a lane that failed holds nothing).
    this.#join({ session: peer.session, owner: peer.owner })
  }

  async serveConnection(conn: Connection): Promise<void> {
    let hello: unknown
    try {
      hello = await conn.recvAsync({ timeout: 30_000 })
    } catch {
      conn.close()
      return
    }
    const joined = this.#join(hello)
    if (joined === undefined) {
      conn.close()
      return
    }
    const peer: Peer = {
      ...joined,
      waiting: new Map(),
      pending: 0,
      reply: answerWith((m) => conn.send(m)),
    }
    for (;;) {
      // A client that does not read its answers gets no more served until it does (its answers
      // would pile up in this process without bound).
      while (conn._congested(MAX_UNSENT_BYTES, MAX_UNSENT_ANSWERS)) await sleep(CONGESTED_POLL_MS)
      let msg: unknown
      try {
        msg = await conn.recvAsync()
      } catch {
        break
      }
      if (!this.#handle(peer, msg)) break // not this protocol: hang up
    }
    try {
      conn.close()
    } catch {}
    this.#leave(peer)
  }

  stop(): void {
    this.#listener?.close()
    if (typeof this.address === 'string')
      try {
        unlinkSync(this.address)
      } catch {}
    // Let the last replies go out.
    setTimeout(() => process.exit(0), 50)
  }

  async run(owner: Connection, config: ServerConfig): Promise<void> {
    for (const [typeid, spec] of config.registry) this.factories.set(typeid, (await loadTask(spec)) as (...args: unknown[]) => unknown)
    // From here on, everything decoded comes from clients: a value naming a module loads nothing.
    refuseModuleLoading()
    const listener = new Listener({ address: config.address, authkey: config.authkey, backlog: 1024 })
    this.#listener = listener
    this.address = listener.address
    setLocalServer(this)
    // Ended by its owner's exit (a daemon child is terminated): remove the socket first.
    process.once('SIGTERM', () => this.stop())
    owner.send({ address: listener.address })
    // The owner going away ends the server.
    void owner.recvAsync().then(
      () => this.stop(),
      () => this.stop(),
    )
    for (;;) {
      let conn: Connection
      try {
        conn = await listener.acceptAsync()
      } catch {
        return
      }
      void this.serveConnection(conn)
    }
  }
}

/** The server process's target (`SyncManager.start()`). */
export async function serve(owner: Connection, config: ServerConfig): Promise<void> {
  await new Server().run(owner, config)
}
