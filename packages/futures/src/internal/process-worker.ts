/**
 * The target of a process pool's worker processes (`ProcessPoolExecutor`, `Pool`): a child
 * process that runs the calls its stand-in thread in the pool's process sends it
 * (`process-stub.ts`), one at a time, over one `Connection`.
 *
 * Messages (plain arrays, encoded for a process):
 * - to the worker: `[TASK, key, spec]` defines task `key` (sent once, before its first call);
 *   `[id, key, mode, payload, ack?]` runs a call (`mode` and `payload` as a work item's,
 *   `executor-core.ts`; `ack` 1: answer `[id, STARTED]` first); `null` ends the worker after the calls before it;
 * - from the worker: `[READY]` once its initializer has run; `[INIT_FAILED, error]` if the
 *   initializer threw (then it exits); per call, in order, `[id, OK_ENCODED, tag, value, bytes]`
 *   (the result encoded here, as a queue item: the stand-in stores those bytes in the future as
 *   they are, so a result is encoded once and decoded once on its way), `[id, OK, value]` for a
 *   result that holds shareables (connections, queues, proxies: they are revived by the stand-in)
 *   or `[id, FAILED, error]`, errors serialized with their class, message, code and the worker's
 *   stack. A result that cannot be sent (a function, a value the structured clone refuses) fails
 *   its call only.
 *
 * The worker ends when its connection ends (the pool's process died or closed it), so it never
 * outlives the pool; `process-stub.ts` notices a worker that died from the same connection.
 *
 * @module
 */
import type { Connection } from '@tandem/ipc/pipe'
import { encodeItem, type EncodedItem, TAG_V8_SHARED } from '@tandem/queue/kit'
import { loadTask, serializeError, type TaskSpec } from '@tandem/sync/task'
import { runItem } from './executor-core.ts'

/** First word of a message that defines a task. */
export const TASK = -1
/** The worker's first message: its initializer ran (or there was none). */
export const READY = -2
/** The worker's first message when its initializer threw: `[INIT_FAILED, error]`. */
export const INIT_FAILED = -3
/** Second word of an answer: the call returned. */
export const OK = 0
/** Second word of an answer: the call threw. */
export const FAILED = 1
/** Second word of an answer: the call returned a value sent encoded (`tag`, `value`, `bytes`). */
export const OK_ENCODED = 2
/**
 * Second word of `[id, STARTED]`, sent before a call whose message asks for it (a fifth word 1):
 * a `Pool`'s stand-in asks for it when it sends a call to a child it believes idle, so that a
 * child found dead afterwards is blamed for the call only if the call reached it.
 */
export const STARTED = 3

const scratch: EncodedItem = { tag: 0, value: 0, bytes: undefined }

/** The worker's main loop (a `moduleRef` target of the pool's `Process`es). */
export async function serveTasks(conn: Connection, initializer: TaskSpec | undefined, initargs: unknown[]): Promise<void> {
  if (initializer !== undefined) {
    try {
      const init = await loadTask(initializer)
      await init(...initargs)
    } catch (err) {
      conn.send([INIT_FAILED, serializeError(err)])
      conn.close()
      return
    }
  }
  conn.send([READY])
  /** Tasks by key: the function, or why it could not be loaded (then its calls fail with it). */
  const tasks = new Map<number, Function | { failed: unknown }>()
  for (;;) {
    let msg: unknown
    try {
      msg = conn.recv()
    } catch {
      return // the pool's end is gone: nothing left to serve
    }
    if (msg === null) break
    const m = msg as unknown[]
    if (m[0] === TASK) {
      try {
        tasks.set(m[1] as number, await loadTask(m[2] as TaskSpec))
      } catch (err) {
        tasks.set(m[1] as number, { failed: err }) // a module that cannot load fails its calls only
      }
      continue
    }
    const [id, key, mode, payload, ack] = m as [number, number, number, unknown[], number?]
    // Asked for: the stand-in learns that this call reached a live process (see STARTED).
    if (ack === 1) conn.send([id, STARTED])
    let answer: unknown[]
    try {
      const fn = tasks.get(key)
      if (fn === undefined) throw new Error(`Task ${key} was not defined before its call`)
      if (typeof fn !== 'function') throw fn.failed
      const { value } = await runItem(fn, mode, payload)
      // A value that cannot be cloned throws here: this call fails with it.
      const enc = encodeItem(value, scratch, 0, 'process')
      answer = enc.tag === TAG_V8_SHARED ? [id, OK, value] : [id, OK_ENCODED, enc.tag, enc.value, enc.bytes ?? null]
    } catch (err) {
      answer = [id, FAILED, serializeError(err)]
    }
    try {
      conn.send(answer)
    } catch (err) {
      // A result that cannot travel fails this call only.
      conn.send([id, FAILED, serializeError(err)])
    }
  }
  conn.close()
}
