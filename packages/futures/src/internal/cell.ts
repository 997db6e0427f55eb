/**
 * A future's shared state: a cell of Int32 words in the process arena, operated on directly by
 * executors' workers (which never build a Future object for the calls they run) and wrapped by
 * the public `Future` class.
 *
 * | index | name    | values | written by |
 * | ----- | ------- | ------ | ---------- |
 * | 0     | STATE   | PENDING 0, RUNNING 1, CANCELLED 2, CANCELLED_AND_NOTIFIED 3, FINISHED 4, COMPLETING 5 | transitions by CAS (any thread) |
 * | 1     | OUTCOME | NONE 0, RESULT 1, EXCEPTION 2 | the completing thread, before STATE = FINISHED |
 * | 2     | TAG     | encoding of the outcome value (`@tandem/queue` codec) | the completing thread |
 * | 3     | VALUE   | int value or byte length | the completing thread |
 * | 4     | REF     | arena block of a payload that does not fit inline, 0 if none | the completing thread |
 * | 5     | SLEEPERS| threads blocked in `result()`/`exception()` on STATE | each blocking waiter (+1/-1) |
 * | 6     | WATCH   | mailbox of the thread watching completion from its event loop, 0 if none | first watcher (CAS 0 -> box) |
 * | 7     | RUNNER  | token (`threadId + 1`) of the pool worker running the call, 0 if none | the worker, after PENDING -> RUNNING |
 * | 8..15 | INLINE  | up to 32 payload bytes | the completing thread |
 *
 * Transitions (CPython's state machine): PENDING -> RUNNING (`startCell`), PENDING -> CANCELLED
 * (`cancelCell`), CANCELLED -> CANCELLED_AND_NOTIFIED (`startCell`), PENDING/RUNNING ->
 * COMPLETING -> FINISHED (`completeCell`: COMPLETING lets exactly one completer write the
 * outcome). Each final store of STATE publishes the outcome written before it; then
 * {@link announce} wakes blocked waiters (only if SLEEPERS > 0) and posts the cell to the
 * watching thread's mailbox.
 *
 * @module
 */
import { alloc, arenaBuffer, int32At, release } from '@tandem/sync/kit'
import { encodeItem, type EncodedItem } from '@tandem/queue/kit'
import { serializeError } from '@tandem/sync/task'
import { InvalidStateError } from '../errors.ts'
import { post } from './mailbox.ts'
import {
  CANCELLED,
  CANCELLED_AND_NOTIFIED,
  COMPLETING,
  EXCEPTION,
  FINISHED,
  INLINE,
  INLINE_BYTES,
  OUTCOME,
  PENDING,
  REF,
  RUNNING,
  SLEEPERS,
  STATE,
  TAG,
  VALUE,
  WATCH,
  STATE_NAMES,
  WORDS,
} from './cell-layout.ts'

export * from './cell-layout.ts'

/** True for the states `wait` and `asCompleted` count as done (CPython: a cancelled future counts once acknowledged by `setRunningOrNotifyCancel`). */
export function isWaitDone(state: number): boolean {
  return state === CANCELLED_AND_NOTIFIED || state === FINISHED
}

/** The cell of a future whose state lives at byte offset `at`. */
export function cellAt(at: number): Int32Array {
  return int32At(at, WORDS)
}

/** Frees the outcome's payload block: the `beforeFree` hook of every future cell. */
export function freeOutcome(at: number): void {
  const ref = int32At(at, WORDS)[REF]!
  if (ref !== 0) release(ref)
}

/** Drops one reference to a future cell (with its payload if that was the last). */
export function releaseCell(at: number): void {
  release(at, freeOutcome)
}

/** Wakes the blocked waiters and the watching thread after a final transition. */
export function announce(c: Int32Array): void {
  if (Atomics.load(c, SLEEPERS) !== 0) Atomics.notify(c, STATE)
  const box = Atomics.load(c, WATCH)
  if (box !== 0) post(box, c.byteOffset)
}

