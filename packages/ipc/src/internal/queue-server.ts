/**
 * Process queues in the I/O thread (`hub.ts`): the serving side in the process that created a
 * queue, and the forwarding of other processes' requests and replies.
 *
 * A process queue lives in its creator (its *home*) as a `@tandem/queue` Queue of items encoded
 * for a process. Threads of the home use it directly. A thread of another process sends a
 * request through its own I/O thread (`qreq` command, then a `QREQ` frame to the home); the home's
 * I/O thread performs it with the queue's async forms (a blocking get waits there, with its
 * timeout) and answers with a `QREP` frame, which the requester's I/O thread puts on the waiting
 * thread's reply queue. Items travel as their encoded bytes both ways, never decoded on the way.
 *
 * - A request id of 0 asks for no reply (a put on an unbounded queue: it cannot wait or fail for
 *   lack of room, so the producer does not wait for the round trip, like Python's feeder thread).
 * - `QCANCEL` aborts a waiting request (an aborted `getAsync`); the home still answers it, with
 *   the item if it had already taken one (the caller keeps it: the abort came too late).
 * - A requester that dies has its waiting requests aborted at the home, so it takes no item with
 *   it; a home that dies fails every request waiting for it with `ProcessLostError`.
 *
 * QREQ/QREP payload: a u32 length, a V8-serialized header (`ReqHeader`/`RepHeader`), then the
 * item's encoded bytes (its tag and 32-bit value ride in the frame header's TAG and AUX).
 *
 * @module
 */
import { deserialize, serialize } from 'node:v8'
import { serializeError, type SerializedError } from '@tandem/sync/task'
import type { RawItem } from '@tandem/queue/kit'
import type { Queue } from '@tandem/queue/queue'
import { ProcessLostError } from '../errors.ts'
import type { Command, HubReply } from './hub-client.ts'
import { copyBytes } from './channel.ts'
import { forward } from './forward.ts'
import type { Frame } from './link.ts'

import { T_QCANCEL, T_QPUT, T_QREP, T_QREQ } from './frames.ts'

/** Bytes before each item in a packed `T_QPUT` frame: tag (u8), value (i32 LE), length (u32 LE). */
const ITEM_HEADER = 9
/** A pack is sent once it holds this many bytes (and at the end of every burst). */
const PACK_BYTES = 60 * 1024

/** Gathers encoded items into one frame: `[tag][value][length][bytes]` per item. */
export class ItemPack {
  readonly #send: (bytes: Uint8Array, count: number) => void
  #buf = Buffer.allocUnsafe(PACK_BYTES + ITEM_HEADER)
  #len = 0
  #count = 0

  constructor(send: (bytes: Uint8Array, count: number) => void) {
    this.#send = send
  }

