/**
 * Code that runs inside the worker threads of `sync.bench.ts`, loaded with `moduleRef`.
 *
 * Each target times itself around its loop (worker start-up and module loading are excluded)
 * and writes its results into shared memory:
 * - single-thread targets write one rate (ops/s) per repetition;
 * - multi-thread targets write `[start, end]` wall-clock ms per repetition and thread, at
 *   `times[(rep * parties + id) * 2]`, and thread 0 writes the operations of repetition r to
 *   `ops[r]`; the main thread computes the total rate of a repetition from the earliest start
 *   and the latest end. Repetition 0 is a warm-up (JIT). After each repetition thread 0 sizes
 *   the next one to last about `ctl[REP_MS]` ms, whether the primitive runs at millions of
 *   operations per second or, on a loaded machine, thousands.
 *
 * The threads of one repetition start together through {@link rendezvous}, a small barrier of
 * its own so that the benchmark does not depend on Tandem's Barrier.
 *
 * @module
 */
import type { Condition, Lock, RLock } from '@tandem/sync'

/**
 * Control block of one group of threads (Int32Array):
 *
 * | index | name       | meaning                                             | written by |
 * | ----- | ---------- | --------------------------------------------------- | ---------- |
 * | 0     | ARRIVED    | threads arrived at the current rendezvous           | arrivals (add), last arrival (reset to 0) |
 * | 1     | GENERATION | rendezvous round; bumped to release the waiters     | last arrival |
 * | 2     | SIZE       | per-thread operations of repetition 0 (the warm-up) | main |
 * | 3     | REP_MS     | wanted duration of a timed repetition in ms         | main |
 * | 4 + r | SIZES      | per-thread operations of repetition r >= 1          | thread 0, after repetition r - 1 |
 *
 * One size slot per repetition: a thread descheduled between a rendezvous and reading its size
 * must not pick up the size thread 0 already wrote for the next repetition.
 */
const ARRIVED = 0
const GENERATION = 1
export const SIZE = 2
export const REP_MS = 3
const SIZES = 4
const MAX_REPS = 64
export const CONTROL_WORDS = SIZES + MAX_REPS

/** Per-thread operations of repetition `r`. */
function sizeOf(ctl: Int32Array, r: number): number {
  return Atomics.load(ctl, r === 0 ? SIZE : SIZES + r)
}

/** Bounds of the per-thread size chosen after each repetition. */
const MIN_SIZE = 1_000
const MAX_SIZE = 50_000_000

/** Spins before sleeping in {@link rendezvous}: keeps the start of a repetition tight. */
const RENDEZVOUS_SPIN = 1_000_000

/** Wall clock in ms, comparable across workers (each worker's `performance.now()` has its own origin). */
function wallNow(): number {
  return performance.timeOrigin + performance.now()
}

/**
 * Thread 0, after each repetition: sizes the next one to last about `ctl[REP_MS]` ms at the rate
 * just measured (growing at most 20-fold per step, since the warm-up runs cold code). Written
 * before the next {@link rendezvous}, whose atomics make it visible to every thread that
 * passes it.
 */
function sizeRepetitions(ctl: Int32Array, r: number, n: number, t0: number, t1: number): void {
  const perMs = n / Math.max(t1 - t0, 0.001)
  const next = Math.min(MAX_SIZE, n * 20, Math.max(MIN_SIZE, Math.round(perMs * Atomics.load(ctl, REP_MS))))
  if (r + 1 >= MAX_REPS) throw new Error(`at most ${MAX_REPS} repetitions`)
  Atomics.store(ctl, SIZES + r + 1, next)
}

/**
 * Waits until `parties` threads have called it with the same control block, then releases them
 * all (reusable: a generation counter separates rounds).
 */
export function rendezvous(ctl: Int32Array, parties: number): void {
  const gen = Atomics.load(ctl, GENERATION)
  // The last arrival resets the count before bumping GENERATION, so no thread of the next round
  // can count itself into this one.
  if (Atomics.add(ctl, ARRIVED, 1) === parties - 1) {
    Atomics.store(ctl, ARRIVED, 0)
    Atomics.add(ctl, GENERATION, 1)
    Atomics.notify(ctl, GENERATION)
    return
  }
  for (let i = 0; i < RENDEZVOUS_SPIN; i++) if (Atomics.load(ctl, GENERATION) !== gen) return
  while (Atomics.load(ctl, GENERATION) === gen) Atomics.wait(ctl, GENERATION, gen, 100)
}

/**
 * Uncontended acquire+release of `lock` (a Lock or an RLock), `n` times per repetition, after
 * one untimed warm-up pass. Writes ops/s of repetition r to `out[r]`.
 */
export function uncontended(lock: Lock | RLock, n: number, reps: number, out: Float64Array): void {
  const loop = (): void => {
    for (let i = 0; i < n; i++) {
      lock.acquire()
      lock.release()
    }
  }
  loop()
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now()
    loop()
    out[r] = (n * 1000) / (performance.now() - t0)
  }
}

/**
 * Thread `id` of a group of `parties`: per repetition, `ctl[SIZE]` times acquire `lock`, increment the
 * plain (non-atomic) shared `counter[0]`, release. The final count checks mutual exclusion.
 */
export function counter(id: number, parties: number, lock: Lock, counter: Int32Array, ctl: Int32Array, reps: number, times: Float64Array, ops: Float64Array): void {
  for (let r = 0; r < reps; r++) {
    rendezvous(ctl, parties)
    const n = sizeOf(ctl, r)
    const t0 = wallNow()
    for (let i = 0; i < n; i++) {
      lock.acquire()
      counter[0] = counter[0]! + 1
      lock.release()
    }
    const t1 = wallNow()
    times[(r * parties + id) * 2] = t0
    times[(r * parties + id) * 2 + 1] = t1
    if (id === 0) {
      ops[r] = parties * n
      sizeRepetitions(ctl, r, n, t0, t1)
    }
  }
}

/**
 * Thread `id` (0 or 1) of a Condition ping-pong: `ctl[SIZE]` times per repetition, wait under `cond`
 * until `turn[0] === id`, hand the turn to the other thread and notify. Each turn passed is one
 * handoff; a repetition is `2 * ctl[SIZE]` handoffs. `turn[0]` starts at 0 and is 0 again after each
 * repetition (thread 1 passes last).
 */
export function pingPong(id: number, cond: Condition, turn: Int32Array, ctl: Int32Array, reps: number, times: Float64Array, ops: Float64Array): void {
  const other = 1 - id
  for (let r = 0; r < reps; r++) {
    rendezvous(ctl, 2)
    const n = sizeOf(ctl, r)
    const t0 = wallNow()
    for (let i = 0; i < n; i++) {
      cond.acquire()
      while (turn[0] !== id) cond.wait()
      turn[0] = other
      cond.notify()
      cond.release()
    }
    const t1 = wallNow()
    times[(r * 2 + id) * 2] = t0
    times[(r * 2 + id) * 2 + 1] = t1
    if (id === 0) {
      ops[r] = 2 * n
      sizeRepetitions(ctl, r, n, t0, t1)
    }
  }
}
