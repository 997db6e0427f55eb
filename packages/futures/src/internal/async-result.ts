/**
 * `AsyncResult`, the result of the `*Async` calls of the `multiprocessing.Pool` API, over the
 * futures of the work items of one call. `ThreadPool` and the coming process `Pool` both
 * return it (through `pool-calls.ts`), so a result behaves the same whatever ran the calls;
 * `thread-pool.ts` re-exports it as the public class.
 *
 * @module
 */
import { typeError } from '@tandem/sync/errors'
import { checkTimeout, describe } from '@tandem/sync/kit'
import { CancelledError, InvalidStateError, TimeoutError } from '../errors.ts'
import type { Future } from '../future.ts'
import { FIRST_EXCEPTION, wait, waitAsync } from '../wait.ts'

/** Callbacks of the `*Async` methods, run in the pool's thread once the result is ready. */
export interface ResultCallbacks<T> {
  /** Called with the result on success. */
  callback?: (value: T) => void
  /** Called with the error on failure. */
  errorCallback?: (error: unknown) => void
}

/** Throws unless `callbacks` is undefined or a `{ callback?, errorCallback? }` of functions. */
export function checkCallbacks<T>(callbacks: ResultCallbacks<T> | undefined): void {
  if (callbacks === undefined) return
  if (typeof callbacks !== 'object' || callbacks === null) throw typeError(`callbacks must be an object { callback?, errorCallback? }; received ${describe(callbacks)}`)
  const { callback, errorCallback } = callbacks
  if (callback !== undefined && typeof callback !== 'function') throw typeError(`callback must be a function; received ${describe(callback)}`)
  if (errorCallback !== undefined && typeof errorCallback !== 'function') throw typeError(`errorCallback must be a function; received ${describe(errorCallback)}`)
}

function failureOf(f: Future<unknown>): unknown {
  if (f.cancelled()) return new CancelledError('The task was cancelled (the pool was terminated before it ran)')
  return f.exception(0)
}

/**
 * The result of an `*Async` call (Python's `AsyncResult`): `get(timeout?)` blocks for the value
 * (or throws the task's error), `wait(timeout?)`, `ready()`, `successful()`; `await` it, or use
 * `getAsync`/`waitAsync` from the event loop. A result made of several chunks fails as soon as
 * one chunk fails.
 *
 * @example
 * ```ts
 * import { ThreadPool } from '@tandem/futures/thread-pool'
 *
 * using pool = new ThreadPool(2)
 * const r = pool.applyAsync((x: number) => x * 2, [21], { callback: (v) => console.log('callback got', v) })
 * console.log(r.get(10_000), r.ready(), r.successful()) // 42 true true (the callback has run)
 * console.log(await r) // 42
 * const bad = pool.mapAsync((x: number) => { if (x === 2) throw new RangeError('two'); return x }, [1, 2, 3])
 * console.log(await bad.waitAsync(10_000), bad.successful()) // true false
 * ```
 */
export class AsyncResult<T> implements PromiseLike<T> {
  readonly #futures: Future<unknown>[]
  readonly #combine: (values: unknown[]) => T

  /** @internal */
  constructor(futures: Future<unknown>[], combine: (values: unknown[]) => T, callbacks: ResultCallbacks<T> = {}) {
    this.#futures = futures
    this.#combine = combine
    checkCallbacks(callbacks)
    if (callbacks.callback !== undefined || callbacks.errorCallback !== undefined) {
      this.#callbacks = callbacks as ResultCallbacks<never>
      void this.waitAsync().then(() => this.#runCallbacks())
    }
  }

  // Typed loosely so that AsyncResult<T> stays covariant in T.
  #callbacks: ResultCallbacks<never> | undefined

  /** Runs the callback or errorCallback once, when ready (from the event loop, or before a blocking wait returns). */
  #runCallbacks(): void {
    const cbs = this.#callbacks
    if (cbs === undefined || !this.ready()) return
    this.#callbacks = undefined
    const failed = this.#failed()
    try {
      if (failed === undefined) (cbs as ResultCallbacks<T>).callback?.(this.#value())
      else cbs.errorCallback?.(failureOf(failed))
    } catch (err) {
      console.error('exception in an AsyncResult callback', err)
    }
  }

  #failed(): Future<unknown> | undefined {
    for (const f of this.#futures) if (f.done() && (f.cancelled() || f.exception(0) !== undefined)) return f
    return undefined
  }

  #value(): T {
    return this.#combine(this.#futures.map((f) => f.result(0)))
  }

  #settle(): T {
    const failed = this.#failed()
    if (failed !== undefined) throw failureOf(failed)
    return this.#value()
  }

  /** True once the call has completed (every chunk done, or one failed). */
  ready(): boolean {
    return this.#failed() !== undefined || this.#futures.every((f) => f.done())
  }

  /**
   * True if the call completed without error.
   * @throws {InvalidStateError} `ERR_INVALID_STATE` if not ready (Python's ValueError)
   */
  successful(): boolean {
    if (!this.ready()) throw new InvalidStateError('AsyncResult.successful(): the result is not ready')
    return this.#failed() === undefined
  }

  /** Blocks until ready or `timeout` ms pass. @returns `ready()` */
  wait(timeout?: number): boolean {
    const ms = checkTimeout(timeout)
    if (!this.ready()) wait(this.#futures, { timeout: ms, returnWhen: FIRST_EXCEPTION })
    // As in CPython, the callback has run by the time a wait sees the result ready.
    this.#runCallbacks()
    return this.ready()
  }

  /** Async form of {@link wait}. */
  async waitAsync(timeout?: number): Promise<boolean> {
    const ms = checkTimeout(timeout)
    if (!this.ready()) await waitAsync(this.#futures, { timeout: ms, returnWhen: FIRST_EXCEPTION })
    this.#runCallbacks()
    return this.ready()
  }

  /**
   * Blocks for the result.
   * @throws {TimeoutError} `ERR_TIMEOUT` if not ready in time; the task's error if it failed
   */
  get(timeout?: number): T {
    if (!this.wait(timeout)) throw new TimeoutError(`AsyncResult.get(): not ready within ${timeout} ms`)
    return this.#settle()
  }

  /** Async form of {@link get}. */
  async getAsync(timeout?: number): Promise<T> {
    if (!(await this.waitAsync(timeout))) throw new TimeoutError(`AsyncResult.getAsync(): not ready within ${timeout} ms`)
    return this.#settle()
  }

  /** `await result` resolves to the value or rejects with the error. */
  then<R1 = T, R2 = never>(onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null, onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null): Promise<R1 | R2> {
    return this.getAsync().then(onfulfilled, onrejected)
  }
}
