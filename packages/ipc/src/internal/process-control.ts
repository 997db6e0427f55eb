/**
 * The control block of a `Process` (Int32Array over a SharedArrayBuffer), shared by every handle
 * on it and by the I/O thread that spawned the child.
 *
 * | index | name  | values | written by |
 * | ----- | ----- | ------ | ---------- |
 * | 0     | STATE | NEW 0, STARTING 1, RUNNING 2, ENDED 3, SPAWN_FAILED 4 | `start()` (STARTING); the I/O thread (the rest) |
 * | 1     | PID   | the child's pid once RUNNING | the I/O thread |
 * | 2     | EXIT  | exit code once ENDED: n, or -SIGNUM after a signal | the I/O thread |
 *
 * @module
 */
export const CONTROL_STATE = 0
export const CONTROL_PID = 1
export const CONTROL_EXIT = 2
export const CONTROL_WORDS = 4

export const NEW = 0
export const STARTING = 1
export const RUNNING = 2
export const ENDED = 3
export const SPAWN_FAILED = 4
