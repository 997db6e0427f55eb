/**
 * Listener and Client connections in the I/O thread (`hub.ts`): the `net` servers and sockets
 * behind `Listener`/`Client` (`connection.ts`).
 *
 * A socket that passed the authkey handshake (`auth.ts`, when a key is set) becomes a `Link`
 * carrying only `T_SOCK_MSG` frames (one message each: the encoded item's tag and value in the
 * header, its bytes as payload) and is bridged to a new local pipe: the I/O thread holds one end
 * and hands the other to the thread that called `accept()` or `Client()`. The peer closing the
 * socket (or dying) gives that end EOF; the local end closing ends the socket.
 *
 * Hostile peers: nothing is decoded before the handshake succeeds; a frame header with another
 * type or a length above the limit closes the socket at once; a large frame's memory grows with
 * the bytes that actually arrive (`link.ts`), so lying about a length costs the liar the bytes.
 *
 * @module
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { Queue } from '@tandem/queue/queue'
import { serializeError } from '@tandem/sync/task'
import { payloadBytes, type RawItem } from '@tandem/queue/kit'
import { ConnectionClosedError } from '../errors.ts'
import { _pair, type Connection } from '../pipe.ts'
import { clientHandshake, serverHandshake } from './auth.ts'
import type { Command, HubReply } from './hub-client.ts'
import { forward } from './forward.ts'
import { Link } from './link.ts'

export const T_SOCK_MSG = 12

interface Listening {
  readonly server: Server
  readonly authkey: Uint8Array | undefined
  /** Most connections kept waiting for `accept()`. */
  readonly backlog: number
  readonly ready: Connection[]
  readonly waiters: { rid: number; reply: Queue<unknown> }[]
  closed: boolean
}

type Address = string | { host: string; port: number }

function answer(reply: Queue<unknown>, r: HubReply): void {
  reply.put(r)
}

function failure(rid: number, err: unknown): HubReply {
  return { rid, ok: false, error: serializeError(err) }
}

export class SocketServer {
  readonly #listeners = new Map<number, Listening>()
  /** Accept requests by rid, for cancellation. */
  readonly #accepting = new Map<number, { lid: number; reply: Queue<unknown> }>()

  command(c: Command): void {
    switch (c.op) {
      case 'listen':
        this.#listen(c)
        return
      case 'accept':
        this.#accept(c)
        return
      case 'unlisten':
        this.#unlisten(c.lid)
        return
      case 'connect':
        this.#connect(c)
        return
      case 'cancel': {
        const a = this.#accepting.get(c.rid)
        if (a === undefined) return
        this.#accepting.delete(c.rid)
        const l = this.#listeners.get(a.lid)
        if (l !== undefined) l.waiters.splice(l.waiters.findIndex((w) => w.rid === c.rid) >>> 0, 1)
        answer(a.reply, {
          rid: c.rid,
          ok: false,
          error: { name: 'AbortError', message: 'cancelled', stack: undefined, code: 'ABORT_ERR', props: {}, cause: undefined, thrown: undefined },
        })
        return
      }
    }
  }

  #listen(c: Extract<Command, { op: 'listen' }>): void {
    const authkey = c.authkey ?? undefined
    const server = createServer((socket) => void this.#incoming(c.lid, socket))
    const entry: Listening = { server, authkey, backlog: c.backlog, ready: [], waiters: [], closed: false }
    server.once('error', (err) => answer(c.reply, failure(c.rid, err)))
    server.listen(typeof c.address === 'string' ? { path: c.address } : { host: c.address.host, port: c.address.port }, () => {
      this.#listeners.set(c.lid, entry)
      const a = server.address()
      const bound: Address = typeof a === 'string' ? a : a === null ? '' : { host: a.address, port: a.port }
      answer(c.reply, { rid: c.rid, ok: true, value: bound })
    })
  }