/**
 * PENDING -> RUNNING, or CANCELLED -> CANCELLED_AND_NOTIFIED.
 * @returns false if the future was cancelled; true if it is now running
 * @throws {InvalidStateError} if it is already running or finished
 */
export function startCell(c: Int32Array): boolean {
  const prev = Atomics.compareExchange(c, STATE, PENDING, RUNNING)
  if (prev === PENDING) return true
  if (prev === CANCELLED) {
    // `wait` and `asCompleted` count a cancelled future once an executor has acknowledged it.
    if (Atomics.compareExchange(c, STATE, CANCELLED, CANCELLED_AND_NOTIFIED) === CANCELLED) announce(c)
    return false
  }
  throw new InvalidStateError(`Future.setRunningOrNotifyCancel(): the future is ${STATE_NAMES[prev]}; call it once, on a pending future`)
}

/**
 * PENDING -> CANCELLED (announced).
 * @returns the state found: PENDING if this call cancelled it
 */
export function cancelCell(c: Int32Array): number {
  const prev = Atomics.compareExchange(c, STATE, PENDING, CANCELLED)
  if (prev === PENDING) announce(c)
  return prev
}

const scratch = { tag: 0, value: 0, bytes: undefined as Uint8Array | undefined }

/**
 * Writes the outcome and publishes FINISHED (announced).
 * @param what the public method, for errors
 * @throws {InvalidStateError} if the future is cancelled or already finished
 * @throws {TypeError} `ERR_NOT_SHAREABLE` if a result cannot be cloned (the future is unchanged)
 */
export function completeCell(c: Int32Array, outcome: number, value: unknown, what: string, encoded?: EncodedItem): void {
  // Encode first: a value that cannot be cloned leaves the future untouched. (`encoded`: the
  // value comes encoded already, from a worker process, with no shareable inside.)
  const enc = encoded ?? (outcome === EXCEPTION ? encodeError(value) : encodeItem(value, scratch))
  let prev = Atomics.compareExchange(c, STATE, PENDING, COMPLETING)
  if (prev === RUNNING) prev = Atomics.compareExchange(c, STATE, RUNNING, COMPLETING)
  if (prev !== PENDING && prev !== RUNNING) {
    throw new InvalidStateError(`Future.${what}(): the future is ${STATE_NAMES[prev]}; a future completes once`)
  }
  const bytes = enc.bytes
  let ref = 0
  if (bytes !== undefined && bytes.length > INLINE_BYTES) {
    ref = alloc(bytes.length)
    new Uint8Array(arenaBuffer(), ref, bytes.length).set(bytes)
  } else if (bytes !== undefined) {
    new Uint8Array(arenaBuffer(), c.byteOffset + INLINE * 4, bytes.length).set(bytes)
  }
  c[OUTCOME] = outcome
  c[TAG] = enc.tag
  c[VALUE] = enc.value
  c[REF] = ref
  enc.bytes = undefined
  // Publishes the outcome written above to every thread that sees FINISHED.
  Atomics.store(c, STATE, FINISHED)
  announce(c)
}

/**
 * Encodes an error outcome. An error must always be deliverable (a worker that could not report
 * its call's error would leave the future pending): if its data cannot be encoded (a property
 * the codec refuses), a stand-in error with the same name, message and stack is sent.
 */
function encodeError(error: unknown): typeof scratch {
  const data = serializeError(error)
  try {
    return encodeItem(data, scratch)
  } catch (why) {
    return encodeItem(
      {
        name: data.name,
        message: `${data.message} (sent without its properties: ${(why as Error)?.message})`,
        stack: data.stack,
        code: typeof data.code === 'string' ? data.code : undefined,
        props: {},
        cause: undefined,
        thrown: undefined,
      },
      scratch,
    )
  }
}
