/**
 * Identity of the calling thread as stored in shared memory.
 *
 * `threadId` is unique within the process (main thread 0), and every SharedArrayBuffer lives in
 * one process, so it identifies a thread for every primitive that can see it. Shared slots store
 * `threadId + 1` so that `NO_OWNER = 0` never names a thread.
 */
import { threadId } from 'node:worker_threads'
// Records this thread in the liveness table (and its exit) before it can own anything.
import './liveness.ts'

/** Value of an owner slot that names no thread. */
export const NO_OWNER = 0
/** The calling thread's token in owner slots. */
export const SELF = threadId + 1
