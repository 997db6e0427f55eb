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
  /**
   * Wait for the lock (`true`) or return at once (`false`). Any value is read by its truthiness,
   * as Python does (`blocking: 0` does not block). @default true
   */
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
  // Python reads `blocking` by truthiness: acquire(blocking=0) does not block.
  const blocking = opts.blocking === undefined ? true : Boolean(opts.blocking)
  if (!blocking) {
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

/** Checks that `value` is a plain options object (or undefined, read as `{}`). */
export function checkOptions<T extends object>(value: T | undefined, what: string, shape: string): T {
  if (value === undefined) return {} as T
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw typeError(`${what} takes an options object ${shape}; received ${describe(value)}`)
  }
  return value
}

/** Checks a callable argument. */
export function checkFunction<F extends Function>(value: unknown, what: string): F {
  if (typeof value !== 'function') throw typeError(`The "${what}" argument must be a function; received ${describe(value)}`)
  return value as F
}

/** Checks a string argument. */
export function checkString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw typeError(`The "${what}" argument must be a string; received ${describe(value)}`)
  return value
}

/** Checks an array argument. */
export function checkArray<T = unknown>(value: unknown, what: string): T[] {
  if (!Array.isArray(value)) throw typeError(`The "${what}" argument must be an array; received ${describe(value)}`)
  return value as T[]
}

/** Smallest usable thread stack in KiB (below it a worker cannot even start). */
export const MIN_STACK_KIB = 128
/**
 * Largest thread stack in KiB: 1 GiB. Larger sizes fail late, when the worker starts, with
 * `EAGAIN` from the operating system; a deeper recursion than 1 GiB of stack needs rethinking.
 */
export const MAX_STACK_KIB = 1024 * 1024

/**
 * Checks a thread stack size in KiB: 0 (Node's default) or an integer in
 * [{@link MIN_STACK_KIB}, {@link MAX_STACK_KIB}].
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-number
 * @throws {RangeError} `ERR_OUT_OF_RANGE` outside that range
 */
export function checkStackSize(kib: unknown, what = 'stackSize'): number {
  checkInt(kib, what, 0)
  const n = kib as number
  if (n !== 0 && (n < MIN_STACK_KIB || n > MAX_STACK_KIB)) {
    throw rangeError(`The "${what}" argument must be 0 (Node's default) or between ${MIN_STACK_KIB} and ${MAX_STACK_KIB} KiB (1 GiB); received ${n}`)
  }
  return n
}

/** Heap limits of a worker thread in MB (Node's `resourceLimits` without `stackSizeMb`). */
export interface HeapLimitsShape {
  maxOldGenerationSizeMb?: number
  maxYoungGenerationSizeMb?: number
  codeRangeSizeMb?: number
}

const HEAP_LIMIT_KEYS = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb'] as const

/**
 * Checks worker heap limits (shared by `Thread`, `ThreadPoolExecutor` and `ThreadPool`): an
 * object whose known keys are positive finite numbers of MB. Returns a copy with those keys.
 * @param owner names the caller in messages (`new Thread()`)
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-object, a non-number limit, or another key
 *   (`stackSizeMb` included: the stack is the `stackSize` option), which would be dropped silently
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a limit <= 0, NaN or Infinity
 */
export function checkHeapLimits(limits: unknown, owner: string): HeapLimitsShape | undefined {
  if (limits === undefined) return undefined
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) {
    throw typeError(`${owner}: resourceLimits must be an object { maxOldGenerationSizeMb?, maxYoungGenerationSizeMb?, codeRangeSizeMb? }; received ${describe(limits)}`)
  }
  for (const key of Object.keys(limits)) {
    if (!(HEAP_LIMIT_KEYS as readonly string[]).includes(key)) {
      const hint = key === 'stackSizeMb' ? 'set the stack with the stackSize option (KiB, as threading.stack_size)' : `use ${HEAP_LIMIT_KEYS.join(', ')}`
      throw typeError(`${owner}: resourceLimits.${key} is not a heap limit Tandem takes; ${hint}`)
    }
  }
  const out: HeapLimitsShape = {}
  for (const key of HEAP_LIMIT_KEYS) {
    const v = (limits as HeapLimitsShape)[key]
    if (v === undefined) continue
    if (typeof v !== 'number') throw typeError(`${owner}: resourceLimits.${key} must be a number of MB; received ${describe(v)}`)
    if (!(v > 0) || !Number.isFinite(v)) throw rangeError(`${owner}: resourceLimits.${key} must be a positive number of MB; received ${v}`)
    out[key] = v
  }
  return out
}
