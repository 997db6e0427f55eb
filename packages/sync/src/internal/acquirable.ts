/**
 * The acquire/release surface shared by Lock, RLock, Semaphore and Condition: one fast path
 * (`tryAcquire`), one waiting algorithm (`acquireGen`), and the blocking, async and scoped
 * forms derived from them.
 */
import { TimeoutError } from '../errors.ts'
import { acquireTimeout, asyncOptions, type AcquireOptions, type AsyncWaitOptions } from './validate.ts'
import { deadlineOf, runAsync, runBlocking, type Waiter } from './wait.ts'

/** Internal: the waiting algorithm of an acquirable, usable from other algorithms with `yield*`. */
export const ACQUIRE_GEN: unique symbol = Symbol('tandem.acquireGen') as never
/** Internal: single non-blocking attempt. */
export const TRY_ACQUIRE: unique symbol = Symbol('tandem.tryAcquire') as never
/** Internal: after a failed attempt that will not wait, throws if the holder died (poisoned lock). */
export const CHECK_OWNER: unique symbol = Symbol('tandem.checkOwner') as never

/** Options of `hold`: as `acquire`. */
export type HoldOptions = AcquireOptions

/** Something with acquire/release semantics. */
export abstract class Acquirable {
  /** Display name used in errors. */
  protected abstract readonly kindName: string
  /** One non-blocking attempt. */
  abstract [TRY_ACQUIRE](): boolean
  /**
   * Waits until acquired (true) or `deadline` passes (false); on `'aborted'` it gives up having
   * taken nothing and throws ABORTED (`wait.ts`).
   */
  abstract [ACQUIRE_GEN](deadline: number): Waiter<boolean>
  /**
   * After a failed attempt that will not wait: throws if it failed because the holder died (a
   * poisoned Lock or RLock), or returns true if it gave back what dead holders held (Semaphore),
   * so that one more attempt may succeed.
   */
  [CHECK_OWNER](): boolean {
    return false
  }
  /** Releases once. */
  abstract release(): void
  /** Hook run before a blocking wait without timeout (Lock throws DeadlockError there). */
  protected beforeBlockingForever(): void {}

  /**
   * Acquires, blocking the calling thread (main thread included) as needed.
   * @param opts `blocking` (default true) and `timeout` in ms (default forever)
   * @returns true if acquired, false if `blocking: false` or the timeout expired first
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a negative/NaN timeout or a timeout with `blocking: false`
   */
  acquire(opts?: AcquireOptions): boolean {
    const timeout = acquireTimeout(opts, this.kindName)
    if (this[TRY_ACQUIRE]()) return true
    if (timeout === 0) return this[CHECK_OWNER]() && this[TRY_ACQUIRE]()
    if (timeout === Infinity) this.beforeBlockingForever()
    return runBlocking(this[ACQUIRE_GEN](deadlineOf(timeout)))
  }

  /**
   * Acquires without blocking the event loop.
   * @param opts `timeout` in ms (default forever; a number is taken as the timeout) and `signal`
   * @returns resolves true once acquired, false on timeout
   * @throws the signal's reason if aborted; no permit is consumed then
   */
  acquireAsync(opts?: number | AsyncWaitOptions): Promise<boolean> {
    let timeout: number
    let signal: AbortSignal | undefined
    try {
      ;({ timeout, signal } = asyncOptions(opts))
    } catch (err) {
      return Promise.reject(err)
    }
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this[TRY_ACQUIRE]()) return Promise.resolve(true)
    if (timeout === 0) {
      try {
        return Promise.resolve(this[CHECK_OWNER]() && this[TRY_ACQUIRE]())
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return runAsync(this[ACQUIRE_GEN](deadlineOf(timeout)), signal)
  }

  /**
   * Blocking acquire returning a `Disposable` that releases: `using _ = lock.hold()`.
   * @throws {TimeoutError} `ERR_TIMEOUT` if not acquired (timeout or `blocking: false`)
   */
  hold(opts?: HoldOptions): Disposable {
    if (!this.acquire(opts)) throw new TimeoutError(`${this.kindName}.hold(): not acquired within the timeout`)
    return this.#releaser()
  }

  /**
   * Async acquire resolving to a `Disposable` that releases: `using _ = await lock.holdAsync()`.
   * @throws {TimeoutError} `ERR_TIMEOUT` if the timeout expired first
   */
  async holdAsync(opts?: number | AsyncWaitOptions): Promise<Disposable> {
    if (!(await this.acquireAsync(opts))) throw new TimeoutError(`${this.kindName}.holdAsync(): not acquired within the timeout`)
    return this.#releaser()
  }

  #releaser(): Disposable {
    let done = false
    return {
      [Symbol.dispose]: () => {
        if (done) return
        done = true
        this.release()
      },
    }
  }
}
