/**
 * The authentication handshake of `Listener`/`Client` with an `authkey`: CPython's
 * `multiprocessing.connection` `deliver_challenge`/`answer_challenge` (3.12+ protocol), on a
 * `net.Socket`.
 *
 * Frames are a 4-byte big-endian length and that many bytes (the `Connection` framing). The
 * exchange is mutual, as CPython's: the server challenges the client, then the client
 * challenges the server.
 *
 * ```text
 *   server (serverHandshake)                   client (clientHandshake)
 *   ---------------------------------------    ---------------------------------------
 *   N1 = '{sha256}' + 40 random bytes
 *   send '#CHALLENGE#' + N1            ----->   check prefix and '{digest}'
 *                                      <-----   send '{sha256}' + HMAC-SHA256(key, N1)
 *   compare (timingSafeEqual)
 *   send '#WELCOME#' (or '#FAILURE#',  ----->   '#WELCOME#'? else fail
 *     then fail)
 *                                               N2 = '{sha256}' + 40 random bytes
 *   check prefix and '{digest}'        <-----   send '#CHALLENGE#' + N2
 *   send '{sha256}' + HMAC(key, N2)    ----->   compare (timingSafeEqual)
 *   '#WELCOME#'? else fail             <-----   send '#WELCOME#' (or '#FAILURE#', then fail)
 * ```
 *
 * The HMAC covers the whole nonce, `{sha256}` prefix included, so a peer cannot downgrade the
 * digest. Differences from CPython, all refusals: the legacy HMAC-MD5 protocol (a 20-byte
 * challenge or a 16-byte unprefixed response, Python <= 3.11) is not spoken; the side that
 * delivers a challenge accepts only a `{sha256}` response; the side that answers accepts a
 * `{sha256}`, `{sha384}`, `{sha3_256}` or `{sha3_384}` challenge (what a CPython 3.12+ peer can
 * send) with a nonce of at least 32 bytes. A CPython 3.12+ `Listener`/`Client` with the same
 * key interoperates (its default digest is sha256).
 *
 * Hostile peers: a frame longer than {@link MAX_FRAME} bytes is refused as soon as its length
 * prefix arrives (nothing is allocated for it); a peer that sends garbage, closes early, or does
 * not finish within `timeoutMs` makes the handshake reject with {@link AuthenticationError}, and
 * the socket is destroyed. Frames are parsed synchronously as chunks arrive, so the handshake
 * holds at most one partial frame plus the chunk being parsed.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Socket } from 'node:net'
import { InternalStateError, rangeError, typeError } from '@tandem/sync/errors'
import { AuthenticationError } from '../errors.ts'

/** Longest handshake frame accepted (CPython's `recv_bytes(256)`). */
export const MAX_FRAME = 256
/** Random bytes in a challenge nonce (CPython's `MESSAGE_LENGTH`). */
const NONCE_BYTES = 40
/** Shortest nonce accepted in a peer's challenge, after its `{digest}` prefix. */
const MIN_PEER_NONCE = 32
/** Default `timeoutMs` of both handshakes. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000
/** Longest delay `setTimeout` honours. */
const MAX_TIMER_MS = 2 ** 31 - 1
/** After a `#FAILURE#` reply, how long the socket may take to flush it before it is destroyed anyway. */
const FAILURE_FLUSH_MS = 1_000

const LENGTH_BYTES = 4
const CHALLENGE = Buffer.from('#CHALLENGE#', 'latin1')
const WELCOME = Buffer.from('#WELCOME#', 'latin1')
const FAILURE = Buffer.from('#FAILURE#', 'latin1')
/** The digest this side asks for and requires in responses. */
const DIGEST = 'sha256'
/** Digests a peer's challenge may name (CPython's `_ALLOWED_DIGESTS` minus md5) -> node:crypto names. */
const ANSWERABLE: ReadonlyMap<string, string> = new Map([
  ['sha256', 'sha256'],
  ['sha384', 'sha384'],
  ['sha3_256', 'sha3-256'],
  ['sha3_384', 'sha3-384'],
])
/** Longest `{digest}` prefix, braces included. */
const MAX_DIGEST_PREFIX = 2 + Math.max(...[...ANSWERABLE.keys()].map((d) => d.length))

/** Re-exported for the handshake's callers and tests; defined (and documented) in `errors.ts`. */
export { AuthenticationError }

/** Options of {@link serverHandshake} and {@link clientHandshake}. */
export interface HandshakeOptions {
  /**
   * Milliseconds the whole handshake may take; `Infinity` for no limit. Expiry rejects with
   * {@link AuthenticationError} and destroys the socket.
   * @default 10000
   */
  readonly timeoutMs?: number
}

