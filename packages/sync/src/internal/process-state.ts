/**
 * Process-wide thread bookkeeping shared by every Tandem thread.
 *
 * The main thread creates the block; every Thread passes it to its worker in `workerData`, so
 * all Tandem threads of the process count and name threads together.
 *
 * Shared layout (Int32Array over a SharedArrayBuffer):
 *
 * | index | name      | values | written by |
 * | ----- | --------- | ------ | ---------- |
 * | 0     | ACTIVE    | Tandem threads started and not finished | `start()` (+1), the finishing side (-1, once per thread) |
 * | 1     | NEXT_NAME | counter for default names `Thread-N` | `new Thread()` |
 * | 2, 3  | -         | liveness counters (`liveness.ts`) | see there |
 * | 4     | IPC_HUB   | `@tandem/ipc`: arena offset of its I/O thread's address, 0 until it runs | the main thread, once |
 * | 5     | IPC_NEXT_PROCESS | `@tandem/ipc`: counter for default names `Process-N` | `new Process()` |
 * | 6     | IPC_NEXT_ID | `@tandem/ipc`: counter for ids of exported ends and requests | any thread |
 * | 7     | IPC_NONDAEMON | `@tandem/ipc`: non-daemon child processes still running | the I/O thread |
 * | 8..   | -         | the thread liveness table (`liveness.ts`) | see there |
 *
 * Per-thread control block (Int32Array, one per Thread):
 *
 * | index | name  | values | written by |
 * | ----- | ----- | ------ | ---------- |
 * | 0     | STATE | NEW 0, RUNNING 1, FINISHED 2 | `start()`; the worker when its target ends or it exits; the parent on the worker's `exit` event |
 */
import { workerData } from 'node:worker_threads'

export const ACTIVE = 0
export const NEXT_NAME = 1
export const IPC_HUB = 4
export const IPC_NEXT_PROCESS = 5
export const IPC_NEXT_ID = 6
export const IPC_NONDAEMON = 7
/** Words of the process-wide block: 8 header words, then the liveness table of 4096 x 4 words. */
export const PROCESS_WORDS = 8 + 4096 * 4

export const STATE = 0
export const NEW = 0
export const RUNNING = 1
export const FINISHED = 2

/** What a Tandem worker receives under `workerData[BOOT_KEY]`. */
export const BOOT_KEY = '\u0000tandem.thread'

/** The boot record of this thread if it is a Tandem thread. */
export const boot: BootData | undefined = (workerData as Record<string, BootData> | null)?.[BOOT_KEY]

export interface BootData {
  readonly global: Int32Array
  /** The process arena (`arena.ts`). */
  readonly arena: SharedArrayBuffer
  readonly control: Int32Array
  readonly name: string
  readonly ident: number
  readonly daemon: boolean
  readonly mainName: string
  readonly parentHook: boolean
  /** Modules of every shareable kind the parent knew at start; preloaded so decode() finds them. */
  readonly kinds: string[]
  /** The parent's table of SharedArrayBuffers shared by id (`sab-registry.ts`). */
  readonly sabs?: [number, SharedArrayBuffer][]
  readonly run: unknown
}

/** The process-wide block: inherited from the parent Tandem thread, or new (main thread). */
// Kept on globalThis too: a second copy of this module in the same thread (a require() of the
// TypeScript sources next to their ES module, under tsx) must use the same block, not a new one.
const STATE_KEY = Symbol.for('tandem.processState')
export const processState: Int32Array = ((globalThis as Record<symbol, unknown>)[STATE_KEY] ??=
  boot?.global ?? new Int32Array(new SharedArrayBuffer(PROCESS_WORDS * 4))) as Int32Array

/** Marks a thread finished exactly once; returns true for the call that did it. */
export function markFinished(control: Int32Array): boolean {
  // The CAS makes finishing idempotent: the worker (normal end, process.exit) and the parent
  // (exit event after a crash or terminate) may both try.
  const won = Atomics.compareExchange(control, STATE, RUNNING, FINISHED) === RUNNING
  if (won) Atomics.sub(processState, ACTIVE, 1)
  // Wakes join()/joinAsync() waiters, blocking and async.
  Atomics.notify(control, STATE)
  return won
}

/**
 * CommonJS code run first in every Thread worker (see `spawnWorker`): marks the thread finished
 * on `exit` even if the worker dies before its entry module loads (bootstrap failure, stack
 * overflow while compiling, `process.exit()` anywhere), so a blocking `join()` never waits for
 * a dead thread. Mirrors {@link markFinished}.
 */
export const EXIT_PRELUDE = `{
  const b = require('node:worker_threads').workerData?.[${JSON.stringify(BOOT_KEY)}];
  if (b) process.on('exit', () => {
    if (Atomics.compareExchange(b.control, ${STATE}, ${RUNNING}, ${FINISHED}) === ${RUNNING}) Atomics.sub(b.global, ${ACTIVE}, 1);
    Atomics.notify(b.control, ${STATE});
  });
}`
