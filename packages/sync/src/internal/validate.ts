/** Argument checks shared by every primitive. Errors follow API.md convention 5. */
import { rangeError, typeError } from '../errors.ts'

/**
 * Normalises a timeout in ms: `undefined`, `null` and `Infinity` mean "forever".
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a negative or NaN timeout.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-number.
 */
export function checkTimeout(timeout: unknown, what = 'timeout'): number {
  if (timeout === undefined || timeout === null) return Infinity
  if (typeof timeout !== 'number') {
    throw typeError(`The "${what}" argument must be a number of milliseconds; received ${describe(timeout)}`)
  }
  if (Number.isNaN(timeout) || timeout < 0) {
    throw rangeError(`The "${what}" argument must be >= 0 milliseconds (or Infinity to wait forever); received ${timeout}`)
  }
  return timeout
}

/** Options of `acquire`: `{ blocking = true, timeout }`. */
export interface AcquireOptions {
  /** Wait for the lock (`true`) or return at once (`false`). @default true */
  blocking?: boolean
  /** Longest wait in ms; omitted or `Infinity` waits forever. Not allowed with `blocking: false`. */
  timeout?: number
}

/** Options of every `Async` wait. */
export interface AsyncWaitOptions {
  /** Longest wait in ms; omitted or `Infinity` waits forever. */
  timeout?: number
  /** Abort the wait; the promise rejects with `signal.reason` and nothing is consumed. */
  signal?: AbortSignal
}

/** Resolves acquire options into a timeout in ms (0 for non-blocking). */
export function acquireTimeout(opts: AcquireOptions | undefined, owner: string): number {
  if (opts === undefined) return Infinity
  if (typeof opts !== 'object' || opts === null) {
    throw typeError(`${owner}.acquire() takes an options object { blocking?, timeout? }; received ${describe(opts)}`)
  }
  const blocking = opts.blocking ?? true
  if (blocking === false) {
    if (opts.timeout !== undefined && opts.timeout !== Infinity) {
      throw rangeError(`${owner}.acquire(): a timeout cannot be combined with blocking: false; drop one of them`)
    }
    return 0
  }
  return checkTimeout(opts.timeout)
}

/** Resolves `Async` options (a number is a timeout) into `{ timeout, signal }`. */
export function asyncOptions(opts: number | AsyncWaitOptions | undefined): { timeout: number; signal: AbortSignal | undefined } {
  if (opts === undefined || typeof opts === 'number') return { timeout: checkTimeout(opts), signal: undefined }
  if (typeof opts !== 'object' || opts === null) {
    throw typeError(`Expected a timeout in ms or an options object { timeout?, signal? }; received ${describe(opts)}`)
  }
  const signal = opts.signal
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw typeError(`The "signal" option must be an AbortSignal; received ${describe(signal)}`)
  }
  return { timeout: checkTimeout(opts.timeout), signal }
}

/** Short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`
  if (typeof value === 'string') return `type string (${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value)})`
  return `type ${typeof value} (${String(value)})`
}

/** Checks an integer within [min, max]. */
export function checkInt(value: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') throw typeError(`The "${what}" argument must be an integer; received ${describe(value)}`)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(`The "${what}" argument must be an integer >= ${min}${max < Number.MAX_SAFE_INTEGER ? ` and <= ${max}` : ''}; received ${value}`)
  }
  return value
}
