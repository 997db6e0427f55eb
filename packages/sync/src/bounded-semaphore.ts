/**
 * `BoundedSemaphore`: a {@link Semaphore} whose value may never exceed its initial value
 * (Python's `threading.BoundedSemaphore`). Same shared layout; BOUND holds the initial value.
 *
 * @module
 */
import { rangeError } from './errors.ts'
import { Semaphore, _layout } from './semaphore.ts'
import { registerShareable } from './shareable.ts'
import type { CellRef } from './internal/arena.ts'

const { VALUE, BOUND } = _layout

/**
 * A semaphore that rejects over-release: `release()` beyond the initial value throws
 * `RangeError` with code `ERR_SEMAPHORE_OVERFLOW` (Python's `ValueError`) and leaves the value
 * unchanged. Catches release-without-acquire bugs.
 *
 * @example
 * ```ts
 * import { BoundedSemaphore } from '@tandem/sync/bounded-semaphore'
 *
 * const slots = new BoundedSemaphore(2)
 * slots.acquire()
 * slots.release()
 * try {
 *   slots.release() // one release more than acquires
 * } catch (err) {
 *   console.log((err as RangeError & { code: string }).code) // ERR_SEMAPHORE_OVERFLOW
 * }
 * console.log(slots.value) // 2: unchanged
 * ```
 */
export class BoundedSemaphore extends Semaphore {
  static override readonly shareKind: string = 'tandem.sync.BoundedSemaphore'
  protected override readonly kindName: string = 'BoundedSemaphore'

  /**
   * @param value initial and maximum number of permits @default 1
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if `value` is negative or not an integer
   */
  constructor(value = 1) {
    super(value)
    if (this.cell[BOUND] === -1) this.cell[BOUND] = value
  }

  protected override addPermits(n: number): void {
    const c = this.cell
    const bound = c[BOUND]!
    let v = Atomics.load(c, VALUE)
    for (;;) {
      if (v + n > bound) {
        throw rangeError(`BoundedSemaphore.release(${n}): released too many times (value ${v}, bound ${bound}); release only what you acquired`, 'ERR_SEMAPHORE_OVERFLOW')
      }
      // The CAS publishes the releaser's writes, as Semaphore's add does.
      const seen = Atomics.compareExchange(c, VALUE, v, v + n)
      if (seen === v) return
      v = seen
    }
  }
}

registerShareable(BoundedSemaphore.shareKind, import.meta.url, (ref: CellRef) => BoundedSemaphore.revive(ref))