  async #incoming(lid: number, socket: Socket): Promise<void> {
    const l = this.#listeners.get(lid)
    if (l === undefined || l.closed) {
      socket.destroy()
      return
    }
    socket.on('error', () => {})
    if (l.authkey !== undefined) {
      try {
        await serverHandshake(socket, l.authkey)
      } catch {
        socket.destroy()
        return
      }
    }
    // A full backlog (nobody accepts): the client is disconnected, as the kernel refuses one, so
    // connections that nobody takes cannot pile up.
    if (l.closed || (l.waiters.length === 0 && l.ready.length >= l.backlog)) {
      socket.destroy()
      return
    }
    // A peer that breaks the protocol before its connection is accepted is forgotten at once
    // (it carried nothing usable), so garbage connections cannot pile up in the backlog.
    const mine = bridge(socket, () => {
      const i = l.ready.indexOf(mine)
      if (i >= 0) {
        l.ready.splice(i, 1)
        mine.close()
      }
    })
    const w = l.waiters.shift()
    if (w !== undefined) {
      this.#accepting.delete(w.rid)
      answer(w.reply, { rid: w.rid, ok: true, value: mine })
    } else l.ready.push(mine)
  }

  #accept(c: Extract<Command, { op: 'accept' }>): void {
    const l = this.#listeners.get(c.lid)
    if (l === undefined || l.closed) {
      answer(c.reply, failure(c.rid, new ConnectionClosedError('Listener.accept(): the listener is closed')))
      return
    }
    const ready = l.ready.shift()
    if (ready !== undefined) {
      answer(c.reply, { rid: c.rid, ok: true, value: ready })
      return
    }
    l.waiters.push({ rid: c.rid, reply: c.reply })
    this.#accepting.set(c.rid, { lid: c.lid, reply: c.reply })
  }

  #unlisten(lid: number): void {
    const l = this.#listeners.get(lid)
    if (l === undefined) return
    l.closed = true
    this.#listeners.delete(lid)
    l.server.close()
    for (const conn of l.ready) conn.close()
    for (const w of l.waiters) {
      this.#accepting.delete(w.rid)
      answer(w.reply, failure(w.rid, new ConnectionClosedError('Listener.accept(): the listener was closed')))
    }
  }

  #connect(c: Extract<Command, { op: 'connect' }>): void {
    const socket = typeof c.address === 'string' ? connect({ path: c.address }) : connect({ host: c.address.host, port: c.address.port })
    socket.once('error', (err) => answer(c.reply, failure(c.rid, err)))
    socket.once('connect', async () => {
      try {
        if (c.authkey !== null) await clientHandshake(socket, c.authkey)
      } catch (err) {
        socket.destroy()
        answer(c.reply, failure(c.rid, err))
        return
      }
      socket.removeAllListeners('error')
      socket.on('error', () => {})
      answer(c.reply, { rid: c.rid, ok: true, value: bridge(socket) })
    })
  }
}

/** Bridges a socket to a new local pipe; returns the end for the user. `onBroken`: the peer broke the protocol. */
function bridge(socket: Socket, onBroken?: () => void): Connection {
  const [mine, far] = _pair(true, true)
  far._export()
  const abort = new AbortController()
  const link = new Link(
    socket,
    {
      onFrame(f) {
        // A message's byte count is in its header too: one that does not match its payload is
        // not this protocol (it would make the receiver read past the bytes it has).
        const n = payloadBytes(f.tag, f.aux)
        if (n !== f.payload.length && !(n === 0 && f.payload.length === 0)) {
          link.close()
          onBroken?.()
          return
        }
        try {
          far._sendRaw({ tag: f.tag, value: f.aux, bytes: f.payload.length === 0 ? undefined : f.payload })
        } catch {
          link.close()
        }
      },
      onClose(_link, err) {
        far._setUnsent(0)
        abort.abort()
        far._bridgeEnded()
        if (err !== undefined && (err as { code?: string }).code === 'ERR_IPC_PROTOCOL') onBroken?.()
      },
    },
    { validType: (t) => t === T_SOCK_MSG },
  )
  socket.resume()
  // What the peer has not read yet shows in the end's UNSENT word (a server reads that to stop
  // taking requests from a client that does not read its answers).
  socket.on('drain', () => far._setUnsent(socket.writableLength))
  const source = { next: (s: AbortSignal) => far._recvRawAsync(s), take: () => far._takeRaw() }
  const emit = (raw: RawItem): void => link.write(T_SOCK_MSG, 0, 0, 0, raw.bytes, raw.tag, raw.value)
  const flush = (): void => {
    link.flush()
    far._setUnsent(socket.writableLength)
  }
  void forward(source, abort.signal, emit, flush).then((ended) => {
    if (ended) link.close()
  })
  return mine
}