  add(raw: RawItem): void {
    const n = raw.bytes?.length ?? 0
    if (this.#len > 0 && this.#len + ITEM_HEADER + n > PACK_BYTES) this.flush()
    if (this.#buf.length < ITEM_HEADER + n) this.#buf = Buffer.allocUnsafe(ITEM_HEADER + n)
    const b = this.#buf
    b[this.#len] = raw.tag
    b.writeInt32LE(raw.value | 0, this.#len + 1)
    b.writeUInt32LE(n, this.#len + 5)
    if (n > 0) b.set(raw.bytes!, this.#len + ITEM_HEADER)
    this.#len += ITEM_HEADER + n
    this.#count++
  }

  flush(): void {
    if (this.#count === 0) return
    const bytes = this.#buf.subarray(0, this.#len)
    const count = this.#count
    this.#len = 0
    this.#count = 0
    this.#send(bytes, count)
    if (this.#buf.length > PACK_BYTES + ITEM_HEADER) this.#buf = Buffer.allocUnsafe(PACK_BYTES + ITEM_HEADER)
  }
}

/** Calls `put` with each of the `count` items of a packed frame (lengths checked). */
export function unpackItems(payload: Uint8Array, count: number, put: (raw: RawItem) => void): void {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength)
  let at = 0
  for (let i = 0; i < count; i++) {
    if (payload.length - at < ITEM_HEADER) throw new Error('a packed item header runs past the frame')
    const tag = payload[at]!
    const value = view.getInt32(at + 1, true)
    const n = view.getUint32(at + 5, true)
    at += ITEM_HEADER
    if (payload.length - at < n) throw new Error('a packed item runs past the frame')
    put({ tag, value, bytes: n === 0 ? undefined : payload.subarray(at, at + n) })
    at += n
  }
}

/** What a request asks. */
export interface ReqHeader {
  readonly kind: 'put' | 'get' | 'qsize' | 'empty' | 'full' | 'taskDone' | 'join' | 'shutdown'
  readonly block?: boolean
  readonly timeout?: number
}

/** A reply, as the waiting thread receives it. */
export type Reply = HubReply

interface Router {
  readonly pid: number
  send(type: number, dst: number, id: number, payload?: Uint8Array, tag?: number, aux?: number): void
}

interface Pending {
  readonly home: number
  readonly reply: Queue<unknown>
}

interface Served {
  readonly abort: AbortController
}

export function packPayload(header: unknown, raw?: RawItem): Uint8Array {
  const h = serialize(header)
  const n = raw?.bytes?.length ?? 0
  const out = new Uint8Array(4 + h.length + n)
  new DataView(out.buffer).setUint32(0, h.length)
  out.set(h, 4)
  if (n > 0) out.set(raw!.bytes!, 4 + h.length)
  return out
}

export function unpackPayload(f: Frame): { header: unknown; raw: RawItem } {
  const p = f.payload
  if (p.length < 4) throw new RangeError('truncated queue frame')
  const hlen = new DataView(p.buffer, p.byteOffset, p.length).getUint32(0)
  if (hlen > p.length - 4) throw new RangeError('truncated queue frame header')
  const header = deserialize(Buffer.from(p.buffer, p.byteOffset + 4, hlen))
  const rest = p.subarray(4 + hlen)
  return { header, raw: { tag: f.tag, value: f.aux, bytes: rest.length === 0 ? undefined : copyBytes(rest) } }
}

export class QueueServer {
  readonly #hub: Router
  /** Queues this process is home to, by id. */
  readonly #queues = new Map<number, Queue<unknown>>()
  /** Requests for queues whose registration has not arrived yet. */
  readonly #early = new Map<number, Frame[]>()
  /** Requests of this process's threads waiting for a reply, by request id. */
  readonly #pending = new Map<number, Pending>()
  /** Requests being served here, by `${src}:${rid}`. */
  readonly #served = new Map<string, Served>()
  /** Streams of this process's puts to remote queues, by home pid. */
  readonly #streams = new Map<number, { out: Queue<unknown>; abort: AbortController }[]>()

  constructor(hub: Router) {
    this.#hub = hub
  }

  command(c: Command): void {
    if (c.op === 'qexport') {
      if (this.#queues.has(c.qid)) return
      this.#queues.set(c.qid, c.queue as Queue<unknown>)
      const early = this.#early.get(c.qid)
      this.#early.delete(c.qid)
      for (const f of early ?? []) this.onFrame(f)
      return
    }
    if (c.op === 'qstream') {
      const entry = { out: c.out, abort: new AbortController() }
      let list = this.#streams.get(c.home)
      if (list === undefined) this.#streams.set(c.home, (list = []))
      list.push(entry)
      // Puts stream to the home (no answer: like Python's feeder thread), many items per frame.
      const source = { next: (signal: AbortSignal) => entry.out._getRawAsync({ signal }), take: () => entry.out._takeRaw() }
      const pack = new ItemPack((bytes, count) => this.#hub.send(T_QPUT, c.home, c.qid, bytes, 0, count))
      void forward(
        source,
        entry.abort.signal,
        (raw) => pack.add(raw),
        () => pack.flush(),
      )
      return
    }
    if (c.op === 'qcancel') {
      this.#hub.send(T_QCANCEL, c.home, c.rid)
      return
    }
    if (c.op !== 'qreq') return
    if (c.rid !== 0 && c.reply !== null) this.#pending.set(c.rid, { home: c.home, reply: c.reply })
    const raw: RawItem | undefined = c.bytes === null && c.tag === 0 ? undefined : { tag: c.tag, value: c.value, bytes: c.bytes ?? undefined }
    this.#hub.send(T_QREQ, c.home, c.rid, packPayload({ ...(c.args as object), qid: c.qid }, raw), raw?.tag ?? 0, raw?.value ?? 0)
  }

  onFrame(f: Frame): void {
    if (f.type === T_QPUT) {
      const q = this.#queues.get(f.id)
      if (q === undefined) {
        let list = this.#early.get(f.id)
        if (list === undefined) this.#early.set(f.id, (list = []))
        list.push({ ...f, payload: copyBytes(f.payload) })
        return
      }
      try {
        unpackItems(f.payload, f.aux, (raw) => q._putRaw(raw))
      } catch {
        // A queue shut down at home: the items have nowhere to go (as puts after close()).
      }
      return
    }
    if (f.type === T_QREQ) {
      this.#serve(f)
      return
    }
    if (f.type === T_QCANCEL) {
      this.#served.get(`${f.src}:${f.id}`)?.abort.abort()
      return
    }
    if (f.type === T_QREP) {
      const p = this.#pending.get(f.id)
      if (p === undefined) return
      this.#pending.delete(f.id)
      let reply: Reply
      try {
        const { header, raw } = unpackPayload(f)
        const h = header as { ok: boolean; value?: unknown; error?: SerializedError; hasItem?: boolean }
        reply = { rid: f.id, ok: h.ok, value: h.value, error: h.error, raw: h.hasItem ? raw : undefined }
      } catch (err) {
        reply = { rid: f.id, ok: false, error: serializeError(err) }
      }
      p.reply.put(reply)
    }
  }

  #reply(dst: number, rid: number, header: { ok: boolean; value?: unknown; error?: SerializedError; hasItem?: boolean }, raw?: RawItem): void {
    if (rid === 0) return
    this.#hub.send(T_QREP, dst, rid, packPayload(header, raw), raw?.tag ?? 0, raw?.value ?? 0)
  }

  #serve(f: Frame): void {
    let header: ReqHeader & { qid: number }
    let raw: RawItem
    try {
      const unpacked = unpackPayload(f)
      header = unpacked.header as ReqHeader & { qid: number }
      raw = unpacked.raw
    } catch (err) {
      this.#reply(f.src, f.id, { ok: false, error: serializeError(err) })
      return
    }
    const q = this.#queues.get(header.qid)
    if (q === undefined) {
      let list = this.#early.get(header.qid)
      if (list === undefined) this.#early.set(header.qid, (list = []))
      list.push({ ...f, payload: copyBytes(f.payload) })
      return
    }
    void this.#run(q, f.src, f.id, header, raw)
  }

  async #run(q: Queue<unknown>, src: number, rid: number, h: ReqHeader, raw: RawItem): Promise<void> {
    const key = `${src}:${rid}`
    const abort = new AbortController()
    if (rid !== 0) this.#served.set(key, { abort })
    const timeout = h.block === false ? 0 : (h.timeout ?? Infinity)
    try {
      switch (h.kind) {
        case 'put':
          if (q.maxsize === 0) q._putRaw(raw)
          else await q._putRawAsync(raw, { timeout, signal: abort.signal })
          this.#reply(src, rid, { ok: true })
          break
        case 'get': {
          const item = await q._getRawAsync({ timeout, signal: abort.signal })
          this.#reply(src, rid, { ok: true, hasItem: true }, item)
          break
        }
        case 'qsize':
          this.#reply(src, rid, { ok: true, value: q.qsize() })
          break
        case 'empty':
          this.#reply(src, rid, { ok: true, value: q.empty() })
          break
        case 'full':
          this.#reply(src, rid, { ok: true, value: q.full() })
          break
        case 'taskDone':
          q.taskDone()
          this.#reply(src, rid, { ok: true })
          break
        case 'join':
          this.#reply(src, rid, { ok: true, value: await q.joinAsync({ timeout, signal: abort.signal }) })
          break
        default:
          throw new RangeError(`unknown queue request ${String((h as { kind: unknown }).kind)}`)
      }
    } catch (err) {
      this.#reply(src, rid, { ok: false, error: serializeError(abort.signal.aborted ? { name: 'AbortError', message: 'cancelled', code: 'ABORT_ERR' } : err) })
    } finally {
      this.#served.delete(key)
    }
  }

  processGone(pid: number): void {
    for (const entry of this.#streams.get(pid) ?? []) {
      entry.abort.abort()
      entry.out.shutdown(true)
    }
    this.#streams.delete(pid)
    for (const [key, s] of this.#served) if (key.startsWith(`${pid}:`)) s.abort.abort()
    for (const [rid, p] of this.#pending) {
      if (p.home !== pid) continue
      this.#pending.delete(rid)
      p.reply.put({ rid, ok: false, error: serializeError(new ProcessLostError(`The process ${pid} that holds this queue has exited`)) } satisfies Reply)
    }
  }
}