/**
 * Validates and normalizes a user's `authkey` option (`Listener({ authkey })`,
 * `Client(address, { authkey })`).
 *
 * @param key `undefined` or `null` (no authentication), a string (its UTF-8 bytes) or a
 *   `Uint8Array` (a `Buffer` included).
 * @returns A private copy of the key's bytes, or `undefined` for no authentication.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for any other type.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for an empty key.
 */
export function toAuthkey(key: unknown): Uint8Array | undefined {
  if (key === undefined || key === null) return undefined
  let bytes: Uint8Array
  if (typeof key === 'string') bytes = new Uint8Array(Buffer.from(key, 'utf8'))
  // A copy: later edits of the caller's buffer do not change the key.
  else if (key instanceof Uint8Array) bytes = new Uint8Array(key)
  else throw typeError(`The authkey must be a string or a Uint8Array; received ${describe(key)}`)
  if (bytes.length === 0) throw rangeError('The authkey must not be empty; pass undefined for no authentication, or a non-empty string or Uint8Array')
  return bytes
}

/**
 * The listening side's handshake (CPython's `deliver_challenge` then `answer_challenge`): proves
 * the client knows `authkey`, then proves to the client that this side does.
 *
 * Call it on a freshly accepted socket, before anything else reads from it, and do not write to
 * the socket until it settles. On success the socket is left **paused** with every listener
 * this function added removed; bytes the peer sent after the handshake (a message sent right
 * after `Client` returned) are pushed back with `socket.unshift`, so the next consumer reads
 * them first: attach your `'data'`/`'error'` listeners, then call `socket.resume()` (adding a
 * `'data'` listener alone does not resume an explicitly paused stream), or use `socket.read()`.
 * On failure the socket is destroyed (after the `#FAILURE#` reply is flushed, when one is sent).
 *
 * @param socket An accepted, connected socket, without `setEncoding`.
 * @param authkey The shared secret (see {@link toAuthkey}).
 * @param opts `timeoutMs` (default 10 s): limit for the whole handshake.
 * @returns A promise that resolves once both sides are authenticated.
 * @throws {AuthenticationError} `ERR_AUTHENTICATION` (rejection) for a wrong key on either side, a
 *   protocol violation, a frame over {@link MAX_FRAME} bytes, a peer that closes early or a
 *   timeout.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` (rejection) for an `authkey` that is not a non-empty
 *   Uint8Array, a socket with an encoding set, or a non-number `timeoutMs`.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` (rejection) for a `timeoutMs` that is not positive.
 */
export async function serverHandshake(socket: Socket, authkey: Uint8Array, opts?: HandshakeOptions): Promise<void> {
  return handshake(socket, authkey, opts, 'server')
}

/**
 * The connecting side's handshake (CPython's `answer_challenge` then `deliver_challenge`):
 * proves to the server that this side knows `authkey`, then makes the server prove it too.
 *
 * Call it on the socket as soon as it is created (it may still be connecting), before anything
 * else reads from it, and do not write to the socket until it settles. On success the socket is
 * left **paused** with every listener this function added removed; any bytes already received
 * after the handshake are pushed back with `socket.unshift` for the next consumer: attach your
 * `'data'`/`'error'` listeners, then call `socket.resume()`, or use `socket.read()`. On failure
 * the socket is destroyed.
 *
 * @param socket A connected (or connecting) socket, without `setEncoding`.
 * @param authkey The shared secret (see {@link toAuthkey}).
 * @param opts `timeoutMs` (default 10 s): limit for the whole handshake.
 * @returns A promise that resolves once both sides are authenticated.
 * @throws {AuthenticationError} `ERR_AUTHENTICATION` (rejection) for a wrong key on either side, a
 *   protocol violation, a frame over {@link MAX_FRAME} bytes, a peer that closes early, a failed
 *   connection (the socket error is the `cause`) or a timeout.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` (rejection) for an `authkey` that is not a non-empty
 *   Uint8Array, a socket with an encoding set, or a non-number `timeoutMs`.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` (rejection) for a `timeoutMs` that is not positive.
 */
export async function clientHandshake(socket: Socket, authkey: Uint8Array, opts?: HandshakeOptions): Promise<void> {
  return handshake(socket, authkey, opts, 'client')
}

// ---- the state machine -----------------------------------------------------------------------

