/**
 * Test helpers: start daemon threads (a hung worker never keeps the test process alive), collect
 * errors escaping their targets, and join them with a bounded wait.
 *
 * Rules for tests (see STYLE.md): never block the main thread without a timeout (ava cannot
 * interrupt a blocked thread); prefer `joinAll` / async forms on the main thread.
 */
import { Thread, type ExceptHookArgs } from '../src/thread.ts'

const escaped: ExceptHookArgs[] = []
Thread.excepthook = (args) => {
  escaped.push(args)
}

/** Starts `target(...args)` in a new daemon Tandem thread. */
export function spawn<A extends unknown[]>(target: (...args: A) => unknown, ...args: A): Thread {
  const t = new Thread({ target, args, daemon: true })
  t.start()
  return t
}

/** Starts `count` daemon threads running `target(i, ...args)`. */
export function spawnMany<A extends unknown[]>(count: number, target: (i: number, ...args: A) => unknown, ...args: A): Thread[] {
  return Array.from({ length: count }, (_, i) => spawn(target, i, ...args))
}

/**
 * Waits (async) for every thread to finish, at most `timeout` ms in total; throws if one is
 * still alive or if any target threw (with that error).
 */
export async function joinAll(threads: Thread[], timeout = 30_000): Promise<void> {
  const deadline = Date.now() + timeout
  for (const t of threads) {
    const ok = await t.joinAsync(Math.max(0, deadline - Date.now()))
    if (!ok) throw new Error(`${t.name} did not finish within ${timeout} ms`)
  }
  await new Promise((r) => setTimeout(r, 20)) // let error reports from the workers arrive
  const mine = escaped.filter((e) => threads.includes(e.thread))
  if (mine.length > 0) throw mine[0]!.excValue
}

/** Errors that escaped thread targets so far (and clears the list). */
export function takeEscaped(): ExceptHookArgs[] {
  return escaped.splice(0)
}

/** A fresh shared Int32Array of `n` zeros. */
export function sharedInts(n: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * n))
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Polls `pred` every few ms until true or `timeout` (then throws). */
export async function until(pred: () => boolean, timeout = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeout
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(2)
  }
}

// ---- lock_tests ports: phases between the main thread and workers ----------------------------

/** How long the main thread lets workers sit in a wait before checking they are still blocked. */
export const SETTLE = 150

/** Bounds for waiting on workers: generous, the machine is shared and may be heavily loaded. */
export const WAIT = 45_000
export const JOIN = 60_000

/** Waits (async) until `a[i] >= n`. */
export function reached(a: Int32Array, i: number, n: number, what = `slot ${i} >= ${n}`): Promise<void> {
  return until(() => Atomics.load(a, i) >= n, WAIT, what)
}

/** Sets `a[i] = 1` and wakes workers sleeping on it. */
export function go(a: Int32Array, i: number): void {
  Atomics.store(a, i, 1)
  Atomics.notify(a, i)
}

/**
 * Main-thread acquire with a bound, so a broken primitive fails the test instead of hanging the
 * whole file (the plain, timeout-less forms are exercised in workers).
 */
export function take(x: { acquire(opts?: { timeout?: number }): boolean }): void {
  if (!x.acquire({ timeout: 5000 })) throw new Error('acquire({ timeout: 5000 }) on the main thread timed out')
}