/**
 * What the handshake waits for next:
 * - `RESPONSE`: the peer's digest of the nonce this side sent (this side delivered a challenge);
 * - `CHALLENGE`: the peer's challenge, to answer;
 * - `VERDICT`: `#WELCOME#` or `#FAILURE#` for the digest this side sent.
 */
type Expect = 'RESPONSE' | 'CHALLENGE' | 'VERDICT'

/** The outcome of one frame: wait for another, or the handshake is over (successfully). */
type Step = Expect | 'DONE'

function handshake(socket: Socket, authkey: Uint8Array, opts: HandshakeOptions | undefined, role: 'server' | 'client'): Promise<void> {
  if (!(authkey instanceof Uint8Array) || authkey.length === 0) {
    return Promise.reject(typeError(`The authkey must be a non-empty Uint8Array (see toAuthkey); received ${describe(authkey)}`))
  }
  const timeoutMs = opts?.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS
  if (typeof timeoutMs !== 'number') return Promise.reject(typeError(`The timeoutMs option must be a number; received ${describe(timeoutMs)}`))
  if (!(timeoutMs > 0)) return Promise.reject(rangeError(`The timeoutMs option must be a positive number of milliseconds or Infinity; received ${timeoutMs}`))
  if (socket.readableEncoding !== null) {
    return Promise.reject(typeError(`The handshake reads bytes; the socket has encoding ${socket.readableEncoding} (do not call setEncoding before it)`))
  }

  return new Promise<void>((resolve, reject) => {
    const key = authkey
    let settled = false
    /** Received bytes not parsed yet: at most a partial frame, then the rest of one chunk. */
    let pending: Buffer = Buffer.alloc(0)
    /** The nonce this side sent, with its `{sha256}` prefix (the HMAC input). */
    let ourNonce: Buffer | undefined
    let expect: Expect

    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(() => fail(`The authentication handshake did not finish within ${timeoutMs} ms`), Math.min(timeoutMs, MAX_TIMER_MS))
      : undefined

    const detach = (): void => {
      if (timer !== undefined) clearTimeout(timer)
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('close', onClose)
      socket.off('error', onError)
    }

    /** Rejects and destroys the socket; with `reply`, sends it (`#FAILURE#`) first. */
    function fail(message: string, cause?: unknown, reply?: Buffer): void {
      if (settled) return
      settled = true
      detach()
      // The socket is ours to dispose of: swallow its late errors (ECONNRESET while flushing).
      socket.on('error', ignore)
      const err = new AuthenticationError(message, cause === undefined ? undefined : { cause })
      if (reply === undefined || socket.destroyed || !socket.writable) {
        socket.destroy()
        reject(err)
        return
      }
      // Let the peer read why, then destroy: after the flush, or after FAILURE_FLUSH_MS at most.
      let done = false
      const finish = (): void => {
        if (done) return
        done = true
        clearTimeout(guard)
        socket.destroy()
        reject(err)
      }
      const guard = setTimeout(finish, FAILURE_FLUSH_MS)
      socket.end(frame(reply), finish)
    }

    /** Resolves, leaving the socket paused, with `rest` (bytes after the handshake) unread. */
    function succeed(rest: Buffer): void {
      settled = true
      // pause() before anything else: the stream's flow loop stops emitting 'data' at once.
      socket.pause()
      detach()
      if (rest.length > 0) socket.unshift(rest)
      resolve()
    }

    function send(payload: Buffer): void {
      socket.write(frame(payload))
    }

    function sendChallenge(): void {
      ourNonce = Buffer.concat([Buffer.from(`{${DIGEST}}`, 'latin1'), randomBytes(NONCE_BYTES)])
      send(Buffer.concat([CHALLENGE, ourNonce]))
    }

    /** Handles one complete frame; returns what comes next, or calls `fail` and returns undefined. */
    function step(body: Buffer): Step | undefined {
      switch (expect) {
        case 'RESPONSE': {
          // CPython's _verify_challenge, sha256 only.
          const prefix = `{${DIGEST}}`
          const expected = createHmac(DIGEST, key).update(ourNonce!).digest()
          const wellFormed = body.length === prefix.length + expected.length && body.toString('latin1', 0, prefix.length) === prefix
          if (!wellFormed) {
            fail(`Protocol error: expected a ${prefix} response of ${prefix.length + expected.length} bytes; received ${preview(body)}`, undefined, FAILURE)
            return undefined
          }
          if (!timingSafeEqual(body.subarray(prefix.length), expected)) {
            fail('The digest received was wrong: the peer does not have the same authkey', undefined, FAILURE)
            return undefined
          }
          send(WELCOME)
          // The server answers the client's challenge next; the client is done.
          return role === 'server' ? 'CHALLENGE' : 'DONE'
        }
        case 'CHALLENGE': {
          // CPython's answer_challenge + _create_response, without the legacy md5 protocol.
          if (body.length < CHALLENGE.length || !body.subarray(0, CHALLENGE.length).equals(CHALLENGE)) {
            fail(`Protocol error: expected a challenge; received ${preview(body)}`)
            return undefined
          }
          const message = body.subarray(CHALLENGE.length)
          const close = message[0] === 0x7b /* { */ ? message.indexOf(0x7d /* } */, 1) : -1
          const name = close > 0 && close < MAX_DIGEST_PREFIX ? message.toString('latin1', 1, close) : undefined
          const algorithm = name === undefined ? undefined : ANSWERABLE.get(name)
          if (algorithm === undefined) {
            fail(`Protocol error: the challenge names no supported digest (${[...ANSWERABLE.keys()].join(', ')}); received ${preview(body)}`)
            return undefined
          }
          if (message.length - (close + 1) < MIN_PEER_NONCE) {
            fail(`Protocol error: the challenge nonce is shorter than ${MIN_PEER_NONCE} bytes (${message.length - (close + 1)})`)
            return undefined
          }
          const mac = createHmac(algorithm, key).update(message).digest()
          send(Buffer.concat([Buffer.from(`{${name}}`, 'latin1'), mac]))
          return 'VERDICT'
        }
        case 'VERDICT': {
          if (!body.equals(WELCOME)) {
            fail(
              body.equals(FAILURE)
                ? 'The digest sent was rejected: the peer does not have the same authkey'
                : `Protocol error: expected ${WELCOME.toString('latin1')} or ${FAILURE.toString('latin1')}; received ${preview(body)}`,
            )
            return undefined
          }
          if (role === 'server') return 'DONE'
          // The client challenges the server next.
          sendChallenge()
          return 'RESPONSE'
        }
        default:
          throw new InternalStateError(`Unexpected authentication handshake state ${String(expect)}`)
      }
    }

    function onData(chunk: Buffer | string): void {
      if (settled) return
      if (typeof chunk === 'string') {
        fail('The socket delivered text: do not call setEncoding before the handshake')
        return
      }
      let buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      for (;;) {
        if (buf.length < LENGTH_BYTES) break
        const length = buf.readUInt32BE(0)
        // Checked before the body arrives: an oversized frame is never buffered.
        if (length > MAX_FRAME) {
          fail(`Protocol error: a handshake frame of ${length} bytes (at most ${MAX_FRAME} are accepted)`)
          return
        }
        if (buf.length < LENGTH_BYTES + length) break
        const body = buf.subarray(LENGTH_BYTES, LENGTH_BYTES + length)
        buf = buf.subarray(LENGTH_BYTES + length)
        const next = step(body)
        if (next === undefined) return // failed
        if (next === 'DONE') {
          succeed(buf)
          return
        }
        expect = next
      }
      // Copy a partial frame out of the (possibly large) chunk it sits in.
      pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf)
    }

    function onEnd(): void {
      fail('The peer closed the connection during the authentication handshake')
    }
    function onClose(): void {
      fail('The connection closed during the authentication handshake')
    }
    function onError(err: Error): void {
      fail(`The connection failed during the authentication handshake: ${err.message}`, err)
    }

    if (socket.destroyed || socket.readableEnded) {
      fail('The socket is already closed')
      return
    }
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('close', onClose)
    socket.on('error', onError)
    if (role === 'server') {
      sendChallenge()
      expect = 'RESPONSE'
    } else {
      expect = 'CHALLENGE'
    }
    // Adding a 'data' listener does not restart a stream someone paused explicitly.
    socket.resume()
  })
}

// ---- helpers ---------------------------------------------------------------------------------

/** A handshake frame: 4-byte big-endian length, then `payload`. */
function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(LENGTH_BYTES + payload.length)
  out.writeUInt32BE(payload.length, 0)
  payload.copy(out, LENGTH_BYTES)
  return out
}

/** A short, printable view of a frame for error messages (its length and first bytes in hex). */
function preview(body: Buffer): string {
  const head = body.subarray(0, 16).toString('hex')
  return `${body.length} bytes (${head}${body.length > 16 ? '...' : ''})`
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return `an instance of ${(value as object).constructor?.name ?? 'Object'}`
  if (typeof value === 'function') return 'a function'
  return `${typeof value} ${String(value).slice(0, 40)}`
}

function ignore(): void {}
